//! The typed [`Event`] vocabulary, the [`EventSink`] seam and the on-disk [`EventRecord`] line.
//!
//! Adding an event is a compile-time change: a new variant here (and its documentation in
//! `docs/telemetry.md`); callers can only build variants that exist.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trading_core::{ClientOrderId, OrderId, OrderStatus, OrderType, Side, Symbol, Timestamp};

/// Version of the JSONL line layout and of the payloads. Bump it when a payload changes in a
/// way an older reader would misread (renamed or retyped field); adding a variant does not.
pub const SCHEMA_VERSION: u32 = 1;

/// Polling tier of a symbol in the market-data scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tier {
    /// Polled most often: a recent drop, an open order or a held position.
    Hot,
    /// The default cadence.
    Warm,
    /// Polled least often: no movement, low volume.
    Cold,
}

/// Why a position is (to be) closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExitReason {
    /// The price reached the take-profit level.
    TakeProfit,
    /// The price fell to the stop-loss level.
    StopLoss,
    /// The trailing stop was activated and then hit.
    TrailingStop,
    /// The position was held for the maximum time.
    MaxHold,
    /// Closed by hand or by the shutdown procedure.
    Manual,
    /// The venue stopped trading the market (delisted, status `BREAK`): the holding cannot be
    /// sold there any more; its cost is written off as a realised loss and the quantity stays
    /// on the account (reported, see `SESSION_RECONCILED`).
    Delisted,
}

/// One asset of [`Event::SessionReconciled`]: what the venue's account holds against the
/// ledger's position in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetBalance {
    /// The asset (e.g. `BTC`).
    pub asset: String,
    /// The account's total on the venue (free + locked).
    pub venue: Decimal,
    /// The quantity of the ledger's open position in it (zero when none).
    pub ledger: Decimal,
    /// The smallest quantity an order can sell in its market (`max(min_qty, step_size)`);
    /// a closed position may leave less than this on the account (dust written off).
    pub unsellable_below: Decimal,
    /// The market is not trading any more (delisted / `BREAK`).
    pub delisted: bool,
}

/// One symbol's deepest drop in a session, for [`Event::FunnelSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeepestDrop {
    /// The symbol.
    pub symbol: Symbol,
    /// The lowest `price / reference` seen (`0.97` = 3 % below the reference).
    pub ratio: Decimal,
    /// The price at that moment.
    pub price: Decimal,
    /// The reference at that moment.
    pub reference: Decimal,
    /// When it was seen.
    pub at: Timestamp,
}

/// Every event the bot emits. One variant per `event_type` of `events.jsonl`; the JSON form is
/// `{"event_type": "SCREAMING_SNAKE_CASE", "payload": {...}}` inside an [`EventRecord`].
///
/// Money, prices and quantities are [`Decimal`] (written as JSON strings, so no precision is
/// lost); times are [`Timestamp`] (milliseconds since the epoch); durations are `*_ms` integers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Event {
    // ----- market data -----
    /// A market-data cycle took longer than its interval.
    MdPollOverrun {
        /// How long the cycle took.
        cycle_ms: u64,
        /// The configured cycle interval.
        target_ms: u64,
        /// Symbols polled in the cycle.
        symbols: u32,
        /// Requests sent in the cycle.
        requests: u32,
        /// The slowest symbol's request, if any was made per symbol.
        slowest_symbol: Option<Symbol>,
        /// Latency of that slowest request.
        slowest_ms: Option<u64>,
        /// Request weight the cycle spent.
        weight: u32,
    },
    /// Periodic market-data health summary: one per `MD_HEALTH_S` window, and one for the
    /// window in progress when the feed stops.
    MdHealth {
        /// Requests in the health window.
        requests: u64,
        /// Fraction of requests that succeeded, `0` to `1`.
        success_rate: Decimal,
        /// Median request latency.
        latency_p50_ms: u64,
        /// 95th percentile request latency.
        latency_p95_ms: u64,
        /// 99th percentile request latency.
        latency_p99_ms: u64,
        /// Symbols whose last quote is older than the staleness limit.
        stale_symbols: u32,
        /// Size of the permanent skip list.
        skipped_symbols: u32,
        /// Symbols currently degraded (backing off).
        degraded_symbols: u32,
        /// Request weight the feed spent in the health window.
        weight_used: u64,
        /// Cycles that finished in the health window (0 in files written before this field).
        #[serde(default)]
        cycles: u64,
        /// Median cycle duration in the window: every cycle, not only the overruns.
        #[serde(default)]
        cycle_p50_ms: u64,
        /// 95th percentile cycle duration in the window.
        #[serde(default)]
        cycle_p95_ms: u64,
        /// 99th percentile cycle duration in the window.
        #[serde(default)]
        cycle_p99_ms: u64,
        /// Longest cycle in the window.
        #[serde(default)]
        cycle_max_ms: u64,
    },
    /// The start-up feasibility check: can the configured interval be met for this watchlist
    /// with the venue's weight budget, the endpoint weights and the measured latency?
    FeedFeasibility {
        /// True when the configured interval can be met.
        feasible: bool,
        /// Polling mode (`bulk` or `per_symbol`).
        mode: String,
        /// Symbols in the watchlist.
        symbols: u32,
        /// The configured cycle interval.
        target_ms: u64,
        /// The shortest interval this configuration can meet (computed, not guessed).
        achievable_ms: u64,
        /// Request weight one cycle costs.
        weight_per_cycle: u32,
        /// The venue's weight budget per minute.
        weight_budget_per_min: u32,
        /// Latency of the start-up probe.
        probe_latency_ms: u64,
        /// The change that would meet the interval, in words (empty when feasible).
        advice: String,
    },
    /// A symbol was put on the permanent skip list (the venue does not know it, or it is not
    /// trading).
    SymbolSkipped {
        /// The symbol.
        symbol: Symbol,
        /// Why, in words (usually the venue's error).
        reason: String,
    },
    /// A symbol failed repeatedly or answered slowly and is polled with backoff.
    SymbolDegraded {
        /// The symbol.
        symbol: Symbol,
        /// The last failure, in words.
        reason: String,
        /// Failures in a row.
        consecutive_failures: u32,
        /// Delay before the next attempt.
        backoff_ms: u64,
    },
    /// A degraded symbol answered normally again.
    SymbolRecovered {
        /// The symbol.
        symbol: Symbol,
        /// How long it was degraded.
        degraded_for_ms: u64,
    },
    /// A symbol moved between polling tiers.
    TierChanged {
        /// The symbol.
        symbol: Symbol,
        /// The previous tier.
        from: Tier,
        /// The new tier.
        to: Tier,
        /// The rule that moved it, in words.
        reason: String,
    },

    // ----- signals -----
    /// The drop trigger fired: `price / reference <= trigger`.
    DropDetected {
        /// The symbol.
        symbol: Symbol,
        /// The current price.
        price: Decimal,
        /// The reference price of the trigger mode.
        reference: Decimal,
        /// `price / reference`.
        ratio: Decimal,
        /// The configured trigger value (e.g. `0.985`).
        trigger: Decimal,
        /// The trigger mode (`window_high`, `window_open`, `running_high`, `anchor_reset`).
        mode: String,
        /// The lookback window in minutes.
        lookback_min: u32,
    },
    /// A market-condition guard blocked a signal.
    GuardBlocked {
        /// The symbol.
        symbol: Symbol,
        /// The guard's name (`spread`, `volatility`, `market_crash`, ...).
        guard: String,
        /// The measured value; `None` when the guard had no data to measure (no bid/ask, no
        /// candles yet, a stale reference price) and blocked for that reason.
        value: Option<Decimal>,
        /// The threshold it violated.
        threshold: Decimal,
    },
    /// An exit rule fired for a held position.
    ExitSignal {
        /// The symbol.
        symbol: Symbol,
        /// Which rule fired.
        reason: ExitReason,
        /// The current price.
        price: Decimal,
        /// The position's entry price.
        entry_price: Decimal,
    },

    // ----- orders -----
    /// The bot decided to trade and created an intent.
    IntentCreated {
        /// The intent's id (also the stem of its client order id).
        intent_id: String,
        /// The symbol.
        symbol: Symbol,
        /// Buy or sell.
        side: Side,
        /// Limit price after rounding to the market rules.
        price: Decimal,
        /// Quantity after rounding to the market rules.
        quantity: Decimal,
        /// `price * quantity` in the quote currency.
        notional: Decimal,
    },
    /// An intent was refused before any order was sent (rules, budget, switches).
    IntentRejected {
        /// The intent's id.
        intent_id: String,
        /// The symbol.
        symbol: Symbol,
        /// Buy or sell.
        side: Side,
        /// Why, in words.
        reason: String,
        /// True when a budget or limit refused it (free budget, `POSITION_SIZE_USDT`,
        /// `MAX_CONCURRENT_POSITIONS`, `GLOBAL_TRADING`): the report's funnel counts these as
        /// budget blocks, apart from rule rejections.
        #[serde(default)]
        budget_block: bool,
    },
    /// An order request was sent to the venue.
    OrderSubmitted {
        /// Our id for the order.
        client_order_id: ClientOrderId,
        /// The symbol.
        symbol: Symbol,
        /// Buy or sell.
        side: Side,
        /// Market, limit, ...
        order_type: OrderType,
        /// Limit price (`None` for market orders).
        price: Option<Decimal>,
        /// Requested quantity.
        quantity: Decimal,
    },
    /// The venue reported a (non-final or final) state of an order.
    OrderUpdate {
        /// Our id for the order.
        client_order_id: ClientOrderId,
        /// The venue's id, once known.
        order_id: Option<OrderId>,
        /// The symbol.
        symbol: Symbol,
        /// The reported status.
        status: OrderStatus,
        /// Quantity filled so far.
        filled_quantity: Decimal,
    },
    /// An order filled completely.
    OrderFilled {
        /// Our id for the order.
        client_order_id: ClientOrderId,
        /// The venue's id.
        order_id: Option<OrderId>,
        /// The symbol.
        symbol: Symbol,
        /// Buy or sell.
        side: Side,
        /// Filled quantity.
        quantity: Decimal,
        /// Average fill price.
        avg_price: Decimal,
        /// Fees paid, in the quote currency.
        fee_quote: Decimal,
        /// The fee as charged, in `fee_asset` (the base asset when the venue took the fee from
        /// what was bought: the position then holds `quantity - fee`).
        #[serde(default)]
        fee: Decimal,
        /// The asset the fee was charged in (empty when unknown).
        #[serde(default)]
        fee_asset: String,
    },
    /// An order was canceled (by us at its deadline, or by the venue).
    OrderCanceled {
        /// Our id for the order.
        client_order_id: ClientOrderId,
        /// The venue's id.
        order_id: Option<OrderId>,
        /// The symbol.
        symbol: Symbol,
        /// Quantity the order asked for.
        #[serde(default)]
        requested_quantity: Decimal,
        /// Quantity filled before the cancel.
        filled_quantity: Decimal,
        /// Why, in words.
        reason: String,
    },
    /// The venue refused an order, or sending it failed with a known outcome (not placed).
    OrderFailed {
        /// Our id for the order.
        client_order_id: ClientOrderId,
        /// The symbol.
        symbol: Symbol,
        /// The error, in words.
        error: String,
    },
    /// Sending an order timed out or the connection broke: the order may or may not exist and
    /// must be looked up by its client order id (never blindly resubmitted).
    OrderOutcomeUnknown {
        /// Our id for the order.
        client_order_id: ClientOrderId,
        /// The symbol.
        symbol: Symbol,
        /// The error, in words.
        error: String,
    },

    // ----- budget (quote currency; free + reserved + committed == total after each step) -----
    /// Budget was reserved for an intent.
    BudgetReserved {
        /// The intent's id.
        intent_id: String,
        /// Amount reserved.
        amount: Decimal,
        /// Free budget after the step.
        free: Decimal,
        /// Reserved budget after the step.
        reserved: Decimal,
        /// Committed budget after the step.
        committed: Decimal,
        /// Total budget after the step (`free + reserved + committed` must equal it); absent in
        /// sessions written before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<Decimal>,
    },
    /// Reserved budget was committed to a fill.
    BudgetCommitted {
        /// The intent's id.
        intent_id: String,
        /// Amount committed (fees included).
        amount: Decimal,
        /// Free budget after the step.
        free: Decimal,
        /// Reserved budget after the step.
        reserved: Decimal,
        /// Committed budget after the step.
        committed: Decimal,
        /// Total budget after the step (`free + reserved + committed` must equal it); absent in
        /// sessions written before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<Decimal>,
    },
    /// Reserved or committed budget went back to free.
    BudgetReleased {
        /// The intent's id.
        intent_id: String,
        /// Amount released.
        amount: Decimal,
        /// Why (unfilled rest, position closed, ...).
        reason: String,
        /// Free budget after the step.
        free: Decimal,
        /// Reserved budget after the step.
        reserved: Decimal,
        /// Committed budget after the step.
        committed: Decimal,
        /// Total budget after the step (`free + reserved + committed` must equal it); absent in
        /// sessions written before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<Decimal>,
    },

    // ----- positions -----
    /// A position was opened by a filled buy.
    PositionOpened {
        /// The symbol.
        symbol: Symbol,
        /// Quantity held.
        quantity: Decimal,
        /// Average entry price.
        entry_price: Decimal,
        /// Total cost in the quote currency, fees included.
        cost: Decimal,
    },
    /// A filled sell closed a position, or part of it: after a partial exit (a sell that
    /// filled only in part) `remaining` is what is still held, the position stays open, and a
    /// later POSITION_CLOSED ends it. A position's PnL is the sum of its events' `pnl`.
    PositionClosed {
        /// The symbol.
        symbol: Symbol,
        /// Quantity sold.
        quantity: Decimal,
        /// Average entry price.
        entry_price: Decimal,
        /// Average exit price.
        exit_price: Decimal,
        /// Realized profit or loss in the quote currency, fees included.
        pnl: Decimal,
        /// Which exit rule closed it.
        reason: ExitReason,
        /// How long the position was held.
        held_ms: u64,
        /// Quantity still held after this exit: zero when the position is closed (logs from
        /// before this field existed read as zero).
        #[serde(default)]
        remaining: Decimal,
    },

    // ----- supervisor -----
    /// A registered task has not beaten within its expected interval.
    HeartbeatLate {
        /// The task's registered name.
        task: String,
        /// The interval the task promised to beat at.
        expected_interval_ms: u64,
        /// Time since its last beat (or since registration).
        silent_for_ms: u64,
        /// Its most recent beats, oldest first (registration counts as the first beat).
        recent_beats: Vec<Timestamp>,
        /// `warn` or `enforce`.
        mode: String,
    },
    /// The event loop ran a scheduled tick late.
    LoopLag {
        /// How late the tick ran.
        lag_ms: u64,
        /// The reporting threshold.
        threshold_ms: u64,
    },
    /// A supervised task panicked.
    TaskPanicked {
        /// The task's name.
        task: String,
        /// The panic message.
        message: String,
        /// Failures of this task so far.
        failures: u32,
    },
    /// A supervised task returned an error.
    TaskFailed {
        /// The task's name.
        task: String,
        /// The error, in words.
        error: String,
        /// Failures of this task so far.
        failures: u32,
    },
    /// A failed task was restarted.
    TaskRestarted {
        /// The task's name.
        task: String,
        /// Restart attempt number (1 = first restart).
        attempt: u32,
        /// Delay waited before the restart.
        backoff_ms: u64,
    },
    /// A registered task ended; every registered task's end is reported, however it ended.
    TaskEnded {
        /// The task's name.
        task: String,
        /// How it ended: `returned`, `failed`, `panicked`, `gave_up` (restart policy exhausted),
        /// `cancelled` (by shutdown) or `dropped` (its handle went away unobserved).
        how: String,
        /// The error or panic message, when there is one.
        detail: Option<String>,
    },
    /// An orderly shutdown began.
    ShutdownStarted {
        /// Why (`ctrl_c`, `sigterm`, `watchdog: ...`, `fatal: ...`).
        reason: String,
    },
    /// One shutdown phase ended.
    ShutdownPhase {
        /// The phase's name (`stop_intents`, `cancel_buys`, `persist_state`, `flush_telemetry`).
        phase: String,
        /// `completed`, `timed_out` or `failed`.
        outcome: String,
        /// How long the phase ran.
        elapsed_ms: u64,
        /// Error or extra information.
        detail: Option<String>,
    },
    /// The shutdown finished; the process exits with `exit_code`.
    ShutdownCompleted {
        /// Why the bot stopped.
        reason: String,
        /// The process exit code.
        exit_code: i32,
        /// Total shutdown time.
        elapsed_ms: u64,
    },

    // ----- session and telemetry -----
    /// The signal engine's decision funnel so far (periodic) or for the whole session (`final`):
    /// enough to explain a session from the events alone, including why nothing traded.
    FunnelSnapshot {
        /// True for the last snapshot of the session.
        #[serde(rename = "final")]
        is_final: bool,
        /// Ticks evaluated against the trigger.
        evaluated: u64,
        /// Ticks with no drop.
        not_triggered: u64,
        /// Ticks below the threshold whose drop had already fired.
        already_fired: u64,
        /// Ticks ignored as out of order.
        out_of_order: u64,
        /// Quotes that carried no usable price (zero or missing), never evaluated.
        no_price: u64,
        /// Triggers that passed every guard.
        fired: u64,
        /// Drops blocked, by guard name.
        blocked_by_guard: std::collections::BTreeMap<String, u64>,
        /// The configured `DROP_TRIGGER_VALUE`.
        trigger: Decimal,
        /// The deepest drop each symbol reached in the session, deepest first (bounded list).
        deepest: Vec<DeepestDrop>,
    },

    // ----- order-router reconciliation and venue listings -----
    /// Reconciliation with the venue corrected or confirmed something in the ledger.
    Reconciled {
        /// What was found (`order_filled_while_down`, `order_ended_while_down`,
        /// `order_unknown_to_venue`, `order_settled_on_start`, `unknown_open_order`,
        /// `fill_recovered`, `foreign_fill`, `fills_unavailable`, `balance_drift`,
        /// `market_delisted`, `unresolved`).
        kind: String,
        /// The market, when the finding concerns one.
        symbol: Option<Symbol>,
        /// The order, when the finding concerns one.
        client_order_id: Option<ClientOrderId>,
        /// What was corrected, in words (quantities and balances included).
        detail: String,
        /// True when the router refuses new intents because of this finding.
        blocks_trading: bool,
    },
    /// The venue listed markets (or returned orders) the bot cannot represent; they were
    /// skipped, the rest of the answer was used.
    ListingsSkipped {
        /// What was being read (`load_markets`, `fetch_open_orders`).
        source: String,
        /// How many entries were skipped.
        count: u32,
        /// The venue's names for them (bounded list) and why each was skipped.
        entries: Vec<String>,
    },

    /// The closing check of a session against the venue, emitted after the orders settled and
    /// right before `SESSION_ENDED`: the account's balances against the ledger's positions and
    /// budget, and the telemetry counters (the writer was flushed just before, so every event
    /// emitted before this one is counted as written or dropped).
    SessionReconciled {
        /// One line per base asset the ledger holds, the account holds, or the session traded.
        assets: Vec<AssetBalance>,
        /// The budget's quote asset.
        quote_asset: String,
        /// The account's total of the quote asset on the venue.
        quote_venue: Decimal,
        /// The budget at the end: free.
        free: Decimal,
        /// Reserved (open buy orders).
        reserved: Decimal,
        /// Committed (held positions, at cost).
        committed: Decimal,
        /// Total.
        total: Decimal,
        /// Orders the ledger still tracks as active (not settled).
        active_orders: u64,
        /// Events written to `events.jsonl` before this one.
        events_written: u64,
        /// Events lost before this one.
        events_dropped: u64,
        /// The balances could not be read (the fields above are then the ledger's only).
        venue_error: Option<String>,
    },
    /// The first event of a session.
    SessionStarted {
        /// The run id (also on every line).
        run_id: RunId,
        /// The session directory's name (`session_YYYYMMDD_HHMMSS[_suffix]`).
        session: String,
        /// The bot's version.
        version: String,
        /// The effective configuration, secrets already redacted (TOML text).
        config_snapshot: String,
    },
    /// The last event of a session, with its totals.
    SessionEnded {
        /// Why the session ended.
        reason: String,
        /// How long it ran.
        duration_ms: u64,
        /// Orders sent.
        orders_submitted: u64,
        /// Orders filled.
        orders_filled: u64,
        /// Positions opened.
        positions_opened: u64,
        /// Positions closed completely (partial exits not counted).
        positions_closed: u64,
        /// Realized profit or loss in the quote currency.
        realized_pnl: Decimal,
        /// Telemetry events that could not be queued or written.
        events_dropped: u64,
    },
    /// Events were lost: the queue was full or the disk refused the write. Written by the
    /// telemetry writer itself, never silently skipped.
    TelemetryDropped {
        /// Events lost since the previous report.
        count: u64,
    },
    /// Log lines were lost: a log file's writer queue was full. Written by the events writer,
    /// which watches the log writers' counters.
    LogDropped {
        /// The log file (`bot.log` or `debug_trace.jsonl`).
        file: String,
        /// Lines lost since the previous report.
        count: u64,
    },
    /// Retention removed old session directories.
    RetentionApplied {
        /// Sessions removed.
        removed: u32,
        /// Sessions kept.
        kept: u32,
        /// Bytes freed.
        freed_bytes: u64,
    },
    /// Retention could not read or remove something; the bot runs on.
    RetentionFailed {
        /// The path concerned (relative to the sessions root where possible).
        path: String,
        /// The error, in words.
        error: String,
    },
    /// The debug trace was requested but could not be opened; the bot runs on without it.
    DebugTraceUnavailable {
        /// The path that could not be opened.
        path: String,
        /// The error, in words.
        error: String,
    },
}

impl Event {
    /// The `event_type` string of this event as written to `events.jsonl`.
    pub const fn event_type(&self) -> &'static str {
        match self {
            Event::MdPollOverrun { .. } => "MD_POLL_OVERRUN",
            Event::MdHealth { .. } => "MD_HEALTH",
            Event::FeedFeasibility { .. } => "FEED_FEASIBILITY",
            Event::FunnelSnapshot { .. } => "FUNNEL_SNAPSHOT",
            Event::Reconciled { .. } => "RECONCILED",
            Event::ListingsSkipped { .. } => "LISTINGS_SKIPPED",
            Event::TaskEnded { .. } => "TASK_ENDED",
            Event::SymbolSkipped { .. } => "SYMBOL_SKIPPED",
            Event::SymbolDegraded { .. } => "SYMBOL_DEGRADED",
            Event::SymbolRecovered { .. } => "SYMBOL_RECOVERED",
            Event::TierChanged { .. } => "TIER_CHANGED",
            Event::DropDetected { .. } => "DROP_DETECTED",
            Event::GuardBlocked { .. } => "GUARD_BLOCKED",
            Event::ExitSignal { .. } => "EXIT_SIGNAL",
            Event::IntentCreated { .. } => "INTENT_CREATED",
            Event::IntentRejected { .. } => "INTENT_REJECTED",
            Event::OrderSubmitted { .. } => "ORDER_SUBMITTED",
            Event::OrderUpdate { .. } => "ORDER_UPDATE",
            Event::OrderFilled { .. } => "ORDER_FILLED",
            Event::OrderCanceled { .. } => "ORDER_CANCELED",
            Event::OrderFailed { .. } => "ORDER_FAILED",
            Event::OrderOutcomeUnknown { .. } => "ORDER_OUTCOME_UNKNOWN",
            Event::BudgetReserved { .. } => "BUDGET_RESERVED",
            Event::BudgetCommitted { .. } => "BUDGET_COMMITTED",
            Event::BudgetReleased { .. } => "BUDGET_RELEASED",
            Event::PositionOpened { .. } => "POSITION_OPENED",
            Event::PositionClosed { .. } => "POSITION_CLOSED",
            Event::HeartbeatLate { .. } => "HEARTBEAT_LATE",
            Event::LoopLag { .. } => "LOOP_LAG",
            Event::TaskPanicked { .. } => "TASK_PANICKED",
            Event::TaskFailed { .. } => "TASK_FAILED",
            Event::TaskRestarted { .. } => "TASK_RESTARTED",
            Event::ShutdownStarted { .. } => "SHUTDOWN_STARTED",
            Event::ShutdownPhase { .. } => "SHUTDOWN_PHASE",
            Event::ShutdownCompleted { .. } => "SHUTDOWN_COMPLETED",
            Event::SessionReconciled { .. } => "SESSION_RECONCILED",
            Event::SessionStarted { .. } => "SESSION_STARTED",
            Event::SessionEnded { .. } => "SESSION_ENDED",
            Event::TelemetryDropped { .. } => "TELEMETRY_DROPPED",
            Event::LogDropped { .. } => "LOG_DROPPED",
            Event::RetentionApplied { .. } => "RETENTION_APPLIED",
            Event::RetentionFailed { .. } => "RETENTION_FAILED",
            Event::DebugTraceUnavailable { .. } => "DEBUG_TRACE_UNAVAILABLE",
        }
    }
}

/// Where events go. Implementations must never block the caller and never fail: a sink that
/// cannot keep up or cannot write counts the loss and reports it (see [`Event::TelemetryDropped`]).
///
/// Object safe: components hold an `Arc<dyn EventSink>` so tests can pass a memory sink.
pub trait EventSink: Send + Sync + fmt::Debug {
    /// Hands one event to the sink. Returns at once; never panics on sink failure.
    fn emit(&self, event: Event);
}

impl<S: EventSink + ?Sized> EventSink for std::sync::Arc<S> {
    fn emit(&self, event: Event) {
        (**self).emit(event);
    }
}

impl<S: EventSink + ?Sized> EventSink for &S {
    fn emit(&self, event: Event) {
        (**self).emit(event);
    }
}

/// Identifies one run of the bot; written on every line so that JSONL from many processes can
/// be merged by a log pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// Wraps an id (any non-empty text; the session directory's name is a good choice).
    pub fn new(id: impl Into<String>) -> Self {
        RunId(id.into())
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One line of `events.jsonl`: `{"ts": "<RFC 3339, ms>", "event_type": ..., "payload": {...},
/// "schema": 1, "run_id": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// When the event was emitted (read from the [`trading_core::Clock`] at `emit`).
    #[serde(serialize_with = "ts_ser", deserialize_with = "ts_de")]
    pub ts: Timestamp,
    /// The event (`event_type` and `payload` on the line).
    #[serde(flatten)]
    pub event: Event,
    /// The [`SCHEMA_VERSION`] the line was written with.
    pub schema: u32,
    /// The run that wrote the line.
    pub run_id: RunId,
}

pub(crate) fn ts_ser<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts.to_rfc3339())
}

fn ts_de<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    chrono::DateTime::parse_from_rfc3339(&text)
        .map(|dt| Timestamp::from_datetime(dt.to_utc()))
        .map_err(|e| serde::de::Error::custom(format!("ts {text:?} is not RFC 3339: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::sample_events;

    /// Every `event_type` the derived deserializer knows, taken from its "unknown variant"
    /// message: the list the compiler derived from the enum, so it cannot drift.
    fn all_event_types() -> BTreeSet<String> {
        let err = serde_json::from_str::<Event>(r#"{"event_type":"__NONE__","payload":{}}"#).unwrap_err();
        let text = err.to_string();
        let list =
            text.split("expected one of ").nth(1).unwrap_or_else(|| panic!("unexpected message: {text}"));
        let list = list.split(" at line").next().unwrap();
        list.split(", ").map(|name| name.trim_matches('`').to_owned()).collect()
    }

    #[test]
    fn samples_cover_every_variant_exactly_once() {
        let all = all_event_types();
        assert!(all.len() >= 30, "{all:?}");
        let samples: Vec<&str> = sample_events().iter().map(Event::event_type).collect();
        let distinct: BTreeSet<String> = samples.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(distinct.len(), samples.len(), "a variant has two samples: {samples:?}");
        let missing: Vec<_> = all.difference(&distinct).collect();
        assert!(missing.is_empty(), "variants without a sample in sample_events(): {missing:?}");
        assert_eq!(distinct, all);
    }

    #[test]
    fn every_event_round_trips_through_a_jsonl_line() {
        for (i, event) in sample_events().into_iter().enumerate() {
            let record = EventRecord {
                ts: Timestamp::from_millis(1_700_000_000_123 + i as i64),
                event,
                schema: SCHEMA_VERSION,
                run_id: RunId::new("run-x"),
            };
            let line = serde_json::to_string(&record).unwrap();
            assert!(!line.contains('\n'), "one line per event: {line}");
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(value["event_type"], record.event.event_type(), "{line}");
            assert_eq!(value["schema"], SCHEMA_VERSION, "{line}");
            assert_eq!(value["run_id"], "run-x", "{line}");
            assert!(value["ts"].as_str().unwrap().ends_with(&format!(".{:03}Z", 123 + i)), "{line}");
            assert!(value["payload"].is_object(), "{line}");
            let back: EventRecord = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(back, record);
        }
    }

    #[test]
    fn decimals_are_strings_and_enums_are_screaming_snake_case() {
        let event = Event::ExitSignal {
            symbol: "BTC/USDT".parse().unwrap(),
            reason: ExitReason::TakeProfit,
            price: Decimal::new(640_105, 1),
            entry_price: Decimal::new(1, 8),
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"event_type":"EXIT_SIGNAL","payload":{"symbol":"BTC/USDT","reason":"TAKE_PROFIT","price":"64010.5","entry_price":"0.00000001"}}"#
        );
    }
}
