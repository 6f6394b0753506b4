//! Fuzzing of the REST response parsers (issue 12) with proptest: arbitrary text and mutated
//! recorded answers (the `test_data/` fixtures: Binance's documented examples and ccxt's
//! recorded Binance and MEXC responses) go through every parser and the error classifier.
//! Each must return, never panic; a failure must be [`ExchangeError::InvalidResponse`] naming
//! the endpoint and the place (JSON line and column, or the order, trade or candle), with an
//! excerpt that is a prefix of the body; a success must keep the parsers' promises (no zero
//! prices, consistent candles, oldest first).
//!
//! Cases per property: proptest's default (256) or `PROPTEST_CASES`; a long campaign is
//! `PROPTEST_CASES=100000 cargo test -p exchange-binance --release fuzz`.

use exchange::ExchangeError;
use fuzz_input::{edit, edits, Dictionary, Edit};
use proptest::prelude::*;
use serde_json::Value;
use trading_core::{ClientOrderId, OrderRequest, Side, SymbolMap, Timestamp};

use crate::classify::{classify, Failure, Verdict};
use crate::wire::{
    parse_balances, parse_exchange_info, parse_klines, parse_my_trades, parse_order, parse_orders,
    parse_server_time, parse_test_order, parse_tickers, OrderCtx, Shape, TickerKind,
};
use crate::VenueProfile;

// ---------------------------------------------------------------------------------------------
// Inputs

fn data(rel: &str) -> String {
    let path = format!("{}/test_data/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every recorded answer of an endpoint the client reads: the documented examples, one file
/// each, and the ccxt recordings' HTTP responses (read once per test binary).
fn corpus() -> &'static [String] {
    static CORPUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(load_corpus)
}

fn load_corpus() -> Vec<String> {
    let mut out: Vec<String> = [
        "account",
        "book_ticker_list",
        "book_ticker_single",
        "error_invalid_symbol",
        "exchangeInfo",
        "klines",
        "my_trades",
        "open_orders",
        "order_cancel",
        "order_new_ack",
        "order_new_full",
        "order_new_result",
        "order_query",
        "server_time",
        "ticker_24hr_full_list",
        "ticker_24hr_full_single",
        "ticker_24hr_mini_list",
        "ticker_24hr_mini_single",
    ]
    .iter()
    .map(|f| data(&format!("binance_docs/{f}.json")))
    .collect();
    for rel in ["ccxt/response/binance_spot_excerpt.json", "ccxt/response/mexc.json"] {
        let all: Value = serde_json::from_str(&data(rel)).unwrap();
        for cases in all["methods"].as_object().unwrap().values() {
            for case in cases.as_array().into_iter().flatten() {
                if let Some(resp) = case.get("httpResponse").filter(|r| !r.is_null()) {
                    out.push(serde_json::to_string_pretty(resp).unwrap());
                }
            }
        }
    }
    out
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

// ---------------------------------------------------------------------------------------------
// Mutations of a recorded answer (the shared mutator of `fuzz-input`)

/// The mutator's vocabulary: hostile JSON values and strings, and the keys the parsers read.
const DICT: Dictionary = Dictionary::json(KEYS);

/// Keys the parsers look for, inserted again (duplicate keys) with a weird value.
const KEYS: &[&str] = &[
    "symbol",
    "symbols",
    "status",
    "serverTime",
    "bidPrice",
    "askPrice",
    "lastPrice",
    "quoteVolume",
    "closeTime",
    "orderId",
    "clientOrderId",
    "origClientOrderId",
    "price",
    "origQty",
    "executedQty",
    "cummulativeQuoteQty",
    "type",
    "side",
    "time",
    "updateTime",
    "transactTime",
    "balances",
    "asset",
    "free",
    "locked",
    "id",
    "qty",
    "commission",
    "commissionAsset",
    "isBuyer",
    "filters",
    "baseAsset",
    "quoteAsset",
    "code",
    "msg",
];

/// A recorded answer with `edits` applied.
fn apply(input: &str, edits: &[Edit]) -> String {
    fuzz_input::apply_str(input, edits, &DICT)
}

// ---------------------------------------------------------------------------------------------
// What every parser must do with any body

/// A parser failure must be an `InvalidResponse` naming the endpoint and the place.
#[track_caller]
fn check_err(e: &ExchangeError, endpoint: &str, body: &str) {
    let ExchangeError::InvalidResponse { endpoint: ep, reason, excerpt } = e else {
        panic!("{endpoint}: a bad body must be InvalidResponse, got {e:?}");
    };
    assert_eq!(ep, endpoint);
    assert!(body.starts_with(excerpt.as_str()), "excerpt {excerpt:?} is not a prefix of the body");
    // Where: a JSON position, or the order / trade / candle the reason is about.
    let named = reason.contains(" at line ")
        || reason.starts_with("order ")
        || reason.starts_with("trade ")
        || reason.starts_with("inconsistent candle at ");
    assert!(named, "{endpoint}: the reason names no place: {reason:?}");
}

fn check_all(body: &str) {
    let m = map();
    let now = Timestamp::from_millis(7);
    match parse_server_time(body) {
        Ok(_) => {}
        Err(e) => check_err(&e, "/api/v3/time", body),
    }
    match parse_exchange_info(body) {
        Ok(list) => {
            for s in &list.skipped {
                assert!(!s.venue_name.is_empty() && !s.reason.is_empty(), "{s:?}");
            }
        }
        Err(e) => check_err(&e, "/api/v3/exchangeInfo", body),
    }
    for kind in [TickerKind::Book, TickerKind::Day] {
        for shape in [Shape::One, Shape::Many] {
            match parse_tickers(kind, shape, body, &m, now) {
                Ok(quotes) => {
                    for q in &quotes {
                        for p in [q.bid, q.ask, q.last].into_iter().flatten() {
                            assert!(p > rust_decimal::Decimal::ZERO, "a quote price must be positive: {q:?}");
                        }
                        assert_eq!(q.received_at, now);
                        assert!(m.venue_id(&q.symbol).is_some());
                    }
                }
                Err(e) => check_err(&e, kind.path(), body),
            }
        }
    }
    match parse_klines(body) {
        Ok(candles) => {
            assert!(candles.iter().all(trading_core::Candle::is_consistent));
            assert!(candles.windows(2).all(|w| w[0].open_time <= w[1].open_time), "oldest first");
        }
        Err(e) => check_err(&e, "/api/v3/klines", body),
    }
    let request = OrderRequest::market(
        "BTC/USDT".parse().unwrap(),
        Side::Sell,
        rust_decimal::Decimal::TEN,
        ClientOrderId::new("6gCrw2kRUAF9CvJDGP16IP").unwrap(),
    );
    for profile in [VenueProfile::binance_spot(), VenueProfile::mexc_spot()] {
        for req in [None, Some(&request)] {
            let ctx = OrderCtx { profile: &profile, map: &m, now, request: req };
            match parse_order("/api/v3/order", body, ctx) {
                Ok(o) => assert!(o.updated_at >= o.created_at, "{o:?}"),
                Err(e) => check_err(&e, "/api/v3/order", body),
            }
            match parse_orders("/api/v3/openOrders", body, ctx) {
                Ok(open) => {
                    for u in &open.unrecognised {
                        assert!(u.venue_name.contains('#') && !u.reason.is_empty(), "{u:?}");
                    }
                }
                Err(e) => check_err(&e, "/api/v3/openOrders", body),
            }
        }
    }
    match parse_my_trades(body, &m) {
        Ok(fills) => assert!(fills.windows(2).all(|w| w[0].ts <= w[1].ts), "oldest first"),
        Err(e) => check_err(&e, "/api/v3/myTrades", body),
    }
    match parse_test_order(body) {
        Ok(()) => assert!(body.trim_start().starts_with('{'), "only an object validates an order"),
        Err(e) => check_err(&e, "/api/v3/order/test", body),
    }
    match parse_balances(body) {
        Ok(balances) => assert!(balances.iter().all(|b| !(b.free.is_zero() && b.locked.is_zero()))),
        Err(e) => check_err(&e, "/api/v3/account", body),
    }
}

/// An error body with any status: the classifier returns a verdict, never panics; a body it
/// cannot read as a venue error on a plain 4xx is an `InvalidResponse` naming the endpoint
/// and the status.
fn check_classify(status: u16, body: &str) {
    let cid = ClientOrderId::new("c1").unwrap();
    for profile in [VenueProfile::binance_spot(), VenueProfile::mexc_spot()] {
        let f = Failure {
            status,
            body,
            retry_after: None,
            endpoint: "/api/v3/order",
            operation: "create_order",
            subject: "BTC/USDT",
            symbol: Some("BTC/USDT"),
            client_order_id: Some(&cid),
        };
        let err = match classify(&profile, f, Timestamp::from_millis(1_000)) {
            Verdict::Fail(e) | Verdict::Resync(e) | Verdict::OrderLimited { error: e, .. } => e,
        };
        if let ExchangeError::InvalidResponse { endpoint, reason, excerpt } = &err {
            assert_eq!(endpoint, "/api/v3/order");
            assert!(reason.contains(&format!("HTTP {status}")), "{reason}");
            assert!(body.starts_with(excerpt.as_str()));
        }
        assert!(!err.to_string().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    /// Any text: every parser returns, and a failure names the endpoint and the place.
    #[test]
    fn fuzz_parsers_arbitrary_text(body in any::<String>()) {
        check_all(&body);
    }

    /// Text built from JSON's own characters, which reaches deeper than random text.
    #[test]
    fn fuzz_parsers_json_alphabet(body in "[\\[\\]{}\":,0-9a-zA-Z.eE+\\- ]{0,200}") {
        check_all(&body);
    }

    /// Recorded answers with 1-6 edits (byte flips, deletions, insertions, truncation,
    /// duplicated ranges, weird numbers, duplicate keys, deep nesting, non-ASCII strings).
    #[test]
    fn fuzz_parsers_mutated_recorded_answers(
        pick in any::<usize>(),
        edits in edits(),
    ) {
        let corpus = corpus();
        let body = apply(&corpus[pick % corpus.len()], &edits);
        check_all(&body);
    }

    /// Error bodies: any text and mutated venue errors, with any HTTP status.
    #[test]
    fn fuzz_classify_error_bodies(
        status in 100u16..600,
        code in any::<i64>(),
        msg in any::<String>(),
        raw in any::<String>(),
        edits in proptest::collection::vec(edit(), 0..4),
    ) {
        check_classify(status, &raw);
        let body = serde_json::json!({ "code": code, "msg": msg }).to_string();
        check_classify(status, &apply(&body, &edits));
    }
}

/// The mutator reaches the parsers' keys and the recorded answers are found (a harness that
/// never changes its input proves nothing; the edits themselves are tested in `fuzz-input`).
#[test]
fn fuzz_mutator_changes_inputs() {
    let base = r#"{"symbol":"BTCUSDT","price":"1.5","orderId":12}"#;
    assert_eq!(
        apply(base, &[Edit::Key(0, 0, 25)]),
        r#"{"symbol":true,"symbol":"BTCUSDT","price":"1.5","orderId":12}"#
    );
    assert!(corpus().len() > 25, "the recorded answers are found");
}
