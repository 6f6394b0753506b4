//! End-to-end behaviour of the telemetry crate: session directory, writer, reader, failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use telemetry::{
    apply_retention, read_events, sample_events, Event, EventSink, MemorySink, RetentionPolicy, RunId,
    Session, Telemetry, TelemetryError, WriterConfig, WriterSummary,
};
use trading_core::{Clock, ManualClock, Timestamp};

const FLOOD: u64 = 1_000_000;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_millis(1_709_618_828_000)))
}

fn config(capacity: usize) -> WriterConfig {
    WriterConfig { capacity: NonZeroUsize::new(capacity).unwrap(), ..WriterConfig::default() }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Event lines and the sum of TELEMETRY_DROPPED counts in an events file; fails on a bad line.
fn tally(path: &Path) -> (Vec<Event>, u64) {
    let log = read_events(path).unwrap();
    assert!(log.errors.is_empty(), "{:?}", log.errors);
    let mut dropped = 0;
    let mut events = Vec::new();
    for record in log.records {
        match record.event {
            Event::TelemetryDropped { count } => dropped += count,
            other => events.push(other),
        }
    }
    (events, dropped)
}

#[test]
fn a_session_round_trips_every_event_through_the_file() {
    let root = tempfile::tempdir().unwrap();
    let clock = clock();
    let session = Session::create(&root.path().join("sessions"), &*clock, Some("e2e")).unwrap();
    session.write_config_snapshot("[drop]\ntrigger = \"0.985\"\n").unwrap();
    let samples = sample_events();
    let summary = current_thread().block_on(async {
        let t =
            Telemetry::start(&session.paths().events, session.run_id().clone(), clock.clone(), config(1024))
                .unwrap();
        for event in &samples {
            t.emit(event.clone());
            clock.advance(Duration::from_millis(1));
        }
        t.shutdown().await
    });
    assert_eq!(summary, WriterSummary { written: samples.len() as u64, ..WriterSummary::default() });

    let log = read_events(&session.paths().events).unwrap();
    assert!(log.errors.is_empty(), "{:?}", log.errors);
    let events: Vec<Event> = log.records.iter().map(|r| r.event.clone()).collect();
    assert_eq!(events, samples);
    for (i, record) in log.records.iter().enumerate() {
        assert_eq!(
            record.ts,
            Timestamp::from_millis(1_709_618_828_000 + i as i64),
            "ts comes from the clock"
        );
        assert_eq!(record.run_id.as_str(), "session_20240305_060708_e2e");
    }
    let snapshot = std::fs::read_to_string(&session.paths().config).unwrap();
    assert_eq!(snapshot, "[drop]\ntrigger = \"0.985\"\n");
}

#[test]
fn a_flood_with_enough_buffer_loses_nothing_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let summary = current_thread().block_on(async {
        let t = Telemetry::start(&path, RunId::new("flood"), clock(), config(FLOOD as usize)).unwrap();
        // On a current-thread runtime the writer cannot run during this loop: the queue alone
        // must hold the whole flood.
        for i in 0..FLOOD {
            t.emit(Event::LoopLag { lag_ms: i, threshold_ms: 0 });
        }
        t.shutdown().await
    });
    assert_eq!(summary, WriterSummary { written: FLOOD, ..WriterSummary::default() });
    let (events, dropped) = tally(&path);
    assert_eq!(dropped, 0);
    assert_eq!(events.len() as u64, FLOOD);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event, &Event::LoopLag { lag_ms: i as u64, threshold_ms: 0 });
    }
}

#[test]
fn a_flood_into_a_tiny_buffer_reports_exactly_what_was_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let capacity = 16;
    let summary = current_thread().block_on(async {
        let t = Telemetry::start(&path, RunId::new("tiny"), clock(), config(capacity)).unwrap();
        for i in 0..FLOOD {
            t.emit(Event::LoopLag { lag_ms: i, threshold_ms: 0 });
        }
        t.shutdown().await
    });
    // The writer could not run during the loop: exactly `capacity` events fit.
    let kept = capacity as u64;
    assert_eq!(
        summary,
        WriterSummary {
            written: kept,
            dropped: FLOOD - kept,
            dropped_reported: FLOOD - kept,
            write_errors: 0
        }
    );
    let (events, dropped) = tally(&path);
    assert_eq!(events.len() as u64, kept);
    assert_eq!(dropped, FLOOD - kept, "the file says how many were lost");
}

#[test]
fn a_flood_from_another_thread_accounts_for_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let t =
        runtime.block_on(async { Telemetry::start(&path, RunId::new("mt"), clock(), config(64)).unwrap() });
    let emitter = {
        let t = t.clone();
        std::thread::spawn(move || {
            for i in 0..FLOOD {
                t.emit(Event::LoopLag { lag_ms: i, threshold_ms: 0 });
            }
        })
    };
    emitter.join().unwrap();
    let summary = runtime.block_on(t.shutdown());
    assert_eq!(summary.written + summary.dropped, FLOOD, "{summary:?}");
    assert_eq!(summary.dropped, summary.dropped_reported, "{summary:?}");
    let (events, dropped) = tally(&path);
    assert_eq!(events.len() as u64, summary.written);
    assert_eq!(dropped, summary.dropped);
    // What was kept is still in emit order.
    let lags: Vec<u64> = events
        .iter()
        .map(|e| match e {
            Event::LoopLag { lag_ms, .. } => *lag_ms,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(lags.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_failing_disk_never_blocks_or_panics_the_emitter() {
    // /dev/full accepts the open and fails every write with ENOSPC, even for root.
    let full = Path::new("/dev/full");
    if !full.exists() {
        println!("/dev/full is absent on this system; the failing-disk test needs it");
        return;
    }
    let summary = current_thread().block_on(async {
        let t = Telemetry::start(full, RunId::new("full"), clock(), config(1024)).unwrap();
        for round in 0..3u64 {
            for i in 0..1_000 {
                t.emit(Event::LoopLag { lag_ms: round * 1_000 + i, threshold_ms: 0 });
            }
            // Each flush hits the failing disk; the writer keeps going and keeps counting.
            let summary = t.flush().await;
            assert_eq!(summary.dropped, (round + 1) * 1_000, "{summary:?}");
        }
        t.shutdown().await
    });
    assert_eq!(summary.written, 0);
    assert_eq!(summary.dropped, 3_000);
    assert_eq!(summary.dropped_reported, 0, "the report lines could not be written either");
    assert!(summary.write_errors >= 3, "{summary:?}");
}

#[test]
fn an_events_file_that_cannot_be_opened_is_a_start_up_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("plain_file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let path = not_a_dir.join("events.jsonl");
    let err =
        current_thread().block_on(async { Telemetry::start(&path, RunId::new("x"), clock(), config(8)) });
    let err = err.unwrap_err();
    assert!(matches!(err, TelemetryError::Io { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("open events file") && text.contains("plain_file/events.jsonl"), "{text}");
}

#[test]
fn retention_keeps_the_current_session_and_reports_through_the_sink() {
    let root = tempfile::tempdir().unwrap();
    let sessions = root.path().join("sessions");
    let clock = clock();
    let mut names = Vec::new();
    for _ in 0..4 {
        let s = Session::create(&sessions, &*clock, None).unwrap();
        s.write_config_snapshot("x = 1\n").unwrap();
        names.push(s.name().to_owned());
        clock.advance(Duration::from_secs(1));
    }
    let sink = MemorySink::new();
    let policy = RetentionPolicy { keep_sessions: NonZeroUsize::new(2), max_total_bytes: None };
    let report = apply_retention(&sessions, &policy, Some(&names[3]), &sink);
    assert_eq!(report.kept, vec![names[3].clone(), names[2].clone()]);
    let removed: Vec<&str> = report.removed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(removed, vec![names[1].as_str(), names[0].as_str()]);
    assert_eq!(sink.events(), vec![Event::RetentionApplied { removed: 2, kept: 2, freed_bytes: 12 }]);
    assert!(!sessions.join(&names[0]).exists() && sessions.join(&names[3]).exists());
    assert_eq!(clock.now(), Timestamp::from_millis(1_709_618_832_000));
}

#[test]
fn every_event_type_and_field_is_documented() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/telemetry.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_else(|e| panic!("{}: {e}", doc_path.display()));
    for event in sample_events() {
        let heading = format!("#### `{}`", event.event_type());
        let start = doc.find(&heading).unwrap_or_else(|| panic!("docs/telemetry.md lacks {heading}"));
        let section = &doc[start + heading.len()..];
        let section = &section[..section.find("\n#### ").unwrap_or(section.len())];
        let value = serde_json::to_value(&event).unwrap();
        for field in value["payload"].as_object().unwrap().keys() {
            assert!(
                section.contains(&format!("| `{field}` |")),
                "{heading}: field `{field}` is not documented"
            );
        }
    }
}

#[test]
fn retention_never_removes_a_session_another_bot_still_runs() {
    let root = tempfile::tempdir().unwrap();
    let sessions = root.path().join("sessions");
    let clock = clock();
    // An older bot, still running (its Session is alive), and two sessions that ended.
    let running = Session::create(&sessions, &*clock, Some("other-bot")).unwrap();
    clock.advance(Duration::from_secs(1));
    let ended = Session::create(&sessions, &*clock, None).unwrap().name().to_owned();
    clock.advance(Duration::from_secs(1));
    let current = Session::create(&sessions, &*clock, None).unwrap();

    let sink = MemorySink::new();
    let policy = RetentionPolicy { keep_sessions: NonZeroUsize::new(1), max_total_bytes: None };
    let report = apply_retention(&sessions, &policy, Some(current.name()), &sink);
    assert_eq!(report.in_use, vec![running.name().to_owned()]);
    assert_eq!(report.kept, vec![current.name().to_owned(), running.name().to_owned()]);
    let removed: Vec<&str> = report.removed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(removed, vec![ended.as_str()]);
    assert!(running.paths().dir.is_dir(), "the running bot's directory survives");

    // Once that bot has stopped (its lock released), retention may remove it.
    let running_name = running.name().to_owned();
    drop(running);
    let report = apply_retention(&sessions, &policy, Some(current.name()), &sink);
    assert!(report.in_use.is_empty());
    let removed: Vec<&str> = report.removed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(removed, vec![running_name.as_str()]);
}

/// bot.log's losses are reported like lost events: a LOG_DROPPED line with the exact count.
#[test]
fn log_lines_lost_under_a_burst_are_reported_as_log_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let paths = telemetry::SessionPaths::in_dir(dir.path());
    let config = telemetry::LogConfig { console: false, queue_lines: 1, ..telemetry::LogConfig::default() };
    let (lost, events) = current_thread().block_on(async {
        let t = Telemetry::start(&paths.events, RunId::new("x"), clock(), WriterConfig::default()).unwrap();
        let setup = telemetry::build_dispatch(&paths, &config, &t).unwrap();
        t.watch_log_losses(setup.losses.clone());
        tracing::dispatcher::with_default(&setup.dispatch, || {
            for i in 0..20_000 {
                tracing::info!(i, "burst line");
            }
        });
        let losses = setup.losses.clone();
        setup.close();
        t.shutdown().await;
        (losses.total(), read_events(&paths.events).unwrap())
    });
    assert!(lost > 0, "a one-line queue under a 20 000-line burst must drop");
    let reported: Vec<(String, u64)> = events
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::LogDropped { file, count } => Some((file.clone(), *count)),
            _ => None,
        })
        .collect();
    assert_eq!(reported, vec![("bot.log".to_owned(), lost)]);
}
