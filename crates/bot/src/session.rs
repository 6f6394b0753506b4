//! One trading session: venue -> feed -> signals -> intents -> router -> exits -> sells, with
//! telemetry and the supervisor around every task, ending with the session report.
//!
//! **Time.** On the in-process simulator the whole session runs on a current-thread tokio
//! runtime with paused time: whenever every task waits, time jumps to the next deadline, so a
//! simulated day takes seconds and the same seed and settings give the same events. Live (and
//! over `sim-http`) the same code runs on a normal runtime in real time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use md_feed::{Feed, FeedConfig};
use order_router::{
    Durability, IntentId, Ledger, OrderIntent, OrderRouter, PricePolicy, RouterConfig, Sizing, Submission,
};
use rust_decimal::Decimal;
use signals::{Decision, ExitConfig, ExitRule, GuardKind, PositionExits, SignalEngine, TriggerMode};
use supervisor::{ExitReason, ShutdownCoordinator, Supervisor, SupervisorConfig};
use telemetry::{
    apply_retention, build_dispatch, DeepestDrop, Event, EventSink, LogConfig, RetentionPolicy, Session,
    Telemetry, WriterConfig,
};
use tracing::instrument::WithSubscriber;
use trading_core::{Clock, MarketRules, Quote, Side, Symbol, SystemClock};

use crate::error::BotError;
use crate::metrics::{Metrics, MetricsSink};
use crate::progress::{Status, StatusSnapshot};
use crate::settings::{default_state_db, FeedMode, HeartbeatMode, LoadedSettings, Settings, VenueKind};
use crate::venue::{connect, Venue, VenueCredentials};
use crate::wiring::signal_configs;

/// How a session is run (not settings: facts about the caller).
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Draw a progress bar (stderr is a terminal); otherwise status lines go to the log.
    pub terminal: bool,
    /// Stop on Ctrl-C / SIGTERM (the binary does; tests do not).
    pub listen_for_os_signals: bool,
    /// The value of `ENGINE_DEBUG_TRACE`, if set.
    pub debug_trace: Option<String>,
    /// Build `report.md` and the charts at the end.
    pub write_report: bool,
    /// A testing aid for crash-restart tests (`BOT_FAILPOINT`, see [`crate::Failpoints`]): stop
    /// at a named point of the order flow. `None` in every real run.
    pub failpoints: Option<Arc<crate::Failpoints>>,
}

/// What a session did: the headline figures printed at the end, and what tests check.
#[derive(Debug, Clone)]
pub struct SessionOutcome {
    /// The session directory.
    pub dir: PathBuf,
    /// The process exit code the session asks for (0 = clean).
    pub exit_code: i32,
    /// Market-data cycles the session consumed.
    pub cycles: u64,
    /// Cycles longer than `MD_POLL_MS`.
    pub overruns: u64,
    /// Drops that fired.
    pub drops: u64,
    /// Buy and sell intents handed to the router.
    pub intents: u64,
    /// Orders sent.
    pub orders_submitted: u64,
    /// Orders that ended filled.
    pub orders_filled: u64,
    /// Positions opened and closed.
    pub positions_opened: u64,
    /// Positions closed completely (a partial exit, after which the position stays open, is not
    /// counted).
    pub positions_closed: u64,
    /// Positions still open at the end.
    pub positions_open: usize,
    /// Realised PnL, quote currency, fees included.
    pub realized_pnl: Decimal,
    /// The budget at the end: `(free, reserved, committed, total)`.
    pub budget: (Decimal, Decimal, Decimal, Decimal),
    /// Events written / lost by the telemetry writer.
    pub events_written: u64,
    /// Events lost.
    pub events_dropped: u64,
    /// The report's headline figures, when a report was written.
    pub report: Option<session_report::ReportSummary>,
}

/// Runs a session with validated settings on the runtime its venue needs (paused current-thread
/// time for the in-process simulator, a real-time runtime otherwise) and returns its outcome.
///
/// # Errors
/// [`BotError`] when the venue, the session directory or a start-up step fails.
pub fn run(
    loaded: &LoadedSettings,
    credentials: &VenueCredentials,
    options: &SessionOptions,
) -> Result<SessionOutcome, BotError> {
    let settings = &loaded.settings;
    let simulated = settings.venue == VenueKind::Sim && !settings.realtime;
    let runtime = if simulated {
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
    }
    .map_err(|e| BotError::Session(format!("cannot start the runtime: {e}")))?;
    // The session runs as a task, not as the future `block_on` drives: waking that future
    // from inside the runtime also wakes the driver through the OS (a write and an extra poll
    // of the event queue), and the trading loop is woken by every feed cycle.
    let (loaded, credentials, options) = (loaded.clone(), credentials.clone(), options.clone());
    runtime.block_on(async move {
        tokio::spawn(async move { run_async(&loaded, &credentials, &options).await })
            .await
            .map_err(|e| BotError::Session(format!("the session task failed: {e}")))?
    })
}

/// The session on the caller's runtime. Use [`run`] unless you manage the runtime yourself.
///
/// # Errors
/// See [`run`].
pub async fn run_async(
    loaded: &LoadedSettings,
    credentials: &VenueCredentials,
    options: &SessionOptions,
) -> Result<SessionOutcome, BotError> {
    let settings = &loaded.settings;
    // Every typed configuration before anything is created.
    let (trigger, guards, exit_config) =
        signal_configs(settings).map_err(|e| BotError::Session(format!("signal settings: {e}")))?;
    let feed_config = feed_config(settings)?;
    let log_config =
        LogConfig::default().with_debug_trace_env(options.debug_trace.as_deref()).map_err(|e| {
            BotError::Settings(crate::SettingsError::Invalid {
                key: telemetry::DEBUG_TRACE_ENV.to_owned(),
                origin: "environment".to_owned(),
                value: options.debug_trace.clone().unwrap_or_default(),
                allowed: e.to_string(),
            })
        })?;
    // The venue validates its own settings (and, for sim-http, starts its server).
    let venue = connect(settings, credentials).await?;
    let clock = venue.clock.clone();

    // The session directory: its name is the one wall-clock read (it names the run).
    let suffix = settings.venue.as_str().replace('-', "_");
    let session = Session::create(&settings.session_dir, &SystemClock, Some(&suffix)).map_err(|e| {
        BotError::Session(format!("creating a session under {}: {e}", settings.session_dir.display()))
    })?;
    let snapshot = settings.to_snapshot(&loaded.sources, credentials.describe());
    session.write_config_snapshot(&snapshot).map_err(|e| BotError::Session(e.to_string()))?;
    // On simulated time a second passes in microseconds: flushing once per simulated minute
    // still writes every few milliseconds of wall time. The in-process venue does not outlive
    // the process, so (as the ledger's `ProcessCrashSafe`) the file is fsynced at the end, not
    // at every flush: a crash of the process loses nothing written.
    let simulated = settings.venue == VenueKind::Sim && !settings.realtime;
    let writer = if simulated {
        WriterConfig {
            flush_interval: Duration::from_secs(60),
            sync_every_flush: false,
            ..WriterConfig::default()
        }
    } else {
        WriterConfig::default()
    };
    let telemetry =
        Telemetry::start(&session.paths().events, session.run_id().clone(), clock.clone(), writer)
            .map_err(|e| BotError::Session(format!("events.jsonl: {e}")))?;
    let log = build_dispatch(session.paths(), &log_config, &telemetry)
        .map_err(|e| BotError::Session(format!("bot.log: {e}")))?;
    telemetry.watch_log_losses(log.losses.clone());
    let body = Body {
        settings,
        options,
        venue,
        clock,
        session,
        telemetry,
        snapshot,
        trigger_mode: trigger.mode(),
        engine: SignalEngine::new(trigger, guards),
        exit_config,
        feed_config,
    };
    let outcome = body.run().with_subscriber(log.dispatch.clone()).await;
    // The log writers' queues are written out last.
    log.close();
    outcome
}

/// The market-data settings in md-feed's own, validated form.
pub(crate) fn feed_config(s: &Settings) -> Result<FeedConfig, BotError> {
    let mut config = FeedConfig::default();
    let mode = match s.md_mode {
        FeedMode::Auto => "auto",
        FeedMode::Bulk => "bulk",
        FeedMode::PerSymbol => "per_symbol",
    };
    let pairs = [
        ("MD_POLL_MS", s.md_poll_ms.to_string()),
        ("MD_MODE", mode.to_owned()),
        ("MD_BATCH_SIZE", s.md_batch_size.to_string()),
        ("MD_BATCH_INTERVAL_MS", s.md_batch_interval_ms.to_string()),
        ("MD_MAX_CONCURRENCY", s.md_max_concurrency.to_string()),
        ("MD_HOT_MS", s.md_hot_ms.to_string()),
        ("MD_WARM_MS", s.md_warm_ms.to_string()),
        ("MD_COLD_MS", s.md_cold_ms.to_string()),
        ("MD_HEALTH_S", s.md_health_s.to_string()),
        // The feed buys 24h statistics only for the volume guard, and no candles: the bot has
        // no volatility guard setting yet (each would cost weight and time for nothing).
        ("MD_STATS_S", if s.guard_min_quote_volume_24h.is_some() { "300" } else { "0" }.to_owned()),
        ("MD_CANDLE_S", "0".to_owned()),
    ];
    for (key, value) in pairs {
        config.set(key, &value).map_err(|e| BotError::Session(format!("market-data settings: {e}")))?;
    }
    config.validate().map_err(|e| BotError::Session(format!("market-data settings: {e}")))?;
    Ok(config)
}

/// The router's configuration from the settings.
fn router_config(s: &Settings, budget_total: Decimal) -> RouterConfig {
    let mut config = RouterConfig::new();
    config.budget_total = budget_total;
    config.position_size_usdt = s.position_size_usdt;
    config.max_concurrent_positions = s.max_concurrent_positions;
    config.global_trading = s.global_trading;
    config.order_flow_enabled = s.order_flow();
    config
}

fn mode_name(mode: TriggerMode) -> &'static str {
    match mode {
        TriggerMode::WindowHigh => "window_high",
        TriggerMode::WindowOpen => "window_open",
        TriggerMode::RunningHigh => "running_high",
        TriggerMode::AnchorReset => "anchor_reset",
    }
}

fn exit_reason(rule: ExitRule) -> telemetry::ExitReason {
    match rule {
        ExitRule::TakeProfit => telemetry::ExitReason::TakeProfit,
        ExitRule::StopLoss => telemetry::ExitReason::StopLoss,
        ExitRule::TrailingStop => telemetry::ExitReason::TrailingStop,
        ExitRule::MaxHold => telemetry::ExitReason::MaxHold,
    }
}

/// A marketable limit's offset from the best price: caps the slippage of a buy on a drop and of
/// a sell on an exit (an order that does not fill by its deadline is canceled).
const MARKETABLE_OFFSET: Decimal = Decimal::from_parts(2, 0, 0, false, 3);
/// How many symbols FUNNEL_SNAPSHOT's deepest-drop list holds.
const DEEPEST_LIMIT: usize = 20;
/// Simulated (or real) time between two periodic FUNNEL_SNAPSHOT events.
const FUNNEL_EVERY: Duration = Duration::from_secs(15 * 60);
/// How often the closing check reads the venue before it reports what it could not read.
const CLOSING_READ_ATTEMPTS: u32 = 10;
/// How long a symbol stays hot in the feed after a drop.
const HOT_AFTER_DROP: Duration = Duration::from_secs(30 * 60);

/// Longest the trading loop sleeps when no order is being tracked and no cycle arrives (at
/// most half the heartbeat timeout).
const IDLE_WAKE: Duration = Duration::from_secs(2);

/// How often the watchdog and the lag probe look on paused time: a sixth of
/// `HEARTBEAT_TIMEOUT_S`, between 1 s and 5 s (5 s with the default 30 s). Every task's allowance
/// is at least `HEARTBEAT_TIMEOUT_S`, so a silent task is reported at most one period after its
/// allowance ran out, and a simulated day costs 17,280 wake-ups instead of the 86,400 of the live
/// 1 s period.
fn simulated_check_period(heartbeat_timeout_s: u64) -> Duration {
    (Duration::from_secs(heartbeat_timeout_s) / 6).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// The session's watchdog, kept for the session's length: a task on paused time, a thread live.
#[derive(Debug)]
#[allow(dead_code, reason = "held for its drop: dropping the thread's handle stops the thread")]
enum Watchdog {
    Task(tokio::task::JoinHandle<()>),
    Thread(supervisor::WatchdogThread),
}

/// The quote of `symbol` in a cycle's quotes: a binary search (the feed delivers symbol
/// order), else a scan.
fn quote_of<'q>(quotes: &'q [Quote], symbol: &Symbol) -> Option<&'q Quote> {
    match quotes.binary_search_by(|q| q.symbol.cmp(symbol)) {
        Ok(i) => quotes.get(i),
        Err(_) => quotes.iter().find(|q| q.symbol == *symbol),
    }
}

struct Body<'a> {
    settings: &'a Settings,
    options: &'a SessionOptions,
    venue: Venue,
    clock: Arc<dyn Clock>,
    session: Session,
    telemetry: Telemetry,
    snapshot: String,
    trigger_mode: TriggerMode,
    engine: SignalEngine,
    exit_config: ExitConfig,
    feed_config: FeedConfig,
}

/// Per-session counters for the status line and the outcome.
#[derive(Debug, Default)]
struct Counters {
    cycles: u64,
    missed_updates: u64,
    drops: u64,
    intents: u64,
}

impl Body<'_> {
    async fn run(mut self) -> Result<SessionOutcome, BotError> {
        let s = self.settings;
        let metrics = Arc::new(Metrics::new());
        let sink: Arc<dyn EventSink> =
            Arc::new(MetricsSink::new(Arc::new(self.telemetry.clone()), metrics.clone()));
        sink.emit(Event::SessionStarted {
            run_id: self.session.run_id().clone(),
            session: self.session.name().to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_snapshot: self.snapshot.clone(),
        });
        tracing::info!(session = self.session.name(), venue = %self.venue.description, "session started");
        let retention = RetentionPolicy {
            keep_sessions: std::num::NonZeroUsize::new(s.log_retention_sessions as usize),
            max_total_bytes: None,
        };
        let _ = apply_retention(&s.session_dir, &retention, Some(self.session.name()), sink.as_ref());
        let _metrics_server = match s.metrics_addr {
            Some(addr) => match crate::metrics::serve(addr, metrics.clone()).await {
                Ok((local, handle)) => {
                    tracing::info!(%local, "metrics at http://{local}/metrics");
                    Some(handle)
                }
                Err(e) => return Err(BotError::Session(e)),
            },
            None => None,
        };

        // Supervision: the shutdown coordinator and the watchdog over every task's heartbeat.
        let mut shutdown = ShutdownCoordinator::new(sink.clone());
        // The loop stops taking new intents when it leaves; the other phases are added below.
        shutdown.add_phase("stop_new_intents", Duration::from_secs(1), || async { Ok::<(), String>(()) });
        let _os_signals = if self.options.listen_for_os_signals {
            Some(shutdown.listen_for_os_signals().map_err(|e| BotError::Session(e.to_string()))?)
        } else {
            None
        };
        let simulated = s.venue == VenueKind::Sim && !s.realtime;
        let mut sup_config = SupervisorConfig::default();
        if simulated {
            // On paused time every wake-up of the runtime is a step of the session, and the
            // loop's lag is zero by construction: the watchdog and the lag probe look at the
            // same instants, every `simulated_check_period`, and share each wake-up.
            let every = simulated_check_period(s.heartbeat_timeout_s);
            sup_config.watchdog.check_every = every;
            sup_config.lag.tick_every = every;
        }
        sup_config.watchdog.mode = match s.heartbeat_mode {
            HeartbeatMode::Warn => supervisor::WatchdogMode::Warn,
            HeartbeatMode::Enforce => {
                supervisor::WatchdogMode::Enforce { late_limit: Duration::from_secs(s.heartbeat_timeout_s) }
            }
        };
        let supervisor = Supervisor::new(sup_config, self.clock.clone(), sink.clone(), &shutdown)
            .map_err(|e| BotError::Session(e.to_string()))?;
        // Live, the watchdog runs on its own thread, where a runtime that stalls cannot silence
        // it (the runtime's pulse task beats for the runtime). On paused time it runs as a task:
        // simulated time moves only while the runtime does, and a thread cannot read it.
        let _watchdog = if simulated {
            Watchdog::Task(supervisor.spawn_watchdog())
        } else {
            Watchdog::Thread(
                supervisor.start_watchdog_thread().map_err(|e| BotError::Session(e.to_string()))?,
            )
        };
        let _lag_probe = supervisor.spawn_lag_monitor();
        let stop = shutdown.signal();
        let trigger_stop = shutdown.trigger();

        // Markets and the watchlist (venue order; the crash guard's reference symbol included).
        let exchange = self.venue.exchange.clone();
        let list = exchange
            .load_markets()
            .await
            .map_err(|source| BotError::Exchange { what: "load_markets", source })?;
        if !list.skipped.is_empty() {
            sink.emit(Event::ListingsSkipped {
                source: "load_markets".into(),
                count: u32::try_from(list.skipped.len()).unwrap_or(u32::MAX),
                entries: list
                    .skipped
                    .iter()
                    .take(50)
                    .map(|e| format!("{}: {}", e.venue_name, e.reason))
                    .collect(),
            });
        }
        let watchlist = watchlist(s, &list.markets)?;
        for symbol in &watchlist {
            self.engine.register(symbol.clone()).map_err(|e| BotError::Session(e.to_string()))?;
        }

        // The router on its ledger, reconciled with the venue before it may trade.
        let ledger_path =
            s.state_db.clone().unwrap_or_else(|| default_state_db(s.venue, &self.session.paths().dir));
        if let Some(parent) = ledger_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| BotError::Session(format!("STATE_DB directory {}: {e}", parent.display())))?;
        }
        // A simulated venue's state ends with the process, so the ledger needs no fsync per
        // commit there; a real venue's ledger is synchronous=FULL.
        let durability = if s.venue.is_real() { Durability::Full } else { Durability::ProcessCrashSafe };
        let ledger = Ledger::open(&ledger_path, durability)
            .map_err(|e| BotError::Session(format!("STATE_DB {}: {e}", ledger_path.display())))?;
        let budget_total = s.budget_usdt();
        let router = Arc::new(
            OrderRouter::open(
                router_config(s, budget_total),
                exchange.clone(),
                self.clock.clone(),
                sink.clone(),
                ledger,
            )
            .map(|r| match &self.options.failpoints {
                Some(fp) => r.with_failpoint_hook(fp.router_hook()),
                None => r,
            })
            .map_err(|e| BotError::Session(format!("order router: {e}")))?,
        );
        router.set_markets(list.markets.iter().cloned());
        match router.reconcile().await {
            Ok(report) => {
                if let Some(reason) = &report.blocked {
                    tracing::error!(%reason, "the ledger and the venue disagree: deciding only, no orders");
                }
            }
            Err(e) => tracing::error!(error = %e, "reconciliation failed: deciding only, no orders"),
        }
        if let Some(fp) = &self.options.failpoints {
            fp.pass(crate::AFTER_RECONCILE, &format!("blocked={:?}", router.blocked_reason()));
        }

        // The feed, on its own task; the loop below consumes its cycles.
        let feed_beat = supervisor
            .register(
                "md-feed",
                Duration::from_millis(s.md_poll_ms.saturating_mul(4))
                    .max(Duration::from_secs(s.heartbeat_timeout_s)),
            )
            .map_err(|e| BotError::Session(e.to_string()))?;
        let loop_beat = supervisor
            .register("trading-loop", Duration::from_secs(s.heartbeat_timeout_s))
            .map_err(|e| BotError::Session(e.to_string()))?;
        let mut feed = Feed::new(
            exchange.clone(),
            self.feed_config.clone(),
            watchlist.clone(),
            self.clock.clone(),
            sink.clone(),
        )
        .map_err(|e| BotError::Session(format!("market-data feed: {e}")))?
        .with_heartbeat(feed_beat);
        if let Err(e) = feed.start().await {
            return Err(BotError::Session(format!("market-data feed start: {e}")));
        }
        let feed_handle = feed.handle();
        let mut updates = feed_handle.updates();
        // The feed stops in the shutdown's `stop_market_data` phase (not at the trigger), so its
        // end is reported inside the shutdown.
        let (feed_stop_tx, feed_stop_rx) = tokio::sync::oneshot::channel::<()>();
        let feed_task = tokio::spawn(async move {
            let stop_fut = async move {
                let _ = feed_stop_rx.await;
            };
            feed.run(stop_fut).await
        });

        // The loop.
        let start = self.clock.now();
        let duration = Duration::from_secs(s.session_duration_min.saturating_mul(60));
        let end = (s.session_duration_min > 0).then(|| start + duration);
        let mut status = Status::new(duration, self.options.terminal);
        let mut counters = Counters::default();
        let mut exits: BTreeMap<Symbol, PositionExits> = BTreeMap::new();
        let mut selling: BTreeSet<Symbol> = BTreeSet::new();
        let mut last_block: Vec<Option<GuardKind>> = vec![None; watchlist.len()];
        // Tracking rounds come at the router's pace while orders are active; with none the
        // loop still wakes every `idle_wake` (its heartbeat, and time-based exits while the
        // feed is paused), not at the tracking pace for nothing to track.
        let idle_wake = IDLE_WAKE.min(Duration::from_secs(s.heartbeat_timeout_s) / 2);
        let mut next_poll = tokio::time::Instant::now();
        let mut next_funnel = start + FUNNEL_EVERY;
        let mut intent_seq: u64 = 0;
        let mut shown: Option<order_router::RouterFigures> = None;
        let until_end = end.map(|end| end.saturating_since(self.clock.now()));
        let end_sleep = async move {
            match until_end {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::pin!(end_sleep);
        let stop_fut = stop.triggered();
        tokio::pin!(stop_fut);
        let trading = router.blocked_reason().is_none();
        loop {
            let update = tokio::select! {
                biased;
                _ = &mut stop_fut => break,
                () = &mut end_sleep => break,
                () = tokio::time::sleep_until(next_poll) => None,
                u = updates.next() => match u {
                    Some(u) => Some(u),
                    None => break,
                },
            };
            loop_beat.beat();
            let now = self.clock.now();
            if let Some((cycle, missed)) = update {
                counters.cycles += 1;
                counters.missed_updates += missed;
                let quotes: &[Quote] = &cycle.quotes;
                let fired = self.decide(quotes, &sink, &mut last_block, &mut counters);
                // Exits first (they free slots), then entries.
                self.sync_exits(&router, &mut exits, &mut selling);
                // Each held symbol's quote is looked up in the cycle, not every quote in the
                // trackers; the trackers are in symbol order, as the cycle's quotes.
                let held: Vec<Symbol> = exits.keys().cloned().collect();
                for symbol in &held {
                    let Some(quote) = quote_of(quotes, symbol) else { continue };
                    let Some(pe) = exits.get_mut(symbol) else { continue };
                    let Some(bid) = quote.bid.filter(|b| *b > Decimal::ZERO) else { continue };
                    match pe.on_price(now, bid) {
                        Ok(Some(exit)) => {
                            let symbol = quote.symbol.clone();
                            exits.remove(&symbol);
                            self.sell(
                                &router,
                                &sink,
                                &symbol,
                                exit.rule,
                                bid,
                                pe_entry(&router, &symbol),
                                &mut intent_seq,
                                &mut selling,
                                &mut counters,
                            )
                            .await;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(symbol = %quote.symbol, error = %e, "exit check refused a price")
                        }
                    }
                }
                if trading {
                    for (symbol, price) in fired {
                        feed_handle.mark_hot(&symbol, "drop detected", Some(HOT_AFTER_DROP));
                        let view = router.view();
                        let held = view.positions.contains_key(&symbol) || view.selling.contains(&symbol);
                        if held {
                            continue;
                        }
                        self.buy(&router, &symbol, price, &mut intent_seq, &mut counters).await;
                    }
                }
            }
            // Time-based exits need no tick.
            let due: Vec<(Symbol, ExitRule)> =
                exits.iter().filter_map(|(sym, pe)| pe.on_time(now).map(|e| (sym.clone(), e.rule))).collect();
            for (symbol, rule) in due {
                exits.remove(&symbol);
                let mark =
                    feed_handle.store().get(&symbol).and_then(|snap| snap.quote.bid).unwrap_or(Decimal::ZERO);
                self.sell(
                    &router,
                    &sink,
                    &symbol,
                    rule,
                    mark,
                    pe_entry(&router, &symbol),
                    &mut intent_seq,
                    &mut selling,
                    &mut counters,
                )
                .await;
            }
            if tokio::time::Instant::now() >= next_poll {
                if let Err(e) = router.poll_once().await {
                    tracing::warn!(error = %e, "order tracking round failed");
                }
                next_poll = tokio::time::Instant::now() + router.poll_interval();
                self.sync_exits(&router, &mut exits, &mut selling);
            }
            if now >= next_funnel {
                next_funnel = next_funnel + FUNNEL_EVERY;
                sink.emit(self.funnel_snapshot(false));
                // Held markets that stopped trading (delisted mid-session) are closed.
                if !router.view().positions.is_empty() {
                    if let Err(e) = router.close_delisted().await {
                        tracing::error!(error = %e, "delisting check failed in the router");
                    }
                }
            }
            // The gauges change when the budget does: set them then, not every cycle.
            let figures = router.figures();
            // An order placed while idle is tracked at the router's pace from now on; with
            // nothing to track the loop sleeps until the next cycle, or `idle_wake` at most.
            if figures.active_orders > 0 {
                next_poll = next_poll.min(tokio::time::Instant::now() + router.poll_interval());
            } else {
                next_poll = tokio::time::Instant::now() + idle_wake;
            }
            if shown != Some(figures) {
                shown = Some(figures);
                metrics.set("budget_free_usdt", None, to_f64(figures.free));
                metrics.set("budget_reserved_usdt", None, to_f64(figures.reserved));
                metrics.set("budget_committed_usdt", None, to_f64(figures.committed));
                metrics.set("open_positions", None, figures.open_positions as f64);
                metrics.set("realized_pnl_usdt", None, to_f64(figures.realised_pnl));
            }
            let elapsed = now.saturating_since(start);
            if status.wants(elapsed) {
                let snap = StatusSnapshot {
                    elapsed,
                    cycles: counters.cycles,
                    overruns: feed_handle_overruns(&metrics),
                    drops: counters.drops,
                    open_positions: u32::try_from(figures.open_positions).unwrap_or(u32::MAX),
                    realized_pnl: figures.realised_pnl,
                };
                if let Some(line) = status.update(&snap) {
                    tracing::info!("{line}");
                }
            }
        }
        status.finish();
        sink.emit(self.funnel_snapshot(true));

        // Orderly end, as shutdown phases (each with a time limit and a SHUTDOWN_PHASE event):
        // no new intents; the feed and the loop stop; open orders are tracked to their end
        // (canceled at their deadlines; bounded, what stays active the ledger keeps for the
        // next start); telemetry is flushed. Positions stay open and are reported as such.
        let settle_limit = Duration::from_secs(s.order_deadline_s.saturating_add(30));
        shutdown.add_phase("stop_market_data", Duration::from_secs(10), move || async move {
            loop_beat.ended(supervisor::TaskEnd::Returned, Some("session ended".to_owned()));
            let _ = feed_stop_tx.send(());
            match feed_task.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("the feed ended with an error: {e}")),
                Err(e) => Err(format!("the feed task failed: {e}")),
            }
        });
        let settle_router = router.clone();
        shutdown.add_phase("settle_orders", settle_limit + Duration::from_secs(5), move || async move {
            match settle_router.track_until_settled(settle_limit).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("orders still active: the ledger keeps them for the next start".to_owned()),
                Err(e) => Err(format!("final order tracking failed: {e}")),
            }
        });
        let flush_handle = self.telemetry.clone();
        shutdown.add_phase("flush_telemetry", Duration::from_secs(5), move || async move {
            let summary = flush_handle.flush().await;
            if summary.write_errors > 0 {
                return Err(format!("{} write errors", summary.write_errors));
            }
            Ok(())
        });
        let _ = trigger_stop.trigger(ExitReason::Requested);
        let report = shutdown.run().await;
        if s.order_flow() {
            if let Err(e) = router.close_delisted().await {
                tracing::error!(error = %e, "delisting check failed in the router");
            }
        }
        let reconciled = self.closing_check(&router, exchange.as_ref()).await;
        sink.emit(reconciled);
        let state = router.state();
        let orders_submitted = metrics.count("ORDER_SUBMITTED");
        let orders_filled = metrics.count("ORDER_FILLED");
        let opened = metrics.count("POSITION_OPENED");
        let closed = metrics.positions_closed();
        let summary_before_end = self.telemetry.summary();
        let elapsed = self.clock.now().saturating_since(start);
        sink.emit(Event::SessionEnded {
            reason: report.reason.to_string(),
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            orders_submitted,
            orders_filled,
            positions_opened: opened,
            positions_closed: closed,
            realized_pnl: state.budget.realised_pnl(),
            events_dropped: summary_before_end.dropped,
        });
        let written = self.telemetry.shutdown().await;
        let dir = self.session.paths().dir.clone();
        let report_line = if self.options.write_report {
            match session_report::build(&dir) {
                Ok(summary) => Some(summary),
                Err(e) => {
                    tracing::error!(error = %e, "the session report could not be built");
                    None
                }
            }
        } else {
            None
        };
        Ok(SessionOutcome {
            dir,
            exit_code: report.exit_code(),
            cycles: counters.cycles,
            overruns: feed_handle_overruns(&metrics),
            drops: counters.drops,
            intents: counters.intents,
            orders_submitted,
            orders_filled,
            positions_opened: opened,
            positions_closed: closed,
            positions_open: state.positions.len(),
            realized_pnl: state.budget.realised_pnl(),
            budget: (
                state.budget.free(),
                state.budget.reserved(),
                state.budget.committed(),
                state.budget.total(),
            ),
            events_written: written.written,
            events_dropped: written.dropped,
            report: report_line,
        })
    }

    /// Runs one cycle through the engine, emits its decisions and returns the drops that fired
    /// (symbol, price), in symbol order.
    fn decide(
        &mut self,
        quotes: &[Quote],
        sink: &Arc<dyn EventSink>,
        last_block: &mut [Option<GuardKind>],
        counters: &mut Counters,
    ) -> Vec<(Symbol, Decimal)> {
        let cycle = self.engine.on_cycle(quotes);
        let trigger_value = self.engine.trigger_config().value();
        let lookback_min = self.engine.trigger_config().lookback_min();
        let mut fired = Vec::new();
        for (id, decision) in cycle.decisions {
            let slot = last_block.get_mut(id.index());
            match decision {
                Decision::Fired(t) => {
                    if let Some(s) = slot {
                        *s = None;
                    }
                    let Some(symbol) = self.engine.symbol(id).cloned() else { continue };
                    counters.drops += 1;
                    sink.emit(Event::DropDetected {
                        symbol: symbol.clone(),
                        price: t.price,
                        reference: t.reference,
                        ratio: (t.price / t.reference).round_dp(6),
                        trigger: trigger_value,
                        mode: mode_name(self.trigger_mode).to_owned(),
                        lookback_min,
                    });
                    fired.push((symbol, t.price));
                }
                // One GUARD_BLOCKED per drop and guard, not one per tick while it stays blocked.
                Decision::Blocked { by, .. } => {
                    if let Some(s) = slot.filter(|s| **s != Some(by.guard)) {
                        *s = Some(by.guard);
                        let Some(symbol) = self.engine.symbol(id).cloned() else { continue };
                        sink.emit(Event::GuardBlocked {
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
            tracing::warn!(symbol = ?self.engine.symbol(id), error = %e, "tick rejected");
        }
        fired
    }

    /// Keeps one exit tracker per held position (created from the position's entry), and
    /// forgets trackers and pending sells of positions that are gone.
    fn sync_exits(
        &self,
        router: &OrderRouter,
        exits: &mut BTreeMap<Symbol, PositionExits>,
        selling: &mut BTreeSet<Symbol>,
    ) {
        let state = router.view();
        selling.retain(|s| state.selling.contains(s) && state.positions.contains_key(s));
        exits.retain(|s, _| state.positions.contains_key(s));
        for (symbol, position) in &state.positions {
            if exits.contains_key(symbol) || selling.contains(symbol) || position.sellable() <= Decimal::ZERO
            {
                continue;
            }
            match PositionExits::new(&self.exit_config, position.entry_price, position.opened_at) {
                Ok(pe) => {
                    exits.insert(symbol.clone(), pe);
                }
                Err(e) => tracing::warn!(%symbol, error = %e, "no exit rules for this position"),
            }
        }
    }

    async fn buy(
        &mut self,
        router: &OrderRouter,
        symbol: &Symbol,
        price: Decimal,
        seq: &mut u64,
        counters: &mut Counters,
    ) {
        *seq += 1;
        let now = self.clock.now();
        let Ok(id) = IntentId::new(format!("b{}-{}", now.as_millis(), seq)) else { return };
        let intent = OrderIntent {
            id,
            symbol: symbol.clone(),
            side: Side::Buy,
            sizing: Sizing::Quote(self.settings.position_size_usdt),
            price: PricePolicy::BestWithOffset(MARKETABLE_OFFSET),
            reason: format!("drop to {price}"),
            exit_reason: None,
            deadline: now + Duration::from_secs(self.settings.order_deadline_s),
        };
        counters.intents += 1;
        match router.submit(intent).await {
            Ok(Submission::Rejected(reason)) => tracing::debug!(%symbol, ?reason, "buy intent rejected"),
            Ok(_) => {}
            Err(e) => tracing::error!(%symbol, error = %e, "buy intent failed in the router"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn sell(
        &mut self,
        router: &OrderRouter,
        sink: &Arc<dyn EventSink>,
        symbol: &Symbol,
        rule: ExitRule,
        price: Decimal,
        entry_price: Decimal,
        seq: &mut u64,
        selling: &mut BTreeSet<Symbol>,
        counters: &mut Counters,
    ) {
        *seq += 1;
        let now = self.clock.now();
        sink.emit(Event::ExitSignal {
            symbol: symbol.clone(),
            reason: exit_reason(rule),
            price,
            entry_price,
        });
        if let Some(id) = self.engine.id_of(symbol) {
            let _ = self.engine.record_exit(id, now);
        }
        let Ok(id) = IntentId::new(format!("s{}-{}", now.as_millis(), seq)) else { return };
        let intent = OrderIntent {
            id,
            symbol: symbol.clone(),
            side: Side::Sell,
            sizing: Sizing::WholePosition,
            price: PricePolicy::BestWithOffset(MARKETABLE_OFFSET),
            reason: format!("exit: {}", rule_name(rule)),
            exit_reason: Some(exit_reason(rule)),
            deadline: now + Duration::from_secs(self.settings.order_deadline_s),
        };
        counters.intents += 1;
        selling.insert(symbol.clone());
        let refused = match router.submit(intent).await {
            Ok(Submission::Rejected(reason)) => {
                selling.remove(symbol);
                tracing::warn!(%symbol, ?reason, "sell intent rejected");
                true
            }
            Ok(Submission::Sent { state: order_router::OrderState::Rejected, .. }) => true,
            Ok(_) => false,
            Err(e) => {
                selling.remove(symbol);
                tracing::error!(%symbol, error = %e, "sell intent failed in the router");
                false
            }
        };
        // A sell refused by the router or the venue may mean the market stopped trading: then
        // the position cannot be sold and is closed as delisted (otherwise its exit would fire
        // again and again).
        if refused {
            if let Err(e) = router.close_delisted().await {
                tracing::error!(error = %e, "delisting check failed in the router");
            }
        }
    }

    /// The closing check against the venue (`SESSION_RECONCILED`): the account's balances
    /// against the ledger's positions and budget, after a flush of the telemetry so that its
    /// counters cover every event before it. Reads are retried a few times (a venue in a storm
    /// fails some of them).
    async fn closing_check(&self, router: &OrderRouter, exchange: &dyn exchange::Exchange) -> Event {
        let flushed = self.telemetry.flush().await;
        let quote_asset = router.config().quote_asset.clone();
        let mut balances = Err(String::new());
        let mut markets = Vec::new();
        for attempt in 0..CLOSING_READ_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if markets.is_empty() {
                if let Ok(list) = exchange.load_markets().await {
                    markets = list.markets;
                }
            }
            if balances.is_err() {
                balances = exchange.fetch_balances().await.map_err(|e| e.to_string());
            }
            if balances.is_ok() && !markets.is_empty() {
                break;
            }
        }
        let state = router.state();
        let held = |asset: &str| -> Decimal {
            balances.as_ref().map_or(Decimal::ZERO, |b| {
                b.iter().filter(|b| b.asset == asset).map(|b| b.total()).sum::<Decimal>()
            })
        };
        // Every base asset the ledger holds, the account holds, or the session traded.
        let mut bases: BTreeSet<String> = state.positions.keys().map(|s| s.base().to_owned()).collect();
        bases.extend(state.orders.values().map(|o| o.intent.symbol.base().to_owned()));
        if let Ok(b) = &balances {
            bases.extend(b.iter().filter(|b| !b.total().is_zero()).map(|b| b.asset.clone()));
        }
        bases.remove(&quote_asset);
        let assets = bases
            .into_iter()
            .map(|asset| {
                let market =
                    markets.iter().find(|m| m.symbol.base() == asset && m.symbol.quote() == quote_asset);
                telemetry::AssetBalance {
                    venue: held(&asset),
                    ledger: state
                        .positions
                        .iter()
                        .filter(|(s, _)| s.base() == asset)
                        .map(|(_, p)| p.quantity)
                        .sum(),
                    unsellable_below: market.map_or(Decimal::ZERO, |m| m.min_qty.max(m.step_size)),
                    delisted: market.is_none_or(|m| !m.is_trading()),
                    asset,
                }
            })
            .collect();
        Event::SessionReconciled {
            assets,
            quote_venue: held(&quote_asset),
            quote_asset,
            free: state.budget.free(),
            reserved: state.budget.reserved(),
            committed: state.budget.committed(),
            total: state.budget.total(),
            active_orders: state.active_orders().count() as u64,
            events_written: flushed.written,
            events_dropped: flushed.dropped,
            venue_error: balances.err(),
        }
    }

    fn funnel_snapshot(&self, is_final: bool) -> Event {
        let engine = &self.engine;
        let f = engine.funnel();
        let blocked_by_guard: BTreeMap<String, u64> =
            GuardKind::ALL.iter().map(|g| (g.as_str().to_owned(), f.blocked_by(*g))).collect();
        let deepest = engine
            .deepest_drops(DEEPEST_LIMIT)
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
}

fn rule_name(rule: ExitRule) -> &'static str {
    match rule {
        ExitRule::TakeProfit => "take profit",
        ExitRule::StopLoss => "stop loss",
        ExitRule::TrailingStop => "trailing stop",
        ExitRule::MaxHold => "max hold",
    }
}

fn pe_entry(router: &OrderRouter, symbol: &Symbol) -> Decimal {
    router.view().positions.get(symbol).map_or(Decimal::ZERO, |p| p.entry_price)
}

fn feed_handle_overruns(metrics: &Metrics) -> u64 {
    metrics.count("MD_POLL_OVERRUN")
}

fn to_f64(d: Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(0.0)
}

/// The watchlist: `WATCHLIST`, or every trading market quoted in USDT, in the venue's order;
/// the crash guard's reference symbol is always included.
fn watchlist(s: &Settings, markets: &[MarketRules]) -> Result<Vec<Symbol>, BotError> {
    let trading: BTreeMap<&Symbol, &MarketRules> =
        markets.iter().filter(|m| m.is_trading()).map(|m| (&m.symbol, m)).collect();
    let mut list: Vec<Symbol> = if s.watchlist.is_empty() {
        markets
            .iter()
            .filter(|m| m.is_trading() && m.symbol.quote() == "USDT")
            .map(|m| m.symbol.clone())
            .collect()
    } else {
        let mut list = Vec::new();
        for name in &s.watchlist {
            let symbol: Symbol =
                name.parse().map_err(|e| BotError::Session(format!("WATCHLIST {name}: {e}")))?;
            if !trading.contains_key(&symbol) {
                return Err(BotError::Session(format!(
                    "WATCHLIST {symbol}: not a trading market on this venue"
                )));
            }
            list.push(symbol);
        }
        list
    };
    if s.guard_market_crash_max_drop_pct.is_some() {
        if let Ok(reference) = s.guard_market_crash_symbol.parse::<Symbol>() {
            if !trading.contains_key(&reference) {
                // the guard blocks while it has no price of its reference: every trigger
                tracing::warn!(
                    symbol = %reference,
                    "GUARD_MARKET_CRASH_SYMBOL is not a trading market on this venue: the market-crash \
                     guard will block every trigger; name a listed market or set \
                     GUARD_MARKET_CRASH_MAX_DROP_PCT=off to switch the guard off"
                );
            } else if !list.contains(&reference) {
                list.insert(0, reference);
            }
        }
    }
    if list.is_empty() {
        return Err(BotError::Session("the watchlist is empty: no trading USDT market on this venue".into()));
    }
    // Symbol order: the feed delivers each cycle in symbol order, so the engine's handles (given
    // in this order) come sorted and a cycle is evaluated without a sort, in one pass; drops of
    // one cycle are bought in symbol order.
    list.sort();
    list.dedup();
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_checks_come_every_sixth_of_the_heartbeat_timeout_between_1_and_5_s() {
        let period = |timeout_s| simulated_check_period(timeout_s).as_millis();
        assert_eq!(period(30), 5_000, "the default timeout");
        assert_eq!(period(12), 2_000);
        assert_eq!(period(9), 1_500);
        assert_eq!(period(3), 1_000, "never below 1 s");
        assert_eq!(period(3_600), 5_000, "never above 5 s");
    }
}
