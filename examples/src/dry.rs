//! The dry session: market data -> drop triggers -> guards, every decision a typed event in a
//! real session directory, on simulated time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use exchange::Exchange;
use exchange_sim::{SimConfig, SimExchange};
use rust_decimal::Decimal;
use signals::{Decision, Funnel, GuardConfig, GuardKind, SignalEngine, TriggerConfig, TriggerMode};
use supervisor::{ExitReason, ShutdownCoordinator, Supervisor, SupervisorConfig};
use telemetry::{
    build_dispatch, read_events, DeepestDrop, Event, EventSink, LogConfig, Session, Telemetry, WriterConfig,
    DEBUG_TRACE_ENV,
};
use tracing::instrument::WithSubscriber;
use trading_core::{Clock, Symbol, SystemClock, Timestamp, TokioClock};

/// The default market epoch: 2026-01-01T00:00:00Z, in epoch milliseconds.
pub const DEFAULT_MARKET_EPOCH_MS: i64 = 1_767_225_600_000;

/// The settings of a dry session. Every value is validated (by the typed signal and simulator
/// configs) before the session directory is created.
///
/// **Reproducibility.** The session runs on simulated time: its clock is a
/// [`TokioClock`] starting at `market_epoch` (a setting, never the wall clock), the simulated
/// venue steps on that clock, and the loop waits with `tokio::time`, so on a current-thread
/// runtime with paused time the same settings give the same `events.jsonl`, line for line,
/// except for the fields that **name the run**: the `run_id` of every line, and in
/// `SESSION_STARTED` the payload's `run_id`, `session` (the directory name, from the wall clock
/// so that sessions never collide) and the `SESSION_DIR` line of `config_snapshot`.
#[derive(Debug, Clone)]
pub struct DryConfig {
    /// Number of simulated symbols (`SIM_SYMBOLS`).
    pub symbols: usize,
    /// Seed of the simulated market (`SIM_SEED`).
    pub seed: u64,
    /// Simulated market time of the session start (`SIM_EPOCH_MS`).
    pub market_epoch: Timestamp,
    /// Simulated market time to run, in minutes (1..=10080).
    pub minutes: u64,
    /// `MD_POLL_MS`: market-data cycle, in simulated milliseconds.
    pub poll_ms: u64,
    /// `DROP_TRIGGER_VALUE`.
    pub trigger: Decimal,
    /// `DROP_TRIGGER_MODE` (1..=4).
    pub mode: u8,
    /// `DROP_TRIGGER_LOOKBACK_MIN`.
    pub lookback_min: u32,
    /// `GUARD_MAX_SPREAD_PCT`.
    pub max_spread_pct: Decimal,
    /// `GUARD_FALLING_KNIFE_MAX_DROP_PCT`.
    pub falling_knife_pct: Decimal,
    /// `GUARD_COOLDOWN_S`, in minutes.
    pub cooldown_min: u64,
    /// `GUARD_MARKET_CRASH_MAX_DROP_PCT` (BTC/USDT over 60 minutes).
    pub market_crash_pct: Decimal,
    /// `SESSION_DIR`: where session directories are created.
    pub session_dir: PathBuf,
    /// Simulated minutes between two FUNNEL_SNAPSHOT events (a final one is always written).
    pub funnel_every_min: u64,
    /// How many symbols the snapshot's deepest-drop list holds.
    pub deepest_limit: usize,
    /// Stop on Ctrl-C / SIGTERM (the command line does; a test does not).
    pub listen_for_os_signals: bool,
}

impl Default for DryConfig {
    fn default() -> Self {
        DryConfig {
            symbols: 130,
            seed: 42,
            market_epoch: Timestamp::from_millis(DEFAULT_MARKET_EPOCH_MS),
            minutes: 240,
            poll_ms: 1500,
            trigger: Decimal::new(985, 3),
            mode: 4,
            lookback_min: 15,
            max_spread_pct: Decimal::new(5, 1),
            falling_knife_pct: Decimal::from(8),
            cooldown_min: 30,
            market_crash_pct: Decimal::from(3),
            session_dir: PathBuf::from("sessions"),
            funnel_every_min: 15,
            deepest_limit: 20,
            listen_for_os_signals: true,
        }
    }
}

/// What a dry session did, for its printed summary and for tests.
#[derive(Debug, Clone)]
pub struct DryOutcome {
    /// The session directory.
    pub session_dir: PathBuf,
    /// The signal engine's funnel at the end.
    pub funnel: Funnel,
    /// Symbols evaluated.
    pub symbols: usize,
    /// Simulated time the session ran, ms.
    pub sim_ms: i64,
    /// Market-data cycles.
    pub cycles: u64,
    /// Cycles whose poll failed.
    pub failed_polls: u64,
    /// DROP_DETECTED events.
    pub drops: u64,
    /// GUARD_BLOCKED events (one per drop and guard).
    pub guard_events: u64,
    /// FUNNEL_SNAPSHOT events (periodic and final).
    pub funnel_snapshots: u64,
    /// Events written / dropped by the telemetry writer.
    pub written: u64,
    /// Events the writer could not write.
    pub dropped: u64,
    /// Event lines read back from `events.jsonl`.
    pub read_back: usize,
    /// The shutdown's exit code.
    pub exit_code: i32,
}

fn mode_name(mode: TriggerMode) -> &'static str {
    match mode {
        TriggerMode::WindowHigh => "window_high",
        TriggerMode::WindowOpen => "window_open",
        TriggerMode::RunningHigh => "running_high",
        TriggerMode::AnchorReset => "anchor_reset",
    }
}

fn funnel_snapshot(engine: &SignalEngine, limit: usize, is_final: bool) -> Event {
    let f = engine.funnel();
    let blocked_by_guard: BTreeMap<String, u64> =
        GuardKind::ALL.iter().map(|g| (g.as_str().to_owned(), f.blocked_by(*g))).collect();
    let deepest = engine
        .deepest_drops(limit)
        .into_iter()
        .filter_map(|d| {
            Some(DeepestDrop {
                symbol: engine.symbol(d.symbol)?.clone(),
                ratio: d.level.ratio(),
                price: d.level.price(),
                reference: d.level.reference(),
                at: d.ts,
            })
        })
        .collect();
    Event::FunnelSnapshot {
        is_final,
        evaluated: f.evaluated,
        not_triggered: f.not_triggered,
        already_fired: f.already_fired,
        out_of_order: f.out_of_order,
        no_price: f.no_price,
        fired: f.fired,
        blocked_by_guard,
        trigger: engine.trigger_config().value(),
        deepest,
    }
}

/// Runs a dry session with `config` and returns what it did. Drive it on a current-thread
/// runtime with paused time (`tokio::runtime::Builder::new_current_thread().start_paused(true)`,
/// or `#[tokio::test(start_paused = true)]`) for a reproducible session that runs faster than
/// real time; on a live runtime it runs in real time.
pub async fn run_dry_session(config: &DryConfig) -> Result<DryOutcome> {
    // 1. Typed, validated configuration before anything runs.
    let mode = TriggerMode::from_setting(config.mode)?;
    let trigger = TriggerConfig::new(config.trigger, mode, config.lookback_min)?;
    let btc: Symbol = "BTC/USDT".parse()?;
    let guards = GuardConfig::none()
        .max_spread_pct(config.max_spread_pct)?
        .falling_knife(config.falling_knife_pct)?
        .cooldown(Duration::from_secs(config.cooldown_min.saturating_mul(60)))?
        .market_crash(btc, 60, config.market_crash_pct)?;
    anyhow::ensure!(config.poll_ms > 0, "--poll-ms must be greater than 0 (got 0)");
    anyhow::ensure!(
        (1..=7 * 24 * 60).contains(&config.minutes),
        "--minutes must be 1..=10080 (one week of market time), got {}",
        config.minutes
    );
    anyhow::ensure!(config.funnel_every_min > 0, "--funnel-every-min must be greater than 0 (got 0)");
    let config_snapshot = format!(
        "# effective configuration (source: command line or default)\n\
         ORDER_FLOW_ENABLED = false\nSIM_SYMBOLS = {}\nSIM_SEED = {}\nSIM_EPOCH_MS = {}\nSESSION_MINUTES = {}\n\
         MD_POLL_MS = {}\nDROP_TRIGGER_VALUE = \"{}\"\nDROP_TRIGGER_MODE = {}\n\
         DROP_TRIGGER_LOOKBACK_MIN = {}\nDROP_TRIGGER_REARM_MARGIN = \"{}\"\nGUARD_MAX_SPREAD_PCT = \"{}\"\n\
         GUARD_FALLING_KNIFE_PCT = \"{}\"\nGUARD_COOLDOWN_MIN = {}\nGUARD_MARKET_CRASH_MAX_DROP_PCT = \"{}\"\n\
         FUNNEL_SNAPSHOT_MIN = {}\nSESSION_DIR = {:?}\n",
        config.symbols,
        config.seed,
        config.market_epoch.as_millis(),
        config.minutes,
        config.poll_ms,
        config.trigger,
        config.mode,
        config.lookback_min,
        trigger.rearm_margin(),
        config.max_spread_pct,
        config.falling_knife_pct,
        config.cooldown_min,
        config.market_crash_pct,
        config.funnel_every_min,
        config.session_dir.display().to_string(),
    );

    // 2. Simulated time from the fixed market epoch; the venue validates its own settings
    //    before the session directory is created.
    let clock = TokioClock::starting_at(config.market_epoch);
    let sim = SimExchange::new(SimConfig {
        symbols: config.symbols,
        seed: config.seed,
        clock: Arc::new(clock),
        ..SimConfig::default()
    })
    .context("simulated exchange settings")?;
    let venue: Arc<dyn Exchange> = Arc::new(sim);
    // The directory name is the one wall-clock read: it names the run (two sessions never
    // collide), it is not market time.
    let session = Session::create(&config.session_dir, &SystemClock, Some("dry"))
        .with_context(|| format!("creating a session under {}", config.session_dir.display()))?;
    session.write_config_snapshot(&config_snapshot)?;
    let telemetry = Telemetry::start(
        &session.paths().events,
        session.run_id().clone(),
        Arc::new(clock),
        WriterConfig::default(),
    )?;
    let debug_env = std::env::var(DEBUG_TRACE_ENV).ok();
    let log = build_dispatch(
        session.paths(),
        &LogConfig::default().with_debug_trace_env(debug_env.as_deref())?,
        &telemetry,
    )?;
    let body = session_body(config, trigger, guards, clock, venue, session, telemetry, config_snapshot);
    body.with_subscriber(log.dispatch.clone()).await
}

#[allow(clippy::too_many_arguments)]
async fn session_body(
    config: &DryConfig,
    trigger: TriggerConfig,
    guards: GuardConfig,
    clock: TokioClock,
    venue: Arc<dyn Exchange>,
    session: Session,
    telemetry: Telemetry,
    config_snapshot: String,
) -> Result<DryOutcome> {
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
    let _os_signals =
        if config.listen_for_os_signals { Some(shutdown.listen_for_os_signals()?) } else { None };
    let supervisor = Supervisor::new(SupervisorConfig::default(), Arc::new(clock), sink, &shutdown)?;
    let heartbeat = supervisor.register("md-poll", Duration::from_secs(5))?;
    let _watchdog = supervisor.spawn_watchdog();
    let stop = shutdown.signal();
    let trigger_stop = shutdown.trigger();

    // 4. The venue and the signal engine (markets in the venue's listing order).
    let markets = venue.load_markets().await?.markets;
    let mut engine = SignalEngine::new(trigger, guards);
    for market in markets.iter().filter(|m| m.is_trading()) {
        engine.register(market.symbol.clone())?;
    }
    let trigger_value = engine.trigger_config().value();

    // 5. The loop: every MD_POLL_MS of simulated time, poll all quotes in one bulk request and
    //    evaluate the whole cycle at once (order-independent), recording decisions.
    let start = clock.now();
    let end = start + Duration::from_secs(config.minutes * 60);
    let poll = Duration::from_millis(config.poll_ms);
    let snapshot_every = Duration::from_secs(config.funnel_every_min * 60);
    let mut next_snapshot = start + snapshot_every;
    let mut out = DryOutcome {
        session_dir: session.paths().dir.clone(),
        funnel: Funnel::default(),
        symbols: markets.len(),
        sim_ms: 0,
        cycles: 0,
        failed_polls: 0,
        drops: 0,
        guard_events: 0,
        funnel_snapshots: 0,
        written: 0,
        dropped: 0,
        read_back: 0,
        exit_code: 0,
    };
    // the guard that last blocked each symbol's current drop (indexed by symbol id)
    let mut last_block: Vec<Option<GuardKind>> = vec![None; markets.len()];
    let mut next_cycle = tokio::time::Instant::now();
    while clock.now() < end {
        next_cycle += poll;
        tokio::select! {
            biased;
            _ = stop.triggered() => break,
            () = tokio::time::sleep_until(next_cycle) => {}
        }
        out.cycles += 1;
        heartbeat.beat();
        let quotes = match venue.fetch_tickers(None).await {
            Ok(quotes) => quotes,
            Err(e) => {
                out.failed_polls += 1;
                tracing::warn!(error = %e, "market-data poll failed");
                continue;
            }
        };
        let cycle = engine.on_cycle(&quotes);
        for (id, decision) in cycle.decisions {
            let Some(symbol) = engine.symbol(id).cloned() else { continue };
            let slot = last_block.get_mut(id.index());
            match decision {
                Decision::Fired(t) => {
                    if let Some(s) = slot {
                        *s = None;
                    }
                    out.drops += 1;
                    let ratio = (t.price / t.reference).round_dp(6);
                    telemetry.emit(Event::DropDetected {
                        symbol,
                        price: t.price,
                        reference: t.reference,
                        ratio,
                        trigger: trigger_value,
                        mode: mode_name(t.mode).to_owned(),
                        lookback_min: config.lookback_min,
                    });
                }
                // One GUARD_BLOCKED per drop and guard, not one per tick while it stays blocked.
                Decision::Blocked { by, .. } => {
                    if let Some(s) = slot.filter(|s| **s != Some(by.guard)) {
                        *s = Some(by.guard);
                        out.guard_events += 1;
                        telemetry.emit(Event::GuardBlocked {
                            symbol,
                            guard: by.guard.as_str().to_owned(),
                            value: by.value,
                            threshold: by.threshold,
                        });
                    }
                }
                Decision::NotTriggered(_) => {
                    if let Some(s) = slot {
                        *s = None;
                    }
                }
                Decision::AlreadyFired(_) | Decision::OutOfOrder | Decision::NoPrice => {}
            }
        }
        for (id, e) in cycle.rejected {
            tracing::warn!(symbol = ?engine.symbol(id), error = %e, "tick rejected");
        }
        if clock.now() >= next_snapshot {
            next_snapshot = next_snapshot + snapshot_every;
            out.funnel_snapshots += 1;
            telemetry.emit(funnel_snapshot(&engine, config.deepest_limit, false));
        }
    }
    out.funnel_snapshots += 1;
    telemetry.emit(funnel_snapshot(&engine, config.deepest_limit, true));

    // 6. Orderly end: phases, totals, flush, read back.
    trigger_stop.trigger(ExitReason::Requested);
    let report = shutdown.run().await;
    out.sim_ms = clock.now().millis_since(start);
    let summary_before_end = telemetry.summary();
    telemetry.emit(Event::SessionEnded {
        reason: report.reason.to_string(),
        duration_ms: u64::try_from(out.sim_ms).unwrap_or(0),
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
    out.funnel = engine.funnel().clone();
    out.written = written.written;
    out.dropped = written.dropped;
    out.read_back = log_back.records.len();
    out.exit_code = report.exit_code();
    Ok(out)
}
