//! [`MemorySink`]: an in-memory [`EventSink`] for tests (feature `test-utils`).

use std::str::FromStr;
use std::sync::Arc;

use parking_lot::Mutex;
use rust_decimal::Decimal;
use trading_core::{ClientOrderId, OrderId, OrderStatus, OrderType, Side, Symbol, Timestamp};

use crate::{Event, EventSink, ExitReason, RunId, Tier};

/// Collects emitted events in memory so tests can assert on them. Clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemorySink {
    /// A sink with no events.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// A copy of every event emitted so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }

    /// Removes and returns the events emitted so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock())
    }
}

impl EventSink for MemorySink {
    fn emit(&self, event: Event) {
        self.events.lock().push(event);
    }
}

/// One sample of every [`Event`] variant, with realistic values (fractional decimals, optional
/// fields both set and unset). Tests use it to check that every event round-trips; a test of
/// this crate fails when a variant has no sample here.
#[allow(clippy::unwrap_used)] // test helper over fixed literals: a panic is a bug in a literal
pub fn sample_events() -> Vec<Event> {
    let sym = |s: &str| Symbol::from_str(s).unwrap();
    let dec = |s: &str| Decimal::from_str(s).unwrap();
    let coid = |s: &str| ClientOrderId::new(s).unwrap();
    let btc = sym("BTC/USDT");
    let sats = sym("1000SATS/USDT");
    vec![
        Event::MdPollOverrun {
            cycle_ms: 1_234,
            target_ms: 1_000,
            symbols: 412,
            requests: 9,
            slowest_symbol: Some(sats.clone()),
            slowest_ms: Some(870),
            weight: 18,
        },
        Event::MdHealth {
            requests: 12_000,
            success_rate: dec("0.9975"),
            latency_p50_ms: 41,
            latency_p95_ms: 180,
            latency_p99_ms: 455,
            stale_symbols: 2,
            skipped_symbols: 3,
            degraded_symbols: 1,
            weight_used: 3_200,
            cycles: 40,
            cycle_p50_ms: 1_210,
            cycle_p95_ms: 1_480,
            cycle_p99_ms: 1_930,
            cycle_max_ms: 2_050,
        },
        Event::FeedFeasibility {
            feasible: false,
            mode: "per_symbol".into(),
            symbols: 130,
            target_ms: 1_500,
            achievable_ms: 2_600,
            weight_per_cycle: 260,
            weight_budget_per_min: 6_000,
            probe_latency_ms: 95,
            advice: "bulk endpoint: 4 weight/cycle".into(),
        },
        Event::FunnelSnapshot {
            is_final: true,
            evaluated: 1_248_000,
            not_triggered: 1_247_600,
            already_fired: 120,
            out_of_order: 0,
            no_price: 4,
            fired: 17,
            blocked_by_guard: [("market_crash".to_owned(), 240_u64), ("cooldown".to_owned(), 23)]
                .into_iter()
                .collect(),
            trigger: dec("0.985"),
            deepest: vec![crate::DeepestDrop {
                symbol: sats.clone(),
                ratio: dec("0.9712"),
                price: dec("0.0003884"),
                reference: dec("0.0003999"),
                at: Timestamp::from_millis(1_700_000_100_000),
            }],
        },
        Event::Reconciled {
            kind: "order_filled_while_down".into(),
            symbol: Some(btc.clone()),
            client_order_id: Some(coid("drop-i-42")),
            detail: "ledger said NEW, venue says FILLED 0.00158 at 63150.12".into(),
            blocks_trading: false,
        },
        Event::ListingsSkipped {
            source: "load_markets".into(),
            count: 1,
            entries: vec!["币安人生USDT: base asset is not ASCII".into()],
        },
        Event::TaskEnded {
            task: "md-feed".into(),
            how: "panicked".into(),
            detail: Some("index out of bounds".into()),
        },
        Event::SymbolSkipped { symbol: sym("LUNA/USDT"), reason: "BadSymbol: invalid symbol".into() },
        Event::SymbolDegraded {
            symbol: sats.clone(),
            reason: "timeout after 5000 ms".into(),
            consecutive_failures: 3,
            backoff_ms: 8_000,
        },
        Event::SymbolRecovered { symbol: sats.clone(), degraded_for_ms: 64_000 },
        Event::TierChanged {
            symbol: btc.clone(),
            from: Tier::Warm,
            to: Tier::Hot,
            reason: "drop detected".into(),
        },
        Event::DropDetected {
            symbol: btc.clone(),
            price: dec("63150.12"),
            reference: dec("64200.00"),
            ratio: dec("0.98364672897196261682242990654"),
            trigger: dec("0.985"),
            mode: "window_high".into(),
            lookback_min: 15,
        },
        Event::GuardBlocked {
            symbol: sats.clone(),
            guard: "spread".into(),
            value: Some(dec("0.0042")),
            threshold: dec("0.0030"),
        },
        Event::ExitSignal {
            symbol: btc.clone(),
            reason: ExitReason::TrailingStop,
            price: dec("64010.5"),
            entry_price: dec("63150.12"),
        },
        Event::IntentCreated {
            intent_id: "i-42".into(),
            symbol: btc.clone(),
            side: Side::Buy,
            price: dec("63150.12"),
            quantity: dec("0.00158"),
            notional: dec("99.7771896"),
        },
        Event::IntentRejected {
            intent_id: "i-43".into(),
            symbol: sats.clone(),
            side: Side::Buy,
            reason: "notional 4.2 below min notional 5".into(),
            budget_block: false,
        },
        Event::OrderSubmitted {
            client_order_id: coid("drop-i-42"),
            symbol: btc.clone(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            price: Some(dec("63150.12")),
            quantity: dec("0.00158"),
        },
        Event::OrderUpdate {
            client_order_id: coid("drop-i-42"),
            order_id: None,
            symbol: btc.clone(),
            status: OrderStatus::PartiallyFilled,
            filled_quantity: dec("0.00100"),
        },
        Event::OrderFilled {
            client_order_id: coid("drop-i-42"),
            order_id: Some(OrderId("28457".into())),
            symbol: btc.clone(),
            side: Side::Buy,
            quantity: dec("0.00158"),
            avg_price: dec("63149.98"),
            fee_quote: dec("0.0997769684"),
            fee: dec("0.00000158"),
            fee_asset: "BTC".into(),
        },
        Event::OrderCanceled {
            client_order_id: coid("drop-i-44"),
            order_id: Some(OrderId("28460".into())),
            symbol: sats.clone(),
            requested_quantity: dec("616.067"),
            filled_quantity: Decimal::ZERO,
            reason: "deadline".into(),
        },
        Event::OrderFailed {
            client_order_id: coid("drop-i-45"),
            symbol: sats.clone(),
            error: "Rejected: insufficient balance".into(),
        },
        Event::OrderOutcomeUnknown {
            client_order_id: coid("drop-i-46"),
            symbol: btc.clone(),
            error: "timeout after 10000 ms".into(),
        },
        Event::BudgetReserved {
            intent_id: "i-42".into(),
            amount: dec("100"),
            free: dec("900"),
            reserved: dec("100"),
            committed: Decimal::ZERO,
            total: Some(dec("1000")),
        },
        Event::BudgetCommitted {
            intent_id: "i-42".into(),
            amount: dec("99.8769665684"),
            free: dec("900"),
            reserved: dec("0.1230334316"),
            committed: dec("99.8769665684"),
            total: Some(dec("1000")),
        },
        Event::BudgetReleased {
            intent_id: "i-42".into(),
            amount: dec("0.1230334316"),
            reason: "unfilled rest".into(),
            free: dec("900.1230334316"),
            reserved: Decimal::ZERO,
            committed: dec("99.8769665684"),
            total: Some(dec("1000")),
        },
        Event::PositionOpened {
            symbol: btc.clone(),
            quantity: dec("0.00158"),
            entry_price: dec("63149.98"),
            cost: dec("99.8769665684"),
        },
        Event::PositionClosed {
            symbol: btc.clone(),
            quantity: dec("0.00158"),
            entry_price: dec("63149.98"),
            exit_price: dec("64010.5"),
            pnl: dec("-0.35"),
            reason: ExitReason::StopLoss,
            held_ms: 3_600_000,
            remaining: Decimal::ZERO,
        },
        Event::HeartbeatLate {
            task: "md_feed".into(),
            expected_interval_ms: 1_000,
            silent_for_ms: 4_500,
            recent_beats: vec![
                Timestamp::from_millis(1_700_000_000_000),
                Timestamp::from_millis(1_700_000_001_000),
            ],
            mode: "warn".into(),
        },
        Event::LoopLag { lag_ms: 250, threshold_ms: 100 },
        Event::TaskPanicked {
            task: "order_router".into(),
            message: "index out of bounds".into(),
            failures: 1,
        },
        Event::TaskFailed { task: "md_feed".into(), error: "exchange unavailable".into(), failures: 2 },
        Event::TaskRestarted { task: "md_feed".into(), attempt: 2, backoff_ms: 2_000 },
        Event::ShutdownStarted { reason: "sigterm".into() },
        Event::ShutdownPhase {
            phase: "cancel_buys".into(),
            outcome: "timed_out".into(),
            elapsed_ms: 5_000,
            detail: Some("2 orders still open".into()),
        },
        Event::ShutdownCompleted { reason: "sigterm".into(), exit_code: 0, elapsed_ms: 6_100 },
        Event::SessionStarted {
            run_id: RunId::new("session_20240305_060708"),
            session: "session_20240305_060708".into(),
            version: "0.1.0".into(),
            config_snapshot: "api_key = \"<redacted>\"\n[drop]\ntrigger = \"0.985\"\n".into(),
        },
        Event::SessionReconciled {
            assets: vec![crate::AssetBalance {
                asset: "BTC".into(),
                venue: dec("0.00151"),
                ledger: dec("0.0015"),
                unsellable_below: dec("0.00001"),
                delisted: false,
            }],
            quote_asset: "USDT".into(),
            quote_venue: dec("9989.5"),
            free: dec("1010.5"),
            reserved: Decimal::ZERO,
            committed: dec("100.1"),
            total: dec("1110.6"),
            active_orders: 0,
            events_written: 1234,
            events_dropped: 0,
            venue_error: None,
        },
        Event::SessionEnded {
            reason: "ctrl_c".into(),
            duration_ms: 86_400_000,
            orders_submitted: 12,
            orders_filled: 10,
            positions_opened: 10,
            positions_closed: 9,
            realized_pnl: dec("12.3456789"),
            events_dropped: 0,
        },
        Event::TelemetryDropped { count: 17 },
        Event::LogDropped { file: "bot.log".into(), count: 5 },
        Event::RetentionApplied { removed: 3, kept: 10, freed_bytes: 52_428_800 },
        Event::RetentionFailed {
            path: "session_20240101_000000".into(),
            error: "Permission denied (os error 13)".into(),
        },
        Event::DebugTraceUnavailable {
            path: "sessions/session_20240305_060708/debug_trace.jsonl".into(),
            error: "Read-only file system (os error 30)".into(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_events_in_order_and_take_empties() {
        let sink = MemorySink::new();
        let dyn_sink: Arc<dyn EventSink> = Arc::new(sink.clone());
        dyn_sink.emit(Event::LoopLag { lag_ms: 1, threshold_ms: 2 });
        sink.emit(Event::TelemetryDropped { count: 3 });
        assert_eq!(
            sink.events(),
            vec![Event::LoopLag { lag_ms: 1, threshold_ms: 2 }, Event::TelemetryDropped { count: 3 }]
        );
        assert_eq!(sink.take().len(), 2);
        assert!(sink.events().is_empty());
    }
}
