//! `bot`: runs a drop-trading session (`bot run`, the default), or rebuilds a session's report
//! (`bot report DIR`).
//!
//! Settings: defaults < `--config FILE` < environment < flags (`--set KEY=VALUE` and the named
//! flags below). Invalid settings exit with code 2 before anything is created.

#![allow(clippy::print_stdout)] // a command-line program: its results are for the terminal

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bot::{LoadedSettings, SessionOptions, Settings, SettingsSources, VenueCredentials};
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "bot", about = "Buy-the-drop spot trading bot", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flags: Flags,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a session (the default).
    Run,
    /// Check settings, keys and permissions, clock skew, the watchlist, the feed's feasibility
    /// and one validated test order before real money; exits non-zero on a failure.
    Preflight,
    /// Rebuild `report.md` and the charts of a session directory from its `events.jsonl`.
    Report {
        /// The session directory.
        dir: PathBuf,
    },
}

/// Flags that set settings (each also available as `--set NAME=VALUE` or an environment variable).
#[derive(Args, Debug, Default, Clone)]
struct Flags {
    /// A TOML settings file (keys are the setting names in lower case: `md_poll_ms = 1500`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Any setting, as NAME=VALUE (e.g. `--set DROP_TRIGGER_VALUE=0.98`); repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE", global = true)]
    set: Vec<String>,
    /// SESSION_DURATION_MIN as a duration: `90m`, `24h`, or minutes.
    #[arg(long, global = true)]
    duration: Option<String>,
    /// SIM_SYMBOLS.
    #[arg(long, global = true)]
    symbols: Option<String>,
    /// SIM_SEED.
    #[arg(long, global = true)]
    seed: Option<String>,
    /// VENUE: sim, sim-http, binance, binance-testnet, mexc.
    #[arg(long, global = true)]
    venue: Option<String>,
    /// BASE_URL.
    #[arg(long, global = true)]
    base_url: Option<String>,
    /// SIM_REPLAY: OHLCV files (PATH or BASE/QUOTE=PATH), comma-separated or repeated.
    #[arg(long, global = true)]
    replay: Vec<String>,
    /// SIM_FAULTS: none, mild, storm.
    #[arg(long, global = true)]
    faults: Option<String>,
    /// REALTIME: run the in-process simulator in real time.
    #[arg(long, global = true)]
    realtime: bool,
    /// SESSION_DIR.
    #[arg(long, global = true)]
    session_dir: Option<String>,
    /// METRICS_ADDR (e.g. 127.0.0.1:9898).
    #[arg(long, global = true)]
    metrics_addr: Option<String>,
}

impl Flags {
    /// The flags as `(SETTING, value)` pairs, in a fixed order.
    fn to_pairs(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut pairs = Vec::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                pairs.push((key.to_owned(), v));
            }
        };
        put("SESSION_DURATION_MIN", self.duration.as_deref().map(duration_minutes).transpose()?);
        put("SIM_SYMBOLS", self.symbols.clone());
        put("SIM_SEED", self.seed.clone());
        put("VENUE", self.venue.clone());
        put("BASE_URL", self.base_url.clone());
        put("SIM_REPLAY", (!self.replay.is_empty()).then(|| self.replay.join(",")));
        put("SIM_FAULTS", self.faults.clone());
        put("REALTIME", self.realtime.then(|| "true".to_owned()));
        put("SESSION_DIR", self.session_dir.clone());
        put("METRICS_ADDR", self.metrics_addr.clone());
        for item in &self.set {
            let (key, value) =
                item.split_once('=').with_context(|| format!("--set {item:?}: expected NAME=VALUE"))?;
            pairs.push((key.trim().to_ascii_uppercase(), value.trim().to_owned()));
        }
        Ok(pairs)
    }
}

/// `90m`, `24h`, `30` (minutes) -> minutes as text.
fn duration_minutes(text: &str) -> anyhow::Result<String> {
    let t = text.trim();
    let (number, factor) = if let Some(h) = t.strip_suffix('h') {
        (h, 60)
    } else if let Some(m) = t.strip_suffix('m') {
        (m, 1)
    } else {
        (t, 1)
    };
    let n: u64 = number
        .trim()
        .parse()
        .with_context(|| format!("--duration {text:?}: expected minutes, `90m` or `24h`"))?;
    Ok((n * factor).to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Report { dir }) => match session_report::build(&dir) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bot: report: {e}");
                ExitCode::from(1)
            }
        },
        Some(Command::Run) | None => run(&cli.flags),
        Some(Command::Preflight) => preflight(&cli.flags),
    }
}

/// Loads the settings; on failure prints why and returns exit code 2.
fn load(flags: &Flags) -> Result<(LoadedSettings, VenueCredentials), ExitCode> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let pairs = match flags.to_pairs() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bot: invalid settings: {e:#}");
            return Err(ExitCode::from(2));
        }
    };
    let sources = SettingsSources { file: flags.config.clone(), env: env.clone(), flags: pairs };
    let loaded = Settings::load(&sources).map_err(|e| {
        eprintln!("bot: invalid settings: {e}");
        ExitCode::from(2)
    })?;
    let credentials = VenueCredentials::from_env(loaded.settings.venue, &env).map_err(|e| {
        eprintln!("bot: invalid settings: {e}");
        ExitCode::from(2)
    })?;
    Ok((loaded, credentials))
}

fn preflight(flags: &Flags) -> ExitCode {
    let (loaded, credentials) = match load(flags) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match bot::preflight(&loaded, &credentials) {
        Ok(p) => {
            print!("{}", p.table());
            if p.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("bot: preflight: {e}");
            ExitCode::from(4)
        }
    }
}

fn run(flags: &Flags) -> ExitCode {
    let (loaded, credentials) = match load(flags) {
        Ok(v) => v,
        Err(code) => return code,
    };
    // A testing aid, not a setting (never in the config snapshot): see `bot::Failpoints`.
    let failpoints = match std::env::var(bot::FAILPOINT_ENV) {
        Ok(spec) => match bot::Failpoints::parse(&spec) {
            Ok(fp) => Some(std::sync::Arc::new(fp)),
            Err(e) => {
                eprintln!("bot: invalid settings: {e}");
                return ExitCode::from(2);
            }
        },
        Err(_) => None,
    };
    let options = SessionOptions {
        terminal: std::io::stderr().is_terminal(),
        listen_for_os_signals: true,
        debug_trace: std::env::var(telemetry::DEBUG_TRACE_ENV).ok(),
        write_report: true,
        failpoints,
    };
    match bot::run_session(&loaded, &credentials, &options) {
        Ok(outcome) => {
            println!("session   {}", outcome.dir.display());
            println!(
                "trading   cycles {} | drops {} | intents {} | orders {} sent, {} filled | positions {} opened, {} closed, {} open",
                outcome.cycles,
                outcome.drops,
                outcome.intents,
                outcome.orders_submitted,
                outcome.orders_filled,
                outcome.positions_opened,
                outcome.positions_closed,
                outcome.positions_open,
            );
            let (free, reserved, committed, total) = outcome.budget;
            let (free, reserved, committed, total) =
                (free.round_dp(2), reserved.round_dp(2), committed.round_dp(2), total.round_dp(2));
            println!(
                "money     realized PnL {} USDT | budget free {free} + reserved {reserved} + committed {committed} = {total}",
                outcome.realized_pnl.round_dp(4)
            );
            println!(
                "telemetry overruns {} | events written {} / dropped {}",
                outcome.overruns, outcome.events_written, outcome.events_dropped
            );
            // the trades, PnL, overruns and events are on the lines above; the report adds its
            // own verdicts
            match &outcome.report {
                Some(r) => {
                    let unreadable = if r.bad_lines > 0 {
                        format!(" | unreadable lines {}", r.bad_lines)
                    } else {
                        String::new()
                    };
                    println!(
                        "report    {} | critical issues {} | checks not passed {}{unreadable}",
                        r.report.display(),
                        r.critical_issues,
                        r.checks_not_passed
                    );
                }
                None => println!("report    not written (see bot.log)"),
            }
            ExitCode::from(u8::try_from(outcome.exit_code).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("bot: {e}");
            match e {
                bot::BotError::Settings(_) => ExitCode::from(2),
                _ => ExitCode::from(4),
            }
        }
    }
}
