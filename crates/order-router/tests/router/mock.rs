//! A scripted venue (test-only `Exchange`): every call takes the next step of a script, so a
//! property test can throw any sequence of acks, partial fills, cancels, rejects, timeouts,
//! unknown outcomes, late "not found", duplicates and stale answers at the router.

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exchange::{
    resolve_by_lookup, Capabilities, EndpointWeights, Exchange, ExchangeError, FillQuery, MarketList,
    OhlcvRequest, OpenOrders, OrderResolution, RateBudget, ResolvePolicy,
};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use trading_core::{
    Balance, Candle, ClientOrderId, Clock, Fill, MarketRules, Order, OrderId, OrderRef, OrderRequest,
    OrderStatus, OrderType, Quote, Side, Symbol, Timestamp,
};

/// What the venue does with the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Accept / answer the current state.
    Ack,
    /// Fill half of what remains (at least one step), then answer.
    FillPart,
    /// Fill everything, then answer.
    FillAll,
    /// The venue cancels (or expires) the order by itself, then answers.
    VenueCancel,
    /// create: refused.
    Reject,
    /// create: accepted, but the answer times out; the order shows only after a while.
    TimeoutAccepted,
    /// create: never reached the matching engine, answer times out.
    TimeoutLost,
    /// create: 5xx, not processed.
    ServerError,
    /// lookup: answer an older snapshot (a stale replica, a late answer).
    Stale,
    /// lookup: "not found" although the order exists (late visibility).
    NotFound,
    /// lookup: the read times out.
    ReadTimeout,
    /// create: accepted, then the answer takes a minute (the caller drops the future first).
    Hang,
}

pub const WINDOW: Duration = Duration::from_secs(5);
const INVISIBLE: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct MockOrder {
    order: Order,
    history: Vec<Order>,
    visible_at: Timestamp,
}

#[derive(Debug, Default)]
struct MockState {
    script: VecDeque<Step>,
    orders: BTreeMap<ClientOrderId, Vec<MockOrder>>,
    create_calls: BTreeMap<ClientOrderId, u32>,
    fills: Vec<Fill>,
    base: Decimal,
    next_id: u64,
}

/// Called with each order request as it arrives (before the venue acts on it).
pub type CreateHook = Box<dyn Fn(&OrderRequest) + Send + Sync>;

pub struct MockVenue {
    hook: Mutex<Option<CreateHook>>,
    state: Mutex<MockState>,
    clock: Arc<dyn Clock>,
    pub rules: MarketRules,
}

pub fn symbol() -> Symbol {
    "ABC/USDT".parse().unwrap()
}

impl MockVenue {
    pub fn new(clock: Arc<dyn Clock>, script: Vec<Step>) -> MockVenue {
        let rules = MarketRules::builder(symbol(), "ABCUSDT")
            .tick_size(dec!(0.01))
            .step_size(dec!(0.001))
            .min_qty(dec!(0.001))
            .min_notional(dec!(5))
            .build()
            .unwrap();
        MockVenue {
            hook: Mutex::new(None),
            state: Mutex::new(MockState { script: script.into(), ..MockState::default() }),
            clock,
            rules,
        }
    }

    /// Installs a hook that sees every order request as it arrives.
    pub fn on_create(&self, hook: CreateHook) {
        *self.hook.lock() = Some(hook);
    }

    /// Puts a step at the front of the script.
    pub fn push(&self, step: Step) {
        self.state.lock().script.push_front(step);
    }

    /// Stop the chaos: from now on every call just answers.
    pub fn calm(&self) {
        self.state.lock().script.clear();
    }

    fn next(&self) -> Step {
        self.state.lock().script.pop_front().unwrap_or(Step::Ack)
    }

    /// create_order calls per client order id.
    pub fn create_calls(&self) -> BTreeMap<ClientOrderId, u32> {
        self.state.lock().create_calls.clone()
    }

    /// Orders the venue created per client order id.
    pub fn orders_per_cid(&self) -> BTreeMap<ClientOrderId, usize> {
        self.state.lock().orders.iter().map(|(k, v)| (k.clone(), v.len())).collect()
    }

    /// (client id, status, filled) of every order, for failure messages.
    pub fn debug_orders(&self) -> Vec<(String, OrderStatus, Decimal)> {
        let st = self.state.lock();
        st.orders
            .values()
            .flatten()
            .map(|o| (o.order.client_order_id.to_string(), o.order.status, o.order.filled_quantity))
            .collect()
    }

    /// Base asset the account holds.
    pub fn base_held(&self) -> Decimal {
        self.state.lock().base
    }

    fn fill(st: &mut MockState, cid: &ClientOrderId, qty: Decimal, now: Timestamp) {
        let Some(o) = st.orders.get_mut(cid).and_then(|v| v.last_mut()) else { return };
        if o.order.status.is_terminal() || qty <= Decimal::ZERO {
            return;
        }
        let price = o.order.price.unwrap_or(dec!(10.01));
        o.history.push(o.order.clone());
        o.order.filled_quantity += qty;
        o.order.cumulative_quote += price * qty;
        o.order.status = if o.order.filled_quantity >= o.order.quantity {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        o.order.updated_at = now;
        let (fee, fee_asset) = match o.order.side {
            Side::Buy => ((qty * dec!(0.001)).round_dp(8), "ABC"),
            Side::Sell => ((price * qty * dec!(0.001)).round_dp(8), "USDT"),
        };
        let fill = Fill {
            trade_id: format!("t{}", st.fills.len() + 1),
            order_id: o.order.id.clone(),
            symbol: o.order.symbol.clone(),
            side: o.order.side,
            price,
            quantity: qty,
            fee,
            fee_asset: fee_asset.into(),
            ts: now,
        };
        match o.order.side {
            Side::Buy => st.base += qty - fee,
            Side::Sell => st.base -= qty,
        }
        st.fills.push(fill);
    }

    fn venue_cancel(st: &mut MockState, cid: &ClientOrderId, now: Timestamp) {
        let Some(o) = st.orders.get_mut(cid).and_then(|v| v.last_mut()) else { return };
        if o.order.status.is_terminal() {
            return;
        }
        o.history.push(o.order.clone());
        o.order.status = if o.order.filled_quantity.is_zero() {
            OrderStatus::Canceled
        } else {
            OrderStatus::PartiallyCanceled
        };
        o.order.updated_at = now;
    }

    fn create_now(&self, request: &OrderRequest, step: Step, now: Timestamp) -> Result<Order, ExchangeError> {
        let cid = request.client_order_id.clone();
        let mut st = self.state.lock();
        *st.create_calls.entry(cid.clone()).or_insert(0) += 1;
        if st.orders.get(&cid).and_then(|v| v.last()).is_some_and(|o| o.order.status.is_open()) {
            return Err(ExchangeError::Rejected {
                code: Some(-2010),
                reason: "Duplicate order sent.".into(),
            });
        }
        let unknown = |cid: &ClientOrderId| ExchangeError::Timeout {
            operation: "create_order",
            after: Duration::from_secs(1),
            client_order_id: Some(cid.clone()),
        };
        match step {
            Step::Reject => {
                return Err(ExchangeError::Rejected {
                    code: Some(-2010),
                    reason: "insufficient balance".into(),
                })
            }
            Step::TimeoutLost => return Err(unknown(&cid)),
            Step::ServerError => {
                return Err(ExchangeError::Unavailable {
                    operation: "create_order",
                    message: "HTTP 503".into(),
                    client_order_id: Some(cid),
                })
            }
            _ => {}
        }
        st.next_id += 1;
        let order = Order {
            id: OrderId(st.next_id.to_string()),
            client_order_id: cid.clone(),
            symbol: request.symbol.clone(),
            side: request.side,
            order_type: request.order_type,
            status: OrderStatus::New,
            price: request.price,
            quantity: request.quantity,
            filled_quantity: Decimal::ZERO,
            cumulative_quote: Decimal::ZERO,
            created_at: now,
            updated_at: now,
        };
        let visible_at = if step == Step::TimeoutAccepted { now + INVISIBLE } else { now };
        st.orders.entry(cid.clone()).or_default().push(MockOrder {
            order: order.clone(),
            history: Vec::new(),
            visible_at,
        });
        if request.order_type == OrderType::Market {
            Self::fill(&mut st, &cid, request.quantity, now);
        }
        self.act(&mut st, &cid, step, now);
        if step == Step::TimeoutAccepted {
            return Err(unknown(&cid));
        }
        Ok(st.orders[&cid].last().map(|o| o.order.clone()).unwrap_or(order))
    }

    fn remaining_half(&self, o: &Order) -> Decimal {
        let rest = o.quantity - o.filled_quantity;
        self.rules.floor_qty(rest / Decimal::TWO).max(self.rules.step_size).min(rest)
    }

    fn act(&self, st: &mut MockState, cid: &ClientOrderId, step: Step, now: Timestamp) {
        let Some(o) = st.orders.get(cid).and_then(|v| v.last()).map(|o| o.order.clone()) else { return };
        match step {
            Step::FillPart => Self::fill(st, cid, self.remaining_half(&o), now),
            Step::FillAll => Self::fill(st, cid, o.quantity - o.filled_quantity, now),
            Step::VenueCancel => Self::venue_cancel(st, cid, now),
            _ => {}
        }
    }
}

impl std::fmt::Debug for MockVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockVenue").field("state", &self.state).finish()
    }
}

fn not_found(cid: &ClientOrderId) -> ExchangeError {
    ExchangeError::OrderNotFound(cid.to_string())
}

fn cid_of(r: &OrderRef) -> ClientOrderId {
    match r {
        OrderRef::Client(c) => c.clone(),
        OrderRef::Exchange(id) => ClientOrderId::new(format!("x{}", id.0)).unwrap(),
    }
}

#[async_trait]
impl Exchange for MockVenue {
    fn capabilities(&self) -> Capabilities {
        let w = EndpointWeights {
            book_ticker_single: 2,
            book_ticker_all: 4,
            ticker_24h_single: 2,
            ticker_24h_all: 80,
            klines: 2,
            create_order: 1,
            cancel_order: 1,
            fetch_order: 4,
            open_orders_single: 6,
            account: 20,
            exchange_info: 20,
        };
        Capabilities {
            venue: "mock".into(),
            bulk_book_ticker: true,
            ticker_list: true,
            weights: w,
            rate: RateBudget {
                weight_per_window: NonZeroU32::new(6000).unwrap(),
                window: Duration::from_secs(60),
                orders_per_window: None,
                order_window: Duration::from_secs(10),
            },
            max_klines: 1000,
            acceptance_window: WINDOW,
        }
    }

    async fn load_markets(&self) -> Result<MarketList, ExchangeError> {
        Ok(MarketList { markets: vec![self.rules.clone()], skipped: Vec::new() })
    }

    async fn fetch_tickers(&self, _symbols: Option<&[Symbol]>) -> Result<Vec<Quote>, ExchangeError> {
        Ok(vec![Quote {
            symbol: symbol(),
            bid: Some(dec!(9.99)),
            ask: Some(dec!(10.01)),
            last: Some(dec!(10)),
            quote_volume_24h: None,
            exchange_ts: Some(self.clock.now()),
            received_at: self.clock.now(),
        }])
    }

    async fn fetch_ohlcv(&self, _request: &OhlcvRequest) -> Result<Vec<Candle>, ExchangeError> {
        Ok(Vec::new())
    }

    async fn create_order(&self, request: &OrderRequest) -> Result<Order, ExchangeError> {
        let now = self.clock.now();
        if let Some(hook) = self.hook.lock().as_ref() {
            hook(request);
        }
        let step = self.next();
        let answer = self.create_now(request, step, now);
        if step == Step::Hang {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        answer
    }

    async fn cancel_order(&self, _symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError> {
        let now = self.clock.now();
        let step = self.next();
        let cid = cid_of(order);
        let mut st = self.state.lock();
        let Some(o) = st.orders.get(&cid).and_then(|v| v.last()) else { return Err(not_found(&cid)) };
        if now < o.visible_at {
            return Err(not_found(&cid));
        }
        // The race: the order fills while the cancel is on its way.
        self.act(&mut st, &cid, step, now);
        let o = st.orders.get_mut(&cid).and_then(|v| v.last_mut()).unwrap();
        if o.order.status.is_terminal() {
            return Err(not_found(&cid));
        }
        o.history.push(o.order.clone());
        o.order.status = if o.order.filled_quantity.is_zero() {
            OrderStatus::Canceled
        } else {
            OrderStatus::PartiallyCanceled
        };
        Ok(o.order.clone())
    }

    async fn fetch_order(&self, _symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError> {
        let now = self.clock.now();
        let cid = cid_of(order);
        let mut st = self.state.lock();
        let Some(o) = st.orders.get(&cid).and_then(|v| v.last()) else { return Err(not_found(&cid)) };
        if now < o.visible_at {
            return Err(not_found(&cid));
        }
        let step = st.script.pop_front().unwrap_or(Step::Ack);
        let Some(o) = st.orders.get(&cid).and_then(|v| v.last()) else { return Err(not_found(&cid)) };
        // A venue answers "not found" for an existing order only within the acceptance window
        // (the contract `resolve_order` relies on); later it always shows the order.
        if step == Step::NotFound && now < o.order.created_at + WINDOW {
            return Err(not_found(&cid));
        }
        if step == Step::ReadTimeout {
            return Err(ExchangeError::Timeout {
                operation: "fetch_order",
                after: Duration::from_secs(1),
                client_order_id: None,
            });
        }
        if step == Step::Stale {
            return Ok(o.history.first().cloned().unwrap_or_else(|| o.order.clone()));
        }
        self.act(&mut st, &cid, step, now);
        Ok(st.orders[&cid].last().map(|o| o.order.clone()).unwrap())
    }

    async fn fetch_open_orders(&self, _symbol: Option<&Symbol>) -> Result<OpenOrders, ExchangeError> {
        let st = self.state.lock();
        let orders = st
            .orders
            .values()
            .flatten()
            .filter(|o| o.order.status.is_open())
            .map(|o| o.order.clone())
            .collect();
        Ok(OpenOrders { orders, unrecognised: Vec::new() })
    }

    async fn fetch_fills(&self, query: &FillQuery) -> Result<Vec<Fill>, ExchangeError> {
        let st = self.state.lock();
        Ok(st
            .fills
            .iter()
            .filter(|f| query.order_id.as_ref().is_none_or(|id| &f.order_id == id))
            .filter(|f| query.since.is_none_or(|s| f.ts >= s))
            .cloned()
            .collect())
    }

    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let base = self.state.lock().base;
        Ok(vec![
            Balance { asset: "USDT".into(), free: dec!(100000), locked: Decimal::ZERO },
            Balance { asset: "ABC".into(), free: base, locked: Decimal::ZERO },
        ])
    }

    async fn server_time(&self) -> Result<Timestamp, ExchangeError> {
        Ok(self.clock.now())
    }

    async fn resolve_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
        sent_at: Timestamp,
    ) -> Result<OrderResolution, ExchangeError> {
        let policy = ResolvePolicy::for_window(WINDOW);
        resolve_by_lookup(self, self.clock.as_ref(), symbol, client_order_id, sent_at, policy).await
    }
}
