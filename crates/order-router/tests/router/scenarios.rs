//! Named scenarios against the scripted venue on paused time: late visibility, lost requests,
//! the cancel/fill races, stale answers, write-ahead failure, a panicking event sink, switches.

use std::sync::Arc;
use std::time::Duration;

use order_router::{
    Durability, IntentId, Ledger, OrderIntent, OrderRouter, OrderState, PricePolicy, RejectReason,
    RouterConfig, Sizing, Submission,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use telemetry::{Event, EventSink, MemorySink};
use trading_core::{Clock, Side, Timestamp, TokioClock};

use crate::mock::{symbol, MockVenue, Step, WINDOW};

struct Setup {
    router: OrderRouter,
    venue: Arc<MockVenue>,
    clock: Arc<dyn Clock>,
    sink: Arc<MemorySink>,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup(script: Vec<Step>, config: RouterConfig) -> Setup {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_700_000_000_000)));
    let venue = Arc::new(MockVenue::new(clock.clone(), script));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let ledger = Ledger::open(&path, Durability::Full).unwrap();
    let sink = Arc::new(MemorySink::new());
    let router = OrderRouter::open(config, venue.clone(), clock.clone(), sink.clone(), ledger).unwrap();
    router.reconcile().await.unwrap();
    Setup { router, venue, clock, sink, path, _dir: dir }
}

fn buy(id: &str, amount: Decimal, price: PricePolicy, now: Timestamp) -> OrderIntent {
    OrderIntent {
        id: IntentId::new(id).unwrap(),
        symbol: symbol(),
        side: Side::Buy,
        sizing: Sizing::Quote(amount),
        price,
        reason: "scenario".into(),
        exit_reason: None,
        deadline: now + Duration::from_secs(30),
    }
}

fn state_of(s: &Setup, id: &str) -> OrderState {
    let cid = IntentId::new(id).unwrap().client_order_id("dr").unwrap();
    s.router.state().orders[&cid].state
}

#[tokio::test(start_paused = true)]
async fn accepted_but_timed_out_order_is_found_after_late_visibility_never_resent() {
    // create times out though the venue accepted it; the order is invisible for 2 s, then fills.
    let s = setup(vec![Step::TimeoutAccepted, Step::FillAll], RouterConfig::new()).await;
    let sub =
        s.router.submit(buy("late", dec!(50), PricePolicy::Limit(dec!(10)), s.clock.now())).await.unwrap();
    assert!(matches!(sub, Submission::Sent { state: OrderState::OutcomeUnknown, .. }), "{sub:?}");
    let st = s.router.state();
    assert!(st.budget.reserved() > Decimal::ZERO, "the reservation is kept while the outcome is unknown");
    assert!(s.router.track_until_settled(Duration::from_secs(120)).await.unwrap());
    assert_eq!(state_of(&s, "late"), OrderState::Filled);
    assert_eq!(s.venue.create_calls().values().copied().collect::<Vec<_>>(), vec![1], "never resent");
    let p = &s.router.state().positions[&symbol()];
    assert_eq!(p.quantity, s.venue.base_held(), "the base fee reduced the sellable quantity");
    let cid = IntentId::new("late").unwrap().client_order_id("dr").unwrap();
    let filled = s.router.state().orders[&cid].filled_quantity;
    assert_eq!(p.quantity, filled - (filled * dec!(0.001)).round_dp(8), "received = filled - base fee");
    let events = s.sink.events();
    assert!(events.iter().any(|e| matches!(e, Event::OrderOutcomeUnknown { .. })));
    assert!(events.iter().any(|e| matches!(e, Event::OrderFilled { fee_asset, .. } if fee_asset == "ABC")));
}

#[tokio::test(start_paused = true)]
async fn lost_request_is_absent_only_after_the_acceptance_window_then_released() {
    let s = setup(vec![Step::TimeoutLost], RouterConfig::new()).await;
    let sent_at = s.clock.now();
    s.router.submit(buy("lost", dec!(50), PricePolicy::Limit(dec!(10)), sent_at)).await.unwrap();
    assert_eq!(state_of(&s, "lost"), OrderState::OutcomeUnknown);
    s.router.poll_once().await.unwrap();
    assert_eq!(state_of(&s, "lost"), OrderState::Absent);
    assert!(s.clock.now() >= sent_at + WINDOW, "absence is proven only after the window");
    let st = s.router.state();
    assert_eq!((st.budget.reserved(), st.budget.free()), (dec!(0), dec!(1000)));
    assert_eq!(s.venue.create_calls().values().sum::<u32>(), 1);
}

#[tokio::test(start_paused = true)]
async fn cancel_at_deadline_races_a_fill_and_ends_filled() {
    // Ack on create; the lookups answer "open"; at the deadline the cancel meets a fill.
    let s = setup(vec![Step::Ack], RouterConfig::new()).await;
    let now = s.clock.now();
    s.router.submit(buy("race", dec!(50), PricePolicy::Limit(dec!(10)), now)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(31)).await;
    // The next call is the cancel: it fills first (cancel after fill -> not found -> lookup).
    s.venue.push(Step::FillAll);
    s.router.poll_once().await.unwrap();
    assert_eq!(state_of(&s, "race"), OrderState::Filled);
    let st = s.router.state();
    assert!(st.positions.contains_key(&symbol()));
    assert_eq!(st.budget.reserved(), dec!(0));
}

#[tokio::test(start_paused = true)]
async fn partial_fill_then_cancel_keeps_the_filled_part_and_releases_the_rest() {
    let s = setup(vec![Step::Ack, Step::FillPart], RouterConfig::new()).await;
    let now = s.clock.now();
    s.router.submit(buy("part", dec!(50), PricePolicy::Limit(dec!(10)), now)).await.unwrap();
    s.router.poll_once().await.unwrap();
    assert_eq!(state_of(&s, "part"), OrderState::PartiallyFilled);
    // A stale answer (the first snapshot: NEW, nothing filled) must not undo the fill.
    s.venue.push(Step::Stale);
    s.router.poll_once().await.unwrap();
    assert_eq!(state_of(&s, "part"), OrderState::PartiallyFilled);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert!(s.router.track_until_settled(Duration::from_secs(60)).await.unwrap());
    let st = s.router.state();
    let cid = IntentId::new("part").unwrap().client_order_id("dr").unwrap();
    let rec = &st.orders[&cid];
    assert_eq!(rec.state, OrderState::Canceled);
    assert!(rec.filled_quantity > Decimal::ZERO && rec.filled_quantity < rec.plan.quantity);
    assert_eq!(st.positions[&symbol()].quantity, s.venue.base_held());
    assert_eq!(
        st.budget.committed(),
        rec.cumulative_quote,
        "fee in base: only the fill's quote is committed"
    );
    assert_eq!(st.budget.free(), dec!(1000) - rec.cumulative_quote, "the unfilled rest is released");
    let canceled = s.sink.events().into_iter().find_map(|e| match e {
        Event::OrderCanceled { requested_quantity, filled_quantity, .. } => {
            Some((requested_quantity, filled_quantity))
        }
        _ => None,
    });
    assert_eq!(canceled, Some((rec.plan.quantity, rec.filled_quantity)));
}

#[tokio::test(start_paused = true)]
async fn ledger_write_failure_sends_nothing() {
    let s = setup(vec![], RouterConfig::new()).await;
    let other = rusqlite_drop_reservations(&s.path);
    assert!(other);
    let err = s.router.submit(buy("nowrite", dec!(50), PricePolicy::Limit(dec!(10)), s.clock.now())).await;
    assert!(err.is_err(), "{err:?}");
    assert!(s.venue.create_calls().is_empty(), "no request without the write-ahead row");
    let st = s.router.state();
    assert_eq!((st.budget.free(), st.orders.len()), (dec!(1000), 0), "the reservation is undone");
}

/// Breaks the ledger behind the router's back (another connection drops a table).
fn rusqlite_drop_reservations(path: &std::path::Path) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("DROP TABLE reservations").is_ok()
}

#[derive(Debug)]
struct PanickingSink;

impl EventSink for PanickingSink {
    fn emit(&self, _event: Event) {
        panic!("telemetry is broken");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_event_sink_never_interrupts_order_handling() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_700_000_000_000)));
    let venue = Arc::new(MockVenue::new(clock.clone(), vec![Step::FillAll]));
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("s.db"), Durability::Full).unwrap();
    let router =
        OrderRouter::open(RouterConfig::new(), venue.clone(), clock.clone(), Arc::new(PanickingSink), ledger)
            .unwrap();
    router.reconcile().await.unwrap();
    let sub = router.submit(buy("loud", dec!(50), PricePolicy::Limit(dec!(10)), clock.now())).await.unwrap();
    assert!(matches!(sub, Submission::Sent { state: OrderState::Filled, .. }), "{sub:?}");
    assert!(router.state().positions.contains_key(&symbol()));
}

#[tokio::test(start_paused = true)]
async fn switches_and_limits_block_with_a_reason() {
    let mut off = RouterConfig::new();
    off.global_trading = false;
    let s = setup(vec![], off).await;
    let r = s.router.submit(buy("a", dec!(50), PricePolicy::Market, s.clock.now())).await.unwrap();
    assert_eq!(r, Submission::Rejected(RejectReason::GlobalTradingOff));

    let mut dry = RouterConfig::new();
    dry.order_flow_enabled = false;
    let s = setup(vec![], dry).await;
    let r = s.router.submit(buy("b", dec!(50), PricePolicy::Market, s.clock.now())).await.unwrap();
    assert!(matches!(r, Submission::NotSent { .. }), "{r:?}");
    assert!(s.venue.create_calls().is_empty());
    assert_eq!(s.router.state().budget.free(), dec!(1000));
    let types: Vec<&str> =
        s.sink.events().iter().map(Event::event_type).collect::<Vec<_>>().into_iter().collect();
    assert_eq!(types, ["INTENT_CREATED", "BUDGET_RESERVED", "BUDGET_RELEASED"]);

    let mut small = RouterConfig::new();
    small.budget_total = dec!(120);
    let s = setup(vec![Step::Ack, Step::Ack], small).await;
    let now = s.clock.now();
    s.router.submit(buy("c", dec!(100), PricePolicy::Limit(dec!(10)), now)).await.unwrap();
    let r = s.router.submit(buy("d", dec!(50), PricePolicy::Limit(dec!(10)), now)).await.unwrap();
    assert!(matches!(r, Submission::Rejected(RejectReason::InsufficientBudget { .. })), "{r:?}");
    assert!(s.sink.events().iter().any(
        |e| matches!(e, Event::IntentRejected { reason, budget_block: true, .. } if reason.contains("insufficient budget"))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_submit_future_is_an_unknown_outcome_resolved_by_lookup() {
    let s = setup(vec![Step::Hang], RouterConfig::new()).await;
    let i = buy("dropped", dec!(50), PricePolicy::Limit(dec!(10)), s.clock.now());
    let r = tokio::time::timeout(Duration::from_secs(1), s.router.submit(i)).await;
    assert!(r.is_err(), "the caller gave up waiting");
    assert_eq!(state_of(&s, "dropped"), OrderState::Submitted, "the write-ahead row exists");
    s.router.poll_once().await.unwrap();
    assert_eq!(state_of(&s, "dropped"), OrderState::Acknowledged, "found by its client order id");
    assert_eq!(s.venue.create_calls().values().sum::<u32>(), 1);
}

#[tokio::test(start_paused = true)]
async fn restart_with_an_unknown_outcome_releases_it_once_the_venue_proves_absence() {
    let s = setup(vec![Step::TimeoutLost], RouterConfig::new()).await;
    s.router.submit(buy("gone", dec!(50), PricePolicy::Limit(dec!(10)), s.clock.now())).await.unwrap();
    assert_eq!(state_of(&s, "gone"), OrderState::OutcomeUnknown);
    let Setup { router, venue, clock, path, _dir, .. } = s;
    drop(router);
    let sink = Arc::new(MemorySink::new());
    let ledger = Ledger::open(&path, Durability::Full).unwrap();
    let router = OrderRouter::open(RouterConfig::new(), venue.clone(), clock, sink.clone(), ledger).unwrap();
    assert!(router.state().budget.reserved() > Decimal::ZERO, "the reservation survived the restart");
    let report = router.reconcile().await.unwrap();
    assert_eq!(report.blocked, None, "{report:#?}");
    assert!(report.findings.iter().any(|f| f.kind == "order_unknown_to_venue"));
    let st = router.state();
    assert_eq!((st.budget.reserved(), st.budget.free()), (dec!(0), dec!(1000)));
    assert_eq!(venue.create_calls().values().sum::<u32>(), 1, "never resent after the restart");
}

#[tokio::test(start_paused = true)]
async fn the_intent_row_is_committed_before_the_request_leaves() {
    let s = setup(vec![Step::Ack], RouterConfig::new()).await;
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (path, log) = (s.path.clone(), seen.clone());
    s.venue.on_create(Box::new(move |req| {
        // Another connection reads the file as the request arrives at the venue.
        let state = Ledger::open(&path, Durability::Full).unwrap().load().unwrap().unwrap();
        let rec = &state.orders[&req.client_order_id];
        log.lock().push((
            rec.state,
            rec.plan.quantity == req.quantity,
            state.budget.reservation(&rec.intent.id),
        ));
    }));
    s.router.submit(buy("wal", dec!(50), PricePolicy::Limit(dec!(10)), s.clock.now())).await.unwrap();
    let seen = seen.lock().clone();
    assert_eq!(seen.len(), 1);
    let (state, same_qty, reserved) = seen[0];
    assert_eq!((state, same_qty), (OrderState::Submitted, true));
    assert!(reserved > Decimal::ZERO, "the reservation is durable before the request");
}
