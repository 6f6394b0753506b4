//! Response parsing: the venues' JSON shapes (Binance spot v3, MEXC spot v3) into the
//! workspace vocabulary. Numbers that are money arrive as strings and become `Decimal`
//! exactly; integers (ids, times) are accepted as JSON numbers or strings. Every failure
//! becomes [`ExchangeError::InvalidResponse`] with an excerpt of the body, never a panic.

use std::borrow::Cow;
use std::fmt;

use exchange::{ExchangeError, MarketList, OpenOrders, SkippedEntry};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use trading_core::{
    Balance, Candle, ClientOrderId, Fill, MarketRules, MarketStatus, Order, OrderId, OrderRequest, OrderType,
    Quote, Side, SymbolFilter, SymbolMap, Timestamp,
};

use crate::VenueProfile;

// ---------------------------------------------------------------------------------------------
// Flexible scalars

struct I64Visitor;

impl Visitor<'_> for I64Visitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a string holding one")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("integer {v} out of range")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        v.parse().map_err(|_| E::custom(format!("{v:?} is not an integer")))
    }
}

fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(I64Visitor)
}

fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "de_i64")] i64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an order id (integer or string)")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
}

fn de_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(IdVisitor)
}

/// Money as a decimal string (`"0.00100000"`); `null` and `""` mean absent.
fn de_opt_dec<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let text: Option<Cow<'de, str>> = Option::deserialize(d)?;
    match text.as_deref() {
        None | Some("") => Ok(None),
        Some(t) => parse_dec(t).map(Some).map_err(de::Error::custom),
    }
}

fn de_dec<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let text: Cow<'de, str> = Cow::deserialize(d)?;
    parse_dec(&text).map_err(de::Error::custom)
}

/// Exact when it fits; values with more than 28 decimals (MEXC pads to 30) are rounded.
fn parse_dec(text: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(text)
        .or_else(|_| text.parse::<Decimal>())
        .map_err(|e| format!("{text:?} is not a decimal number: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Parses JSON, mapping failures to `InvalidResponse` with an excerpt.
pub(crate) fn from_json<'a, T: Deserialize<'a>>(endpoint: &str, body: &'a str) -> Result<T, ExchangeError> {
    serde_json::from_str(body).map_err(|e| ExchangeError::invalid_response(endpoint, e.to_string(), body))
}

/// A venue error body `{"code": -1121, "msg": "Invalid symbol."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ApiError {
    #[serde(deserialize_with = "de_i64")]
    pub(crate) code: i64,
    #[serde(default)]
    pub(crate) msg: String,
}

// ---------------------------------------------------------------------------------------------
// Time, markets

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime {
    #[serde(deserialize_with = "de_i64")]
    server_time: i64,
}

/// `GET /api/v3/time`.
pub(crate) fn parse_server_time(body: &str) -> Result<Timestamp, ExchangeError> {
    let t: ServerTime = from_json("/api/v3/time", body)?;
    Ok(Timestamp::from_millis(t.server_time))
}

#[derive(Deserialize)]
struct ExchangeInfo {
    /// Kept raw: each entry is parsed on its own, so one the bot cannot represent is skipped
    /// and named instead of failing the list.
    symbols: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SymbolInfo<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow)]
    base_asset: Cow<'a, str>,
    #[serde(borrow)]
    quote_asset: Cow<'a, str>,
    #[serde(default)]
    filters: Vec<SymbolFilter>,
    // MEXC has no filters; its rules are precision fields.
    #[serde(default, deserialize_with = "de_opt_i64")]
    base_asset_precision: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    quote_precision: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    base_size_precision: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    quote_amount_precision: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    max_quote_amount: Option<Decimal>,
    #[serde(default)]
    is_spot_trading_allowed: Option<bool>,
}

fn market_status(text: &str, spot_allowed: Option<bool>) -> MarketStatus {
    if spot_allowed == Some(false) {
        return MarketStatus::Break;
    }
    match text {
        // MEXC: "1" online, "2" paused, "3" offline; older docs say ENABLED.
        "TRADING" | "1" | "ENABLED" => MarketStatus::Trading,
        "HALT" | "2" => MarketStatus::Halt,
        "BREAK" | "3" => MarketStatus::Break,
        "PRE_TRADING" => MarketStatus::PreTrading,
        "POST_TRADING" => MarketStatus::PostTrading,
        "END_OF_DAY" => MarketStatus::EndOfDay,
        "AUCTION_MATCH" => MarketStatus::AuctionMatch,
        _ => MarketStatus::Unknown,
    }
}

fn pow10_neg(places: i64) -> Option<Decimal> {
    u32::try_from(places).ok().filter(|p| *p <= 28).map(|p| Decimal::new(1, p))
}

/// `GET /api/v3/exchangeInfo` into rules. A body that is not an exchangeInfo answer fails;
/// a listing the bot cannot represent (a non-ASCII asset name, filters that contradict each
/// other, a missing field) is skipped and named in [`MarketList::skipped`], never fatal.
pub(crate) fn parse_exchange_info(body: &str) -> Result<MarketList, ExchangeError> {
    const EP: &str = "/api/v3/exchangeInfo";
    let info: ExchangeInfo = from_json(EP, body)?;
    let mut list = MarketList { markets: Vec::with_capacity(info.symbols.len()), skipped: Vec::new() };
    for (i, raw) in info.symbols.iter().enumerate() {
        match market_rules(raw) {
            Ok(rules) => list.markets.push(rules),
            Err(reason) => list.skipped.push(SkippedEntry {
                venue_name: raw
                    .get("symbol")
                    .and_then(serde_json::Value::as_str)
                    .map_or_else(|| format!("symbols[{i}]"), str::to_owned),
                reason,
            }),
        }
    }
    Ok(list)
}

/// One exchangeInfo entry into rules, or why it cannot be represented.
fn market_rules(raw: &serde_json::Value) -> Result<MarketRules, String> {
    let s = SymbolInfo::deserialize(raw).map_err(|e| e.to_string())?;
    let symbol = trading_core::Symbol::new(&s.base_asset, &s.quote_asset).map_err(|e| e.to_string())?;
    let status = market_status(&s.status, s.is_spot_trading_allowed);
    let mut rules = MarketRules::from_filters(symbol, s.symbol.as_ref(), status, &s.filters)
        .map_err(|e| e.to_string())?;
    if s.filters.is_empty() {
        // MEXC: quantity grid from baseAssetPrecision, minimum from baseSizePrecision,
        // price grid from quotePrecision, notional band from quoteAmountPrecision/maxQuoteAmount.
        if let Some(step) = s.base_asset_precision.and_then(pow10_neg) {
            rules.step_size = step;
        }
        if let Some(min_qty) = s.base_size_precision {
            rules.min_qty = min_qty;
        }
        if let Some(tick) = s.quote_precision.and_then(pow10_neg) {
            rules.tick_size = tick;
        }
        if let Some(min_notional) = s.quote_amount_precision {
            rules.min_notional = min_notional.normalize();
        }
        if let Some(max_notional) = s.max_quote_amount {
            rules.max_notional = max_notional.normalize();
        }
    }
    Ok(rules)
}

// ---------------------------------------------------------------------------------------------
// Tickers

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookTicker<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    bid_price: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    ask_price: Option<Decimal>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ticker24h<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    bid_price: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    ask_price: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    last_price: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    quote_volume: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    close_time: Option<i64>,
}

/// Which ticker shape a body has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TickerKind {
    /// `ticker/bookTicker`: bid and ask.
    Book,
    /// `ticker/24hr`: last price, 24h quote volume, and (FULL type) bid and ask.
    Day,
}

impl TickerKind {
    pub(crate) const fn path(self) -> &'static str {
        match self {
            TickerKind::Book => "/api/v3/ticker/bookTicker",
            TickerKind::Day => "/api/v3/ticker/24hr",
        }
    }
}

/// Whether a ticker body is one object (a `symbol=` request) or an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One object.
    One,
    /// An array.
    Many,
}

/// Parses a ticker body into quotes. Venue ids missing from `map` are skipped (a market
/// listed after the last `load_markets`); the caller checks that asked-for symbols came back.
pub(crate) fn parse_tickers(
    kind: TickerKind,
    shape: Shape,
    body: &str,
    map: &SymbolMap,
    received_at: Timestamp,
) -> Result<Vec<Quote>, ExchangeError> {
    let ep = kind.path();
    // Idle or halted markets answer "0.00000000": no price, never a price of zero.
    let price = |p: Option<Decimal>| p.filter(|p| *p > Decimal::ZERO);
    let quote = |symbol: &str, bid, ask, last, vol, ts: Option<i64>| {
        map.symbol(symbol).ok().map(|s| Quote {
            symbol: s.clone(),
            bid: price(bid),
            ask: price(ask),
            last: price(last),
            quote_volume_24h: vol,
            exchange_ts: ts.map(Timestamp::from_millis),
            received_at,
        })
    };
    Ok(match (kind, shape) {
        (TickerKind::Book, Shape::One) => {
            let t: BookTicker<'_> = from_json(ep, body)?;
            quote(&t.symbol, t.bid_price, t.ask_price, None, None, None).into_iter().collect()
        }
        (TickerKind::Book, Shape::Many) => {
            let ts: Vec<BookTicker<'_>> = from_json(ep, body)?;
            ts.iter().filter_map(|t| quote(&t.symbol, t.bid_price, t.ask_price, None, None, None)).collect()
        }
        (TickerKind::Day, Shape::One) => {
            let t: Ticker24h<'_> = from_json(ep, body)?;
            quote(&t.symbol, t.bid_price, t.ask_price, t.last_price, t.quote_volume, t.close_time)
                .into_iter()
                .collect()
        }
        (TickerKind::Day, Shape::Many) => {
            let ts: Vec<Ticker24h<'_>> = from_json(ep, body)?;
            ts.iter()
                .filter_map(|t| {
                    quote(&t.symbol, t.bid_price, t.ask_price, t.last_price, t.quote_volume, t.close_time)
                })
                .collect()
        }
    })
}

/// A ticker endpoint whose all-symbols answer [`parse_ticker_array`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickerEndpoint {
    /// `GET /api/v3/ticker/bookTicker`: bid and ask.
    BookTicker,
    /// `GET /api/v3/ticker/24hr`: last price, 24h quote volume, bid and ask.
    Ticker24h,
}

/// Parses an array answer of a ticker endpoint (the all-symbols or `symbols=` form) into
/// quotes, translating ids with `map` and skipping ids it does not list. The client uses the
/// same code; it is public for recorded-payload tools and benchmarks.
pub fn parse_ticker_array(
    endpoint: TickerEndpoint,
    body: &str,
    map: &SymbolMap,
    received_at: Timestamp,
) -> Result<Vec<Quote>, ExchangeError> {
    let kind = match endpoint {
        TickerEndpoint::BookTicker => TickerKind::Book,
        TickerEndpoint::Ticker24h => TickerKind::Day,
    };
    parse_tickers(kind, Shape::Many, body, map, received_at)
}

// ---------------------------------------------------------------------------------------------
// Klines

struct KlineRow {
    open_time: i64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    quote_volume: Option<Decimal>,
}

impl<'de> Deserialize<'de> for KlineRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowVisitor;
        #[derive(Deserialize)]
        struct I(#[serde(deserialize_with = "de_i64")] i64);
        #[derive(Deserialize)]
        struct Dec(#[serde(deserialize_with = "de_dec")] Decimal);
        #[derive(Deserialize)]
        struct OptDec(#[serde(deserialize_with = "de_opt_dec")] Option<Decimal>);
        impl<'de> Visitor<'de> for RowVisitor {
            type Value = KlineRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a kline array [openTime, open, high, low, close, volume, closeTime, quoteVolume, ...]",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KlineRow, A::Error> {
                let missing = |what| de::Error::custom(format!("kline row has no {what}"));
                let open_time = seq.next_element::<I>()?.ok_or_else(|| missing("open time"))?.0;
                let open = seq.next_element::<Dec>()?.ok_or_else(|| missing("open"))?.0;
                let high = seq.next_element::<Dec>()?.ok_or_else(|| missing("high"))?.0;
                let low = seq.next_element::<Dec>()?.ok_or_else(|| missing("low"))?.0;
                let close = seq.next_element::<Dec>()?.ok_or_else(|| missing("close"))?.0;
                let volume = seq.next_element::<Dec>()?.ok_or_else(|| missing("volume"))?.0;
                let _close_time = seq.next_element::<de::IgnoredAny>()?;
                let quote_volume = seq.next_element::<OptDec>()?.and_then(|q| q.0);
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(KlineRow { open_time, open, high, low, close, volume, quote_volume })
            }
        }
        d.deserialize_seq(RowVisitor)
    }
}

/// `POST /api/v3/order/test`: a JSON object (`{}`, or commission rates when asked for them).
/// Anything else on a 2xx is not a validation we can trust.
pub(crate) fn parse_test_order(body: &str) -> Result<(), ExchangeError> {
    const EP: &str = "/api/v3/order/test";
    let _: serde_json::Map<String, serde_json::Value> = from_json(EP, body)?;
    Ok(())
}

/// `GET /api/v3/klines`, oldest first. Rows whose prices contradict each other are refused.
pub(crate) fn parse_klines(body: &str) -> Result<Vec<Candle>, ExchangeError> {
    const EP: &str = "/api/v3/klines";
    let rows: Vec<KlineRow> = from_json(EP, body)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let c = Candle {
            open_time: Timestamp::from_millis(r.open_time),
            open: r.open,
            high: r.high,
            low: r.low,
            close: r.close,
            volume: r.volume,
            quote_volume: r.quote_volume,
        };
        if !c.is_consistent() {
            return Err(ExchangeError::invalid_response(
                EP,
                format!("inconsistent candle at {}: {c:?}", c.open_time.as_millis()),
                body,
            ));
        }
        out.push(c);
    }
    out.sort_by_key(|c| c.open_time);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Orders and account

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderWire<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(deserialize_with = "de_id")]
    order_id: String,
    #[serde(default, borrow)]
    client_order_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    orig_client_order_id: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    price: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    orig_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    executed_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "de_opt_dec")]
    cummulative_quote_qty: Option<Decimal>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "type")]
    order_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    side: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    time: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    update_time: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    transact_time: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    working_time: Option<i64>,
}

/// What the order parser needs besides the body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderCtx<'a> {
    pub(crate) profile: &'a VenueProfile,
    pub(crate) map: &'a SymbolMap,
    /// Used when the venue gives no time at all.
    pub(crate) now: Timestamp,
    /// The request an answer belongs to (order placement): fills in what an ACK-style answer
    /// leaves out (side, type, quantity, price).
    pub(crate) request: Option<&'a OrderRequest>,
}

fn convert_order(w: OrderWire<'_>, ctx: OrderCtx<'_>) -> Result<Order, String> {
    // Every reason names the order it is about (found by fuzzing: a bad symbol or client id
    // used to be reported without it).
    let symbol = ctx.map.symbol(&w.symbol).map_err(|e| format!("order {}: {e}", w.order_id))?.clone();
    let req = ctx.request;
    let side = match (w.side.as_deref(), req) {
        (Some("BUY"), _) => Side::Buy,
        (Some("SELL"), _) => Side::Sell,
        (None, Some(r)) => r.side,
        (other, _) => return Err(format!("order {}: unknown side {other:?}", w.order_id)),
    };
    let order_type = match (w.order_type.as_deref(), req) {
        (Some("MARKET"), _) => OrderType::Market,
        (Some("LIMIT" | "IMMEDIATE_OR_CANCEL" | "FILL_OR_KILL"), _) => OrderType::Limit,
        (Some("LIMIT_MAKER"), _) => OrderType::LimitMaker,
        (None, Some(r)) => r.order_type,
        (other, _) => return Err(format!("order {}: unsupported order type {other:?}", w.order_id)),
    };
    let filled = w.executed_qty.unwrap_or(Decimal::ZERO);
    let has_fills = filled > Decimal::ZERO;
    // ACK-style answers (MEXC create) carry no status: the order was just accepted.
    let status_text = w.status.as_deref().unwrap_or("NEW");
    let status = ctx
        .profile
        .order_status(status_text, has_fills)
        .ok_or_else(|| format!("order {}: unknown status {status_text:?}", w.order_id))?;
    // A cancel answer's clientOrderId is the cancel request's id; ours is origClientOrderId.
    // Orders placed without a client id (by hand, on MEXC) are identified by the venue id.
    let cid_text = w.orig_client_order_id.as_deref().or(w.client_order_id.as_deref()).unwrap_or(&w.order_id);
    let client_order_id = ClientOrderId::new(cid_text).map_err(|e| format!("order {}: {e}", w.order_id))?;
    let created =
        w.time.or(w.transact_time).or(w.working_time).map(Timestamp::from_millis).unwrap_or(ctx.now);
    let updated =
        w.update_time.or(w.transact_time).or(w.working_time).map(Timestamp::from_millis).unwrap_or(created);
    let price = match order_type {
        OrderType::Market => None,
        _ => w.price.filter(|p| !p.is_zero()).or(req.and_then(|r| r.price)),
    };
    Ok(Order {
        id: OrderId(w.order_id),
        client_order_id,
        symbol,
        side,
        order_type,
        status,
        price,
        quantity: w.orig_qty.or(req.map(|r| r.quantity)).unwrap_or(Decimal::ZERO),
        filled_quantity: filled,
        cumulative_quote: w.cummulative_quote_qty.unwrap_or(Decimal::ZERO),
        created_at: created,
        updated_at: updated.max(created),
    })
}

/// One order (`POST`, `GET`, `DELETE /api/v3/order`).
pub(crate) fn parse_order(endpoint: &str, body: &str, ctx: OrderCtx<'_>) -> Result<Order, ExchangeError> {
    let w: OrderWire<'_> = from_json(endpoint, body)?;
    convert_order(w, ctx).map_err(|reason| ExchangeError::invalid_response(endpoint, reason, body))
}

/// A list of orders (`GET /api/v3/openOrders`). A body that is not a list of orders fails;
/// an order the bot cannot represent (a STOP_LOSS_LIMIT placed by hand, an unknown status) is
/// listed in [`OpenOrders::unrecognised`] and the rest are returned.
pub(crate) fn parse_orders(
    endpoint: &str,
    body: &str,
    ctx: OrderCtx<'_>,
) -> Result<OpenOrders, ExchangeError> {
    let raws: Vec<serde_json::Value> = from_json(endpoint, body)?;
    let mut out = OpenOrders { orders: Vec::with_capacity(raws.len()), unrecognised: Vec::new() };
    for raw in &raws {
        let parsed =
            OrderWire::deserialize(raw).map_err(|e| e.to_string()).and_then(|w| convert_order(w, ctx));
        match parsed {
            Ok(order) => out.orders.push(order),
            Err(reason) => {
                let field = |k: &str| match raw.get(k) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    _ => "?".to_owned(),
                };
                out.unrecognised.push(SkippedEntry {
                    venue_name: format!("{}#{}", field("symbol"), field("orderId")),
                    reason,
                });
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TradeWire<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(deserialize_with = "de_id")]
    id: String,
    #[serde(deserialize_with = "de_id")]
    order_id: String,
    #[serde(deserialize_with = "de_dec")]
    price: Decimal,
    #[serde(deserialize_with = "de_dec")]
    qty: Decimal,
    #[serde(deserialize_with = "de_dec")]
    commission: Decimal,
    #[serde(borrow)]
    commission_asset: Cow<'a, str>,
    #[serde(deserialize_with = "de_i64")]
    time: i64,
    is_buyer: bool,
}

/// `GET /api/v3/myTrades` (Binance and MEXC share the shape): own trades, oldest first.
pub(crate) fn parse_my_trades(body: &str, map: &SymbolMap) -> Result<Vec<Fill>, ExchangeError> {
    const EP: &str = "/api/v3/myTrades";
    let trades: Vec<TradeWire<'_>> = from_json(EP, body)?;
    let mut out = Vec::with_capacity(trades.len());
    for t in trades {
        let symbol = map
            .symbol(&t.symbol)
            .map_err(|e| ExchangeError::invalid_response(EP, format!("trade {}: {e}", t.id), body))?
            .clone();
        out.push(Fill {
            trade_id: t.id,
            order_id: OrderId(t.order_id),
            symbol,
            side: if t.is_buyer { Side::Buy } else { Side::Sell },
            price: t.price,
            quantity: t.qty,
            fee: t.commission,
            fee_asset: t.commission_asset.into_owned(),
            ts: Timestamp::from_millis(t.time),
        });
    }
    out.sort_by_key(|f| f.ts);
    Ok(out)
}

#[derive(Deserialize)]
struct Account<'a> {
    #[serde(borrow)]
    balances: Vec<BalanceWire<'a>>,
}

#[derive(Deserialize)]
struct BalanceWire<'a> {
    #[serde(borrow)]
    asset: Cow<'a, str>,
    #[serde(deserialize_with = "de_dec")]
    free: Decimal,
    #[serde(deserialize_with = "de_dec")]
    locked: Decimal,
}

/// `GET /api/v3/account`: the non-zero balances.
pub(crate) fn parse_balances(body: &str) -> Result<Vec<Balance>, ExchangeError> {
    let a: Account<'_> = from_json("/api/v3/account", body)?;
    Ok(a.balances
        .into_iter()
        .filter(|b| !(b.free.is_zero() && b.locked.is_zero()))
        .map(|b| Balance { asset: b.asset.into_owned(), free: b.free, locked: b.locked })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use trading_core::OrderStatus;

    fn data(rel: &str) -> String {
        let path = format!("{}/test_data/{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn json(rel: &str) -> Value {
        serde_json::from_str(&data(rel)).unwrap()
    }

    fn map() -> SymbolMap {
        SymbolMap::from_markets([
            ("LTCBTC", "LTC", "BTC"),
            ("ETHBTC", "ETH", "BTC"),
            ("BNBBTC", "BNB", "BTC"),
            ("BTCUSDT", "BTC", "USDT"),
            ("ETHUSDT", "ETH", "USDT"),
            ("LTCUSDT", "LTC", "USDT"),
            ("SOLUSDT", "SOL", "USDT"),
            ("ATLASUSDT", "ATLAS", "USDT"),
        ])
        .unwrap()
    }

    /// The raw string of a JSON field as a Decimal; `None` when absent or null.
    fn raw_dec(v: &Value, key: &str) -> Option<Decimal> {
        match v.get(key)? {
            Value::String(s) => Some(parse_dec(s).unwrap()),
            Value::Null => None,
            other => panic!("{key} is not a string: {other}"),
        }
    }

    fn raw_i64(v: &Value, key: &str) -> Option<i64> {
        match v.get(key)? {
            Value::String(s) => Some(s.parse().unwrap()),
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    fn items(v: &Value) -> Vec<&Value> {
        match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        }
    }

    #[track_caller]
    fn check_quotes(kind: TickerKind, raw: &Value) {
        let body = raw.to_string();
        let shape = if raw.is_array() { Shape::Many } else { Shape::One };
        let quotes = parse_tickers(kind, shape, &body, &map(), Timestamp::from_millis(7)).unwrap();
        let raws = items(raw);
        assert_eq!(quotes.len(), raws.len(), "{body}");
        for (q, r) in quotes.iter().zip(raws) {
            assert_eq!(map().venue_id(&q.symbol), r["symbol"].as_str());
            assert_eq!(q.bid, raw_dec(r, "bidPrice"), "bid of {body}");
            assert_eq!(q.ask, raw_dec(r, "askPrice"), "ask of {body}");
            assert_eq!(q.received_at, Timestamp::from_millis(7));
            if kind == TickerKind::Day {
                assert_eq!(q.last, raw_dec(r, "lastPrice"));
                assert_eq!(q.quote_volume_24h, raw_dec(r, "quoteVolume"));
                assert_eq!(q.exchange_ts.map(Timestamp::as_millis), raw_i64(r, "closeTime"));
            }
        }
    }

    #[track_caller]
    fn check_order(o: &Order, r: &Value, profile: &VenueProfile) {
        assert_eq!(
            o.id.0,
            r["orderId"].as_str().map(str::to_owned).unwrap_or_else(|| r["orderId"].to_string())
        );
        let cid = r
            .get("origClientOrderId")
            .and_then(Value::as_str)
            .or(r["clientOrderId"].as_str())
            .unwrap_or(&o.id.0);
        assert_eq!(o.client_order_id.as_str(), cid);
        assert_eq!(o.side.as_str(), r["side"].as_str().unwrap());
        assert_eq!(Some(o.quantity), raw_dec(r, "origQty"));
        assert_eq!(Some(o.filled_quantity), raw_dec(r, "executedQty"));
        assert_eq!(Some(o.cumulative_quote), raw_dec(r, "cummulativeQuoteQty"));
        let expected_status =
            profile.order_status(r["status"].as_str().unwrap(), o.filled_quantity > Decimal::ZERO);
        assert_eq!(Some(o.status), expected_status);
        if o.order_type == OrderType::Market {
            assert_eq!(o.price, None);
        } else {
            assert_eq!(o.price, raw_dec(r, "price"));
        }
        let created = raw_i64(r, "time").or(raw_i64(r, "transactTime")).or(raw_i64(r, "workingTime"));
        assert_eq!(Some(o.created_at.as_millis()), created);
    }

    fn order_ctx<'a>(profile: &'a VenueProfile, map: &'a SymbolMap) -> OrderCtx<'a> {
        OrderCtx { profile, map, now: Timestamp::from_millis(1), request: None }
    }

    fn ack_request() -> OrderRequest {
        OrderRequest::market(
            "BTC/USDT".parse().unwrap(),
            Side::Sell,
            Decimal::TEN,
            ClientOrderId::new("6gCrw2kRUAF9CvJDGP16IP").unwrap(),
        )
    }

    #[track_caller]
    fn check_orders(raw: &Value, profile: &VenueProfile) {
        let m = map();
        let body = raw.to_string();
        let orders = if raw.is_array() {
            parse_orders("/api/v3/openOrders", &body, order_ctx(profile, &m)).unwrap().orders
        } else {
            vec![parse_order("/api/v3/order", &body, order_ctx(profile, &m)).unwrap()]
        };
        let raws = items(raw);
        assert_eq!(orders.len(), raws.len());
        for (o, r) in orders.iter().zip(raws) {
            check_order(o, r, profile);
        }
    }

    #[track_caller]
    fn check_klines(raw: &Value) {
        let candles = parse_klines(&raw.to_string()).unwrap();
        let rows = raw.as_array().unwrap();
        assert_eq!(candles.len(), rows.len());
        for (c, r) in candles.iter().zip(rows) {
            let d = |i: usize| parse_dec(r[i].as_str().unwrap()).unwrap();
            let t = r[0].as_i64().or_else(|| r[0].as_str().and_then(|s| s.parse().ok())).unwrap();
            assert_eq!(c.open_time.as_millis(), t);
            assert_eq!((c.open, c.high, c.low, c.close, c.volume), (d(1), d(2), d(3), d(4), d(5)));
            assert_eq!(c.quote_volume, Some(d(7)));
        }
    }

    #[track_caller]
    fn check_balances(raw: &Value) {
        let balances = parse_balances(&raw.to_string()).unwrap();
        let non_zero: Vec<&Value> = raw["balances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| !(raw_dec(b, "free").unwrap().is_zero() && raw_dec(b, "locked").unwrap().is_zero()))
            .collect();
        assert_eq!(balances.len(), non_zero.len());
        for (b, r) in balances.iter().zip(non_zero) {
            assert_eq!(Some(b.asset.as_str()), r["asset"].as_str());
            assert_eq!(Some(b.free), raw_dec(r, "free"));
            assert_eq!(Some(b.locked), raw_dec(r, "locked"));
        }
    }

    #[test]
    fn binance_doc_fixture_files() {
        let b = VenueProfile::binance_spot();
        check_quotes(TickerKind::Book, &json("binance_docs/book_ticker_single.json"));
        check_quotes(TickerKind::Book, &json("binance_docs/book_ticker_list.json"));
        for f in ["full_single", "full_list", "mini_single", "mini_list"] {
            check_quotes(TickerKind::Day, &json(&format!("binance_docs/ticker_24hr_{f}.json")));
        }
        check_klines(&json("binance_docs/klines.json"));
        for f in ["order_new_result", "order_new_full", "order_cancel", "order_query", "open_orders"] {
            check_orders(&json(&format!("binance_docs/{f}.json")), &b);
        }
        check_balances(&json("binance_docs/account.json"));
        assert_eq!(
            parse_server_time(&data("binance_docs/server_time.json")).unwrap().as_millis(),
            1_499_827_319_559
        );
    }

    #[test]
    fn ack_answer_is_a_new_order_and_cancel_keeps_our_client_id() {
        let b = VenueProfile::binance_spot();
        let m = map();
        let req = ack_request();
        let ctx = OrderCtx { request: Some(&req), ..order_ctx(&b, &m) };
        let ack = parse_order("/api/v3/order", &data("binance_docs/order_new_ack.json"), ctx).unwrap();
        assert_eq!((ack.status, ack.id.0.as_str()), (OrderStatus::New, "28"));
        assert_eq!((ack.side, ack.order_type, ack.quantity), (Side::Sell, OrderType::Market, Decimal::TEN));
        let no_request =
            parse_order("/api/v3/order", &data("binance_docs/order_new_ack.json"), order_ctx(&b, &m));
        assert!(no_request.unwrap_err().to_string().contains("unknown side"));
        assert_eq!(ack.created_at.as_millis(), 1_507_725_176_595);
        let cancel =
            parse_order("/api/v3/order", &data("binance_docs/order_cancel.json"), order_ctx(&b, &m)).unwrap();
        assert_eq!(cancel.client_order_id.as_str(), "myOrder1", "origClientOrderId, not the cancel's id");
        assert_eq!(cancel.status, OrderStatus::Canceled);
    }

    /// Every documented response example of the endpoints the client reads.
    #[test]
    fn every_documented_example_of_used_endpoints() {
        let b = VenueProfile::binance_spot();
        let all = json("binance_docs/rest_api_all_response_examples.json");
        let mut seen = 0;
        for (endpoint, entry) in all["endpoints"].as_object().unwrap() {
            for ex in entry["examples"].as_array().unwrap() {
                let raw = &ex["json"];
                if raw.is_null() {
                    continue;
                }
                seen += 1;
                match endpoint.as_str() {
                    "GET /api/v3/ticker/bookTicker" => check_quotes(TickerKind::Book, raw),
                    "GET /api/v3/ticker/24hr" => check_quotes(TickerKind::Day, raw),
                    "GET /api/v3/klines" => check_klines(raw),
                    "GET /api/v3/account" => check_balances(raw),
                    "GET /api/v3/time" => {
                        assert_eq!(
                            parse_server_time(&raw.to_string()).unwrap().as_millis(),
                            raw_i64(raw, "serverTime").unwrap()
                        )
                    }
                    "POST /api/v3/order"
                    | "GET /api/v3/order"
                    | "DELETE /api/v3/order"
                    | "GET /api/v3/openOrders"
                        if raw.get("status").is_some() || raw.is_array() =>
                    {
                        check_orders(raw, &b)
                    }
                    "POST /api/v3/order" => {
                        let (m, req) = (map(), ack_request());
                        let ctx = OrderCtx { request: Some(&req), ..order_ctx(&b, &m) };
                        let o = parse_order("/api/v3/order", &raw.to_string(), ctx).unwrap();
                        assert_eq!(o.status, OrderStatus::New);
                    }
                    "GET /api/v3/exchangeInfo" => {
                        let rules = parse_exchange_info(&raw.to_string()).unwrap().markets;
                        assert_eq!(rules.len(), raw["symbols"].as_array().unwrap().len());
                    }
                    _ => seen -= 1,
                }
            }
        }
        assert!(seen >= 10, "only {seen} examples of used endpoints found");
    }

    #[test]
    fn ccxt_binance_responses() {
        let b = VenueProfile::binance_spot();
        let all = json("ccxt/response/binance_spot_excerpt.json");
        let methods = &all["methods"];
        for m in ["createOrder", "fetchOrder", "fetchOpenOrders", "fetchOrders"] {
            for case in methods[m].as_array().unwrap() {
                check_orders(&case["httpResponse"], &b);
            }
        }
        check_balances(&methods["fetchBalance"][0]["httpResponse"]);
        check_klines(&methods["fetchOHLCV"][0]["httpResponse"]);
        check_quotes(TickerKind::Day, &methods["fetchTicker"][0]["httpResponse"]);
    }

    #[test]
    fn ccxt_mexc_responses() {
        let x = VenueProfile::mexc_spot();
        let all = json("ccxt/response/mexc.json");
        let methods = &all["methods"];
        let raw = &methods["fetchOrders"][0]["httpResponse"];
        check_orders(raw, &x);
        // clientOrderId null: the order is known by its venue id.
        let m = map();
        let o = &parse_orders("/api/v3/allOrders", &raw.to_string(), order_ctx(&x, &m)).unwrap().orders[0];
        assert_eq!(o.client_order_id.as_str(), "C02__385413065019117569043");
        check_quotes(TickerKind::Day, &methods["fetchTicker"][0]["httpResponse"]);
        check_klines(&methods["fetchOHLCV"][0]["httpResponse"]);
        // MEXC's myTrades: string ids and times, null clientOrderId.
        let raw = &methods["fetchMyTrades"][0]["httpResponse"];
        let fills = parse_my_trades(&raw.to_string(), &m).unwrap();
        assert_eq!(fills.len(), 1);
        let f = &fills[0];
        assert_eq!(
            (f.trade_id.as_str(), f.order_id.0.as_str()),
            ("dd44f79dda764c2e927a190ac5e7a1e5", "C02__385413065019117569043")
        );
        assert_eq!((f.side, f.quantity, f.fee_asset.as_str()), (Side::Sell, Decimal::from(1220), "USDT"));
        assert_eq!(f.ts.as_millis(), 1_707_671_871_000);
    }

    fn exchange_info_from_ccxt_markets(rel: &str) -> (Value, String) {
        let markets = json(rel);
        let infos: Vec<Value> = markets
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(_, m)| m["info"].clone())
            .collect();
        let body = serde_json::json!({ "symbols": infos }).to_string();
        (markets, body)
    }

    fn ccxt_num(v: &Value) -> Decimal {
        parse_dec(&v.to_string()).unwrap()
    }

    #[test]
    fn binance_markets_match_ccxt_precision_and_limits() {
        let (markets, body) = exchange_info_from_ccxt_markets("ccxt/markets/binance_spot_excerpt.json");
        let rules = parse_exchange_info(&body).unwrap().markets;
        assert_eq!(rules.len(), 6);
        for r in &rules {
            let m = &markets[r.symbol.as_str()];
            assert_eq!(m["id"].as_str(), Some(r.venue_id.as_str()));
            // ccxt's old DECIMAL_PLACES precision: number of decimals of step and tick.
            assert_eq!(
                i64::from(r.step_size.normalize().scale()),
                m["precision"]["amount"].as_i64().unwrap()
            );
            assert_eq!(i64::from(r.tick_size.normalize().scale()), m["precision"]["price"].as_i64().unwrap());
            let l = &m["limits"];
            assert_eq!(r.min_qty, ccxt_num(&l["amount"]["min"]), "{}", r.symbol);
            assert_eq!(r.max_qty, ccxt_num(&l["amount"]["max"]));
            assert_eq!(r.min_price, ccxt_num(&l["price"]["min"]));
            assert_eq!(r.max_price, ccxt_num(&l["price"]["max"]));
            assert_eq!(r.min_notional, ccxt_num(&l["cost"]["min"]));
            assert_eq!(r.max_notional, ccxt_num(&l["cost"]["max"]));
            assert_eq!(r.is_trading(), m["active"].as_bool().unwrap());
        }
    }

    #[test]
    fn mexc_markets_match_ccxt_precision_and_limits() {
        let (markets, body) = exchange_info_from_ccxt_markets("ccxt/markets/mexc_spot_excerpt.json");
        let rules = parse_exchange_info(&body).unwrap().markets;
        assert_eq!(rules.len(), 6);
        for r in &rules {
            let m = &markets[r.symbol.as_str()];
            assert_eq!(r.step_size, ccxt_num(&m["precision"]["amount"]), "{}", r.symbol);
            assert_eq!(r.tick_size, ccxt_num(&m["precision"]["price"]));
            assert_eq!(r.min_qty, ccxt_num(&m["limits"]["amount"]["min"]));
            assert_eq!(r.min_notional, ccxt_num(&m["limits"]["cost"]["min"]));
            assert_eq!(r.max_notional, ccxt_num(&m["limits"]["cost"]["max"]));
            assert_eq!(r.is_trading(), m["active"].as_bool().unwrap());
        }
    }

    #[test]
    fn doc_filter_examples_build_rules() {
        let f = json("binance_docs/filters_examples.json");
        let filters: Vec<Value> = f["filters"].as_object().unwrap().values().cloned().collect();
        let body = serde_json::json!({ "symbols": [{
            "symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC", "filters": filters
        }]})
        .to_string();
        let r = &parse_exchange_info(&body).unwrap().markets[0];
        let p = &f["filters"];
        assert_eq!(Some(r.tick_size), raw_dec(&p["PRICE_FILTER"], "tickSize"));
        assert_eq!(Some(r.step_size), raw_dec(&p["LOT_SIZE"], "stepSize"));
        assert_eq!(Some(r.min_qty), raw_dec(&p["LOT_SIZE"], "minQty"));
        // The stricter of MIN_NOTIONAL and NOTIONAL.
        assert_eq!(Some(r.min_notional), raw_dec(&p["NOTIONAL"], "minNotional"));
        assert_eq!(Some(r.max_notional), raw_dec(&p["NOTIONAL"], "maxNotional"));
    }

    #[test]
    fn malformed_bodies_are_invalid_response_with_excerpt_never_panics() {
        let m = map();
        let b = VenueProfile::binance_spot();
        for body in
            ["", "{", "[{\"symbol\":\"BTCUSDT\",\"bidPrice\":\"1.2.3\"}]", "null", "[1,2", "{\"symbol\":5}"]
        {
            let e = parse_tickers(TickerKind::Book, Shape::Many, body, &m, Timestamp::EPOCH).unwrap_err();
            assert!(
                matches!(&e, ExchangeError::InvalidResponse { excerpt, .. } if body.starts_with(excerpt.as_str())),
                "{e:?}"
            );
            assert!(parse_klines(body).is_err());
            assert!(parse_order("/api/v3/order", body, order_ctx(&b, &m)).is_err());
            assert!(parse_balances(body).is_err());
            assert!(parse_exchange_info(body).is_err());
        }
        let inconsistent = r#"[[1,"10","9","8","9.5","1",2,"3"]]"#;
        assert!(parse_klines(inconsistent).unwrap_err().to_string().contains("inconsistent candle"));
        let unknown_status = r#"{"symbol":"BTCUSDT","orderId":1,"clientOrderId":"a","status":"WEIRD","type":"LIMIT","side":"BUY"}"#;
        let e = parse_order("/api/v3/order", unknown_status, order_ctx(&b, &m)).unwrap_err().to_string();
        assert!(e.contains("WEIRD"), "{e}");
    }

    #[test]
    fn all_tickers_skip_ids_not_in_the_market_list() {
        let body = r#"[{"symbol":"BTCUSDT","bidPrice":"1","askPrice":"2"},{"symbol":"NEWCOINUSDT","bidPrice":"1","askPrice":"2"}]"#;
        let q = parse_tickers(TickerKind::Book, Shape::Many, body, &map(), Timestamp::EPOCH).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].symbol.as_str(), "BTC/USDT");
    }

    #[test]
    fn mexc_thirty_decimal_values_parse() {
        assert_eq!(parse_dec("1.000000000000000000000000000000").unwrap(), Decimal::ONE);
        assert!(parse_dec("abc").is_err());
    }

    /// Issue 9 item 2: a listing the bot cannot represent (non-ASCII asset names, as on the
    /// spot testnet) is skipped and named; the rest of the list is returned.
    #[test]
    fn unrepresentable_listing_is_skipped_and_named() {
        let body = r#"{"symbols":[
            {"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[]},
            {"symbol":"币安人生USDT","status":"TRADING","baseAsset":"币安人生","quoteAsset":"USDT","filters":[]},
            {"symbol":"BROKEN","status":"TRADING"},
            {"symbol":"ETHUSDT","status":"TRADING","baseAsset":"ETH","quoteAsset":"USDT","filters":[]}
        ]}"#;
        let list = parse_exchange_info(body).unwrap();
        let ids: Vec<&str> = list.markets.iter().map(|m| m.venue_id.as_str()).collect();
        assert_eq!(ids, ["BTCUSDT", "ETHUSDT"]);
        let skipped: Vec<&str> = list.skipped.iter().map(|s| s.venue_name.as_str()).collect();
        assert_eq!(skipped, ["币安人生USDT", "BROKEN"]);
        assert!(list.skipped.iter().all(|s| !s.reason.is_empty()));
    }

    /// Issue 9 item 2: a STOP_LOSS_LIMIT order placed by hand is reported, the rest returned.
    #[test]
    fn unknown_order_type_in_a_list_is_reported_not_fatal() {
        let b = VenueProfile::binance_spot();
        let m = map();
        let body = r#"[
            {"symbol":"BTCUSDT","orderId":1,"clientOrderId":"a","price":"1","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY","time":1},
            {"symbol":"BTCUSDT","orderId":2,"clientOrderId":"b","price":"1","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"STOP_LOSS_LIMIT","side":"SELL","time":1},
            {"symbol":"ETHUSDT","orderId":3,"clientOrderId":"c","price":"1","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"SELL","time":1}
        ]"#;
        let open = parse_orders("/api/v3/openOrders", body, order_ctx(&b, &m)).unwrap();
        assert_eq!(open.orders.iter().map(|o| o.id.0.as_str()).collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(open.unrecognised.len(), 1);
        assert_eq!(open.unrecognised[0].venue_name, "BTCUSDT#2");
        assert!(open.unrecognised[0].reason.contains("STOP_LOSS_LIMIT"), "{:?}", open.unrecognised);
        assert!(parse_orders("/api/v3/openOrders", "{}", order_ctx(&b, &m)).is_err(), "not a list: an error");
    }

    /// Issue 12 (fuzzing): an order answer with an unknown symbol or an invalid client order id
    /// is an error that names the order, like every other order error.
    #[test]
    fn order_errors_name_the_order() {
        let b = VenueProfile::binance_spot();
        let m = map();
        for (body, fragment) in [
            (
                r#"{"symbol":"BTCU\u00ffDT","orderId":28,"clientOrderId":"a","status":"NEW","type":"LIMIT","side":"BUY"}"#,
                "not a known market",
            ),
            (
                r#"{"symbol":"BTCUSDT","orderId":28,"clientOrderId":"6\u00ffC","status":"NEW","type":"LIMIT","side":"BUY"}"#,
                "invalid client order id",
            ),
        ] {
            let e = parse_order("/api/v3/order", body, order_ctx(&b, &m)).unwrap_err();
            let ExchangeError::InvalidResponse { endpoint, reason, .. } = &e else { panic!("{e:?}") };
            assert_eq!(endpoint, "/api/v3/order");
            assert!(reason.starts_with("order 28: ") && reason.contains(fragment), "{reason}");
        }
    }

    /// Issue 9 item 3: "0.00000000" (idle or halted market) is no price.
    #[test]
    fn zero_prices_are_none() {
        let book = r#"[{"symbol":"BTCUSDT","bidPrice":"0.00000000","bidQty":"0","askPrice":"0.00000000","askQty":"0"}]"#;
        let q = &parse_tickers(TickerKind::Book, Shape::Many, book, &map(), Timestamp::EPOCH).unwrap()[0];
        assert_eq!((q.bid, q.ask), (None, None));
        assert_eq!(q.price(), None);
        let day = r#"{"symbol":"BTCUSDT","bidPrice":"0.00000000","askPrice":"5.00","lastPrice":"0.00000000","quoteVolume":"0"}"#;
        let q = &parse_tickers(TickerKind::Day, Shape::One, day, &map(), Timestamp::EPOCH).unwrap()[0];
        assert_eq!((q.bid, q.ask, q.last), (None, Some(Decimal::new(5, 0)), None));
    }

    /// Issue 9 item 11: the documented myTrades answer becomes fills with fee and fee asset.
    #[test]
    fn my_trades_doc_example() {
        let raw = json("binance_docs/my_trades.json");
        let fills = parse_my_trades(&raw.to_string(), &map()).unwrap();
        assert_eq!(fills.len(), 1);
        let f = &fills[0];
        let r = &raw[0];
        assert_eq!(f.trade_id, "28457");
        assert_eq!(f.order_id.0, "100234");
        assert_eq!(f.symbol.as_str(), "BNB/BTC");
        assert_eq!(f.side, Side::Buy);
        assert_eq!(Some(f.price), raw_dec(r, "price"));
        assert_eq!(Some(f.quantity), raw_dec(r, "qty"));
        assert_eq!(Some(f.fee), raw_dec(r, "commission"));
        assert_eq!(f.fee_asset, "BNB");
        assert_eq!(f.ts.as_millis(), 1_499_865_549_590);
        assert!(parse_my_trades("[{\"symbol\":\"BTCUSDT\"}]", &map()).is_err());
    }
}
