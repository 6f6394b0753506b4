//! `cargo xtask`: the project's automation, in Rust instead of shell glue.
//!
//! - `cargo xtask ci`: every check CI runs (format, clippy with `-D warnings`, each library crate
//!   checked on its own, tests, docs with `-D warnings`, a short `run-session` whose
//!   `events.jsonl` is read back and judged, `cargo deny check bans licenses sources`). Every
//!   build is `--locked`: CI builds exactly the committed `Cargo.lock`.
//! - `cargo xtask run-session`: a trading session of the `bot` (release build) on the embedded
//!   simulated exchange: 24 simulated hours of 130 symbols in seconds, then the report. The
//!   bot's exit code is passed through unchanged.
//! - `cargo xtask report DIR`: rebuilds a session's `report.md` and charts from `events.jsonl`.
//! - `cargo xtask bench [criterion|feed|session] [-p PACKAGE]`: the project's benchmarks (the
//!   criterion benches, the market-data feed table, the 24-hour sessions' median wall time of
//!   five runs and peak RSS) printed as one table, each figure against a baseline measured in
//!   the same run.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

mod bench;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation for the drop-bot workspace")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every CI check: fmt, clippy -D warnings, tests, docs -D warnings, cargo-deny.
    Ci {
        /// Skip `cargo deny` (for machines without it; CI never skips).
        #[arg(long)]
        no_deny: bool,
    },
    /// Run a trading session of the bot on the embedded simulated exchange (24 simulated hours,
    /// 130 symbols by default). `cargo xtask run-session -- --help` lists the flags; e.g.
    /// `-- --duration 6h --symbols 2000 --seed 7`, `-- preflight`, `-- --venue sim-http`.
    RunSession {
        /// Arguments passed to the bot.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Rebuild `report.md` and the charts of a session directory from its `events.jsonl`.
    Report {
        /// The session directory.
        dir: PathBuf,
    },
    /// Run the benchmarks and print one table: the criterion benches (all packages, or one with
    /// -p), the market-data feed table against the simulator's HTTP server, and release
    /// sessions of 24 simulated hours (130 and 2000 symbols, five runs each: the median wall
    /// time with the range, the peak RSS).
    Bench {
        /// Only one suite: `criterion`, `feed` or `session`.
        target: Option<String>,
        /// Only this package.
        #[arg(short, long)]
        package: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run-session` passes the bot's own exit code through (2 = invalid settings, ...).
    if let Cmd::RunSession { args } = &cli.command {
        return match workspace_root().and_then(|root| run_session(&root, Profile::Release, args)) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("xtask: error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let root = workspace_root()?;
    match cli.command {
        Cmd::Ci { no_deny } => ci(&root, no_deny),
        Cmd::RunSession { args } => match run_session(&root, Profile::Release, &args)? {
            0 => Ok(()),
            code => bail!("the bot exited with code {code}"),
        },
        Cmd::Report { dir } => {
            let summary = session_report::build(&dir)
                .with_context(|| format!("building the report of {}", dir.display()))?;
            eprintln!("{summary}");
            Ok(())
        }
        Cmd::Bench { target, package } => {
            let suites = match target.as_deref() {
                None if package.is_some() => bench::Suites::Criterion,
                None => bench::Suites::All,
                Some("criterion") => bench::Suites::Criterion,
                Some("feed") => bench::Suites::Feed,
                Some("session") => bench::Suites::Session,
                Some(t) => bail!("unknown benchmark suite `{t}` (known: criterion, feed, session)"),
            };
            bench::run(&root, suites, package.as_deref())
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(Path::to_path_buf).context("xtask has no parent directory")
}

fn cargo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: $ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start `{cargo}`"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn ci(root: &Path, no_deny: bool) -> Result<()> {
    let in_ci = is_ci();
    if in_ci {
        require_fixtures(root)?;
    }
    cargo(root, &["fmt", "--all", "--", "--check"], &[])?;
    cargo(root, &["clippy", "--locked", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])?;
    // Feature unification in a workspace build can hide a crate that does not build alone
    // (a feature only a sibling turns on): check every library crate by itself.
    for package in library_packages(root)? {
        cargo(root, &["check", "--locked", "-p", &package, "--all-targets"], &[])?;
    }
    cargo(root, &["test", "--locked", "--workspace"], &[])?;
    cargo(root, &["doc", "--locked", "--workspace", "--no-deps"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    // The README's run command must work on a fresh machine too: a short session, for real,
    // judged by what it wrote, not only by its exit code.
    let sessions = root.join("target").join("ci-sessions");
    if sessions.exists() {
        std::fs::remove_dir_all(&sessions)
            .with_context(|| format!("clearing the previous CI sessions in {}", sessions.display()))?;
    }
    let sessions_arg = sessions.to_str().context("target path is not UTF-8")?;
    let code = run_session(
        root,
        Profile::Debug,
        &["--duration".into(), "90m".into(), "--session-dir".into(), sessions_arg.into()],
    )?;
    if code != 0 {
        bail!("the CI session exited with code {code}");
    }
    let verdict = judge_session(&sessions)?;
    eprintln!("xtask: session check passed: {verdict}");
    if no_deny {
        eprintln!("xtask: skipping cargo deny (--no-deny)");
    } else {
        ensure_cargo_deny(root)?;
        // `cargo deny` runs `cargo metadata`, which needs the crates of every target platform
        // (a build only downloads the host's). Fetch them all first, then check offline;
        // advisories need the advisory database from the internet and stay off.
        cargo(root, &["fetch", "--locked"], &[])?;
        cargo(root, &["deny", "--offline", "check", "bans", "licenses", "sources"], &[])?;
    }
    eprintln!("xtask: all CI checks passed");
    Ok(())
}

/// True when running under CI (`CI=true` or `CI=1`, as CI services set it).
fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim();
        v.eq_ignore_ascii_case("true") || v == "1"
    })
}

/// The OHLCV fixtures are read in place from `../shared/fixtures/ohlcv` (relative to the
/// repository root; they are GPL-family and never committed). Tests skip with a notice when the
/// folder is absent; in CI an absent folder would silently skip them, so it fails the run.
fn require_fixtures(root: &Path) -> Result<()> {
    let dir = root.join("..").join("shared").join("fixtures").join("ohlcv");
    let present = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if !present {
        bail!(
            "CI=true but the OHLCV fixture folder {} is absent or empty: the replay tests would be \
             skipped. Place the fixtures there (see ../shared/fixtures/README.txt) or run without CI=true.",
            dir.display()
        );
    }
    eprintln!("xtask: OHLCV fixtures found in {}", dir.display());
    Ok(())
}

/// The workspace's library packages (those with a `lib` or `proc-macro` target), from
/// `cargo metadata`, sorted by name: new crates are included without editing this file.
fn library_packages(root: &Path) -> Result<Vec<String>> {
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(&cargo_bin)
        .args(["metadata", "--locked", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .with_context(|| format!("could not start `{cargo_bin} metadata`"))?;
    if !out.status.success() {
        bail!("`cargo metadata` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("`cargo metadata` printed something that is not JSON")?;
    library_packages_in(&metadata)
}

/// The library packages among the workspace members of a `cargo metadata` document.
fn library_packages_in(metadata: &serde_json::Value) -> Result<Vec<String>> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .context("`cargo metadata`: no `workspace_members` array")?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let packages = metadata["packages"].as_array().context("`cargo metadata`: no `packages` array")?;
    let mut names = Vec::new();
    for package in packages {
        let id = package["id"].as_str().context("`cargo metadata`: a package without an id")?;
        if !members.contains(&id) {
            continue;
        }
        let is_lib = package["targets"].as_array().is_some_and(|targets| {
            targets.iter().any(|t| {
                t["kind"].as_array().is_some_and(|kinds| {
                    kinds.iter().any(|k| matches!(k.as_str(), Some("lib" | "rlib" | "proc-macro")))
                })
            })
        });
        if is_lib {
            let name = package["name"].as_str().context("`cargo metadata`: a package without a name")?;
            names.push(name.to_owned());
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("`cargo metadata` lists no library package in the workspace");
    }
    Ok(names)
}

/// What the CI session's `events.jsonl` showed.
#[derive(Debug)]
struct SessionVerdict {
    events: usize,
    drops: usize,
    fills: usize,
}

impl std::fmt::Display for SessionVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events read back, {} drops fired, {} orders filled, 0 events dropped",
            self.events, self.drops, self.fills
        )
    }
}

/// Finds the one session the CI run created under `sessions` and judges its `events.jsonl`.
fn judge_session(sessions: &Path) -> Result<SessionVerdict> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(sessions).with_context(|| format!("reading {}", sessions.display()))? {
        let entry = entry.with_context(|| format!("reading {}", sessions.display()))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    let [dir] = dirs.as_slice() else {
        bail!("expected exactly one session directory in {}, found {}", sessions.display(), dirs.len());
    };
    let events = dir.join("events.jsonl");
    let log = telemetry::read_events(&events).with_context(|| format!("reading {}", events.display()))?;
    let verdict = judge_events(&log).with_context(|| format!("judging {}", events.display()))?;
    for written in ["report.md", "config.toml", "bot.log"] {
        if !dir.join(written).is_file() {
            bail!("the session wrote no {written} in {}", dir.display());
        }
    }
    Ok(verdict)
}

/// A session must have: every line readable, a start and an end, at least one drop fired, and
/// no event lost (no TELEMETRY_DROPPED line, `events_dropped` 0 at the end).
fn judge_events(log: &telemetry::EventLog) -> Result<SessionVerdict> {
    use telemetry::Event;
    if let Some(first) = log.errors.first() {
        bail!("{} unreadable lines, first: {first}", log.errors.len());
    }
    if !matches!(log.records.first().map(|r| &r.event), Some(Event::SessionStarted { .. })) {
        bail!("the first event is not SESSION_STARTED");
    }
    let mut drops = 0;
    let mut fills = 0;
    let mut ended = None;
    for record in &log.records {
        match &record.event {
            Event::DropDetected { .. } => drops += 1,
            Event::OrderFilled { .. } => fills += 1,
            Event::TelemetryDropped { count } => bail!("TELEMETRY_DROPPED: {count} events lost"),
            Event::LogDropped { file, count } => bail!("LOG_DROPPED: {count} lines of {file} lost"),
            Event::SessionEnded { events_dropped, .. } => ended = Some(*events_dropped),
            _ => {}
        }
    }
    match ended {
        None => bail!("no SESSION_ENDED event"),
        Some(lost) if lost > 0 => bail!("SESSION_ENDED reports {lost} events dropped"),
        Some(_) => {}
    }
    if drops == 0 {
        bail!("no DROP_DETECTED event: the session fired no drop");
    }
    if fills == 0 {
        bail!("no ORDER_FILLED event: the session traded nothing");
    }
    Ok(SessionVerdict { events: log.records.len(), drops, fills })
}

/// Installs cargo-deny from crates.io when this machine does not have it yet, so that
/// `cargo xtask ci` works on a fresh machine.
fn ensure_cargo_deny(root: &Path) -> Result<()> {
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let present = Command::new(&cargo_bin)
        .args(["deny", "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|out| out.status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: cargo-deny is not installed; installing it from crates.io");
    cargo(root, &["install", "--locked", "cargo-deny"], &[])
}

/// Which build of the bot a session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// The user's command: a release build, so 24 simulated hours take seconds.
    Release,
    /// CI's short session: the debug build its tests already compiled.
    Debug,
}

/// Runs the bot with `args` and returns its exit code.
fn run_session(root: &Path, profile: Profile, args: &[String]) -> Result<i32> {
    let mut cargo_args = vec!["run", "--locked", "--quiet"];
    if profile == Profile::Release {
        cargo_args.push("--release");
    }
    cargo_args.extend(["-p", "bot", "--bin", "bot", "--"]);
    cargo_args.extend(args.iter().map(String::as_str));
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: $ cargo {}", cargo_args.join(" "));
    let status = Command::new(&cargo_bin)
        .args(&cargo_args)
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start `{cargo_bin}`"))?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry::{sample_events, Event, EventLog, EventRecord, RunId};
    use trading_core::Timestamp;

    fn sample(event_type: &str) -> Event {
        sample_events().into_iter().find(|e| e.event_type() == event_type).unwrap()
    }

    fn log(events: Vec<Event>) -> EventLog {
        let records = events
            .into_iter()
            .map(|event| EventRecord {
                ts: Timestamp::from_millis(0),
                event,
                schema: 1,
                run_id: RunId::new("r"),
            })
            .collect();
        EventLog { records, errors: Vec::new() }
    }

    fn ended(events_dropped: u64) -> Event {
        match sample("SESSION_ENDED") {
            Event::SessionEnded { reason, duration_ms, realized_pnl, .. } => Event::SessionEnded {
                reason,
                duration_ms,
                orders_submitted: 0,
                orders_filled: 0,
                positions_opened: 0,
                positions_closed: 0,
                realized_pnl,
                events_dropped,
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_good_session_passes_and_is_counted() {
        let verdict = judge_events(&log(vec![
            sample("SESSION_STARTED"),
            sample("DROP_DETECTED"),
            sample("DROP_DETECTED"),
            sample("ORDER_FILLED"),
            ended(0),
        ]))
        .unwrap();
        assert_eq!((verdict.events, verdict.drops, verdict.fills), (5, 2, 1));
    }

    #[track_caller]
    fn refused(events: Vec<Event>, fragment: &str) {
        let err = judge_events(&log(events)).unwrap_err().to_string();
        assert!(err.contains(fragment), "{err}");
    }

    #[test]
    fn sessions_missing_what_a_session_must_do_fail() {
        refused(vec![sample("SESSION_STARTED"), ended(0)], "no DROP_DETECTED");
        refused(vec![sample("SESSION_STARTED"), sample("DROP_DETECTED"), ended(0)], "no ORDER_FILLED");
        refused(vec![sample("SESSION_STARTED"), sample("DROP_DETECTED")], "no SESSION_ENDED");
        refused(vec![sample("DROP_DETECTED"), ended(0)], "first event is not SESSION_STARTED");
        refused(vec![sample("SESSION_STARTED"), sample("DROP_DETECTED"), ended(3)], "3 events dropped");
        refused(
            vec![
                sample("SESSION_STARTED"),
                sample("DROP_DETECTED"),
                Event::TelemetryDropped { count: 2 },
                ended(0),
            ],
            "TELEMETRY_DROPPED: 2",
        );
    }

    #[test]
    fn unreadable_lines_fail_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{not json\n").unwrap();
        let log = telemetry::read_events(&path).unwrap();
        let err = judge_events(&log).unwrap_err().to_string();
        assert!(err.contains("1 unreadable lines"), "{err}");
    }

    #[test]
    fn library_packages_come_from_metadata_not_a_list() {
        let metadata = serde_json::json!({
            "workspace_members": ["a 0.1.0 (path+file:///w/a)", "bin 0.1.0 (path+file:///w/bin)", "m 0.1.0 (path+file:///w/m)"],
            "packages": [
                {"id": "m 0.1.0 (path+file:///w/m)", "name": "m", "targets": [{"kind": ["proc-macro"]}]},
                {"id": "a 0.1.0 (path+file:///w/a)", "name": "a", "targets": [{"kind": ["lib"]}, {"kind": ["test"]}]},
                {"id": "bin 0.1.0 (path+file:///w/bin)", "name": "bin", "targets": [{"kind": ["bin"]}]},
                {"id": "dep 1.0.0 (registry+x)", "name": "dep", "targets": [{"kind": ["lib"]}]}
            ]
        });
        assert_eq!(library_packages_in(&metadata).unwrap(), vec!["a", "m"]);
    }

    #[test]
    fn this_workspace_lists_its_crates() {
        let names = library_packages(&workspace_root().unwrap()).unwrap();
        for expected in ["telemetry", "supervisor", "signals", "trading-core"] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n == "xtask"), "{names:?}");
    }
}
