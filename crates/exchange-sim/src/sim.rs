//! `SimExchange`: the simulated venue behind one shared lock, usable in-process through the
//! `Exchange` trait and served over HTTP by [`crate::SimServer`].

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exchange::{
    resolve_by_lookup, Capabilities, EndpointWeights, Exchange, ExchangeError, FillQuery, MarketList,
    OhlcvRequest, OpenOrders, OrderResolution, RateBudget, ResolvePolicy, SkippedEntry,
};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use trading_core::{
    Balance, Candle, ClientOrderId, Clock, Fill, MarketRules, MarketStatus, Order, OrderRef, OrderRequest,
    Quote, Symbol, Timestamp,
};

use crate::error::ApiError;
use crate::faults::{Decision, FaultState};
use crate::market::Market;
use crate::venue::{NewOrder, OrderRec, Venue};
use crate::weights::{weight, Charge, WeightWindow};
use crate::{Dialect, Endpoint, Fault, ScriptedFault, SimConfig, SimError};

/// Everything mutable, behind one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) market: Market,
    pub(crate) venue: Venue,
    faults: FaultState,
    weights: WeightWindow,
}

#[derive(Debug)]
struct Inner {
    clock: Arc<dyn Clock>,
    /// Simulated time minus clock time (time control: [`SimExchange::advance`], pull steps).
    offset_ms: AtomicI64,
    pull_step_ms: i64,
    latency: Duration,
    maker_fee: Decimal,
    taker_fee: Decimal,
    api_key: String,
    api_secret: String,
    acceptance_window: Duration,
    visibility_delay: Duration,
    dialect: Dialect,
    unrepresentable: Vec<String>,
    gzip: bool,
    bandwidth: Option<u64>,
    /// Open orders placed "by hand" with a type the simulator does not model, as raw JSON.
    foreign_orders: Mutex<Vec<serde_json::Value>>,
    state: Mutex<State>,
}

/// The simulated venue. Cloning shares the same market, account and fault state.
///
/// Implements [`exchange::Exchange`]: every call is charged its Binance request weight against
/// the per-minute budget and passes through the fault layer (scripted faults first, then the
/// seeded random profile), so faults are observable in-process exactly as over HTTP. The
/// inspection and control methods below (`balances`, `orders`, `set_mid_price`, ...) bypass
/// both.
#[derive(Debug, Clone)]
pub struct SimExchange {
    inner: Arc<Inner>,
}

/// What the fault and weight layers decided for one request.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    /// Weight used in the current window after this request.
    pub(crate) used_weight: u32,
    /// Delay before processing.
    pub(crate) pre_delay: Duration,
    /// Delay after processing, before answering.
    pub(crate) post_delay: Duration,
    /// The request is refused or garbled instead of processed.
    pub(crate) refusal: Option<Refusal>,
    /// Fill marketable limit orders only partly.
    pub(crate) partial_then_cancel: bool,
    /// The answer is lost: in-process the call fails with a timeout after the delays (over
    /// HTTP the delays alone make the client time out).
    pub(crate) timeout: bool,
}

/// How a request is refused by the fault or weight layer.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// A Binance error answer (429, 418, 5xx).
    Api(ApiError),
    /// A 200 with a truncated body.
    Malformed,
    /// A 403 from the web application firewall (HTML body, no code).
    Firewall,
}

impl SimExchange {
    /// Builds the venue: validates `config`, generates the markets (or loads the replay files)
    /// and the price history before the clock's current time.
    pub fn new(config: SimConfig) -> Result<SimExchange, SimError> {
        config.validate()?;
        let start = config.clock.now();
        let mut market = Market::new(&config, start)?;
        if config.faults.delisted_symbols > 0 && market.len() > 1 {
            // Delist by the seed, never the first market (a reference market like BTC stays).
            let n = market.len();
            let mut k = 0;
            let mut i = (config.seed as usize % (n - 1)) + 1;
            while k < config.faults.delisted_symbols.min(n - 1) {
                if market.is_listed(i) {
                    market.set_listed(i, false);
                    k += 1;
                }
                i = (i * 7 + 3) % (n - 1) + 1;
            }
        }
        let venue = Venue::new(&config);
        let mut faults = FaultState::new(config.faults.clone(), config.seed);
        faults.schedule_delistings(config.seed, start);
        let state =
            State { market, venue, faults, weights: WeightWindow::new(config.weight_limit_per_minute) };
        let pull_step_ms = config.pull_step.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        Ok(SimExchange {
            inner: Arc::new(Inner {
                clock: config.clock.clone(),
                offset_ms: AtomicI64::new(0),
                pull_step_ms,
                latency: config.latency,
                maker_fee: config.maker_fee,
                taker_fee: config.taker_fee,
                api_key: config.api_key,
                api_secret: config.api_secret,
                acceptance_window: config.acceptance_window,
                visibility_delay: config.order_visibility_delay.max(config.faults.order_visibility_delay),
                dialect: config.dialect,
                unrepresentable: config.unrepresentable_listings,
                gzip: config.gzip,
                bandwidth: config.bandwidth_bytes_per_sec,
                foreign_orders: Mutex::new(Vec::new()),
                state: Mutex::new(state),
            }),
        })
    }

    /// Simulated time: the clock plus whatever [`SimExchange::advance`] and pull steps added.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(
            self.inner.clock.now().as_millis() + self.inner.offset_ms.load(Ordering::SeqCst),
        )
    }

    /// Time control: moves simulated time forward by `by` and steps the market to it (resting
    /// orders fill on the way). With a fast consumer this replays a 24 h session in seconds.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.inner.offset_ms.fetch_add(ms, Ordering::SeqCst);
        self.with_state(false, |_, _| ());
    }

    /// Queues a deterministic one-shot fault (also reachable as [`crate::SimServer::inject`]).
    pub fn inject(&self, fault: ScriptedFault) {
        self.inner.state.lock().faults.inject(fault);
    }

    /// Delists (`listed = false`) or relists a market: a delisted market answers `-1121 Invalid
    /// symbol.` (in-process: `BadSymbol`) and shows status `BREAK` in exchangeInfo.
    pub fn set_listed(&self, symbol: &Symbol, listed: bool) -> Result<(), SimError> {
        let mut st = self.inner.state.lock();
        let i = st.market.index_of(symbol).ok_or_else(|| SimError::UnknownSymbol(symbol.to_string()))?;
        st.market.set_listed(i, listed);
        Ok(())
    }

    /// Moves a market's mid price to `price` (rounded to its tick); the path continues from
    /// there. For tests and scripted scenarios (e.g. "drop 5 % now"). In replay mode the next
    /// step returns to the file's path.
    pub fn set_mid_price(&self, symbol: &Symbol, price: Decimal) -> Result<(), SimError> {
        self.with_state(false, |st, _| {
            let i = st.market.index_of(symbol).ok_or_else(|| SimError::UnknownSymbol(symbol.to_string()))?;
            st.market.set_mid(i, price);
            Ok(())
        })
    }

    /// Every market, listed or not, in venue order.
    pub fn symbols(&self) -> Vec<Symbol> {
        self.inner.state.lock().market.specs().iter().map(|s| s.symbol.clone()).collect()
    }

    /// Every balance of the account (including zero ones), by asset name. No weight, no faults.
    pub fn balances(&self) -> Vec<Balance> {
        self.with_state(false, |st, _| st.venue.balances())
    }

    /// Every order ever placed, oldest first. No weight, no faults.
    pub fn orders(&self) -> Vec<Order> {
        self.with_state(false, |st, _| st.venue.all_orders().map(|o| o.order.clone()).collect())
    }

    /// Every fill, in execution order. No weight, no faults.
    pub fn fills(&self) -> Vec<Fill> {
        self.with_state(false, |st, _| {
            let mut fills: Vec<(u64, Fill)> = st
                .venue
                .all_orders()
                .flat_map(|o| {
                    o.fills.iter().map(|f| {
                        (
                            f.trade_id,
                            Fill {
                                trade_id: f.trade_id.to_string(),
                                order_id: o.order.id.clone(),
                                symbol: o.order.symbol.clone(),
                                side: o.order.side,
                                price: f.price,
                                quantity: f.qty,
                                fee: f.commission,
                                fee_asset: f.commission_asset.clone(),
                                ts: f.ts,
                            },
                        )
                    })
                })
                .collect();
            fills.sort_by_key(|(id, _)| *id);
            fills.into_iter().map(|(_, f)| f).collect()
        })
    }

    /// Runs one simulation step of every market, regardless of the clock (moves simulated time
    /// by one tick interval). Used by benchmarks of the stepping cost.
    pub fn step(&self) {
        let mut st = self.inner.state.lock();
        let before = st.market.now();
        st.market.step_once();
        let step = st.market.now().millis_since(before);
        self.inner.offset_ms.fetch_add(step, Ordering::SeqCst);
    }

    /// The weight budget per minute.
    pub(crate) fn capabilities_limit(&self) -> u32 {
        self.inner.state.lock().weights.limit()
    }

    /// (maker, taker) fee rates.
    pub(crate) fn fees(&self) -> (Decimal, Decimal) {
        (self.inner.maker_fee, self.inner.taker_fee)
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.inner.api_key
    }

    pub(crate) fn api_secret(&self) -> &str {
        &self.inner.api_secret
    }

    /// Locks the state, brings the market up to simulated time (after a pull step when
    /// `pull`), and runs `f`.
    pub(crate) fn with_state<R>(&self, pull: bool, f: impl FnOnce(&mut State, Timestamp) -> R) -> R {
        if pull && self.inner.pull_step_ms > 0 {
            self.inner.offset_ms.fetch_add(self.inner.pull_step_ms, Ordering::SeqCst);
        }
        let now = self.now();
        let mut guard = self.inner.state.lock();
        let st = &mut *guard;
        let watched = st.venue.watched();
        let venue = &mut st.venue;
        st.market.advance_to(now, &watched, &mut |i, spec, top| venue.on_step(i, spec, top));
        for draw in st.faults.due_delistings(now) {
            delist_one(st, draw, now);
        }
        f(st, now)
    }

    /// Charges the weight and asks the fault layer about one request.
    pub(crate) fn admit(&self, endpoint: Endpoint, weight: u32) -> Admission {
        let now = self.now();
        let mut st = self.inner.state.lock();
        let limit = st.weights.limit();
        let charge = st.weights.charge(now, weight);
        let used_weight = st.weights.used(now);
        let mut adm = Admission {
            used_weight,
            pre_delay: self.inner.latency,
            post_delay: Duration::ZERO,
            refusal: None,
            partial_then_cancel: false,
            timeout: false,
        };
        match charge {
            Charge::Ok(_) => {}
            Charge::Limited(retry) => {
                adm.refusal = Some(Refusal::Api(ApiError::rate_limited(limit, retry)));
                return adm;
            }
            Charge::Banned(retry) => {
                adm.refusal = Some(Refusal::Api(ApiError::banned(now + retry, retry)));
                return adm;
            }
        }
        let Decision { pre_delay, post_delay, replace, partial_then_cancel, timeout } =
            st.faults.decide(endpoint);
        adm.pre_delay += pre_delay;
        adm.post_delay = post_delay;
        adm.partial_then_cancel = partial_then_cancel;
        adm.timeout = timeout;
        adm.refusal = replace.map(|fault| match fault {
            Fault::RateLimited { retry_after } => Refusal::Api(ApiError::rate_limited(limit, retry_after)),
            Fault::Banned { retry_after } => Refusal::Api(ApiError::banned(now + retry_after, retry_after)),
            Fault::MalformedBody => Refusal::Malformed,
            Fault::TooManyOrders => Refusal::Api(ApiError::too_many_orders()),
            Fault::Firewall => Refusal::Firewall,
            Fault::ServerError | Fault::Latency(_) | Fault::AcceptThenDelay(_) | Fault::Timeout { .. } => {
                Refusal::Api(ApiError::server_error())
            }
        });
        adm
    }

    /// Weight used in the current window (for the `X-MBX-USED-WEIGHT-1M` header).
    pub(crate) fn used_weight(&self) -> u32 {
        let now = self.now();
        self.inner.state.lock().weights.used(now)
    }

    /// In-process admission: sleeps the pre-delay and maps a refusal to an `ExchangeError`.
    async fn gate(
        &self,
        endpoint: Endpoint,
        weight: u32,
        operation: &'static str,
        cid: Option<&ClientOrderId>,
    ) -> Result<Admission, ExchangeError> {
        let adm = self.admit(endpoint, weight);
        if !adm.pre_delay.is_zero() {
            tokio::time::sleep(adm.pre_delay).await;
        }
        if adm.timeout && adm.post_delay.is_zero() {
            return Err(timed_out(operation, adm.pre_delay, cid));
        }
        match &adm.refusal {
            None => Ok(adm),
            Some(Refusal::Malformed) => Err(ExchangeError::invalid_response(
                operation,
                "body is not valid JSON (injected fault)",
                MALFORMED_BODY,
            )),
            Some(Refusal::Api(e)) => Err(e.clone().into_exchange_error(operation, None, self.now(), cid)),
            Some(Refusal::Firewall) => Err(ApiError::new(403, 0, FIREWALL_BODY).into_exchange_error(
                operation,
                None,
                self.now(),
                cid,
            )),
        }
    }

    /// Adds an open order "placed by hand" with a type or status the simulator does not model
    /// (for example a `STOP_LOSS_LIMIT`), given as the venue's JSON for it. It is listed by
    /// `GET /api/v3/openOrders` as is and reported in-process as unrecognised, so clients can
    /// be tested against an account that holds orders they do not understand.
    pub fn add_foreign_open_order(&self, order: serde_json::Value) {
        self.inner.foreign_orders.lock().push(order);
    }

    /// The foreign open orders ([`SimExchange::add_foreign_open_order`]) of venue id `venue_id`
    /// (all when `None`).
    pub(crate) fn foreign_orders(&self, venue_id: Option<&str>) -> Vec<serde_json::Value> {
        self.inner
            .foreign_orders
            .lock()
            .iter()
            .filter(|o| {
                venue_id.is_none_or(|id| o.get("symbol").and_then(serde_json::Value::as_str) == Some(id))
            })
            .cloned()
            .collect()
    }

    /// The listings exchangeInfo shows that the bot's vocabulary cannot represent.
    pub(crate) fn unrepresentable_listings(&self) -> &[String] {
        &self.inner.unrepresentable
    }

    /// (serve gzip when asked, bytes per second of the modelled network).
    pub(crate) fn transfer(&self) -> (bool, Option<u64>) {
        (self.inner.gzip, self.inner.bandwidth)
    }

    /// The HTTP dialect.
    pub(crate) fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// One order of market `i` as a query sees it: `-2013` while it is younger than the late
    /// visibility delay (the venue accepted it but does not show it yet).
    pub(crate) fn visible_order<'s>(
        &self,
        st: &'s State,
        i: usize,
        order: &OrderRef,
        now: Timestamp,
    ) -> Result<&'s OrderRec, ApiError> {
        let rec = st.venue.find(i, order)?;
        if now < rec.order.created_at + self.inner.visibility_delay {
            return Err(ApiError::no_such_order());
        }
        Ok(rec)
    }

    /// Resolves a unified symbol to a listed market.
    pub(crate) fn listed_index(market: &Market, symbol: &Symbol) -> Result<usize, ApiError> {
        market.index_of(symbol).filter(|i| market.is_listed(*i)).ok_or_else(ApiError::bad_symbol)
    }

    /// Resolves a unified symbol to a market that exists, listed or not: lookups of orders and
    /// trades keep working on a delisted (`BREAK`) market, as on Binance.
    pub(crate) fn known_index(market: &Market, symbol: &Symbol) -> Result<usize, ApiError> {
        market.index_of(symbol).ok_or_else(ApiError::bad_symbol)
    }

    /// The market rules as exchangeInfo reports them (delisted markets with status `BREAK`).
    pub(crate) fn rules_of(market: &Market, i: usize) -> MarketRules {
        let mut r = market.spec(i).rules.clone();
        if !market.is_listed(i) {
            r.status = MarketStatus::Break;
        }
        r
    }
}

/// The error of a request whose answer was lost ([`Fault::Timeout`]).
fn timed_out(operation: &'static str, after: Duration, cid: Option<&ClientOrderId>) -> ExchangeError {
    ExchangeError::Timeout { operation, after, client_order_id: cid.cloned() }
}

/// A mid-session delisting ([`crate::FaultProfile::delist_mid_session`]): the first listed
/// market (never the reference, index 0) where the account has an open order or holds a
/// sellable quantity of the base asset (the hard case), else one chosen by `draw`; its open
/// orders are canceled by the venue.
fn delist_one(st: &mut State, draw: u64, now: Timestamp) {
    let n = st.market.len();
    if n < 2 {
        return;
    }
    let held: std::collections::BTreeMap<String, Decimal> =
        st.venue.balances().into_iter().map(|b| (b.asset.clone(), b.total())).collect();
    let open: std::collections::BTreeSet<usize> =
        st.venue.open_orders(None).iter().map(|o| o.market).collect();
    let listed = |i: &usize| st.market.is_listed(*i);
    let exposed = (1..n).filter(listed).find(|i| {
        let spec = st.market.spec(*i);
        let sellable = spec.rules.min_qty.max(spec.rules.step_size);
        open.contains(i) || held.get(spec.symbol.base()).is_some_and(|q| *q >= sellable && !q.is_zero())
    });
    let start = usize::try_from(draw % (n as u64 - 1)).unwrap_or(0) + 1;
    let Some(i) = exposed.or_else(|| (start..n).chain(1..start).find(listed)) else { return };
    st.market.set_listed(i, false);
    let spec = st.market.spec(i).clone();
    for o in st.venue.open_orders(Some(i)) {
        let _ = st.venue.cancel(i, &spec, &OrderRef::Exchange(o.order.id.clone()), now);
    }
    tracing::info!(symbol = %spec.symbol, "simulated venue: market delisted mid-session");
}

/// What the web application firewall answers (HTTP 403).
pub(crate) const FIREWALL_BODY: &str =
    "<html><head><title>403 Forbidden</title></head><body>Request blocked.</body></html>";

/// Simulated time is a clock too: order resolution and tests read it through the seam.
impl Clock for SimExchange {
    fn now(&self) -> Timestamp {
        SimExchange::now(self)
    }
}

/// What a malformed answer looks like: the start of a real answer, cut off.
pub(crate) const MALFORMED_BODY: &str = "{\"symbol\":\"BTCUSDT\",\"bidPrice\":\"6";

fn bad_symbol(symbol: &Symbol, e: ApiError) -> ExchangeError {
    ExchangeError::BadSymbol { symbol: symbol.to_string(), message: e.msg }
}

fn map_err(
    e: ApiError,
    operation: &'static str,
    now: Timestamp,
    cid: Option<&ClientOrderId>,
) -> ExchangeError {
    e.into_exchange_error(operation, None, now, cid)
}

/// The venue's order for `request` on market `i` (placed by `create_order`, only checked by
/// `test_order`).
fn new_order(i: usize, request: &OrderRequest, partial_then_cancel: bool) -> NewOrder {
    NewOrder {
        market: i,
        side: request.side,
        order_type: request.order_type,
        quantity: request.quantity,
        price: request.price,
        time_in_force: request.time_in_force,
        client_order_id: request.client_order_id.clone(),
        partial_then_cancel,
    }
}

/// Weights the venue charges, Binance's documented values.
pub(crate) fn endpoint_weights() -> EndpointWeights {
    EndpointWeights {
        book_ticker_single: weight(Endpoint::BookTicker, Some(1)),
        book_ticker_all: weight(Endpoint::BookTicker, None),
        ticker_24h_single: weight(Endpoint::Ticker24h, Some(1)),
        ticker_24h_all: weight(Endpoint::Ticker24h, None),
        klines: weight(Endpoint::Klines, Some(1)),
        create_order: weight(Endpoint::CreateOrder, Some(1)),
        cancel_order: weight(Endpoint::CancelOrder, Some(1)),
        fetch_order: weight(Endpoint::QueryOrder, Some(1)),
        open_orders_single: weight(Endpoint::OpenOrders, Some(1)),
        account: weight(Endpoint::Account, None),
        exchange_info: weight(Endpoint::ExchangeInfo, None),
    }
}

impl SimExchange {
    fn order_of(rec: &OrderRec) -> Order {
        rec.order.clone()
    }
}

#[async_trait]
impl Exchange for SimExchange {
    fn capabilities(&self) -> Capabilities {
        let limit = self.inner.state.lock().weights.limit();
        Capabilities {
            venue: "sim".into(),
            bulk_book_ticker: true,
            ticker_list: true,
            weights: endpoint_weights(),
            rate: RateBudget {
                weight_per_window: NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN),
                window: Duration::from_secs(60),
                orders_per_window: None,
                order_window: Duration::from_secs(10),
            },
            max_klines: 1000,
            acceptance_window: self.inner.acceptance_window,
        }
    }

    async fn load_markets(&self) -> Result<MarketList, ExchangeError> {
        self.gate(Endpoint::ExchangeInfo, weight(Endpoint::ExchangeInfo, None), "load_markets", None).await?;
        let markets = self
            .with_state(false, |st, _| (0..st.market.len()).map(|i| Self::rules_of(&st.market, i)).collect());
        let skipped = self
            .inner
            .unrepresentable
            .iter()
            .map(|name| SkippedEntry {
                venue_name: name.clone(),
                reason: "asset name outside the symbol vocabulary (A-Z, 0-9)".into(),
            })
            .collect();
        Ok(MarketList { markets, skipped })
    }

    async fn fetch_tickers(&self, symbols: Option<&[Symbol]>) -> Result<Vec<Quote>, ExchangeError> {
        let w = weight(Endpoint::BookTicker, symbols.map(<[Symbol]>::len));
        self.gate(Endpoint::BookTicker, w, "fetch_tickers", None).await?;
        self.with_state(true, |st, now| {
            let indices: Vec<usize> = match symbols {
                Some(list) => list
                    .iter()
                    .map(|s| Self::listed_index(&st.market, s).map_err(|e| bad_symbol(s, e)))
                    .collect::<Result<_, _>>()?,
                None => st.market.indices_in_symbol_order().filter(|i| st.market.is_listed(*i)).collect(),
            };
            let mut quotes = Vec::with_capacity(indices.len());
            let ts = st.market.now();
            for i in indices {
                let (bid, ask, last) = st.market.prices(i);
                quotes.push(Quote {
                    symbol: st.market.spec(i).symbol.clone(),
                    bid: Some(bid),
                    ask: Some(ask),
                    last: Some(last),
                    quote_volume_24h: Some(st.market.quote_volume_24h(i)),
                    exchange_ts: Some(ts),
                    received_at: now,
                });
            }
            Ok(quotes)
        })
    }

    async fn fetch_ohlcv(&self, request: &OhlcvRequest) -> Result<Vec<Candle>, ExchangeError> {
        self.gate(Endpoint::Klines, weight(Endpoint::Klines, Some(1)), "fetch_ohlcv", None).await?;
        self.with_state(true, |st, _| {
            let i = Self::listed_index(&st.market, &request.symbol)
                .map_err(|e| bad_symbol(&request.symbol, e))?;
            let limit = request.limit.clamp(1, 1000) as usize;
            let since = request.since.map(Timestamp::as_millis);
            Ok(st
                .market
                .klines(i, request.interval, since, None, limit)
                .into_iter()
                .map(|k| Candle {
                    open_time: Timestamp::from_millis(k.open_time),
                    open: k.open,
                    high: k.high,
                    low: k.low,
                    close: k.close,
                    volume: k.volume,
                    quote_volume: Some(k.quote_volume),
                })
                .collect())
        })
    }

    async fn create_order(&self, request: &OrderRequest) -> Result<Order, ExchangeError> {
        let cid = Some(&request.client_order_id);
        let adm = self
            .gate(Endpoint::CreateOrder, weight(Endpoint::CreateOrder, Some(1)), "create_order", cid)
            .await?;
        let result = self.with_state(false, |st, now| {
            let i = Self::listed_index(&st.market, &request.symbol)
                .map_err(|e| bad_symbol(&request.symbol, e))?;
            let top = st.market.top(i);
            let new = new_order(i, request, adm.partial_then_cancel);
            st.venue
                .place(st.market.spec(i), &top, now, new)
                .map(|r| Self::order_of(&r))
                .map_err(|e| map_err(e, "create_order", now, None))
        });
        if !adm.post_delay.is_zero() {
            tokio::time::sleep(adm.post_delay).await;
        }
        if adm.timeout {
            return Err(timed_out("create_order", adm.post_delay, cid));
        }
        result
    }

    async fn test_order(&self, request: &OrderRequest) -> Result<(), ExchangeError> {
        // Nothing is placed, so no error carries the client order id (no outcome is unknown).
        let adm =
            self.gate(Endpoint::TestOrder, weight(Endpoint::TestOrder, Some(1)), "test_order", None).await?;
        let result = self.with_state(false, |st, now| {
            let i = Self::listed_index(&st.market, &request.symbol)
                .map_err(|e| bad_symbol(&request.symbol, e))?;
            let top = st.market.top(i);
            let new = new_order(i, request, false);
            st.venue.test(st.market.spec(i), &top, &new).map_err(|e| map_err(e, "test_order", now, None))
        });
        if !adm.post_delay.is_zero() {
            tokio::time::sleep(adm.post_delay).await;
        }
        result
    }

    async fn cancel_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError> {
        let adm = self
            .gate(Endpoint::CancelOrder, weight(Endpoint::CancelOrder, Some(1)), "cancel_order", None)
            .await?;
        let result = self.with_state(false, |st, now| {
            let i = Self::known_index(&st.market, symbol).map_err(|e| bad_symbol(symbol, e))?;
            let spec = st.market.spec(i);
            st.venue
                .cancel(i, spec, order, now)
                .map(|r| Self::order_of(&r))
                .map_err(|e| map_err(e, "cancel_order", now, None))
        });
        if !adm.post_delay.is_zero() {
            tokio::time::sleep(adm.post_delay).await;
        }
        result
    }

    async fn fetch_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError> {
        self.gate(Endpoint::QueryOrder, weight(Endpoint::QueryOrder, Some(1)), "fetch_order", None).await?;
        self.with_state(false, |st, now| {
            let i = Self::known_index(&st.market, symbol).map_err(|e| bad_symbol(symbol, e))?;
            self.visible_order(st, i, order, now)
                .map(Self::order_of)
                .map_err(|e| map_err(e, "fetch_order", now, None))
        })
    }

    async fn fetch_open_orders(&self, symbol: Option<&Symbol>) -> Result<OpenOrders, ExchangeError> {
        let w = weight(Endpoint::OpenOrders, symbol.map(|_| 1));
        self.gate(Endpoint::OpenOrders, w, "fetch_open_orders", None).await?;
        let (orders, venue_id) = self.with_state(false, |st, _| {
            let m =
                symbol.map(|s| Self::known_index(&st.market, s).map_err(|e| bad_symbol(s, e))).transpose()?;
            let orders: Vec<Order> = st.venue.open_orders(m).iter().map(Self::order_of).collect();
            Ok::<_, ExchangeError>((orders, m.map(|i| st.market.spec(i).venue_id.clone())))
        })?;
        let unrecognised = self
            .foreign_orders(venue_id.as_deref())
            .iter()
            .map(|o| {
                let field = |k: &str| {
                    o.get(k).map_or_else(|| "?".to_owned(), |v| v.to_string().trim_matches('"').to_owned())
                };
                SkippedEntry {
                    venue_name: format!("{}#{}", field("symbol"), field("orderId")),
                    reason: format!("order type {} is not modelled", field("type")),
                }
            })
            .collect();
        Ok(OpenOrders { orders, unrecognised })
    }

    async fn fetch_fills(&self, query: &FillQuery) -> Result<Vec<Fill>, ExchangeError> {
        self.gate(Endpoint::MyTrades, weight(Endpoint::MyTrades, Some(1)), "fetch_fills", None).await?;
        let limit = query.limit.clamp(1, 1000) as usize;
        let fills = self.fills().into_iter().filter(|f| {
            f.symbol == query.symbol
                && query.since.is_none_or(|since| f.ts >= since)
                && query.order_id.as_ref().is_none_or(|id| &f.order_id == id)
        });
        Ok(fills.take(limit).collect())
    }

    async fn resolve_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
        sent_at: Timestamp,
    ) -> Result<OrderResolution, ExchangeError> {
        let policy = ResolvePolicy::for_window(self.inner.acceptance_window);
        resolve_by_lookup(self, self, symbol, client_order_id, sent_at, policy).await
    }

    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.gate(Endpoint::Account, weight(Endpoint::Account, None), "fetch_balances", None).await?;
        Ok(self.with_state(false, |st, _| {
            st.venue.balances().into_iter().filter(|b| !b.total().is_zero()).collect()
        }))
    }

    async fn server_time(&self) -> Result<Timestamp, ExchangeError> {
        self.gate(Endpoint::Time, weight(Endpoint::Time, None), "server_time", None).await?;
        Ok(self.now())
    }
}
