//! `SimServer`: the axum HTTP server that serves a [`SimExchange`] as the Binance spot REST v3
//! subset.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use trading_core::{ClientOrderId, Interval, OrderId, OrderRef, OrderType, Side, TimeInForce};

use crate::binance::{self, d8, RespType};
use crate::error::ApiError;
use crate::mexc;
use crate::sim::{Refusal, State as SimState, FIREWALL_BODY, MALFORMED_BODY};
use crate::venue::NewOrder;
use crate::weights::weight;
use crate::{Dialect, Endpoint, ScriptedFault, SimConfig, SimError, SimExchange};

/// One HTTP request as the server received it, for tests that assert what a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// When it arrived (tokio's monotonic clock: real time on a live runtime, paused time in a
    /// simulated one).
    pub at: Instant,
    /// `GET`, `POST`, `DELETE`, ...
    pub method: String,
    /// The path (`/api/v3/order`).
    pub path: String,
    /// The raw query string (empty if none).
    pub query: String,
    /// The request weight charged for it.
    pub weight: u32,
}

#[derive(Debug)]
struct Shared {
    sim: SimExchange,
    skew_ms: AtomicI64,
    log: Mutex<Vec<RecordedRequest>>,
    next_client_id: AtomicU64,
}

/// The simulated venue over HTTP on 127.0.0.1 (Binance spot REST v3 subset).
///
/// Every response carries `X-MBX-USED-WEIGHT-1M`; signed endpoints check `X-MBX-APIKEY`, the
/// HMAC-SHA256 `signature` over query string + body, `timestamp` and `recvWindow`.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Builds a [`SimExchange`] from `config` and serves it on `config.addr` (port 0 = any free
    /// port; see [`SimServer::addr`]).
    pub async fn start(config: SimConfig) -> Result<SimServer, SimError> {
        let addr = config.addr;
        let sim = SimExchange::new(config)?;
        SimServer::serve(sim, addr).await
    }

    /// Serves an existing venue (shared with in-process users) on `addr`.
    pub async fn serve(sim: SimExchange, addr: SocketAddr) -> Result<SimServer, SimError> {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            sim,
            skew_ms: AtomicI64::new(0),
            log: Mutex::new(Vec::new()),
            next_client_id: AtomicU64::new(1),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "sim server stopped with an error");
            }
        });
        tracing::info!(%addr, "sim server listening");
        Ok(SimServer { addr, shared, stop: Some(tx), task: Some(task) })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The venue behind the server (inspect orders and balances, control prices and time).
    pub fn sim(&self) -> &SimExchange {
        &self.shared.sim
    }

    /// Queues a deterministic one-shot fault.
    pub fn inject(&self, fault: ScriptedFault) {
        self.shared.sim.inject(fault);
    }

    /// Server clock = simulated clock + `skew_ms`: shows in `/api/v3/time` and in the
    /// `timestamp`/`recvWindow` check of signed requests (`-1021`).
    pub fn set_clock_skew_ms(&self, skew_ms: i64) {
        self.shared.skew_ms.store(skew_ms, Ordering::SeqCst);
    }

    /// Every HTTP request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log.lock().clone()
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

type Params = Vec<(String, String)>;

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn endpoint_of(method: &Method, path: &str) -> Option<Endpoint> {
    Some(match (method.as_str(), path) {
        ("GET", "/api/v3/ping") => Endpoint::Ping,
        ("GET", "/api/v3/time") => Endpoint::Time,
        ("GET", "/api/v3/exchangeInfo") => Endpoint::ExchangeInfo,
        ("GET", "/api/v3/ticker/price") => Endpoint::TickerPrice,
        ("GET", "/api/v3/ticker/bookTicker") => Endpoint::BookTicker,
        ("GET", "/api/v3/ticker/24hr") => Endpoint::Ticker24h,
        ("GET", "/api/v3/klines") => Endpoint::Klines,
        ("POST", "/api/v3/order") => Endpoint::CreateOrder,
        ("POST", "/api/v3/order/test") => Endpoint::TestOrder,
        ("GET", "/api/v3/order") => Endpoint::QueryOrder,
        ("DELETE", "/api/v3/order") => Endpoint::CancelOrder,
        ("GET", "/api/v3/openOrders") => Endpoint::OpenOrders,
        ("GET", "/api/v3/account") => Endpoint::Account,
        ("GET", "/api/v3/myTrades") => Endpoint::MyTrades,
        _ => return None,
    })
}

fn is_signed(e: Endpoint) -> bool {
    matches!(
        e,
        Endpoint::CreateOrder
            | Endpoint::TestOrder
            | Endpoint::QueryOrder
            | Endpoint::CancelOrder
            | Endpoint::OpenOrders
            | Endpoint::Account
            | Endpoint::MyTrades
    )
}

/// How many symbols a request names (`None` = all), for its weight.
fn symbol_count(p: &Params) -> Option<usize> {
    if param(p, "symbol").is_some() {
        return Some(1);
    }
    param(p, "symbols").map(|s| serde_json::from_str::<Vec<String>>(s).map_or(1, |v| v.len()))
}

/// `used_weight` is `None` in the MEXC dialect (MEXC sends no used-weight header).
fn respond(status: u16, body: String, used_weight: Option<u32>, retry_after: Option<Duration>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json;charset=UTF-8"));
    if let Some(used_weight) = used_weight {
        h.insert("x-mbx-used-weight-1m", HeaderValue::from(used_weight));
    }
    if let Some(r) = retry_after {
        h.insert("retry-after", HeaderValue::from(r.as_secs().max(1)));
    }
    resp
}

fn error_response(shared: &Shared, e: ApiError, used_weight: Option<u32>) -> Response {
    let e = match shared.sim.dialect() {
        Dialect::Binance => e,
        Dialect::Mexc => mexc::error(e),
    };
    respond(e.status, e.body(), used_weight, e.retry_after)
}

/// The used-weight header value, in the dialect that sends one.
fn weight_header(shared: &Shared, used: u32) -> Option<u32> {
    (shared.sim.dialect() == Dialect::Binance).then_some(used)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let Some(endpoint) = endpoint_of(&method, &path) else {
        let used = weight_header(&shared, shared.sim.used_weight());
        shared.log.lock().push(RecordedRequest {
            at: Instant::now(),
            method: method.to_string(),
            path,
            query,
            weight: 0,
        });
        return respond(
            404,
            ApiError::new(404, -1020, "This operation is not supported.").body(),
            used,
            None,
        );
    };
    let params: Result<Params, ApiError> = (|| {
        let mut p: Params = serde_urlencoded::from_str(&query)
            .map_err(|_| ApiError::bad(-1100, "Illegal characters found in a parameter."))?;
        if !body.is_empty() {
            let b: Params = serde_urlencoded::from_str(&body)
                .map_err(|_| ApiError::bad(-1100, "Illegal characters found in a parameter."))?;
            p.extend(b);
        }
        for (i, (k, _)) in p.iter().enumerate() {
            if p[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(ApiError::bad(-1101, "Duplicate values for a parameter detected."));
            }
        }
        Ok(p)
    })();
    let symbols = params.as_ref().ok().and_then(symbol_count);
    let w = match endpoint {
        Endpoint::OpenOrders => {
            weight(endpoint, params.as_ref().ok().and_then(|p| param(p, "symbol")).map(|_| 1))
        }
        _ => weight(endpoint, symbols),
    };
    shared.log.lock().push(RecordedRequest {
        at: Instant::now(),
        method: method.to_string(),
        path,
        query: query.clone(),
        weight: w,
    });
    let adm = shared.sim.admit(endpoint, w);
    if !adm.pre_delay.is_zero() {
        tokio::time::sleep(adm.pre_delay).await;
    }
    let used = weight_header(&shared, adm.used_weight);
    match &adm.refusal {
        Some(Refusal::Api(e)) => return error_response(&shared, e.clone(), used),
        Some(Refusal::Malformed) => return respond(200, MALFORMED_BODY.to_owned(), used, None),
        Some(Refusal::Firewall) => {
            let mut resp = respond(403, FIREWALL_BODY.to_owned(), None, None);
            resp.headers_mut().insert("content-type", HeaderValue::from_static("text/html"));
            return resp;
        }
        None => {}
    }
    let result = params.and_then(|p| {
        if is_signed(endpoint) {
            verify(&shared, &headers, &query, &body, &p)?;
        }
        process(&shared, endpoint, &p, adm.partial_then_cancel)
    });
    if !adm.post_delay.is_zero() {
        tokio::time::sleep(adm.post_delay).await;
    }
    let resp = match result {
        Ok(json) => respond(200, json, used, None),
        Err(e) => error_response(&shared, e, used),
    };
    transfer(&shared, &headers, resp).await
}

/// Compresses the answer when the client accepts gzip (and the venue serves it), then waits
/// the modelled transfer time of the body over the configured bandwidth.
async fn transfer(shared: &Shared, headers: &HeaderMap, resp: Response) -> Response {
    use std::io::Write as _;
    let (gzip, bandwidth) = shared.sim.transfer();
    let accepts_gzip = headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if !(gzip && accepts_gzip) && bandwidth.is_none() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return respond(500, ApiError::server_error().body(), None, None);
    };
    let bytes = if gzip && accepts_gzip {
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(bytes.len() / 4),
            flate2::Compression::default(),
        );
        match enc.write_all(&bytes).and_then(|()| enc.finish()) {
            Ok(compressed) => {
                parts.headers.insert("content-encoding", HeaderValue::from_static("gzip"));
                Bytes::from(compressed)
            }
            Err(_) => bytes,
        }
    } else {
        bytes
    };
    if let Some(bps) = bandwidth {
        let micros = (bytes.len() as u64).saturating_mul(1_000_000) / bps.max(1);
        tokio::time::sleep(Duration::from_micros(micros)).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The signed-request checks: API key, signature, timestamp window.
fn verify(shared: &Shared, headers: &HeaderMap, query: &str, body: &str, p: &Params) -> Result<(), ApiError> {
    let key_header = match shared.sim.dialect() {
        Dialect::Binance => "x-mbx-apikey",
        Dialect::Mexc => "x-mexc-apikey",
    };
    let key = headers.get(key_header).and_then(|v| v.to_str().ok()).unwrap_or("");
    if key.is_empty() {
        return Err(ApiError::new(401, -2014, "API-key format invalid."));
    }
    if key != shared.sim.api_key() {
        return Err(ApiError::new(401, -2015, "Invalid API-key, IP, or permissions for action."));
    }
    let signature =
        param(p, "signature").filter(|s| !s.is_empty()).ok_or_else(|| ApiError::mandatory("signature"))?;
    let timestamp: i64 =
        param(p, "timestamp").and_then(|t| t.parse().ok()).ok_or_else(|| ApiError::mandatory("timestamp"))?;
    let recv_window: i64 = match param(p, "recvWindow") {
        None => 5000,
        Some(v) => v.parse().map_err(|_| ApiError::mandatory("recvWindow"))?,
    };
    if recv_window > 60_000 {
        return Err(ApiError::bad(
            -1102,
            "'recvWindow' contains unexpected value. Cannot be greater than 60000.",
        ));
    }
    let strip = |s: &str| {
        s.split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("signature="))
            .collect::<Vec<_>>()
            .join("&")
    };
    let payload = format!("{}{}", strip(query), strip(body));
    let expected = sign(shared.sim.api_secret(), &payload);
    if !expected.eq_ignore_ascii_case(signature) {
        return Err(ApiError::bad(-1022, "Signature for this request is not valid."));
    }
    let server = server_time(shared);
    if timestamp > server.saturating_add(1000) {
        return Err(ApiError::bad(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if server.saturating_sub(timestamp) > recv_window {
        return Err(ApiError::bad(-1021, "Timestamp for this request is outside of the recvWindow."));
    }
    Ok(())
}

/// Lowercase hex HMAC-SHA256 of `payload` with `secret`, as Binance signs requests.
pub(crate) fn sign(secret: &str, payload: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new(); // HMAC takes keys of any length; unreachable in practice
    };
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn server_time(shared: &Shared) -> i64 {
    shared.sim.now().as_millis() + shared.skew_ms.load(Ordering::SeqCst)
}

fn to_json<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v)
        .map_err(|_| ApiError::new(500, -1000, "An unknown error occurred while processing the request."))
}

/// Parses a decimal parameter like Binance: digits with an optional fraction, at most 8 decimals.
fn decimal_param(p: &Params, name: &str) -> Result<Option<Decimal>, ApiError> {
    let Some(v) = param(p, name) else { return Ok(None) };
    let ok =
        !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') && v.matches('.').count() <= 1;
    let d = Decimal::from_str(v).ok().filter(|_| ok).ok_or_else(|| ApiError::illegal_number(name))?;
    if d.normalize().scale() > 8 {
        return Err(ApiError::bad(-1111, format!("Parameter '{name}' has too much precision.")));
    }
    Ok(Some(d))
}

fn int_param(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    param(p, name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::bad(
                    -1100,
                    format!(
                        "Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,20}}$'."
                    ),
                )
            })
        })
        .transpose()
}

/// Which markets a `symbol` / `symbols` / neither request names (listed ones only).
fn selected(st: &SimState, p: &Params) -> Result<Option<Vec<usize>>, ApiError> {
    let listed =
        |id: &str| st.market.index(id).filter(|i| st.market.is_listed(*i)).ok_or_else(ApiError::bad_symbol);
    match (param(p, "symbol"), param(p, "symbols")) {
        (Some(_), Some(_)) => Err(ApiError::bad(-1128, "Combination of optional parameters invalid.")),
        (Some(s), None) => Ok(Some(vec![listed(s)?])),
        (None, Some(list)) => {
            let names: Vec<String> = serde_json::from_str(list).map_err(|_| {
                ApiError::bad(
                    -1100,
                    "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.",
                )
            })?;
            if names.is_empty() {
                return Err(ApiError::bad(-1130, "Data sent for parameter 'symbols' is not valid."));
            }
            names.iter().map(|n| listed(n)).collect::<Result<Vec<_>, _>>().map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// Answers a single object for `symbol=`, an array otherwise.
fn one_or_many<T: Serialize>(single: bool, mut items: Vec<T>) -> Result<String, ApiError> {
    match (single, items.pop()) {
        (true, Some(item)) => to_json(&item),
        (_, last) => {
            items.extend(last);
            to_json(&items)
        }
    }
}

fn order_ref(p: &Params) -> Result<OrderRef, ApiError> {
    if let Some(id) = int_param(p, "orderId")? {
        return Ok(OrderRef::Exchange(OrderId(id.to_string())));
    }
    match param(p, "origClientOrderId") {
        Some("") => Err(ApiError::bad(-1119, "Original client order ID was empty.")),
        Some(c) => ClientOrderId::new(c).map(OrderRef::Client).map_err(|_| ApiError::no_such_order()),
        None => Err(ApiError::bad(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

/// The market `symbol=` names, listed or not: order and trade lookups work on a delisted
/// (`BREAK`) market, as on Binance.
fn known_symbol_index(st: &SimState, p: &Params) -> Result<usize, ApiError> {
    let s = param(p, "symbol").filter(|s| !s.is_empty()).ok_or_else(|| ApiError::mandatory("symbol"))?;
    st.market.index(s).ok_or_else(ApiError::bad_symbol)
}

fn symbol_index(st: &SimState, p: &Params) -> Result<usize, ApiError> {
    let s = param(p, "symbol").filter(|s| !s.is_empty()).ok_or_else(|| ApiError::mandatory("symbol"))?;
    st.market.index(s).filter(|i| st.market.is_listed(*i)).ok_or_else(ApiError::bad_symbol)
}

fn process(
    shared: &Shared,
    endpoint: Endpoint,
    p: &Params,
    partial_then_cancel: bool,
) -> Result<String, ApiError> {
    let sim = &shared.sim;
    let pull = matches!(
        endpoint,
        Endpoint::TickerPrice | Endpoint::BookTicker | Endpoint::Ticker24h | Endpoint::Klines
    );
    match endpoint {
        Endpoint::Ping => return Ok("{}".to_owned()),
        Endpoint::Time => return to_json(&binance::ServerTime { server_time: server_time(shared) }),
        _ => {}
    }
    let server_now = server_time(shared);
    let weight_limit = sim.capabilities_limit();
    let fees = sim.fees();
    sim.with_state(pull, |st, now| match endpoint {
        Endpoint::ExchangeInfo => {
            let all: Vec<usize> = match (param(p, "symbol"), param(p, "symbols")) {
                (None, None) => (0..st.market.len()).collect(),
                _ => selected(st, p)?.unwrap_or_default(),
            };
            let mut info = serde_json::to_value(binance::ExchangeInfo {
                timezone: "UTC",
                server_time: server_now,
                rate_limits: vec![binance::RateLimit {
                    rate_limit_type: "REQUEST_WEIGHT",
                    interval: "MINUTE",
                    interval_num: 1,
                    limit: weight_limit,
                }],
                exchange_filters: Vec::new(),
                symbols: all.into_iter().map(|i| binance::SymbolInfo::new(&SimExchange::rules_of(&st.market, i))).collect(),
                sors: Vec::new(),
            })
            .map_err(|_| ApiError::server_error())?;
            if param(p, "symbol").is_none() && param(p, "symbols").is_none() {
                if let Some(symbols) = info.get_mut("symbols").and_then(serde_json::Value::as_array_mut) {
                    for name in sim.unrepresentable_listings() {
                        symbols.push(unrepresentable_listing(name));
                    }
                }
            }
            to_json(&info)
        }
        Endpoint::TickerPrice | Endpoint::BookTicker => {
            let sel = selected(st, p)?;
            let single = param(p, "symbol").is_some();
            let indices = sel.unwrap_or_else(|| (0..st.market.len()).filter(|i| st.market.is_listed(*i)).collect());
            let tops: Vec<_> = indices.iter().map(|&i| (i, st.market.top(i))).collect();
            if endpoint == Endpoint::TickerPrice {
                one_or_many(single, tops.iter().map(|(i, t)| binance::PriceTicker::new(&st.market.spec(*i).venue_id, t)).collect())
            } else {
                one_or_many(single, tops.iter().map(|(i, t)| binance::BookTicker::new(&st.market.spec(*i).venue_id, t)).collect())
            }
        }
        Endpoint::Ticker24h => {
            let mini = match param(p, "type") {
                None | Some("FULL") => false,
                Some("MINI") => true,
                Some(_) => return Err(ApiError::bad(-1139, "Invalid ticker type.")),
            };
            let sel = selected(st, p)?;
            let single = param(p, "symbol").is_some();
            let indices = sel.unwrap_or_else(|| (0..st.market.len()).filter(|i| st.market.is_listed(*i)).collect());
            let rows: Vec<_> = indices.iter().map(|&i| (i, st.market.stats_24h(i), st.market.top(i))).collect();
            if mini {
                one_or_many(single, rows.iter().map(|(i, s, _)| binance::Ticker24hMini::new(&st.market.spec(*i).venue_id, s)).collect())
            } else {
                one_or_many(single, rows.iter().map(|(i, s, t)| binance::Ticker24hFull::new(&st.market.spec(*i).venue_id, s, t)).collect())
            }
        }
        Endpoint::Klines => {
            let i = symbol_index(st, p)?;
            let interval = param(p, "interval").ok_or_else(|| ApiError::mandatory("interval"))?;
            let interval = Interval::from_str(interval).map_err(|_| ApiError::bad(-1120, "Invalid interval."))?;
            let start = int_param(p, "startTime")?;
            let end = int_param(p, "endTime")?;
            let limit = int_param(p, "limit")?.unwrap_or(500);
            if limit < 1 {
                return Err(ApiError::bad(-1130, "Data sent for parameter 'limit' is not valid."));
            }
            if let (Some(s), Some(e)) = (start, end) {
                if s > e {
                    return Err(ApiError::bad(-1130, "Data sent for parameter 'startTime' is not valid."));
                }
            }
            let rows: Vec<_> =
                st.market.klines(i, interval, start, end, limit.min(1000) as usize).iter().map(binance::kline_row).collect();
            to_json(&rows)
        }
        Endpoint::CreateOrder | Endpoint::TestOrder => {
            let i = symbol_index(st, p)?;
            let side = match param(p, "side") {
                None | Some("") => return Err(ApiError::mandatory("side")),
                Some("BUY") => Side::Buy,
                Some("SELL") => Side::Sell,
                Some(_) => return Err(ApiError::bad(-1117, "Invalid side.")),
            };
            let mexc = sim.dialect() == Dialect::Mexc;
            let (order_type, type_tif) = match param(p, "type") {
                None | Some("") => return Err(ApiError::mandatory("type")),
                Some("MARKET") => (OrderType::Market, None),
                Some("LIMIT") if mexc => (OrderType::Limit, Some(TimeInForce::Gtc)),
                Some("LIMIT") => (OrderType::Limit, None),
                Some("LIMIT_MAKER") => (OrderType::LimitMaker, None),
                // MEXC spells time in force as the order type.
                Some("IMMEDIATE_OR_CANCEL") if mexc => (OrderType::Limit, Some(TimeInForce::Ioc)),
                Some("FILL_OR_KILL") if mexc => (OrderType::Limit, Some(TimeInForce::Fok)),
                Some(_) => return Err(ApiError::bad(-1116, "Invalid orderType.")),
            };
            let tif = match (param(p, "timeInForce"), mexc) {
                (None, _) => type_tif,
                (Some(_), true) => return Err(ApiError::not_required("timeInForce")),
                (Some("GTC"), false) => Some(TimeInForce::Gtc),
                (Some("IOC"), false) => Some(TimeInForce::Ioc),
                (Some("FOK"), false) => Some(TimeInForce::Fok),
                (Some(_), false) => return Err(ApiError::bad(-1115, "Invalid timeInForce.")),
            };
            if param(p, "quoteOrderQty").is_some() {
                return Err(ApiError::bad(-1020, "This operation is not supported."));
            }
            let quantity = decimal_param(p, "quantity")?.ok_or_else(|| ApiError::mandatory("quantity"))?;
            let price = decimal_param(p, "price")?;
            let resp = match param(p, "newOrderRespType") {
                None | Some("FULL") => RespType::Full,
                Some("RESULT") => RespType::Result,
                Some("ACK") => RespType::Ack,
                Some(_) => return Err(ApiError::bad(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")),
            };
            let client_order_id = match param(p, "newClientOrderId") {
                Some("") => return Err(ApiError::bad(-1118, "New client order ID was empty.")),
                Some(c) => ClientOrderId::new(c).map_err(|_| {
                    ApiError::bad(
                        -1100,
                        "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
                    )
                })?,
                None => generated_id(shared, "x-sim-")?,
            };
            let top = st.market.top(i);
            let req = NewOrder { market: i, side, order_type, quantity, price, time_in_force: tif, client_order_id, partial_then_cancel };
            if endpoint == Endpoint::TestOrder {
                // Both Binance and MEXC answer a valid test order with an empty object.
                st.venue.test(st.market.spec(i), &top, &req)?;
                return Ok("{}".to_owned());
            }
            let rec = st.venue.place(st.market.spec(i), &top, now, req)?;
            if mexc {
                return to_json(&mexc::new_order(&rec));
            }
            binance::new_order(&rec, resp).map_err(|_| ApiError::server_error())
        }
        Endpoint::QueryOrder => {
            let i = known_symbol_index(st, p)?;
            let r = order_ref(p)?;
            let rec = sim.visible_order(st, i, &r, now)?;
            match sim.dialect() {
                Dialect::Binance => to_json(&binance::QueryOrder::new(rec)),
                Dialect::Mexc => to_json(&mexc::order(rec)),
            }
        }
        Endpoint::CancelOrder => {
            let i = known_symbol_index(st, p)?;
            let r = order_ref(p).map_err(|e| if e.code == -2013 { ApiError::unknown_order_cancel() } else { e })?;
            let cancel_id = match param(p, "newClientOrderId") {
                Some(c) if !c.is_empty() => c.to_owned(),
                _ => generated_id(shared, "x-sim-cancel-")?.as_str().to_owned(),
            };
            let rec = st.venue.cancel(i, st.market.spec(i), &r, now)?;
            match sim.dialect() {
                Dialect::Binance => to_json(&binance::CancelOrder::new(&rec, &cancel_id)),
                Dialect::Mexc => to_json(&mexc::order(&rec)),
            }
        }
        Endpoint::OpenOrders => {
            let m = match param(p, "symbol") {
                Some(_) => Some(known_symbol_index(st, p)?),
                None => None,
            };
            let orders = st.venue.open_orders(m);
            let mut list: Vec<serde_json::Value> = match sim.dialect() {
                Dialect::Binance => orders
                    .iter()
                    .map(|o| serde_json::to_value(binance::QueryOrder::new(o)))
                    .collect::<Result<_, _>>()
                    .map_err(|_| ApiError::server_error())?,
                Dialect::Mexc => orders.iter().map(mexc::order).collect(),
            };
            list.extend(sim.foreign_orders(m.map(|i| st.market.spec(i).venue_id.as_str())));
            to_json(&list)
        }
        Endpoint::MyTrades => {
            let i = known_symbol_index(st, p)?;
            let order_id = int_param(p, "orderId")?;
            let start = int_param(p, "startTime")?;
            let end = int_param(p, "endTime")?;
            let max = match sim.dialect() {
                Dialect::Binance => 1000,
                Dialect::Mexc => 100,
            };
            let limit = int_param(p, "limit")?.unwrap_or(max.min(500));
            if !(1..=max).contains(&limit) {
                return Err(ApiError::bad(-1130, "Data sent for parameter 'limit' is not valid."));
            }
            if order_id.is_some() && (start.is_some() || end.is_some()) {
                return Err(ApiError::bad(-1106, "Parameter 'startTime' sent when not required."));
            }
            let mut trades: Vec<(u64, serde_json::Value)> = st
                .venue
                .all_orders()
                .filter(|o| o.market == i && order_id.is_none_or(|id| o.numeric_id() == id as u64))
                .flat_map(|o| {
                    o.fills
                        .iter()
                        .filter(|f| {
                            start.is_none_or(|s| f.ts.as_millis() >= s) && end.is_none_or(|e| f.ts.as_millis() <= e)
                        })
                        .map(move |f| (f.trade_id, my_trade(sim.dialect(), o, f)))
                })
                .collect();
            trades.sort_by_key(|(id, _)| *id);
            trades.truncate(limit as usize);
            to_json(&trades.into_iter().map(|(_, t)| t).collect::<Vec<_>>())
        }
        Endpoint::Account => {
            let omit_zero = param(p, "omitZeroBalances") == Some("true");
            let (maker, taker) = fees;
            let bp = |f: Decimal| (f * Decimal::from(10_000)).round().try_into().unwrap_or(0i64);
            to_json(&binance::Account {
                maker_commission: bp(maker),
                taker_commission: bp(taker),
                buyer_commission: 0,
                seller_commission: 0,
                commission_rates: binance::CommissionRates {
                    maker: d8(maker),
                    taker: d8(taker),
                    buyer: d8(Decimal::ZERO),
                    seller: d8(Decimal::ZERO),
                },
                can_trade: true,
                can_withdraw: true,
                can_deposit: true,
                brokered: false,
                require_self_trade_prevention: false,
                prevent_sor: false,
                update_time: now.as_millis(),
                account_type: "SPOT",
                balances: st
                    .venue
                    .balances()
                    .into_iter()
                    .filter(|b| !omit_zero || !b.total().is_zero())
                    .map(|b| binance::BalanceJson { asset: b.asset, free: d8(b.free), locked: d8(b.locked) })
                    .collect(),
                permissions: ["SPOT"],
                uid: 100_000_001,
            })
        }
        Endpoint::Any | Endpoint::Ping | Endpoint::Time => Ok("{}".to_owned()),
    })
}

/// One own trade as `GET /api/v3/myTrades` shows it (Binance: numeric ids and times).
fn my_trade(dialect: Dialect, o: &crate::venue::OrderRec, f: &crate::venue::FillRec) -> serde_json::Value {
    match dialect {
        Dialect::Mexc => mexc::trade(o, f),
        Dialect::Binance => serde_json::json!({
            "symbol": o.venue_id,
            "id": f.trade_id,
            "orderId": o.numeric_id(),
            "orderListId": -1,
            "price": d8(f.price),
            "qty": d8(f.qty),
            "quoteQty": d8(f.price * f.qty),
            "commission": d8(f.commission),
            "commissionAsset": f.commission_asset,
            "time": f.ts.as_millis(),
            "isBuyer": o.order.side == Side::Buy,
            "isMaker": f.maker,
            "isBestMatch": true,
        }),
    }
}

/// An exchangeInfo entry for a listing whose asset name the bot's vocabulary cannot hold.
fn unrepresentable_listing(name: &str) -> serde_json::Value {
    let base = name.strip_suffix("USDT").unwrap_or(name);
    serde_json::json!({
        "symbol": name,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": "USDT",
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "isSpotTradingAllowed": true,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00010000", "maxPrice": "1000.00000000", "tickSize": "0.00010000"},
            {"filterType": "LOT_SIZE", "minQty": "1.00000000", "maxQty": "9000000.00000000", "stepSize": "1.00000000"}
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
    })
}

fn generated_id(shared: &Shared, prefix: &str) -> Result<ClientOrderId, ApiError> {
    let n = shared.next_client_id.fetch_add(1, Ordering::SeqCst);
    ClientOrderId::new(format!("{prefix}{n}")).map_err(|_| ApiError::server_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_binance_doc_vectors() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/test_data/hmac_signature_vectors.json"
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let secret = v["secretKey"].as_str().unwrap();
        for vector in v["vectors"].as_array().unwrap() {
            let payload = format!(
                "{}{}",
                vector["queryString"].as_str().unwrap(),
                vector["requestBody"].as_str().unwrap()
            );
            assert_eq!(sign(secret, &payload), vector["signature"].as_str().unwrap(), "{}", vector["name"]);
        }
    }

    #[test]
    fn decimal_params_follow_binance_rules() {
        let p: Params =
            vec![("q".into(), "-1".into()), ("r".into(), "0.123456789".into()), ("s".into(), "1.5".into())];
        assert_eq!(decimal_param(&p, "q").unwrap_err().code, -1100);
        assert_eq!(decimal_param(&p, "r").unwrap_err().code, -1111);
        assert_eq!(decimal_param(&p, "s").unwrap(), Some(Decimal::new(15, 1)));
        assert_eq!(decimal_param(&p, "t").unwrap(), None);
    }
}
