//! A dry session on the embedded simulated exchange: market data -> drop triggers -> guards,
//! with every decision written as a typed event to a real session directory.
//!
//! "Dry" is the design's `ORDER_FLOW_ENABLED=false`: the session decides and records, and sends
//! no orders (the order router is not assembled yet). The simulated market runs on a manual clock,
//! so hours of market time pass in seconds. At the end the session's `events.jsonl` is read back
//! with the typed reader and the decision funnel is printed.
//!
//! ```sh
//! cargo run -p drop-bot-examples --example dry_session -- --minutes 240 --symbols 130
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use exchange::Exchange;
use exchange_sim::{SimConfig, SimExchange};
use rust_decimal::Decimal;
use signals::{Decision, GuardConfig, GuardKind, SignalEngine, SymbolId, Tick, TriggerConfig, TriggerMode};
use supervisor::{ExitReason, ShutdownCoordinator, Supervisor, SupervisorConfig};
use telemetry::{
    build_dispatch, install, read_events, Event, EventSink, LogConfig, Session, Telemetry, WriterConfig,
    DEBUG_TRACE_ENV,
};
use trading_core::{Clock, ManualClock, Symbol, SystemClock};

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
    /// SESSION_DIR: where session directories are created.
    #[arg(long, default_value = "sessions")]
    session_dir: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dry_session: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn mode_name(mode: TriggerMode) -> &'static str {
    match mode {
        TriggerMode::WindowHigh => "window_high",
        TriggerMode::WindowOpen => "window_open",
        TriggerMode::RunningHigh => "running_high",
        TriggerMode::AnchorReset => "anchor_reset",
    }
}

/// What the loop counted, for SESSION_ENDED and the printed summary.
#[derive(Default)]
struct Totals {
    cycles: u64,
    failed_polls: u64,
    drops: u64,
    guard_events: u64,
}

#[allow(clippy::print_stdout)] // a command-line example reports to its user
async fn run(args: Args) -> Result<ExitCode> {
    // 1. Typed, validated configuration before anything runs.
    let mode = TriggerMode::from_setting(args.mode)?;
    let trigger = TriggerConfig::new(args.trigger, mode, args.lookback_min)?;
    let btc: Symbol = "BTC/USDT".parse()?;
    let guards = GuardConfig::none()
        .max_spread_pct(args.max_spread_pct)?
        .falling_knife(args.falling_knife_pct)?
        .cooldown(Duration::from_secs(args.cooldown_min.saturating_mul(60)))?
        .market_crash(btc.clone(), 60, args.market_crash_pct)?;
    anyhow::ensure!(args.poll_ms > 0, "--poll-ms must be greater than 0 (got 0)");
    anyhow::ensure!(
        (1..=7 * 24 * 60).contains(&args.minutes),
        "--minutes must be 1..=10080 (one week of market time), got {}",
        args.minutes
    );
    let config_snapshot = format!(
        "# effective configuration (source: command line or default)\n\
         ORDER_FLOW_ENABLED = false\nSIM_SYMBOLS = {}\nSIM_SEED = {}\nSESSION_MINUTES = {}\n\
         MD_POLL_MS = {}\nDROP_TRIGGER_VALUE = \"{}\"\nDROP_TRIGGER_MODE = {}\n\
         DROP_TRIGGER_LOOKBACK_MIN = {}\nGUARD_MAX_SPREAD_PCT = \"{}\"\nGUARD_FALLING_KNIFE_PCT = \"{}\"\n\
         GUARD_COOLDOWN_MIN = {}\nGUARD_MARKET_CRASH_MAX_DROP_PCT = \"{}\"\nSESSION_DIR = {:?}\n",
        args.symbols,
        args.seed,
        args.minutes,
        args.poll_ms,
        args.trigger,
        args.mode,
        args.lookback_min,
        args.max_spread_pct,
        args.falling_knife_pct,
        args.cooldown_min,
        args.market_crash_pct,
        args.session_dir.display().to_string(),
    );

    // 2. The session directory first; market time starts at the wall-clock now and then runs
    //    on a manual clock as fast as the loop pulls.
    // The simulated venue validates its own settings (e.g. --symbols) before anything is written.
    let clock = ManualClock::new(SystemClock.now());
    let sim = SimExchange::new(SimConfig {
        symbols: args.symbols,
        seed: args.seed,
        clock: Arc::new(clock.clone()),
        ..SimConfig::default()
    })
    .context("simulated exchange settings")?;
    let venue: Arc<dyn Exchange> = Arc::new(sim);
    let session = Session::create(&args.session_dir, &SystemClock, Some("dry"))
        .with_context(|| format!("creating a session under {}", args.session_dir.display()))?;
    session.write_config_snapshot(&config_snapshot)?;
    let telemetry = Telemetry::start(
        &session.paths().events,
        session.run_id().clone(),
        Arc::new(clock.clone()),
        WriterConfig::default(),
    )?;
    let debug_env = std::env::var(DEBUG_TRACE_ENV).ok();
    let log = build_dispatch(
        session.paths(),
        &LogConfig::default().with_debug_trace_env(debug_env.as_deref())?,
        &telemetry,
    )?;
    install(&log)?;
    telemetry.emit(Event::SessionStarted {
        run_id: session.run_id().clone(),
        session: session.name().to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        config_snapshot,
    });
    tracing::info!(
        session = session.name(),
        "dry session started: decisions are recorded, no orders are sent"
    );

    // 3. Supervision: Ctrl-C / SIGTERM stop the loop; the poll loop beats a heartbeat.
    let sink: Arc<dyn EventSink> = Arc::new(telemetry.clone());
    let mut shutdown = ShutdownCoordinator::new(sink.clone());
    let flush_handle = telemetry.clone();
    shutdown.add_phase("stop_new_intents", Duration::from_secs(1), || async { Ok::<(), String>(()) });
    shutdown.add_phase("flush_telemetry", Duration::from_secs(5), move || async move {
        let summary = flush_handle.flush().await;
        if summary.write_errors > 0 {
            return Err(format!("{} write errors", summary.write_errors));
        }
        Ok(())
    });
    let _os_signals = shutdown.listen_for_os_signals()?;
    let supervisor = Supervisor::new(SupervisorConfig::default(), Arc::new(SystemClock), sink, &shutdown)?;
    let heartbeat = supervisor.register("md-poll", Duration::from_secs(5))?;
    let _watchdog = supervisor.spawn_watchdog();
    let stop = shutdown.signal();
    let trigger_stop = shutdown.trigger();

    // 4. The venue and the signal engine.
    let markets = venue.load_markets().await?.markets;
    let mut engine = SignalEngine::new(trigger, guards);
    for market in markets.iter().filter(|m| m.is_trading()) {
        engine.register(market.symbol.clone())?;
    }
    let trigger_value = engine.trigger_config().value();

    // 5. The loop: poll all quotes in one bulk request, evaluate every symbol, record decisions.
    let start = clock.now();
    let end = start + Duration::from_secs(args.minutes * 60);
    let poll = Duration::from_millis(args.poll_ms);
    let mut totals = Totals::default();
    let mut last_block: HashMap<SymbolId, GuardKind> = HashMap::new();
    while clock.now() < end && !stop.is_triggered() {
        clock.advance(poll);
        totals.cycles += 1;
        heartbeat.beat();
        let quotes = match venue.fetch_tickers(None).await {
            Ok(quotes) => quotes,
            Err(e) => {
                totals.failed_polls += 1;
                tracing::warn!(error = %e, "market-data poll failed");
                continue;
            }
        };
        for quote in &quotes {
            let (Some(id), Some(tick)) = (engine.id_of(&quote.symbol), Tick::from_quote(quote)) else {
                continue;
            };
            match engine.on_tick(id, &tick) {
                Ok(Decision::Fired(t)) => {
                    last_block.remove(&id);
                    totals.drops += 1;
                    let ratio = (t.price / t.reference).round_dp(6);
                    telemetry.emit(Event::DropDetected {
                        symbol: quote.symbol.clone(),
                        price: t.price,
                        reference: t.reference,
                        ratio,
                        trigger: trigger_value,
                        mode: mode_name(t.mode).to_owned(),
                        lookback_min: args.lookback_min,
                    });
                }
                // One GUARD_BLOCKED per drop and guard, not one per tick while it stays blocked.
                Ok(Decision::Blocked { by, .. }) => {
                    if last_block.insert(id, by.guard) != Some(by.guard) {
                        totals.guard_events += 1;
                        telemetry.emit(Event::GuardBlocked {
                            symbol: quote.symbol.clone(),
                            guard: by.guard.as_str().to_owned(),
                            value: by.value,
                            threshold: by.threshold,
                        });
                    }
                }
                Ok(Decision::NotTriggered) => {
                    last_block.remove(&id);
                }
                Ok(Decision::AlreadyFired | Decision::OutOfOrder) => {}
                Err(e) => tracing::warn!(symbol = %quote.symbol, error = %e, "tick rejected"),
            }
        }
        // Let the watchdog and the signal listener run between cycles.
        tokio::task::yield_now().await;
    }

    // 6. Orderly end: phases, totals, flush, read back.
    trigger_stop.trigger(ExitReason::Requested);
    let report = shutdown.run().await;
    let sim_ms = clock.now().millis_since(start);
    let summary_before_end = telemetry.summary();
    telemetry.emit(Event::SessionEnded {
        reason: report.reason.to_string(),
        duration_ms: u64::try_from(sim_ms).unwrap_or(0),
        orders_submitted: 0,
        orders_filled: 0,
        positions_opened: 0,
        positions_closed: 0,
        realized_pnl: Decimal::ZERO,
        events_dropped: summary_before_end.dropped,
    });
    let written = telemetry.shutdown().await;
    let log_back = read_events(&session.paths().events)?;
    anyhow::ensure!(
        log_back.errors.is_empty(),
        "events.jsonl has {} unreadable lines, first: {}",
        log_back.errors.len(),
        log_back.errors[0]
    );

    let funnel = engine.funnel();
    println!("session      {}", session.paths().dir.display());
    println!(
        "market time  {} min in {} cycles of {} ms ({} polls failed)",
        sim_ms / 60_000,
        totals.cycles,
        args.poll_ms,
        totals.failed_polls
    );
    println!("symbols      {}", markets.len());
    println!("evaluated    {}", funnel.evaluated);
    println!("no drop      {}", funnel.not_triggered);
    println!("drops fired  {}  (DROP_DETECTED events: {})", funnel.fired, totals.drops);
    for guard in GuardKind::ALL {
        let n = funnel.blocked_by(guard);
        if n > 0 {
            println!("blocked by {:<12} {n} ticks", guard.as_str());
        }
    }
    println!("GUARD_BLOCKED events {}", totals.guard_events);
    println!("orders       0 (dry session: ORDER_FLOW_ENABLED=false)");
    println!(
        "events.jsonl {} written, {} dropped, {} read back",
        written.written,
        written.dropped,
        log_back.records.len()
    );
    let code = u8::try_from(report.exit_code()).unwrap_or(1);
    Ok(ExitCode::from(code))
}
