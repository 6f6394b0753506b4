//! Snapshot of the report of a fixed seeded session (issue 14): the whole bot (simulated venue,
//! feed, signals, router, telemetry) runs 60 simulated minutes of 30 symbols with seed 11, and
//! the `report.md` it writes is compared with the reviewed snapshot in `snapshots/`. Only what
//! names the run (the session's name, from the wall clock, and its directory) is replaced.
//!
//! A change to the bot, the simulator or the report that changes what an operator reads shows
//! up here as a diff to review: `INSTA_UPDATE=always cargo test -p bot --test report_snapshot`
//! writes the new snapshot, and `git diff` shows what changed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use bot::{SessionOptions, Settings, SettingsSources, VenueCredentials};

#[test]
fn the_report_of_a_fixed_seeded_session() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("sessions");
    let flags = [
        ("SESSION_DIR", dir.display().to_string()),
        ("SIM_SYMBOLS", "30".to_owned()),
        ("SESSION_DURATION_MIN", "60".to_owned()),
        ("SIM_SEED", "11".to_owned()),
    ];
    let sources = SettingsSources {
        flags: flags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ..SettingsSources::default()
    };
    let loaded = Settings::load(&sources).unwrap();
    let options = SessionOptions { write_report: true, ..SessionOptions::default() };
    let out = bot::run_session(&loaded, &VenueCredentials::default(), &options).unwrap();
    assert_eq!(out.exit_code, 0);

    let report = std::fs::read_to_string(out.dir.join("report.md")).unwrap();
    let name = out.dir.file_name().unwrap().to_string_lossy().into_owned();
    let normalized =
        report.replace(&name, "session_<run>").replace(&dir.display().to_string(), "<SESSION_DIR>");
    // The charts the report links to exist.
    let mut charts: Vec<String> = std::fs::read_dir(out.dir.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    charts.sort();
    for chart in &charts {
        assert!(normalized.contains(&format!("charts/{chart}")), "report links {chart}");
    }
    insta::assert_snapshot!("seeded_session_report", normalized);
}
