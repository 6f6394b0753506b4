//! The dry session is reproducible: two runs with one seed write the same `events.jsonl`, apart
//! from the fields that name the run (documented on `DryConfig`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::path::Path;

use drop_bot_examples::{run_dry_session, DryConfig, DryOutcome};
use serde_json::Value;

fn config(dir: &Path, seed: u64) -> DryConfig {
    DryConfig {
        symbols: 60,
        seed,
        minutes: 45,
        session_dir: dir.to_path_buf(),
        listen_for_os_signals: false,
        ..DryConfig::default()
    }
}

/// The session's events with the fields that name the run removed: `run_id` on every line, and
/// in SESSION_STARTED the payload's `run_id`, `session` and the `SESSION_DIR` line of the
/// config snapshot.
fn normalized_events(outcome: &DryOutcome) -> Vec<Value> {
    let text = std::fs::read_to_string(outcome.session_dir.join("events.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap();
            let obj = v.as_object_mut().unwrap();
            assert!(obj.remove("run_id").is_some(), "every line names its run: {line}");
            if obj["event_type"] == "SESSION_STARTED" {
                let payload = obj.get_mut("payload").unwrap().as_object_mut().unwrap();
                payload.remove("run_id");
                payload.remove("session");
                let snapshot = payload["config_snapshot"].as_str().unwrap();
                let kept: Vec<&str> = snapshot.lines().filter(|l| !l.starts_with("SESSION_DIR")).collect();
                payload.insert("config_snapshot".into(), Value::from(kept.join("\n")));
            }
            v
        })
        .collect()
}

fn count(events: &[Value], event_type: &str) -> usize {
    events.iter().filter(|e| e["event_type"] == event_type).count()
}

#[tokio::test(start_paused = true)]
async fn two_runs_with_one_seed_write_identical_events() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run_dry_session(&config(&tmp.path().join("a"), 7)).await.unwrap();
    let b = run_dry_session(&config(&tmp.path().join("b"), 7)).await.unwrap();
    assert_ne!(a.session_dir, b.session_dir);
    let (ea, eb) = (normalized_events(&a), normalized_events(&b));
    for (i, (x, y)) in ea.iter().zip(&eb).enumerate() {
        assert_eq!(x, y, "line {} differs", i + 1);
    }
    assert_eq!(ea.len(), eb.len());

    // The session did what a session must, so the comparison compares something.
    assert_eq!((a.dropped, a.exit_code), (0, 0));
    assert_eq!(a.read_back, ea.len());
    assert!(a.drops > 0 && count(&ea, "DROP_DETECTED") as u64 == a.drops, "{a:?}");
    assert!(count(&ea, "GUARD_BLOCKED") > 0, "{a:?}");
    // periodic snapshots every 15 simulated minutes of 45, and the final one
    let snapshots: Vec<&Value> = ea.iter().filter(|e| e["event_type"] == "FUNNEL_SNAPSHOT").collect();
    assert_eq!(snapshots.len(), 4);
    assert_eq!(snapshots.iter().filter(|s| s["payload"]["final"] == true).count(), 1);
    let last = &snapshots[3]["payload"];
    assert_eq!(last["final"], true);
    assert_eq!(last["fired"].as_u64(), Some(a.funnel.fired));
    assert_eq!(last["evaluated"].as_u64(), Some(a.funnel.evaluated));
    assert_eq!(last["no_price"].as_u64(), Some(0));
    assert_eq!(last["deepest"].as_array().map(Vec::len), Some(20));
    // timestamps start at the fixed market epoch, not the wall clock
    assert_eq!(ea[0]["ts"], "2026-01-01T00:00:00.000Z");
    assert_eq!(ea.last().unwrap()["event_type"], "SESSION_ENDED");
    assert_eq!(ea.last().unwrap()["ts"], "2026-01-01T00:45:00.000Z");

    // A different seed is a different session: the comparison can fail.
    let c = run_dry_session(&config(&tmp.path().join("c"), 8)).await.unwrap();
    assert_ne!(normalized_events(&c), ea);
}
