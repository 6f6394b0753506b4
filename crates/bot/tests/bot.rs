//! End-to-end: whole sessions through the `bot` crate on the simulated venue (in-process on
//! simulated time, and over HTTP through the real REST client), checked from what they wrote.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::Command;

use bot::{LoadedSettings, SessionOptions, SessionOutcome, Settings, SettingsSources, VenueCredentials};
use rust_decimal::Decimal;
use telemetry::{read_events, Event};

fn settings(dir: &Path, pairs: &[(&str, &str)]) -> LoadedSettings {
    let mut flags: Vec<(String, String)> = vec![("SESSION_DIR".into(), dir.display().to_string())];
    flags.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Settings::load(&SettingsSources { flags, ..SettingsSources::default() }).unwrap()
}

fn options() -> SessionOptions {
    SessionOptions { write_report: true, ..SessionOptions::default() }
}

fn run(loaded: &LoadedSettings) -> SessionOutcome {
    bot::run_session(loaded, &VenueCredentials::default(), &options()).unwrap()
}

/// The events of a session with the fields that name the run removed (the run id on every
/// line, and the session's name and directory in SESSION_STARTED).
fn normalized_events(dir: &Path) -> Vec<String> {
    let log = read_events(&dir.join("events.jsonl")).unwrap();
    assert!(log.errors.is_empty(), "unreadable lines: {:?}", log.errors);
    log.records
        .into_iter()
        .map(|r| match r.event {
            Event::SessionStarted { version, config_snapshot, .. } => {
                let snapshot: Vec<&str> =
                    config_snapshot.lines().filter(|l| !l.starts_with("session_dir")).collect();
                format!("{} SESSION_STARTED {version} {}", r.ts, snapshot.join("\n"))
            }
            event => format!("{} {}", r.ts, serde_json::to_string(&event).unwrap()),
        })
        .collect()
}

#[test]
fn a_seeded_simulated_session_trades_reports_and_repeats_event_for_event() {
    let root = tempfile::tempdir().unwrap();
    let pairs = [("SIM_SYMBOLS", "60"), ("SESSION_DURATION_MIN", "120"), ("SIM_SEED", "7")];
    let loaded = settings(&root.path().join("a"), &pairs);
    let out = run(&loaded);
    assert_eq!(out.exit_code, 0);
    assert!(out.drops > 0 && out.orders_filled > 0 && out.positions_opened > 0, "{out:#?}");
    assert_eq!(out.events_dropped, 0);

    // The budget invariant at the end, with nothing left reserved.
    let (free, reserved, committed, total) = out.budget;
    assert_eq!(free + reserved + committed, total, "{out:#?}");
    assert_eq!(reserved, Decimal::ZERO);

    // The events parse, and the funnel adds up.
    let log = read_events(&out.dir.join("events.jsonl")).unwrap();
    assert!(log.errors.is_empty());
    let funnel = log
        .records
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::FunnelSnapshot {
                is_final: true,
                evaluated,
                not_triggered,
                already_fired,
                fired,
                blocked_by_guard,
                ..
            } => Some((
                *evaluated,
                *not_triggered + *already_fired + *fired + blocked_by_guard.values().sum::<u64>(),
                *fired,
            )),
            _ => None,
        })
        .expect("a final FUNNEL_SNAPSHOT");
    assert_eq!(funnel.0, funnel.1, "evaluated = no drop + already fired + fired + blocked");
    assert_eq!(funnel.2, out.drops);
    let pnl: Decimal = log
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::PositionClosed { pnl, .. } => Some(*pnl),
            _ => None,
        })
        .sum();
    assert_eq!(pnl, out.realized_pnl, "the events' PnL is the router's");
    // Every registered task's end is reported, and none was lost along the way.
    let ends: Vec<(&str, &str)> = log
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::TaskEnded { task, how, .. } => Some((task.as_str(), how.as_str())),
            _ => None,
        })
        .collect();
    assert!(
        ends.contains(&("md-feed", "returned")) && ends.contains(&("trading-loop", "returned")),
        "{ends:?}"
    );
    // On paused time the watchdog is a task of the runtime: there is no runtime pulse to watch.
    assert!(!ends.iter().any(|(task, _)| *task == "runtime"), "{ends:?}");
    match &log.records.last().unwrap().event {
        Event::SessionEnded { events_dropped, positions_opened, .. } => {
            assert_eq!((*events_dropped, *positions_opened), (0, out.positions_opened));
        }
        other => panic!("the last event is {other:?}"),
    }

    // The report and its charts exist; config.toml names the sources.
    // A clean session raises no issue of its own: every task ends inside the shutdown, every
    // validation check of the report passes.
    assert!(
        out.report.as_ref().is_some_and(|r| r.critical_issues == 0 && r.checks_not_passed == 0),
        "{:?}",
        out.report
    );
    let report = std::fs::read_to_string(out.dir.join("report.md")).unwrap();
    assert!(report.contains("## Critical issues") || report.contains("Critical issues"), "{report}");
    let charts: Vec<PathBuf> =
        std::fs::read_dir(out.dir.join("charts")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(
        charts.len() >= 4 && charts.iter().all(|c| c.extension().is_some_and(|e| e == "svg")),
        "{charts:?}"
    );
    let config = std::fs::read_to_string(out.dir.join("config.toml")).unwrap();
    assert!(config.contains("sim_symbols = 60  # SIM_SYMBOLS, from command line"), "{config}");

    // Same seed and settings: the same events, line for line.
    let again = run(&settings(&root.path().join("b"), &pairs));
    assert_eq!(normalized_events(&out.dir), normalized_events(&again.dir));
    // Another seed: another session.
    let other = run(&settings(
        &root.path().join("c"),
        &[("SIM_SYMBOLS", "60"), ("SESSION_DURATION_MIN", "120"), ("SIM_SEED", "8")],
    ));
    assert_ne!(normalized_events(&out.dir), normalized_events(&other.dir));
}

#[test]
fn decide_only_sends_nothing_and_releases_every_reservation() {
    let root = tempfile::tempdir().unwrap();
    let loaded = settings(
        root.path(),
        &[("SIM_SYMBOLS", "40"), ("SESSION_DURATION_MIN", "60"), ("ORDER_FLOW_ENABLED", "false")],
    );
    let out = run(&loaded);
    assert!(out.drops > 0);
    assert_eq!((out.orders_submitted, out.positions_opened), (0, 0));
    let (free, reserved, committed, total) = out.budget;
    assert_eq!((reserved, committed, free), (Decimal::ZERO, Decimal::ZERO, total));
}

#[test]
fn a_session_over_http_through_the_rest_client_trades_and_ends_cleanly() {
    // Real time, real sockets: the simulator's server on 127.0.0.1 and the Binance client. A
    // shallow trigger and a near take-profit so that one minute has trades.
    let root = tempfile::tempdir().unwrap();
    let loaded = settings(
        root.path(),
        &[
            ("VENUE", "sim-http"),
            ("SIM_SYMBOLS", "300"),
            ("SIM_LATENCY_MS", "5"),
            ("SESSION_DURATION_MIN", "1"),
            ("DROP_TRIGGER_VALUE", "0.998"),
            ("DROP_TRIGGER_LOOKBACK_MIN", "1"),
            ("GUARD_FALLING_KNIFE_MAX_DROP_PCT", "50"),
            ("GUARD_COOLDOWN_S", "0"),
            ("TAKE_PROFIT_PCT", "0.1"),
            ("MD_POLL_MS", "1000"),
            ("MD_HOT_MS", "1000"),
            ("MD_WARM_MS", "1000"),
        ],
    );
    let out = run(&loaded);
    assert_eq!(out.exit_code, 0, "{out:#?}");
    assert!(out.orders_filled > 0 && out.positions_opened > 0, "{out:#?}");
    let (free, reserved, committed, total) = out.budget;
    assert_eq!(free + reserved + committed, total);
    assert_eq!(reserved, Decimal::ZERO, "no reservation outlives the session");
    assert_eq!(out.events_dropped, 0);
    assert!(out.dir.join("report.md").is_file());

    // Live, the watchdog runs on its own thread and the runtime's pulse task beats for the
    // runtime: the pulse ran the whole session and ended with the shutdown, like every task.
    let ended = tasks_ended(&out.dir);
    assert!(ended.iter().any(|(task, how)| task == "runtime" && how == "cancelled"), "{ended:?}");
}

/// The `(task, how)` of every TASK_ENDED event of a session.
fn tasks_ended(dir: &Path) -> Vec<(String, String)> {
    read_events(&dir.join("events.jsonl"))
        .unwrap()
        .records
        .into_iter()
        .filter_map(|r| match r.event {
            Event::TaskEnded { task, how, .. } => Some((task, how)),
            _ => None,
        })
        .collect()
}

#[test]
fn invalid_settings_exit_with_code_2_and_create_nothing() {
    let root = tempfile::tempdir().unwrap();
    let sessions = root.path().join("sessions");
    let bot = env!("CARGO_BIN_EXE_bot");
    /// Flags, environment, the name the error must mention.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 5] = [
        (&["--set", "MD_POLL_MS=fast"], &[], "MD_POLL_MS"),
        (&["--set", "DROP_TRIGGER_VALUE=1.5"], &[], "DROP_TRIGGER_VALUE"),
        (&["--set", "NO_SUCH_SETTING=1"], &[], "NO_SUCH_SETTING"),
        (&[], &[("MD_POL_MS", "1500")], "MD_POL_MS"),
        (&["--venue", "binance"], &[], "BINANCE_API_KEY"),
    ];
    for (args, env, named) in cases {
        let output = Command::new(bot)
            .args(args)
            .arg("--session-dir")
            .arg(&sessions)
            .env_remove("BINANCE_API_KEY")
            .env_remove("BINANCE_API_SECRET")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: the error names {named}: {stderr}");
        assert!(!sessions.exists(), "{args:?}: no session directory for invalid settings");
    }
}

#[test]
fn preflight_passes_on_the_simulator_and_names_what_is_wrong() {
    let root = tempfile::tempdir().unwrap();
    let ok = bot::preflight(&settings(root.path(), &[("VENUE", "sim-http")]), &VenueCredentials::default())
        .unwrap();
    assert!(ok.passed(), "{}", ok.table());
    let names: Vec<&str> = ok.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "settings",
            "credentials",
            "clock skew",
            "account",
            "markets",
            "watchlist",
            "feed feasibility",
            "test order"
        ]
    );
    assert!(!root.path().read_dir().unwrap().any(|_| true), "a preflight creates no session");

    let bad = bot::preflight(
        &settings(
            root.path(),
            &[
                ("WATCHLIST", "BTC/USDT,NOPE/USDT"),
                ("MD_MODE", "per-symbol"),
                ("MD_POLL_MS", "100"),
                ("MD_HOT_MS", "100"),
                ("MD_WARM_MS", "100"),
            ],
        ),
        &VenueCredentials::default(),
    )
    .unwrap();
    assert!(!bad.passed());
    let failed: Vec<&str> =
        bad.checks.iter().filter(|c| c.status == bot::CheckStatus::Fail).map(|c| c.name).collect();
    assert!(failed.contains(&"watchlist"), "{}", bad.table());
    let watch = bad.checks.iter().find(|c| c.name == "watchlist").unwrap();
    assert!(watch.detail.contains("NOPE/USDT"), "{}", watch.detail);
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn api_keys_never_reach_a_file_a_ledger_row_or_a_log_line() {
    // A "real" venue (the Binance profile) pointed at the simulator's server, which checks
    // signatures with these keys: the secret is really used for signing during the session.
    let key = "K3yQ7wz0Xv8bN2mL5pR1tY6uI9oA4sD7fG0hJ3kZ";
    let secret = "S3cr3tV4lu3Mn8Bv7Cx6Zl5Kj4Hg3Fd2Sa1Qw0Er";
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = runtime
        .block_on(exchange_sim::SimServer::start(exchange_sim::SimConfig {
            symbols: 200,
            api_key: key.into(),
            api_secret: secret.into(),
            ..exchange_sim::SimConfig::default()
        }))
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let state_db = root.path().join("state").join("ledger.sqlite");
    let loaded = settings(
        &root.path().join("sessions"),
        &[
            ("VENUE", "binance"),
            ("BASE_URL", &server.base_url()),
            ("STATE_DB", &state_db.display().to_string()),
            ("ORDER_FLOW_ENABLED", "true"),
            ("SESSION_DURATION_MIN", "1"),
            ("DROP_TRIGGER_VALUE", "0.998"),
            ("DROP_TRIGGER_LOOKBACK_MIN", "1"),
            ("GUARD_COOLDOWN_S", "0"),
            ("MD_POLL_MS", "1000"),
            ("MD_HOT_MS", "1000"),
            ("MD_WARM_MS", "1000"),
        ],
    );
    let env = vec![
        ("BINANCE_API_KEY".to_owned(), key.to_owned()),
        ("BINANCE_API_SECRET".to_owned(), secret.to_owned()),
    ];
    let credentials = VenueCredentials::from_env(loaded.settings.venue, &env).unwrap();
    assert!(!format!("{credentials:?}").contains(secret));
    let out = bot::run_session(&loaded, &credentials, &options()).unwrap();
    assert!(out.orders_submitted > 0, "signed requests were made: {out:#?}");
    let mut files = files_below(root.path());
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("events.jsonl"))
            && files.iter().any(|f| f.ends_with("ledger.sqlite"))
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for needle in [key, secret] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} contains a credential",
                file.display()
            );
        }
    }
    runtime.block_on(server.shutdown());
}
