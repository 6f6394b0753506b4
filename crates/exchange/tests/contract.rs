//! The trait's default methods and object safety, exercised through a minimal in-memory venue.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use std::sync::atomic::{AtomicU32, Ordering};

use exchange::{
    resolve_by_lookup, Capabilities, EndpointWeights, Exchange, ExchangeError, FillQuery, MarketList,
    OhlcvRequest, OpenOrders, OrderResolution, RateBudget, ResolvePolicy,
};
use rust_decimal_macros::dec;
use trading_core::{
    Balance, Candle, ClientOrderId, Clock, Fill, ManualClock, MarketRules, Order, OrderId, OrderRef,
    OrderRequest, OrderStatus, OrderType, Quote, Side, Symbol, Timestamp, TokioClock,
};

/// The acceptance window of the test venue.
const WINDOW: Duration = Duration::from_secs(15);

/// Knows one market and one order with client id `known`; the order `late` becomes visible only
/// 8 s after the start (an order the venue accepted but does not show yet); lookups of `flaky`
/// always fail with a 5xx. Counts lookups.
#[derive(Debug)]
struct OneMarket {
    clock: Arc<dyn Clock>,
    lookups: AtomicU32,
}

impl OneMarket {
    fn new(clock: Arc<dyn Clock>) -> Self {
        OneMarket { clock, lookups: AtomicU32::new(0) }
    }

    fn paused() -> Self {
        OneMarket::new(Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_000_000))))
    }
}

fn btc() -> Symbol {
    "BTC/USDT".parse().unwrap()
}

fn order(cid: &ClientOrderId) -> Order {
    Order {
        id: OrderId("7".into()),
        client_order_id: cid.clone(),
        symbol: btc(),
        side: Side::Buy,
        order_type: OrderType::Market,
        status: OrderStatus::Filled,
        price: None,
        quantity: dec!(1),
        filled_quantity: dec!(1),
        cumulative_quote: dec!(100),
        created_at: Timestamp::EPOCH,
        updated_at: Timestamp::EPOCH,
    }
}

#[async_trait]
impl Exchange for OneMarket {
    fn capabilities(&self) -> Capabilities {
        let w = 1;
        Capabilities {
            venue: "one".into(),
            bulk_book_ticker: true,
            ticker_list: true,
            weights: EndpointWeights {
                book_ticker_single: w,
                book_ticker_all: w,
                ticker_24h_single: w,
                ticker_24h_all: w,
                klines: w,
                create_order: w,
                cancel_order: w,
                fetch_order: w,
                open_orders_single: w,
                account: w,
                exchange_info: w,
            },
            rate: RateBudget {
                weight_per_window: NonZeroU32::MIN,
                window: Duration::from_secs(60),
                orders_per_window: None,
                order_window: Duration::from_secs(10),
            },
            max_klines: 1000,
            acceptance_window: WINDOW,
        }
    }
    async fn load_markets(&self) -> Result<MarketList, ExchangeError> {
        Ok(MarketList {
            markets: vec![MarketRules::builder(btc(), "BTCUSDT").build().unwrap()],
            skipped: vec![],
        })
    }
    async fn fetch_tickers(&self, symbols: Option<&[Symbol]>) -> Result<Vec<Quote>, ExchangeError> {
        let all = vec![Quote {
            symbol: btc(),
            bid: Some(dec!(1)),
            ask: Some(dec!(2)),
            last: None,
            quote_volume_24h: None,
            exchange_ts: None,
            received_at: Timestamp::EPOCH,
        }];
        match symbols {
            Some(list) if list.iter().any(|s| *s != btc()) => {
                Err(ExchangeError::BadSymbol { symbol: list[0].to_string(), message: "unknown".into() })
            }
            _ => Ok(all),
        }
    }
    async fn fetch_ohlcv(&self, _: &OhlcvRequest) -> Result<Vec<Candle>, ExchangeError> {
        Ok(vec![])
    }
    async fn create_order(&self, r: &OrderRequest) -> Result<Order, ExchangeError> {
        Ok(order(&r.client_order_id))
    }
    async fn cancel_order(&self, _: &Symbol, o: &OrderRef) -> Result<Order, ExchangeError> {
        Err(ExchangeError::OrderNotFound(format!("{o:?}")))
    }
    async fn fetch_order(&self, _: &Symbol, o: &OrderRef) -> Result<Order, ExchangeError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let visible_late = self.clock.now() >= Timestamp::from_millis(1_008_000);
        match o {
            OrderRef::Client(c) if c.as_str() == "known" => Ok(order(c)),
            OrderRef::Client(c) if c.as_str() == "late" && visible_late => Ok(order(c)),
            OrderRef::Client(c) if c.as_str() == "flaky" => Err(ExchangeError::Unavailable {
                operation: "fetch_order",
                message: "503".into(),
                client_order_id: None,
            }),
            other => Err(ExchangeError::OrderNotFound(format!("{other:?}"))),
        }
    }
    async fn fetch_open_orders(&self, _: Option<&Symbol>) -> Result<OpenOrders, ExchangeError> {
        Ok(OpenOrders::default())
    }
    async fn fetch_fills(&self, _: &FillQuery) -> Result<Vec<Fill>, ExchangeError> {
        Ok(vec![])
    }
    async fn resolve_order(
        &self,
        symbol: &Symbol,
        cid: &ClientOrderId,
        sent_at: Timestamp,
    ) -> Result<OrderResolution, ExchangeError> {
        resolve_by_lookup(self, self.clock.as_ref(), symbol, cid, sent_at, ResolvePolicy::for_window(WINDOW))
            .await
    }
    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        Ok(vec![])
    }
    async fn server_time(&self) -> Result<Timestamp, ExchangeError> {
        Ok(Timestamp::EPOCH)
    }
}

#[tokio::test(start_paused = true)]
async fn fetch_ticker_default_uses_the_list_endpoint() {
    let venue: Arc<dyn Exchange> = Arc::new(OneMarket::paused());
    assert_eq!(venue.fetch_ticker(&btc()).await.unwrap().bid, Some(dec!(1)));
    let err = venue.fetch_ticker(&"ETH/USDT".parse().unwrap()).await.unwrap_err();
    assert!(matches!(err, ExchangeError::BadSymbol { ref symbol, .. } if symbol == "ETH/USDT"), "{err}");
}

fn cid(text: &str) -> ClientOrderId {
    ClientOrderId::new(text).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_visible_order_is_found_at_the_first_lookup() {
    let venue = OneMarket::paused();
    let sent_at = venue.clock.now();
    let found = venue.resolve_order(&btc(), &cid("known"), sent_at).await.unwrap();
    assert!(matches!(found, OrderResolution::Found(ref o) if o.id == OrderId("7".into())), "{found:?}");
    assert_eq!(venue.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn not_found_is_proof_only_after_the_acceptance_window() {
    let venue = OneMarket::paused();
    let sent_at = venue.clock.now();
    let resolved = venue.resolve_order(&btc(), &cid("never-sent"), sent_at).await.unwrap();
    assert_eq!(resolved, OrderResolution::Absent);
    // The answer came from a lookup sent after the window, not from the first "not found".
    assert!(venue.clock.now() >= sent_at + WINDOW, "answered at {} (sent {sent_at})", venue.clock.now());
    assert!(venue.lookups.load(Ordering::SeqCst) >= 15, "{} lookups", venue.lookups.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn an_order_invisible_for_seconds_after_acceptance_is_found_not_declared_absent() {
    // One "not found" read as absence here would let the caller buy a second time.
    let venue = OneMarket::paused();
    let sent_at = venue.clock.now();
    let resolved = venue.resolve_order(&btc(), &cid("late"), sent_at).await.unwrap();
    assert!(matches!(resolved, OrderResolution::Found(_)), "{resolved:?}");
    assert!(venue.lookups.load(Ordering::SeqCst) > 1);
}

#[tokio::test(start_paused = true)]
async fn an_old_request_is_settled_by_one_lookup() {
    // After a restart the window of a request sent long ago has passed: one answer is enough.
    let venue = OneMarket::paused();
    let sent_at = Timestamp::from_millis(1_000_000 - 60_000);
    assert_eq!(
        venue.resolve_order(&btc(), &cid("never-sent"), sent_at).await.unwrap(),
        OrderResolution::Absent
    );
    assert_eq!(venue.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn failing_lookups_leave_the_outcome_unknown() {
    // A lookup that itself fails must not be read as "the order does not exist".
    let venue = OneMarket::paused();
    let sent_at = venue.clock.now();
    let err = venue.resolve_order(&btc(), &cid("flaky"), sent_at).await.unwrap_err();
    assert!(matches!(err, ExchangeError::Unavailable { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_clock_that_never_moves_ends_in_an_error_not_a_hang() {
    let venue = OneMarket::new(Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000))));
    let sent_at = venue.clock.now();
    let err = venue.resolve_order(&btc(), &cid("never-sent"), sent_at).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
}

#[test]
fn the_trait_is_object_safe() {
    let venue: Arc<dyn Exchange> = Arc::new(OneMarket::paused());
    assert_eq!(venue.capabilities().acceptance_window, WINDOW);
}
