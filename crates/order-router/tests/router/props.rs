//! Property tests: random sequences of venue behaviour against the router on paused time.

use std::sync::Arc;
use std::time::Duration;

use order_router::{
    Durability, IntentId, Ledger, OrderIntent, OrderRouter, PricePolicy, RejectReason, RouterConfig, Sizing,
    Submission,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use telemetry::MemorySink;
use trading_core::{Clock, Side, Timestamp, TokioClock};

use crate::mock::{symbol, MockVenue, Step};

#[derive(Debug, Clone)]
enum Op {
    Buy { amount: u32, market: bool },
    Sell,
    Resubmit,
    Poll,
    Wait(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (10u32..=95, any::<bool>()).prop_map(|(amount, market)| Op::Buy { amount, market }),
        2 => Just(Op::Sell),
        1 => Just(Op::Resubmit),
        4 => Just(Op::Poll),
        2 => (1u8..=40).prop_map(Op::Wait),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Ack),
        3 => Just(Step::FillPart),
        2 => Just(Step::FillAll),
        1 => Just(Step::VenueCancel),
        1 => Just(Step::Reject),
        1 => Just(Step::TimeoutAccepted),
        1 => Just(Step::TimeoutLost),
        1 => Just(Step::ServerError),
        2 => Just(Step::Stale),
        2 => Just(Step::NotFound),
        1 => Just(Step::ReadTimeout),
        1 => Just(Step::Hang),
    ]
}

fn intent(n: usize, side: Side, sizing: Sizing, price: PricePolicy, now: Timestamp) -> OrderIntent {
    OrderIntent {
        id: IntentId::new(format!("p{n}")).unwrap(),
        symbol: symbol(),
        side,
        sizing,
        price,
        reason: "property".into(),
        exit_reason: None,
        deadline: now + Duration::from_secs(30),
    }
}

/// Submits, giving up after 5 s (the future is dropped: an unknown outcome). True when the
/// intent was accepted (sent, dropped in flight, or not sent by switch).
async fn submit_or_drop(router: &OrderRouter, i: &OrderIntent) -> bool {
    match tokio::time::timeout(Duration::from_secs(5), router.submit(i.clone())).await {
        Ok(sub) => !matches!(sub.unwrap(), Submission::Rejected(_)),
        Err(_) => true,
    }
}

#[track_caller]
fn invariant(router: &OrderRouter) {
    let st = router.state();
    st.budget.check().unwrap();
}

async fn run(ops: Vec<Op>, script: Vec<Step>) {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_700_000_000_000)));
    let venue = Arc::new(MockVenue::new(clock.clone(), script));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let ledger = Ledger::open(&path, Durability::Full).unwrap();
    let mut config = RouterConfig::new();
    config.min_poll_interval = Duration::from_millis(200);
    let sink = MemorySink::new();
    let router =
        OrderRouter::open(config, venue.clone(), clock.clone(), Arc::new(sink.clone()), ledger).unwrap();
    assert_eq!(router.reconcile().await.unwrap().blocked, None);
    let mut n = 0;
    let mut last: Option<OrderIntent> = None;
    for op in ops {
        let now = clock.now();
        match op {
            Op::Buy { amount, market } => {
                n += 1;
                let price =
                    if market { PricePolicy::Market } else { PricePolicy::Limit(Decimal::new(1000, 2)) };
                let i = intent(n, Side::Buy, Sizing::Quote(Decimal::from(amount)), price, now);
                if submit_or_drop(&router, &i).await {
                    last = Some(i);
                }
            }
            Op::Sell => {
                n += 1;
                let i = intent(
                    n,
                    Side::Sell,
                    Sizing::WholePosition,
                    PricePolicy::BestWithOffset(Decimal::new(1, 3)),
                    now,
                );
                if submit_or_drop(&router, &i).await {
                    last = Some(i);
                }
            }
            Op::Resubmit => {
                if let Some(i) = last.clone() {
                    let again = router.submit(i).await.unwrap();
                    assert_eq!(again, Submission::Rejected(RejectReason::DuplicateIntent));
                }
            }
            Op::Poll => {
                router.poll_once().await.unwrap();
            }
            Op::Wait(s) => tokio::time::sleep(Duration::from_secs(u64::from(s))).await,
        }
        invariant(&router);
    }
    venue.calm();
    assert!(
        router.track_until_settled(Duration::from_secs(600)).await.unwrap(),
        "every intent ends terminal"
    );
    let st = router.state();
    st.budget.check().unwrap();
    assert!(st.orders.values().all(|r| r.state.is_terminal() && r.settled), "{:#?}", st.orders);
    assert_eq!(st.budget.reserved(), Decimal::ZERO, "every reservation committed or released");
    assert!(
        venue.create_calls().values().all(|c| *c == 1),
        "one request per client id: {:?}",
        venue.create_calls()
    );
    assert!(venue.orders_per_cid().values().all(|c| *c == 1), "executed at most once");
    let held: Decimal = st.positions.values().map(|p| p.quantity).sum();
    // Positions hold what the account really received; only unsellable dust (< one step per
    // sell, written off) may stay in the account.
    assert!(
        held <= venue.base_held() && venue.base_held() - held < Decimal::new(1, 2),
        "{held} vs {}: {:#?} {:#?}",
        venue.base_held(),
        st.orders
            .values()
            .map(|r| (r.client_order_id.to_string(), r.state, r.filled_quantity, r.fee_base))
            .collect::<Vec<_>>(),
        venue.debug_orders()
    );
    let cost: Decimal = st.positions.values().map(|p| p.cost).sum();
    assert_eq!(st.budget.committed(), cost, "committed budget is the cost of what is held");
    // The PnL the events report (dust write-offs included) is the PnL the budget realised.
    let reported: Decimal = sink
        .events()
        .iter()
        .filter_map(|e| match e {
            telemetry::Event::PositionClosed { pnl, .. } => Some(*pnl),
            _ => None,
        })
        .sum();
    assert_eq!(reported, st.budget.realised_pnl(), "POSITION_CLOSED pnl adds up to the budget's");
    // Replaying the ledger gives the live state.
    let replayed = Ledger::open(&path, Durability::Full).unwrap().load().unwrap().unwrap();
    assert_eq!(replayed, st);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_venue_outcomes_keep_every_invariant(
        ops in proptest::collection::vec(op(), 1..30),
        script in proptest::collection::vec(step(), 0..80),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(run(ops, script));
    }
}
