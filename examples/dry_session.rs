//! A dry session on the embedded simulated exchange: market data -> drop triggers -> guards,
//! with every decision written as a typed event to a real session directory.
//!
//! "Dry" is the design's `ORDER_FLOW_ENABLED=false`: the session decides and records, and sends
//! no orders (the order router is not assembled yet). It runs on simulated time: a
//! current-thread tokio runtime with paused time and a clock from a fixed market epoch
//! (`--market-epoch-ms`), so hours of market time pass in seconds and the same settings give
//! the same `events.jsonl` (apart from the fields that name the run: see
//! `drop_bot_examples::DryConfig`). At the end `events.jsonl` is read back with the typed
//! reader and the decision funnel is printed.
//!
//! ```sh
//! cargo run -p drop-bot-examples --example dry_session -- --minutes 240 --symbols 130
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use drop_bot_examples::{run_dry_session, DryConfig, DryOutcome, DEFAULT_MARKET_EPOCH_MS};
use rust_decimal::Decimal;
use signals::GuardKind;
use trading_core::Timestamp;

/// Command-line settings. Every value is validated (by the typed signal configs) before the
/// session directory is created.
#[derive(Parser, Debug)]
#[command(name = "dry_session", about = "Decide-and-record session on the simulated exchange")]
struct Args {
    /// Number of simulated symbols.
    #[arg(long, default_value_t = 130)]
    symbols: usize,
    /// Seed of the simulated market (same seed, same prices).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// SIM_EPOCH_MS: simulated market time of the session start, epoch milliseconds (default
    /// 2026-01-01T00:00:00Z).
    #[arg(long, default_value_t = DEFAULT_MARKET_EPOCH_MS)]
    market_epoch_ms: i64,
    /// Simulated market time to run, in minutes.
    #[arg(long, default_value_t = 240)]
    minutes: u64,
    /// MD_POLL_MS: market-data cycle, in simulated milliseconds.
    #[arg(long, default_value_t = 1500)]
    poll_ms: u64,
    /// DROP_TRIGGER_VALUE: fire when price / reference <= this (0.985 = a 1.5 % drop).
    #[arg(long, default_value = "0.985")]
    trigger: Decimal,
    /// DROP_TRIGGER_MODE: 1 window high, 2 window open, 3 running high, 4 anchor reset.
    #[arg(long, default_value_t = 4)]
    mode: u8,
    /// DROP_TRIGGER_LOOKBACK_MIN: lookback window in minutes.
    #[arg(long, default_value_t = 15)]
    lookback_min: u32,
    /// GUARD_MAX_SPREAD_PCT: block when the bid/ask spread is wider.
    #[arg(long, default_value = "0.5")]
    max_spread_pct: Decimal,
    /// GUARD_FALLING_KNIFE_PCT: block drops deeper than this.
    #[arg(long, default_value = "8")]
    falling_knife_pct: Decimal,
    /// GUARD_COOLDOWN_MIN: per-symbol quiet time after a trigger.
    #[arg(long, default_value_t = 30)]
    cooldown_min: u64,
    /// GUARD_MARKET_CRASH_MAX_DROP_PCT: block everything when BTC/USDT fell more than this over
    /// the last hour.
    #[arg(long, default_value = "3")]
    market_crash_pct: Decimal,
    /// Simulated minutes between two FUNNEL_SNAPSHOT events (a final one is always written).
    #[arg(long, default_value_t = 15)]
    funnel_every_min: u64,
    /// SESSION_DIR: where session directories are created.
    #[arg(long, default_value = "sessions")]
    session_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = DryConfig {
        symbols: args.symbols,
        seed: args.seed,
        market_epoch: Timestamp::from_millis(args.market_epoch_ms),
        minutes: args.minutes,
        poll_ms: args.poll_ms,
        trigger: args.trigger,
        mode: args.mode,
        lookback_min: args.lookback_min,
        max_spread_pct: args.max_spread_pct,
        falling_knife_pct: args.falling_knife_pct,
        cooldown_min: args.cooldown_min,
        market_crash_pct: args.market_crash_pct,
        session_dir: args.session_dir,
        funnel_every_min: args.funnel_every_min,
        listen_for_os_signals: true,
        ..DryConfig::default()
    };
    // Simulated time: one thread, paused time that jumps to the next timer when every task
    // waits. Same settings, same events.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dry_session: error: cannot build the tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run_dry_session(&config)) {
        Ok(outcome) => {
            print_summary(&config, &outcome);
            ExitCode::from(u8::try_from(outcome.exit_code).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("dry_session: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[allow(clippy::print_stdout)] // a command-line example reports to its user
fn print_summary(config: &DryConfig, out: &DryOutcome) {
    let funnel = &out.funnel;
    println!("session      {}", out.session_dir.display());
    println!(
        "market time  {} min in {} cycles of {} ms ({} polls failed)",
        out.sim_ms / 60_000,
        out.cycles,
        config.poll_ms,
        out.failed_polls
    );
    println!("symbols      {}", out.symbols);
    println!("evaluated    {}", funnel.evaluated);
    println!("no drop      {}", funnel.not_triggered);
    println!("no price     {}", funnel.no_price);
    println!("drops fired  {}  (DROP_DETECTED events: {})", funnel.fired, out.drops);
    for guard in GuardKind::ALL {
        let n = funnel.blocked_by(guard);
        if n > 0 {
            let missing =
                funnel.blocked_missing_input[GuardKind::ALL.iter().position(|g| *g == guard).unwrap_or(0)];
            println!("blocked by {:<12} {n} ticks ({missing} for missing input)", guard.as_str());
        }
    }
    println!("GUARD_BLOCKED events {}", out.guard_events);
    println!("FUNNEL_SNAPSHOT events {}", out.funnel_snapshots);
    println!("orders       0 (dry session: ORDER_FLOW_ENABLED=false)");
    println!("events.jsonl {} written, {} dropped, {} read back", out.written, out.dropped, out.read_back);
}
