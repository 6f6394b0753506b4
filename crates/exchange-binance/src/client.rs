//! `BinanceClient`: the reqwest-based [`Exchange`] implementation for every venue profile.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exchange::{
    resolve_by_lookup, Capabilities, Exchange, ExchangeError, FillQuery, MarketList, OhlcvRequest,
    OpenOrders, OrderResolution, ResolvePolicy, SkippedEntry,
};
use parking_lot::RwLock;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use trading_core::{
    Balance, Candle, ClientOrderId, Clock, Fill, Order, OrderRef, OrderRequest, Quote, Symbol, SymbolMap,
    Timestamp,
};

use crate::classify::{classify, Failure, Verdict};
use crate::limiter::{Limiter, OrderBudget};
use crate::request::{self, Call, Kind, Method};
use crate::sign::Signer;
use crate::wire::{self, OrderCtx, Shape};
use crate::{ClientError, Credentials, VenueProfile};

/// Timeouts per request kind. An order request that times out has an UNKNOWN outcome (see
/// [`ExchangeError::is_outcome_unknown`]); a market-data request is simply retried later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS connection set-up.
    pub connect: Duration,
    /// Public market data (tickers, klines, markets, time).
    pub market_data: Duration,
    /// Order placement, cancel and lookup.
    pub order: Duration,
    /// Account reads (balances, open orders).
    pub account: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            market_data: Duration::from_secs(5),
            order: Duration::from_secs(10),
            account: Duration::from_secs(10),
        }
    }
}

/// Everything a [`BinanceClient`] is built from.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The venue and its rules.
    pub profile: VenueProfile,
    /// API credentials; `None` allows public market data only.
    pub credentials: Option<Credentials>,
    /// Where the client reads time (request timestamps, `received_at` of quotes).
    pub clock: Arc<dyn Clock>,
    /// Timeouts per request kind.
    pub timeouts: Timeouts,
    /// The weight reserved for order traffic and how long an order may wait for budget.
    pub order_budget: OrderBudget,
    /// Ask for gzip-compressed answers (`Accept-Encoding: gzip`). On by default: the
    /// all-symbols ticker answers shrink several-fold and a poll over a real network finishes
    /// sooner (see `examples/gzip_poll.rs` for the measurement).
    pub gzip: bool,
}

impl ClientConfig {
    /// A public-data config with default timeouts and order budget.
    pub fn new(profile: VenueProfile, clock: Arc<dyn Clock>) -> Self {
        ClientConfig {
            profile,
            credentials: None,
            clock,
            timeouts: Timeouts::default(),
            order_budget: OrderBudget::default(),
            gzip: true,
        }
    }

    /// Turns gzip-compressed answers on or off.
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Replaces the order budget (reserved weight share, longest wait of an order request).
    pub fn with_order_budget(mut self, order_budget: OrderBudget) -> Self {
        self.order_budget = order_budget;
        self
    }

    /// Adds credentials (needed for orders and balances).
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Replaces the timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }
}

#[derive(Debug)]
struct Markets {
    map: SymbolMap,
    list: MarketList,
}

struct Inner {
    profile: VenueProfile,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    timeouts: Timeouts,
    signer: Option<Signer>,
    api_key: Option<HeaderValue>,
    limiter: Limiter,
    offset_ms: AtomicI64,
    synced: AtomicBool,
    markets: RwLock<Option<Arc<Markets>>>,
    /// Held while a market list is being loaded: concurrent loads share one request.
    loading: tokio::sync::Mutex<()>,
    /// Counts completed market-list loads.
    loads: AtomicU64,
}

/// A REST client for Binance spot, its testnet, MEXC spot v3, or a Binance-compatible server
/// (the simulator), chosen by its [`VenueProfile`]. Cheap to clone (shared state): one client
/// per venue shares one connection pool, one rate limiter and one clock offset.
///
/// Market ids are translated with the venue's market list, loaded on first use (or by
/// [`Exchange::load_markets`]). Signed requests carry `timestamp` = clock + measured server
/// offset and the profile's `recvWindow`; a timestamp rejection triggers one resync and retry.
#[derive(Clone)]
pub struct BinanceClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BinanceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceClient")
            .field("venue", &self.inner.profile.name)
            .field("base_url", &self.inner.profile.base_url)
            .field("signed", &self.inner.signer.is_some())
            .finish()
    }
}

/// What a call is about, for errors.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    operation: &'static str,
    subject: &'a str,
    /// The one symbol the request names, when it names exactly one.
    symbol: Option<&'a str>,
    client_order_id: Option<&'a ClientOrderId>,
}

impl<'a> Ctx<'a> {
    fn new(operation: &'static str, subject: &'a str) -> Self {
        Ctx { operation, subject, symbol: None, client_order_id: None }
    }

    fn about(mut self, symbol: &'a Symbol) -> Self {
        self.symbol = Some(symbol.as_str());
        self
    }
}

fn header_u32(headers: &HeaderMap, name: &str) -> Option<u32> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl BinanceClient {
    /// Builds the client: the HTTP connection pool (rustls) and the venue's limiter. No request
    /// is sent until the first call.
    pub fn new(config: ClientConfig) -> Result<BinanceClient, ClientError> {
        let ClientConfig { profile, credentials, clock, timeouts, order_budget, gzip } = config;
        let http = reqwest::Client::builder()
            .gzip(gzip)
            .connect_timeout(timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("drop-bot-exchange-binance/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Http)?;
        let (signer, api_key) = match &credentials {
            Some(c) => {
                let mut key = HeaderValue::from_str(c.api_key()).map_err(|_| {
                    ClientError::InvalidCredential { what: "api key", reason: "not a valid header value" }
                })?;
                key.set_sensitive(true);
                (Some(Signer::new(c.api_secret())), Some(key))
            }
            None => (None, None),
        };
        let limiter = Limiter::new(&profile.rate, profile.rate_scope, order_budget);
        Ok(BinanceClient {
            inner: Arc::new(Inner {
                profile,
                http,
                clock,
                timeouts,
                signer,
                api_key,
                limiter,
                offset_ms: AtomicI64::new(0),
                synced: AtomicBool::new(false),
                markets: RwLock::new(None),
                loading: tokio::sync::Mutex::new(()),
                loads: AtomicU64::new(0),
            }),
        })
    }

    /// The venue profile.
    pub fn profile(&self) -> &VenueProfile {
        &self.inner.profile
    }

    /// Milliseconds the venue's clock is ahead of ours (negative: behind), as last measured.
    pub fn time_offset_ms(&self) -> i64 {
        self.inner.offset_ms.load(Ordering::Relaxed)
    }

    /// Measures the offset between the venue's clock and ours (one `/api/v3/time` call, the
    /// round trip's midpoint taken as the server's moment) and uses it for signed requests.
    pub async fn sync_time(&self) -> Result<i64, ExchangeError> {
        let before = self.inner.clock.now();
        let body =
            self.send(&request::server_time(&self.inner.profile), Ctx::new("server_time", "time")).await?;
        let after = self.inner.clock.now();
        let server = wire::parse_server_time(&body)?;
        let mid = before.as_millis() + after.millis_since(before) / 2;
        let offset = server.as_millis() - mid;
        self.inner.offset_ms.store(offset, Ordering::Relaxed);
        self.inner.synced.store(true, Ordering::Relaxed);
        tracing::debug!(venue = %self.inner.profile.name, offset_ms = offset, "server time synced");
        Ok(offset)
    }

    /// Weight the limiter has counted in the venue's current window.
    pub fn used_weight(&self) -> u32 {
        self.inner.limiter.used_weight(self.server_now_ms())
    }

    fn server_now_ms(&self) -> i64 {
        self.inner.clock.now().as_millis().saturating_add(self.inner.offset_ms.load(Ordering::Relaxed))
    }

    fn timeout(&self, kind: Kind) -> Duration {
        let t = &self.inner.timeouts;
        match kind {
            Kind::MarketData => t.market_data,
            Kind::Order => t.order,
            Kind::Account => t.account,
        }
    }

    /// Sends a call through the limiter and returns the body of a 2xx answer. Signed calls
    /// rejected for their timestamp are retried once after a clock resync.
    async fn send(&self, call: &Call, ctx: Ctx<'_>) -> Result<String, ExchangeError> {
        if call.signed {
            if self.inner.signer.is_none() {
                return Err(ExchangeError::Auth(format!(
                    "{} needs API credentials; none configured",
                    ctx.operation
                )));
            }
            if !self.inner.synced.load(Ordering::Relaxed) {
                Box::pin(self.sync_time()).await?;
            }
        }
        let mut resynced = false;
        loop {
            match self.send_once(call, ctx).await? {
                Ok(body) => return Ok(body),
                Err(Verdict::Fail(err) | Verdict::OrderLimited { error: err, .. }) => return Err(err),
                Err(Verdict::Resync(err)) => {
                    if resynced {
                        return Err(err);
                    }
                    tracing::warn!(venue = %self.inner.profile.name, "timestamp rejected; resyncing the clock offset");
                    resynced = true;
                    Box::pin(self.sync_time()).await?;
                }
            }
        }
    }

    async fn send_once(&self, call: &Call, ctx: Ctx<'_>) -> Result<Result<String, Verdict>, ExchangeError> {
        let inner = &self.inner;
        inner.limiter.acquire(call.weight, call.budget, call.path, || self.server_now_ms()).await?;
        let sent_ms = self.server_now_ms();
        let encoded = request::encode(call, &inner.profile, sent_ms, inner.signer.as_ref());
        let mut url =
            String::with_capacity(inner.profile.base_url.len() + call.path.len() + encoded.query.len() + 1);
        url.push_str(&inner.profile.base_url);
        url.push_str(call.path);
        if !encoded.query.is_empty() {
            url.push('?');
            url.push_str(&encoded.query);
        }
        let method = match call.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let timeout = self.timeout(call.kind);
        let mut req = inner.http.request(method, &url).timeout(timeout);
        if let (true, Some(key)) = (call.signed, &inner.api_key) {
            req = req.header(inner.profile.api_key_header, key.clone());
        }
        if !encoded.body.is_empty() {
            req = req.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(encoded.body);
        }
        let transport = |e: reqwest::Error| -> ExchangeError {
            if e.is_timeout() {
                ExchangeError::Timeout {
                    operation: ctx.operation,
                    after: timeout,
                    client_order_id: ctx.client_order_id.cloned(),
                }
            } else {
                // A failed connect means nothing was sent: the outcome is known (not placed).
                let client_order_id = if e.is_connect() { None } else { ctx.client_order_id.cloned() };
                ExchangeError::Unavailable {
                    operation: ctx.operation,
                    message: e.to_string(),
                    client_order_id,
                }
            }
        };
        tracing::trace!(method = call.method.as_str(), path = call.path, weight = call.weight, "request");
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers();
        let server_ms = self.server_now_ms();
        // The counts belong to the window the request was sent in, not the one it came back in.
        if let Some(used) = header_u32(headers, "x-mbx-used-weight-1m") {
            inner.limiter.observe_used_weight(used, sent_ms, server_ms);
        }
        if let Some(count) = header_u32(headers, "x-mbx-order-count-10s") {
            inner.limiter.observe_order_count(count, sent_ms, server_ms);
        }
        let retry_after =
            header_u32(headers, RETRY_AFTER.as_str()).map(|s| Duration::from_secs(u64::from(s)));
        let body = resp.text().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(Ok(body));
        }
        let failure = Failure {
            status,
            body: &body,
            retry_after,
            endpoint: call.path,
            operation: ctx.operation,
            subject: ctx.subject,
            symbol: ctx.symbol,
            client_order_id: ctx.client_order_id,
        };
        let verdict = classify(&inner.profile, failure, inner.clock.now());
        match &verdict {
            Verdict::Fail(ExchangeError::RateLimited { retry_after }) => {
                tracing::warn!(venue = %inner.profile.name, ?retry_after, "rate limited; pausing");
                inner.limiter.pause_for(*retry_after, None);
            }
            Verdict::Fail(ExchangeError::Banned { until }) => {
                let wait = until.saturating_since(inner.clock.now());
                tracing::error!(venue = %inner.profile.name, %until, "IP banned; pausing");
                inner.limiter.pause_for(wait, Some(*until));
            }
            Verdict::OrderLimited { retry_after, .. } => {
                let wait = retry_after.unwrap_or(inner.limiter.order_window());
                tracing::warn!(venue = %inner.profile.name, ?wait, "too many new orders; pausing new orders only");
                inner.limiter.pause_orders(*retry_after);
            }
            _ => {}
        }
        Ok(Err(verdict))
    }

    async fn markets(&self) -> Result<Arc<Markets>, ExchangeError> {
        if let Some(m) = self.inner.markets.read().clone() {
            return Ok(m);
        }
        self.load_markets().await?;
        self.inner.markets.read().clone().ok_or_else(|| ExchangeError::Unavailable {
            operation: "load_markets",
            message: "market list not available".into(),
            client_order_id: None,
        })
    }

    /// Loads the market list; callers that arrive while a load is in flight wait for it and
    /// share its answer (one exchangeInfo request, weight 20, for any number of them).
    async fn load_shared(&self) -> Result<Arc<Markets>, ExchangeError> {
        let seen = self.inner.loads.load(Ordering::SeqCst);
        let _loading = self.inner.loading.lock().await;
        if self.inner.loads.load(Ordering::SeqCst) != seen {
            if let Some(m) = self.inner.markets.read().clone() {
                return Ok(m);
            }
        }
        let call = request::exchange_info(&self.inner.profile);
        let body = self.send(&call, Ctx::new("load_markets", "exchangeInfo")).await?;
        let parsed = wire::parse_exchange_info(&body)?;
        let mut map = SymbolMap::default();
        let mut list =
            MarketList { markets: Vec::with_capacity(parsed.markets.len()), skipped: parsed.skipped };
        for r in parsed.markets {
            match map.insert(&r.venue_id, r.symbol.clone()) {
                Ok(()) => list.markets.push(r),
                Err(e) => {
                    list.skipped.push(SkippedEntry { venue_name: r.venue_id.clone(), reason: e.to_string() })
                }
            }
        }
        if !list.skipped.is_empty() {
            tracing::warn!(
                venue = %self.inner.profile.name,
                skipped = list.skipped.len(),
                first = %list.skipped[0].venue_name,
                "listings the bot cannot represent were skipped"
            );
        }
        let markets = Arc::new(Markets { map, list });
        *self.inner.markets.write() = Some(markets.clone());
        self.inner.loads.fetch_add(1, Ordering::SeqCst);
        Ok(markets)
    }

    fn venue_id<'m>(&self, markets: &'m Markets, symbol: &Symbol) -> Result<&'m str, ExchangeError> {
        markets.map.venue_id(symbol).ok_or_else(|| ExchangeError::BadSymbol {
            symbol: symbol.to_string(),
            message: format!("not listed by {}", self.inner.profile.name),
        })
    }

    fn order_ctx<'a>(&'a self, markets: &'a Markets) -> OrderCtx<'a> {
        OrderCtx {
            profile: &self.inner.profile,
            map: &markets.map,
            now: self.inner.clock.now(),
            request: None,
        }
    }
}

fn ref_text(order: &OrderRef) -> String {
    match order {
        OrderRef::Exchange(id) => format!("order {id}"),
        OrderRef::Client(cid) => format!("client order {cid}"),
    }
}

#[async_trait]
impl Exchange for BinanceClient {
    fn capabilities(&self) -> Capabilities {
        self.inner.profile.capabilities()
    }

    async fn load_markets(&self) -> Result<MarketList, ExchangeError> {
        Ok(self.load_shared().await?.list.clone())
    }

    async fn fetch_tickers(&self, symbols: Option<&[Symbol]>) -> Result<Vec<Quote>, ExchangeError> {
        if symbols.is_some_and(<[Symbol]>::is_empty) {
            return Ok(Vec::new());
        }
        let markets = self.markets().await?;
        let ids: Option<Vec<&str>> = match symbols {
            None => None,
            Some(list) => Some(list.iter().map(|s| self.venue_id(&markets, s)).collect::<Result<_, _>>()?),
        };
        let plan = request::plan_tickers(&self.inner.profile, ids.as_deref());
        let subject = match symbols {
            Some([one]) => one.to_string(),
            Some(list) => format!("{} symbols", list.len()),
            None => "all symbols".to_owned(),
        };
        // A bad-symbol answer names the symbol only when the request named exactly one.
        let ctx = match symbols {
            Some([one]) => Ctx::new("fetch_tickers", &subject).about(one),
            _ => Ctx::new("fetch_tickers", &subject),
        };
        let body = self.send(&plan.call, ctx).await?;
        let quotes = wire::parse_tickers(plan.kind, plan.shape, &body, &markets.map, self.inner.clock.now())?;
        let Some(wanted) = symbols else {
            return Ok(quotes);
        };
        let wanted_set: HashSet<&Symbol> = wanted.iter().collect();
        let quotes: Vec<Quote> = if plan.shape == Shape::Many && plan.call.params.is_empty() {
            quotes.into_iter().filter(|q| wanted_set.contains(&q.symbol)).collect()
        } else {
            quotes
        };
        let got: HashSet<&Symbol> = quotes.iter().map(|q| &q.symbol).collect();
        if let Some(missing) = wanted.iter().find(|s| !got.contains(s)) {
            return Err(ExchangeError::BadSymbol {
                symbol: missing.to_string(),
                message: "venue returned no quote for it".into(),
            });
        }
        Ok(quotes)
    }

    async fn fetch_ohlcv(&self, req: &OhlcvRequest) -> Result<Vec<Candle>, ExchangeError> {
        let markets = self.markets().await?;
        let id = self.venue_id(&markets, &req.symbol)?;
        let call = request::klines(&self.inner.profile, id, req.interval, req.since, req.limit)?;
        let body = self.send(&call, Ctx::new("fetch_ohlcv", req.symbol.as_str()).about(&req.symbol)).await?;
        wire::parse_klines(&body)
    }

    async fn create_order(&self, req: &OrderRequest) -> Result<Order, ExchangeError> {
        let markets = self.markets().await?;
        let id = self.venue_id(&markets, &req.symbol)?;
        let call = request::new_order(&self.inner.profile, id, req)?;
        let ctx = Ctx {
            operation: "create_order",
            subject: req.symbol.as_str(),
            symbol: Some(req.symbol.as_str()),
            client_order_id: Some(&req.client_order_id),
        };
        let body = self.send(&call, ctx).await?;
        let order_ctx = OrderCtx { request: Some(req), ..self.order_ctx(&markets) };
        let accepted = wire::parse_order(call.path, &body, order_ctx).map_err(|e| {
            // The venue accepted the order (2xx) but we cannot read what it says: the caller
            // must look the client order id up, exactly as after a timeout.
            ExchangeError::Unavailable {
                operation: "create_order",
                message: format!("order accepted but the answer is unreadable: {e}"),
                client_order_id: Some(req.client_order_id.clone()),
            }
        })?;
        if self.inner.profile.create_answer_has_status {
            return Ok(accepted);
        }
        // MEXC's answer says neither status nor fill: ask. If the query fails, the order's
        // state is unknown (never "new, 0 filled"): the caller resolves it by client order id.
        self.fetch_order(&req.symbol, &OrderRef::Exchange(accepted.id.clone())).await.map_err(|e| {
            ExchangeError::Unavailable {
                operation: "create_order",
                message: format!(
                    "order {} accepted; its state is unknown (the follow-up query failed: {e})",
                    accepted.id
                ),
                client_order_id: Some(req.client_order_id.clone()),
            }
        })
    }

    async fn test_order(&self, req: &OrderRequest) -> Result<(), ExchangeError> {
        let markets = self.markets().await?;
        let id = self.venue_id(&markets, &req.symbol)?;
        let call = request::test_order(&self.inner.profile, id, req)?;
        // No client order id in the context: nothing is placed, so a timeout leaves no order
        // to resolve (the outcome is "not validated", never "unknown").
        let ctx = Ctx {
            operation: "test_order",
            subject: req.symbol.as_str(),
            symbol: Some(req.symbol.as_str()),
            client_order_id: None,
        };
        let body = self.send(&call, ctx).await?;
        wire::parse_test_order(&body)
    }

    async fn cancel_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError> {
        let markets = self.markets().await?;
        let id = self.venue_id(&markets, symbol)?;
        let call = request::cancel_order(&self.inner.profile, id, order);
        let subject = format!("{symbol} {}", ref_text(order));
        let body = self.send(&call, Ctx::new("cancel_order", &subject).about(symbol)).await?;
        wire::parse_order(call.path, &body, self.order_ctx(&markets))
    }

    async fn fetch_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError> {
        let markets = self.markets().await?;
        let id = self.venue_id(&markets, symbol)?;
        let call = request::query_order(&self.inner.profile, id, order);
        let subject = format!("{symbol} {}", ref_text(order));
        let body = self.send(&call, Ctx::new("fetch_order", &subject).about(symbol)).await?;
        wire::parse_order(call.path, &body, self.order_ctx(&markets))
    }

    async fn fetch_open_orders(&self, symbol: Option<&Symbol>) -> Result<OpenOrders, ExchangeError> {
        let markets = self.markets().await?;
        let id = symbol.map(|s| self.venue_id(&markets, s)).transpose()?;
        let call = request::open_orders(&self.inner.profile, id);
        let subject = symbol.map_or_else(|| "all symbols".to_owned(), Symbol::to_string);
        let mut ctx = Ctx::new("fetch_open_orders", &subject);
        ctx.symbol = symbol.map(Symbol::as_str);
        let body = self.send(&call, ctx).await?;
        let open: OpenOrders = wire::parse_orders(call.path, &body, self.order_ctx(&markets))?;
        for skipped in &open.unrecognised {
            tracing::warn!(venue = %self.inner.profile.name, order = %skipped.venue_name, reason = %skipped.reason, "open order not understood; skipped");
        }
        Ok(open)
    }

    async fn fetch_fills(&self, query: &FillQuery) -> Result<Vec<Fill>, ExchangeError> {
        let markets = self.markets().await?;
        let id = self.venue_id(&markets, &query.symbol)?;
        let order_id = query.order_id.as_ref().map(|o| o.0.as_str());
        let call = request::my_trades(&self.inner.profile, id, order_id, query.since, query.limit);
        let body =
            self.send(&call, Ctx::new("fetch_fills", query.symbol.as_str()).about(&query.symbol)).await?;
        wire::parse_my_trades(&body, &markets.map)
    }

    async fn resolve_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
        sent_at: Timestamp,
    ) -> Result<OrderResolution, ExchangeError> {
        let policy = ResolvePolicy::for_window(self.capabilities().acceptance_window);
        resolve_by_lookup(self, self.inner.clock.as_ref(), symbol, client_order_id, sent_at, policy).await
    }

    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let call = request::account(&self.inner.profile);
        let body = self.send(&call, Ctx::new("fetch_balances", "account")).await?;
        wire::parse_balances(&body)
    }

    async fn server_time(&self) -> Result<Timestamp, ExchangeError> {
        let body =
            self.send(&request::server_time(&self.inner.profile), Ctx::new("server_time", "time")).await?;
        wire::parse_server_time(&body)
    }
}
