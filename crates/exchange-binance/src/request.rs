//! Request building: which endpoint, which parameters, which weight. Pure functions of the
//! profile and the arguments, so every request shape is testable without a network.

use exchange::ExchangeError;
use rust_decimal::Decimal;
use trading_core::{OrderRef, OrderRequest, OrderType, TimeInForce};

use crate::limiter::Budget;
use crate::profile::{ParamPlacement, TifStyle, Weights};
use crate::sign::Signer;
use crate::wire::{Shape, TickerKind};
use crate::VenueProfile;

/// HTTP method of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// Which timeout applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    MarketData,
    Order,
    Account,
}

/// One REST call before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) params: Vec<(&'static str, String)>,
    pub(crate) signed: bool,
    pub(crate) weight: u32,
    pub(crate) budget: Budget,
    pub(crate) kind: Kind,
}

impl Call {
    fn public(path: &'static str, weight: u32, params: Vec<(&'static str, String)>) -> Self {
        Call {
            method: Method::Get,
            path,
            params,
            signed: false,
            weight,
            budget: Budget::Weight,
            kind: Kind::MarketData,
        }
    }

    fn private(
        method: Method,
        path: &'static str,
        weight: u32,
        kind: Kind,
        params: Vec<(&'static str, String)>,
    ) -> Self {
        Call { method, path, params, signed: true, weight, budget: Budget::Weight, kind }
    }
}

/// A call turned into the exact bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoded {
    /// Query string without `?` (may be empty).
    pub(crate) query: String,
    /// `application/x-www-form-urlencoded` body (may be empty).
    pub(crate) body: String,
}

fn urlencode(params: &[(&str, String)]) -> String {
    // Encoding a list of string pairs cannot fail; an empty string is the harmless fallback.
    serde_urlencoded::to_string(params).unwrap_or_default()
}

/// Encodes `call`; signed calls get `recvWindow`, `timestamp` and the `signature` over
/// `query ++ body`, in the place the profile says.
pub(crate) fn encode(
    call: &Call,
    profile: &VenueProfile,
    timestamp_ms: i64,
    signer: Option<&Signer>,
) -> Encoded {
    let mut params = call.params.clone();
    if call.signed {
        params.push(("recvWindow", profile.recv_window.as_millis().to_string()));
        params.push(("timestamp", timestamp_ms.to_string()));
    }
    let in_body = call.method == Method::Post && profile.post_params == ParamPlacement::Body;
    let mut text = urlencode(&params);
    if let (true, Some(signer)) = (call.signed, signer) {
        let signature = signer.sign(if in_body { "" } else { &text }, if in_body { &text } else { "" });
        if !text.is_empty() {
            text.push('&');
        }
        text.push_str("signature=");
        text.push_str(&signature);
    }
    if in_body {
        Encoded { query: String::new(), body: text }
    } else {
        Encoded { query: text, body: String::new() }
    }
}

/// Decimal as venues accept it: no exponent, no trailing zeros.
pub(crate) fn fmt_dec(d: Decimal) -> String {
    d.normalize().to_string()
}

pub(crate) fn server_time(p: &VenueProfile) -> Call {
    Call::public("/api/v3/time", p.weights.time, Vec::new())
}

pub(crate) fn exchange_info(p: &VenueProfile) -> Call {
    Call::public("/api/v3/exchangeInfo", p.weights.exchange_info, Vec::new())
}

/// How to fetch tickers for a selection of symbols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TickerPlan {
    pub(crate) kind: TickerKind,
    pub(crate) shape: Shape,
    pub(crate) call: Call,
}

/// Longest `symbols=[..]` list sent; above it the all-symbols form is used (URL length).
const MAX_LIST: usize = 100;

fn symbols_param(ids: &[&str]) -> String {
    let mut s = String::with_capacity(ids.len() * 12 + 2);
    s.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        s.push_str(id);
        s.push('"');
    }
    s.push(']');
    s
}

pub(crate) fn ticker_call(p: &VenueProfile, kind: TickerKind, ids: Option<&[&str]>) -> Option<TickerPlan> {
    let w = &p.weights;
    let (single, list, all) = match kind {
        TickerKind::Book => (w.book_ticker_single, w.book_ticker_list, w.book_ticker_all),
        TickerKind::Day => (w.ticker_24h_single, w.ticker_24h_list, w.ticker_24h_all),
    };
    let path = kind.path();
    let plan = |shape, weight, params| TickerPlan { kind, shape, call: Call::public(path, weight, params) };
    match ids {
        None => Some(plan(Shape::Many, all, Vec::new())),
        Some([one]) => Some(plan(Shape::One, single, vec![("symbol", (*one).to_owned())])),
        Some(many) if many.len() <= MAX_LIST => {
            let weight = Weights::tiered(list, many.len())?;
            Some(plan(Shape::Many, weight, vec![("symbols", symbols_param(many))]))
        }
        Some(_) => None,
    }
}

/// Picks the cheapest way to get quotes for `ids` (all when `None`): by weight, then the
/// richer 24h ticker (last price and volume as well), then the smaller answer.
pub(crate) fn plan_tickers(p: &VenueProfile, ids: Option<&[&str]>) -> TickerPlan {
    let mut candidates = Vec::with_capacity(4);
    for kind in [TickerKind::Day, TickerKind::Book] {
        if let Some(plan) = ticker_call(p, kind, ids) {
            candidates.push((plan, false));
        }
        if ids.is_some() {
            if let Some(plan) = ticker_call(p, kind, None) {
                candidates.push((plan, true));
            }
        }
    }
    let score = |(plan, all): &(TickerPlan, bool)| (plan.call.weight, plan.kind == TickerKind::Book, *all);
    candidates.sort_by_key(score);
    match candidates.into_iter().next() {
        Some((plan, _)) => plan,
        None => TickerPlan {
            kind: TickerKind::Book,
            shape: Shape::Many,
            call: Call::public(TickerKind::Book.path(), p.weights.book_ticker_all, Vec::new()),
        },
    }
}

pub(crate) fn klines(
    p: &VenueProfile,
    venue_id: &str,
    interval: trading_core::Interval,
    since: Option<trading_core::Timestamp>,
    limit: u32,
) -> Result<Call, ExchangeError> {
    let name = p
        .interval_name(interval)
        .ok_or_else(|| ExchangeError::InvalidRequest(format!("{} has no {interval} candles", p.name)))?;
    let mut params = vec![
        ("symbol", venue_id.to_owned()),
        ("interval", name.to_owned()),
        ("limit", limit.clamp(1, p.max_klines).to_string()),
    ];
    if let Some(since) = since {
        params.push(("startTime", since.as_millis().to_string()));
    }
    Ok(Call::public("/api/v3/klines", p.weights.klines, params))
}

/// `POST /api/v3/order`. Quantity and price are sent as given (round them with the market's
/// rules first); a limit order without a price is refused here.
pub(crate) fn new_order(p: &VenueProfile, venue_id: &str, r: &OrderRequest) -> Result<Call, ExchangeError> {
    if r.quantity <= Decimal::ZERO {
        return Err(ExchangeError::InvalidRequest(format!(
            "order {}: quantity {} is not positive",
            r.client_order_id, r.quantity
        )));
    }
    let needs_price = r.order_type != OrderType::Market;
    let price = match (needs_price, r.price) {
        (true, Some(price)) if price > Decimal::ZERO => Some(price),
        (true, _) => {
            return Err(ExchangeError::InvalidRequest(format!(
                "order {}: a {} order needs a positive price",
                r.client_order_id, r.order_type
            )))
        }
        (false, _) => None,
    };
    let tif = r.time_in_force.unwrap_or(TimeInForce::Gtc);
    let (type_text, tif_param) = match (r.order_type, p.tif_style) {
        (OrderType::Market, _) => ("MARKET", None),
        (OrderType::LimitMaker, _) => ("LIMIT_MAKER", None),
        (OrderType::Limit, TifStyle::Param) => ("LIMIT", Some(tif.as_str())),
        (OrderType::Limit, TifStyle::OrderType) => (
            match tif {
                TimeInForce::Gtc => "LIMIT",
                TimeInForce::Ioc => "IMMEDIATE_OR_CANCEL",
                TimeInForce::Fok => "FILL_OR_KILL",
            },
            None,
        ),
    };
    let mut params = vec![
        ("symbol", venue_id.to_owned()),
        ("side", r.side.as_str().to_owned()),
        ("type", type_text.to_owned()),
    ];
    if let Some(tif) = tif_param {
        params.push(("timeInForce", tif.to_owned()));
    }
    params.push(("quantity", fmt_dec(r.quantity)));
    if let Some(price) = price {
        params.push(("price", fmt_dec(price)));
    }
    params.push(("newClientOrderId", r.client_order_id.as_str().to_owned()));
    if let Some(resp) = p.order_resp_type {
        params.push(("newOrderRespType", resp.to_owned()));
    }
    let mut call = Call::private(Method::Post, "/api/v3/order", p.weights.order_create, Kind::Order, params);
    call.budget = Budget::WeightAndOrder;
    Ok(call)
}

/// `POST /api/v3/order/test`: the same parameters as [`new_order`], validated by the venue
/// (signature, permissions, symbol, filters) without reaching the matching engine. Binance
/// answers `{}` at weight 1 (without `computeCommissionRates`); it adds nothing to the order
/// count, so it spends only request weight.
pub(crate) fn test_order(p: &VenueProfile, venue_id: &str, r: &OrderRequest) -> Result<Call, ExchangeError> {
    let mut call = new_order(p, venue_id, r)?;
    call.path = "/api/v3/order/test";
    call.weight = p.weights.order_test;
    call.budget = Budget::Weight;
    Ok(call)
}

fn order_ref_param(order: &OrderRef) -> (&'static str, String) {
    match order {
        OrderRef::Exchange(id) => ("orderId", id.0.clone()),
        OrderRef::Client(cid) => ("origClientOrderId", cid.as_str().to_owned()),
    }
}

/// `GET /api/v3/order`: order traffic (the reserved budget, a bounded wait).
pub(crate) fn query_order(p: &VenueProfile, venue_id: &str, order: &OrderRef) -> Call {
    let params = vec![("symbol", venue_id.to_owned()), order_ref_param(order)];
    let mut call = Call::private(Method::Get, "/api/v3/order", p.weights.order_query, Kind::Order, params);
    call.budget = Budget::OrderTraffic;
    call
}

/// `DELETE /api/v3/order`: order traffic, never held back by the order-count limit.
pub(crate) fn cancel_order(p: &VenueProfile, venue_id: &str, order: &OrderRef) -> Call {
    let params = vec![("symbol", venue_id.to_owned()), order_ref_param(order)];
    let mut call =
        Call::private(Method::Delete, "/api/v3/order", p.weights.order_cancel, Kind::Order, params);
    call.budget = Budget::OrderTraffic;
    call
}

/// `GET /api/v3/myTrades` (Binance weight 20, at most 1000 trades; MEXC weight 10, at most
/// 100): the account's own trades of one market, by order or since a time. Binance accepts
/// `orderId` only without a time range, so an order id takes precedence over `since`; a
/// `startTime` alone covers the 24 h after it.
pub(crate) fn my_trades(
    p: &VenueProfile,
    venue_id: &str,
    order_id: Option<&str>,
    since: Option<trading_core::Timestamp>,
    limit: u32,
) -> Call {
    let mut params = vec![("symbol", venue_id.to_owned())];
    match (order_id, since) {
        (Some(id), _) => params.push(("orderId", id.to_owned())),
        (None, Some(since)) => params.push(("startTime", since.as_millis().to_string())),
        (None, None) => {}
    }
    params.push(("limit", limit.clamp(1, p.max_trades).to_string()));
    Call::private(Method::Get, "/api/v3/myTrades", p.weights.my_trades, Kind::Account, params)
}

pub(crate) fn open_orders(p: &VenueProfile, venue_id: Option<&str>) -> Call {
    match venue_id {
        Some(id) => Call::private(
            Method::Get,
            "/api/v3/openOrders",
            p.weights.open_orders_single,
            Kind::Account,
            vec![("symbol", id.to_owned())],
        ),
        None => Call::private(
            Method::Get,
            "/api/v3/openOrders",
            p.weights.open_orders_all,
            Kind::Account,
            Vec::new(),
        ),
    }
}

pub(crate) fn account(p: &VenueProfile) -> Call {
    Call::private(Method::Get, "/api/v3/account", p.weights.account, Kind::Account, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeMap;
    use trading_core::{ClientOrderId, Interval, MarketRules, OrderId, Side, Symbol, Timestamp};

    fn json(rel: &str) -> Value {
        let path = format!("{}/test_data/{rel}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// Query or body text as a key -> value map (decoded), without the skip keys.
    fn params(text: &str, skip: &[String]) -> BTreeMap<String, String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(text)
            .unwrap()
            .into_iter()
            .filter(|(k, _)| !skip.contains(k))
            .collect()
    }

    struct Fixture {
        doc: Value,
        skip: Vec<String>,
    }

    impl Fixture {
        fn load(rel: &str) -> Self {
            let doc = json(rel);
            let skip =
                doc["skipKeys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()).collect();
            Fixture { doc, skip }
        }

        fn case(&self, method: &str, description: &str) -> &Value {
            self.doc["methods"][method]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["description"] == description)
                .unwrap_or_else(|| panic!("no case {method} / {description}"))
        }

        /// Compares our encoded call with a ccxt case: same path, same parameters (order
        /// ignored, skip keys ignored), parameters in the same place (query or body). `extra`
        /// names parameters we send deliberately that ccxt does not.
        #[track_caller]
        fn check(
            &self,
            method: &str,
            description: &str,
            profile: &VenueProfile,
            call: &Call,
            extra: &[&str],
        ) {
            let case = self.case(method, description);
            let url = case["url"].as_str().unwrap();
            let (path_part, query) = url.split_once('?').unwrap_or((url, ""));
            let expected_path = path_part.trim_start_matches(profile.base_url()).to_owned();
            let expected_path =
                expected_path.split_once(".com").map_or(expected_path.clone(), |(_, p)| p.to_owned());
            let expected_path =
                expected_path.split_once(".vision").map_or(expected_path.clone(), |(_, p)| p.to_owned());
            let body = case["output"].as_str().unwrap_or("");
            let signer = Signer::new("test-secret");
            let ours = encode(call, profile, 1_700_000_000_000, Some(&signer));
            assert_eq!(call.path, expected_path, "{description}");
            let mut ours_q = params(&ours.query, &self.skip);
            let mut ours_b = params(&ours.body, &self.skip);
            for key in extra {
                assert!(
                    ours_q.remove(*key).is_some() || ours_b.remove(*key).is_some(),
                    "{description}: {key}"
                );
            }
            assert_eq!(ours_q, params(query, &self.skip), "{description}: query");
            assert_eq!(ours_b, params(body, &self.skip), "{description}: body");
            if call.signed {
                let all = format!("{}{}", ours.query, ours.body);
                assert!(all.contains("timestamp=1700000000000") && all.contains("signature="), "{all}");
            }
        }
    }

    fn sym(s: &str) -> Symbol {
        s.parse().unwrap()
    }

    fn dec_of(v: &Value) -> Decimal {
        v.to_string().parse().unwrap()
    }

    /// Rules of a ccxt market (old DECIMAL_PLACES precision).
    fn binance_rules(symbol: &str) -> MarketRules {
        let m = &json("ccxt/markets/binance_spot_excerpt.json")[symbol];
        let places = |k: &str| Decimal::new(1, u32::try_from(m["precision"][k].as_i64().unwrap()).unwrap());
        MarketRules::builder(sym(symbol), m["id"].as_str().unwrap())
            .step_size(places("amount"))
            .tick_size(places("price"))
            .build()
            .unwrap()
    }

    /// The OrderRequest for a ccxt createOrder input `[symbol, type, side, amount, price, params]`,
    /// rounded with the market's rules as the order router does.
    fn order_from_ccxt(input: &Value, rules: Option<&MarketRules>) -> OrderRequest {
        let symbol = sym(input[0].as_str().unwrap());
        let side = if input[2] == "buy" { Side::Buy } else { Side::Sell };
        let mut qty = dec_of(&input[3]);
        let mut price = input.get(4).filter(|p| !p.is_null()).map(dec_of);
        if let Some(r) = rules {
            qty = r.floor_qty(qty);
            price = price.map(|p| r.round_price(side, p));
        }
        let cid = ClientOrderId::new("cid-1").unwrap();
        let params = input.get(5);
        let tif = match params.and_then(|p| p["timeInForce"].as_str()) {
            Some("IOC") => TimeInForce::Ioc,
            Some("FOK") => TimeInForce::Fok,
            _ => TimeInForce::Gtc,
        };
        match (input[1].as_str().unwrap(), params.and_then(|p| p["postOnly"].as_bool())) {
            ("market", _) => OrderRequest::market(symbol, side, qty, cid),
            ("limit", Some(true)) => OrderRequest {
                order_type: OrderType::LimitMaker,
                time_in_force: None,
                ..OrderRequest::limit(symbol, side, qty, price.unwrap(), tif, cid)
            },
            _ => OrderRequest::limit(symbol, side, qty, price.unwrap(), tif, cid),
        }
    }

    fn id_of(s: &Symbol) -> String {
        s.as_str().replace('/', "")
    }

    #[test]
    fn binance_requests_match_ccxt() {
        let f = Fixture::load("ccxt/request/binance_spot_excerpt.json");
        let p = VenueProfile::binance_spot();
        // We ask for RESULT (no fills list needed) where ccxt asks for FULL; and we always send
        // our client order id (a skip key).
        let order_extra = ["newOrderRespType"];
        for (desc, round) in [
            ("Spot limit buy order", None),
            ("Spot limit buy with postOnly", None),
            ("spot order with weird amount", Some("BTC/USDT")),
            ("spot order with weird price/amount", Some("LTC/USDT")),
        ] {
            let input = &f.case("createOrder", desc)["input"];
            let rules = round.map(binance_rules);
            let req = order_from_ccxt(input, rules.as_ref());
            let call = new_order(&p, &id_of(&req.symbol), &req).unwrap();
            assert_eq!(call.method, Method::Post);
            // ccxt sends FULL; compare everything else.
            let mut expected_case = f.case("createOrder", desc).clone();
            let body = expected_case["output"].as_str().unwrap().replace("&newOrderRespType=FULL", "");
            expected_case["output"] = Value::String(body);
            let fx = Fixture {
                doc: serde_json::json!({ "methods": { "createOrder": [expected_case] } }),
                skip: f.skip.clone(),
            };
            fx.check("createOrder", desc, &p, &call, &order_extra);
        }
        let c = f.case("cancelOrder", "Spot cancelOrder");
        let call = cancel_order(&p, "LTCUSDT", &OrderRef::Exchange(OrderId(c["input"][0].to_string())));
        assert_eq!(call.method, Method::Delete);
        f.check("cancelOrder", "Spot cancelOrder", &p, &call, &[]);
        let c = f.case("fetchOrder", "Spot fetchOrder");
        let call = query_order(&p, "LTCUSDT", &OrderRef::Exchange(OrderId(c["input"][0].to_string())));
        f.check("fetchOrder", "Spot fetchOrder", &p, &call, &[]);
        f.check("fetchOpenOrders", "Spot one orders", &p, &open_orders(&p, Some("LTCUSDT")), &[]);
        f.check("fetchBalance", "Spot fetch balance", &p, &account(&p), &[]);
        f.check("fetchTime", "fetchTime", &p, &server_time(&p), &[]);
        // Own trades (weight 20); we always send a limit, ccxt leaves the venue default.
        let trades = my_trades(&p, "LTCUSDT", None, None, 500);
        assert_eq!(trades.weight, 20);
        f.check("fetchMyTrades", "Spot fetchMyTrades", &p, &trades, &["limit"]);
        let by_order = my_trades(&p, "LTCUSDT", Some("7"), Some(trading_core::Timestamp::from_millis(1)), 10);
        assert!(!by_order.params.iter().any(|(k, _)| *k == "startTime"), "orderId excludes a time range");
        // The cheapest plan for a few symbols is the 24h list (weight 2), exactly ccxt's call.
        for desc in ["spot fetch tickers with symbols", "spot tickers"] {
            let input = &f.case("fetchTickers", desc)["input"][0];
            let ids: Vec<String> =
                input.as_array().unwrap().iter().map(|s| id_of(&sym(s.as_str().unwrap()))).collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let plan = plan_tickers(&p, Some(&refs));
            assert_eq!((plan.kind, plan.call.weight), (TickerKind::Day, 2));
            f.check("fetchTickers", desc, &p, &plan.call, &[]);
        }
        let plan = plan_tickers(&p, Some(&["BTCUSDT"]));
        f.check("fetchTicker", "spot ticker", &p, &plan.call, &[]);
        for desc in ["Fetch Bids Asks spot with array of symbols", "spot bidsasks"] {
            let input = &f.case("fetchBidsAsks", desc)["input"][0];
            let ids: Vec<String> =
                input.as_array().unwrap().iter().map(|s| id_of(&sym(s.as_str().unwrap()))).collect();
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let plan = ticker_call(&p, TickerKind::Book, Some(&refs)).unwrap();
            f.check("fetchBidsAsks", desc, &p, &plan.call, &[]);
        }
        let call =
            klines(&p, "BTCUSDT", Interval::M1, Some(Timestamp::from_millis(1_699_381_234_000)), 5).unwrap();
        f.check("fetchOHLCV", "Fetch OHLCV - spot", &p, &call, &[]);
        let call = klines(&p, "BTCUSDT", Interval::M1, None, 500).unwrap();
        f.check("fetchOHLCV", "spot ohlcv", &p, &call, &[]);
    }

    #[test]
    fn mexc_requests_match_ccxt() {
        let f = Fixture::load("ccxt/request/mexc.json");
        let p = VenueProfile::mexc_spot();
        for desc in ["tif FOK", "tif IOC", "Spot limit buy", "Spot market buy", "Spot limit sell"] {
            let req = order_from_ccxt(&f.case("createOrder", desc)["input"], None);
            let call = new_order(&p, &id_of(&req.symbol), &req).unwrap();
            // MEXC signed POST: every parameter in the query string, no body.
            f.check("createOrder", desc, &p, &call, &["newClientOrderId"]);
        }
        let oid = OrderRef::Exchange(OrderId("129402018493145088".into()));
        f.check("cancelOrder", "Cancel spot orders", &p, &cancel_order(&p, "LTCUSDT", &oid), &[]);
        f.check("fetchOrder", "Spot order", &p, &query_order(&p, "LTCUSDT", &oid), &[]);
        f.check("fetchOpenOrders", "spot orders no symbol", &p, &open_orders(&p, None), &[]);
        f.check("fetchOpenOrders", "Spot open orders", &p, &open_orders(&p, Some("LTCUSDT")), &[]);
        f.check("fetchBalance", "Fetch spot Balance", &p, &account(&p), &[]);
        f.check("fetchTime", "fetchTime", &p, &server_time(&p), &[]);
        // Own trades since a time: symbol, startTime, limit.
        let since = trading_core::Timestamp::from_millis(1_699_457_638_000);
        f.check(
            "fetchMyTrades",
            "Spot private trades",
            &p,
            &my_trades(&p, "LTCUSDT", None, Some(since), 5),
            &[],
        );
        assert_eq!(
            my_trades(&p, "LTCUSDT", None, None, 5000).params.last(),
            Some(&("limit", "100".to_owned()))
        );
        f.check("fetchTicker", "spot ticker", &p, &plan_tickers(&p, Some(&["BTCUSDT"])).call, &[]);
        // No symbols= list on MEXC: several symbols come from the all-symbols book ticker.
        let plan = plan_tickers(&p, Some(&["BTCUSDT", "ETHUSDT"]));
        assert_eq!((plan.kind, plan.shape, plan.call.weight), (TickerKind::Book, Shape::Many, 1));
        f.check("fetchBidsAsks", "spot bidsasks", &p, &plan.call, &[]);
        f.check(
            "fetchTickers",
            "spot tickers",
            &p,
            &ticker_call(&p, TickerKind::Day, None).unwrap().call,
            &[],
        );
        // ccxt leaves the limit to the venue default; we always send one.
        let call = klines(&p, "LTCUSDT", Interval::M1, None, 500).unwrap();
        f.check("fetchOHLCV", "fetch OHLCV - spot", &p, &call, &["limit"]);
    }

    #[test]
    fn ticker_plan_is_the_cheapest_for_what_is_asked() {
        let b = VenueProfile::binance_spot();
        let all = plan_tickers(&b, None);
        assert_eq!((all.kind, all.call.weight, all.call.params.len()), (TickerKind::Book, 4, 0));
        let many: Vec<String> = (0..50).map(|i| format!("S{i}USDT")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let plan = plan_tickers(&b, Some(&refs));
        assert_eq!((plan.kind, plan.call.weight), (TickerKind::Book, 4), "24h list would cost 40");
        let lots: Vec<String> = (0..300).map(|i| format!("S{i}USDT")).collect();
        let refs: Vec<&str> = lots.iter().map(String::as_str).collect();
        let plan = plan_tickers(&b, Some(&refs));
        assert!(plan.call.params.is_empty(), "over {MAX_LIST} symbols: the all-symbols form");
    }

    #[test]
    fn signature_covers_exactly_what_is_sent() {
        let p = VenueProfile::binance_spot();
        let s = Signer::new("secret");
        let req = OrderRequest::limit(
            sym("BTC/USDT"),
            Side::Buy,
            Decimal::new(1, 3),
            Decimal::new(50_000, 0),
            TimeInForce::Gtc,
            ClientOrderId::new("x1").unwrap(),
        );
        let e = encode(&new_order(&p, "BTCUSDT", &req).unwrap(), &p, 42, Some(&s));
        assert!(e.query.is_empty());
        let (payload, sig) = e.body.rsplit_once("&signature=").unwrap();
        assert_eq!(sig, s.sign("", payload));
        assert!(payload.ends_with("recvWindow=5000&timestamp=42"), "{payload}");
        let q = encode(&account(&p), &p, 42, Some(&s));
        let (payload, sig) = q.query.rsplit_once("&signature=").unwrap();
        assert_eq!(sig, s.sign(payload, ""));
    }

    #[test]
    fn invalid_orders_are_refused_before_sending() {
        let p = VenueProfile::binance_spot();
        let cid = ClientOrderId::new("x").unwrap();
        let mut r = OrderRequest::market(sym("BTC/USDT"), Side::Buy, Decimal::ZERO, cid.clone());
        assert!(matches!(new_order(&p, "BTCUSDT", &r), Err(ExchangeError::InvalidRequest(_))));
        r = OrderRequest::limit(
            sym("BTC/USDT"),
            Side::Buy,
            Decimal::ONE,
            Decimal::ONE,
            TimeInForce::Gtc,
            cid,
        );
        r.price = None;
        let e = new_order(&p, "BTCUSDT", &r).unwrap_err().to_string();
        assert!(e.contains("needs a positive price"), "{e}");
        let e = klines(&VenueProfile::mexc_spot(), "BTCUSDT", Interval::M3, None, 10).unwrap_err();
        assert!(e.to_string().contains("3m"), "{e}");
        let c = klines(&p, "BTCUSDT", Interval::M1, None, 5000).unwrap();
        assert!(c.params.contains(&("limit", "1000".to_owned())), "clamped to max_klines");
    }

    #[test]
    fn test_order_is_a_new_order_on_the_test_path_without_order_count() {
        let cid = ClientOrderId::new("pre-1").unwrap();
        let r = OrderRequest::limit(
            sym("BTC/USDT"),
            Side::Buy,
            Decimal::new(5, 1),
            Decimal::ONE_HUNDRED,
            TimeInForce::Gtc,
            cid,
        );
        for p in [VenueProfile::binance_spot(), VenueProfile::mexc_spot()] {
            let placed = new_order(&p, "BTCUSDT", &r).unwrap();
            let tested = test_order(&p, "BTCUSDT", &r).unwrap();
            assert_eq!((tested.method, tested.path), (Method::Post, "/api/v3/order/test"));
            assert_eq!(tested.params, placed.params, "the venue validates exactly what it would place");
            assert_eq!((tested.weight, tested.budget, tested.signed), (1, Budget::Weight, true));
        }
        let mut bad = r.clone();
        bad.quantity = Decimal::ZERO;
        assert!(matches!(
            test_order(&VenueProfile::binance_spot(), "BTCUSDT", &bad),
            Err(ExchangeError::InvalidRequest(_))
        ));
    }
}
