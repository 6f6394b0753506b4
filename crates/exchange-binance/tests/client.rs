//! Integration tests: the client against the simulated venue's HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::num::NonZeroU32;

use exchange::{Exchange, ExchangeError, OhlcvRequest, RateBudget};
use exchange_binance::{BinanceClient, ClientConfig, Credentials, Timeouts, VenueProfile};
use exchange_sim::{
    Endpoint, Fault, ScriptedFault, SimConfig, SimServer, DEFAULT_API_KEY, DEFAULT_API_SECRET,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use trading_core::{
    ClientOrderId, Interval, MarketRules, OrderRef, OrderRequest, OrderStatus, Side, Symbol, SystemClock,
    TimeInForce,
};

/// A request timestamp whose acceptance window has long passed: one lookup settles it.
/// (Tests of the waiting itself send their real request time.)
const LONG_AGO: trading_core::Timestamp = trading_core::Timestamp::EPOCH;

async fn server(symbols: usize) -> SimServer {
    SimServer::start(SimConfig { symbols, ..SimConfig::default() }).await.unwrap()
}

fn client_with(server: &SimServer, timeouts: Timeouts) -> BinanceClient {
    let profile = VenueProfile::custom(server.base_url(), VenueProfile::binance_spot()).with_name("sim");
    let config = ClientConfig::new(profile, Arc::new(SystemClock))
        .with_credentials(Credentials::new(DEFAULT_API_KEY, DEFAULT_API_SECRET).unwrap())
        .with_timeouts(timeouts);
    BinanceClient::new(config).unwrap()
}

fn client(server: &SimServer) -> BinanceClient {
    client_with(server, Timeouts::default())
}

fn cid(text: &str) -> ClientOrderId {
    ClientOrderId::new(text).unwrap()
}

async fn first_market(client: &BinanceClient) -> MarketRules {
    let markets = client.load_markets().await.unwrap();
    markets.markets.into_iter().find(|m| m.is_trading() && m.symbol.quote() == "USDT").expect("a USDT market")
}

fn fault(endpoint: Endpoint, fault: Fault) -> ScriptedFault {
    ScriptedFault { endpoint, fault, times: 1 }
}

fn requests_to(server: &SimServer, path: &str) -> usize {
    server.requests().iter().filter(|r| r.path == path).count()
}

#[tokio::test]
async fn full_order_lifecycle() {
    let server = server(10).await;
    let client = client(&server);
    let rules = first_market(&client).await;
    let symbol = rules.symbol.clone();

    // Market data: all quotes with one cheap request, a list with last price and volume, candles.
    let all = client.fetch_tickers(None).await.unwrap();
    assert_eq!(all.len(), 10);
    assert!(all.iter().all(|q| q.bid.is_some() && q.ask.is_some() && q.bid < q.ask));
    let two: Vec<Symbol> = all.iter().take(2).map(|q| q.symbol.clone()).collect();
    let sent = server.requests().len();
    assert!(client.fetch_tickers(Some(&[])).await.unwrap().is_empty());
    assert_eq!(server.requests().len(), sent, "an empty list needs no request");
    let listed = client.fetch_tickers(Some(&two)).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|q| q.last.is_some() && q.quote_volume_24h.is_some()));
    let candles = client
        .fetch_ohlcv(&OhlcvRequest { symbol: symbol.clone(), interval: Interval::M1, since: None, limit: 20 })
        .await
        .unwrap();
    assert_eq!(candles.len(), 20);
    assert!(candles.windows(2).all(|w| w[0].open_time < w[1].open_time));
    let server_time = client.server_time().await.unwrap();
    assert!(server_time.as_millis() > 1_600_000_000_000);

    // A resting limit buy well below the market.
    let quote = client.fetch_ticker(&symbol).await.unwrap();
    let bid = quote.bid.unwrap();
    let (price, qty) = rules.buy_order_for_budget(dec!(100), bid * dec!(0.9)).unwrap();
    let req =
        OrderRequest::limit(symbol.clone(), Side::Buy, qty, price, TimeInForce::Gtc, cid("life-limit-1"));
    let placed = client.create_order(&req).await.unwrap();
    assert_eq!(placed.status, OrderStatus::New);
    assert_eq!(
        (placed.price, placed.quantity, placed.client_order_id.clone()),
        (Some(price), qty, req.client_order_id.clone())
    );

    let by_id = client.fetch_order(&symbol, &OrderRef::Exchange(placed.id.clone())).await.unwrap();
    let by_cid = client.fetch_order(&symbol, &OrderRef::Client(req.client_order_id.clone())).await.unwrap();
    assert_eq!(by_id.id, placed.id);
    assert_eq!(by_cid.id, placed.id);
    let open = client.fetch_open_orders(Some(&symbol)).await.unwrap();
    assert_eq!(open.orders.iter().map(|o| &o.id).collect::<Vec<_>>(), vec![&placed.id]);
    let usdt = |b: &[trading_core::Balance]| b.iter().find(|b| b.asset == "USDT").unwrap().clone();
    let balances = client.fetch_balances().await.unwrap();
    assert_eq!(usdt(&balances).locked, price * qty, "the limit order locks its notional");

    let canceled =
        client.cancel_order(&symbol, &OrderRef::Client(req.client_order_id.clone())).await.unwrap();
    assert_eq!((canceled.id.clone(), canceled.status), (placed.id.clone(), OrderStatus::Canceled));
    assert_eq!(canceled.client_order_id, req.client_order_id, "our id, not the cancel request's");
    let after = client.fetch_order(&symbol, &OrderRef::Exchange(placed.id.clone())).await.unwrap();
    assert_eq!(after.status, OrderStatus::Canceled);
    assert!(client.fetch_open_orders(None).await.unwrap().orders.is_empty());
    let again = client.cancel_order(&symbol, &OrderRef::Exchange(placed.id.clone())).await.unwrap_err();
    assert!(matches!(again, ExchangeError::OrderNotFound(_)), "{again:?}");

    // A market buy fills and moves balances.
    let ask = client.fetch_ticker(&symbol).await.unwrap().ask.unwrap();
    let (_, qty) = rules.buy_order_for_budget(dec!(50), ask).unwrap();
    let market = OrderRequest::market(symbol.clone(), Side::Buy, qty, cid("life-market-1"));
    let filled = client.create_order(&market).await.unwrap();
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.filled_quantity, qty);
    assert!(filled.cumulative_quote > Decimal::ZERO);
    let balances = client.fetch_balances().await.unwrap();
    let base = balances.iter().find(|b| b.asset == symbol.base()).expect("base asset bought");
    assert!(base.free > Decimal::ZERO && base.free <= qty, "{base:?}");
    assert!(usdt(&balances).free < dec!(10000) - filled.cumulative_quote + dec!(0.0000001));
    assert_eq!(usdt(&balances).locked, Decimal::ZERO);

    // The venue knows exactly these two orders.
    let on_venue = server.sim().orders();
    assert_eq!(on_venue.len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn rate_limit_429_is_honoured_for_exactly_retry_after() {
    let server = server(5).await;
    let client = client(&server);
    client.load_markets().await.unwrap();
    server.inject(fault(Endpoint::BookTicker, Fault::RateLimited { retry_after: Duration::from_secs(2) }));

    let err = client.fetch_tickers(None).await.unwrap_err();
    let ExchangeError::RateLimited { retry_after } = err else { panic!("expected RateLimited, got {err:?}") };
    assert_eq!(retry_after, Duration::from_secs(2));
    let limited_at =
        server.requests().iter().rev().find(|r| r.path == "/api/v3/ticker/bookTicker").unwrap().at;
    let sent_before = server.requests().len();

    // While paused, every call fails fast and nothing reaches the venue.
    for _ in 0..5 {
        match client.fetch_tickers(None).await {
            Err(ExchangeError::RateLimited { retry_after }) => assert!(retry_after <= Duration::from_secs(2)),
            other => panic!("expected RateLimited while paused, got {other:?}"),
        }
        assert!(matches!(client.fetch_balances().await, Err(ExchangeError::RateLimited { .. })));
    }
    assert_eq!(server.requests().len(), sent_before, "no request while paused");

    tokio::time::sleep(Duration::from_millis(2_050).saturating_sub(limited_at.elapsed())).await;
    let quotes = client.fetch_tickers(None).await.unwrap();
    assert_eq!(quotes.len(), 5);
    let log = server.requests();
    let after: Vec<_> = log.iter().filter(|r| r.at > limited_at).collect();
    assert!(!after.is_empty());
    for r in after {
        assert!(
            r.at.duration_since(limited_at) >= Duration::from_secs(2),
            "{} {} sent {:?} after the 429",
            r.method,
            r.path,
            r.at.duration_since(limited_at)
        );
    }
    server.shutdown().await;
}

/// Waits until the current minute of the system clock has at least `margin` left, so that a
/// test about the weight window does not straddle the client's window boundary.
async fn away_from_minute_boundary(margin: Duration) {
    use trading_core::Clock;
    let into_minute = Duration::from_millis(SystemClock.now().as_millis().rem_euclid(60_000) as u64);
    if Duration::from_secs(60) - into_minute < margin {
        tokio::time::sleep(Duration::from_secs(60) - into_minute + Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn used_weight_header_from_other_clients_stops_requests_that_would_be_refused() {
    away_from_minute_boundary(Duration::from_secs(10)).await;
    let server =
        SimServer::start(SimConfig { symbols: 5, weight_limit_per_minute: 120, ..SimConfig::default() })
            .await
            .unwrap();
    let budget = RateBudget {
        weight_per_window: NonZeroU32::new(120).unwrap(),
        window: Duration::from_secs(60),
        orders_per_window: None,
        order_window: Duration::from_secs(10),
    };
    let profile =
        VenueProfile::custom(server.base_url(), VenueProfile::binance_spot()).with_rate_budget(budget);
    let ours = BinanceClient::new(ClientConfig::new(profile.clone(), Arc::new(SystemClock))).unwrap();
    let other = BinanceClient::new(ClientConfig::new(profile, Arc::new(SystemClock))).unwrap();

    // Another process on the same IP spends weight: markets (20) + 10 x bookTicker-all (4).
    other.load_markets().await.unwrap();
    for _ in 0..10 {
        other.fetch_tickers(None).await.unwrap();
    }
    // Our client learns the venue's count from X-MBX-USED-WEIGHT-1M on its first answer.
    let ours_markets = ours.load_markets().await.unwrap();
    assert_eq!(ours_markets.markets.len(), 5);
    assert!(ours.used_weight() >= 80, "counter corrected from the header: {}", ours.used_weight());

    // 80 of 120 used: bookTicker-all (4) and exchangeInfo (20) fit, a second exchangeInfo
    // (20, total 124) does not, so the client waits for the next window instead of sending it.
    let before = server.requests().len();
    let waited = tokio::time::timeout(Duration::from_millis(700), async {
        ours.fetch_tickers(None).await.unwrap();
        ours.load_markets().await.unwrap();
        ours.load_markets().await.unwrap();
    })
    .await;
    assert!(waited.is_err(), "the third request must wait for the next window");
    assert_eq!(server.requests().len(), before + 2, "only what fits was sent");
    server.shutdown().await;
}

#[tokio::test]
async fn ban_418_stops_all_requests_until_it_ends() {
    let server = server(5).await;
    let client = client(&server);
    client.load_markets().await.unwrap();
    server.inject(fault(Endpoint::Any, Fault::Banned { retry_after: Duration::from_secs(1) }));
    let err = client.fetch_tickers(None).await.unwrap_err();
    assert!(matches!(err, ExchangeError::Banned { .. }), "{err:?}");
    let sent = server.requests().len();
    assert!(matches!(client.server_time().await, Err(ExchangeError::Banned { .. })));
    assert_eq!(server.requests().len(), sent);
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    client.server_time().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn bad_symbol_unlisted_or_delisted() {
    let server = server(5).await;
    let client = client(&server);
    let rules = first_market(&client).await;

    // Not in the venue's market list: refused without a request.
    let sent = server.requests().len();
    let nope: Symbol = "NOPE/USDT".parse().unwrap();
    let err = client.fetch_ticker(&nope).await.unwrap_err();
    assert!(matches!(&err, ExchangeError::BadSymbol { symbol, .. } if symbol == "NOPE/USDT"), "{err:?}");
    assert_eq!(server.requests().len(), sent);

    // Delisted after our market list was loaded: the venue answers -1121.
    server.sim().set_listed(&rules.symbol, false).unwrap();
    let err = client.fetch_ticker(&rules.symbol).await.unwrap_err();
    match &err {
        ExchangeError::BadSymbol { symbol, message } => {
            assert_eq!(symbol, rules.symbol.as_str());
            assert!(message.contains("-1121"), "{message}");
        }
        other => panic!("expected BadSymbol, got {other:?}"),
    }
    assert_eq!(server.requests().len(), sent + 1);
    let candles =
        OhlcvRequest { symbol: rules.symbol.clone(), interval: Interval::M5, since: None, limit: 5 };
    assert!(matches!(client.fetch_ohlcv(&candles).await, Err(ExchangeError::BadSymbol { .. })));
    // A reload shows the market as not trading.
    let reloaded = client.load_markets().await.unwrap();
    assert!(!reloaded.markets.iter().find(|m| m.symbol == rules.symbol).unwrap().is_trading());
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_body_is_invalid_response_or_unknown_outcome() {
    let server = server(5).await;
    let client = client(&server);
    let rules = first_market(&client).await;

    server.inject(fault(Endpoint::BookTicker, Fault::MalformedBody));
    let err = client.fetch_tickers(None).await.unwrap_err();
    match &err {
        ExchangeError::InvalidResponse { endpoint, excerpt, .. } => {
            assert_eq!(endpoint, "/api/v3/ticker/bookTicker");
            assert!(!excerpt.is_empty());
        }
        other => panic!("expected InvalidResponse, got {other:?}"),
    }
    assert_eq!(client.fetch_tickers(None).await.unwrap().len(), 5, "the next answer is fine");

    // On an order request an unreadable 200 means: look the order up.
    server.inject(fault(Endpoint::CreateOrder, Fault::MalformedBody));
    let ask = client.fetch_ticker(&rules.symbol).await.unwrap().ask.unwrap();
    let (_, qty) = rules.buy_order_for_budget(dec!(20), ask).unwrap();
    let req = OrderRequest::market(rules.symbol.clone(), Side::Buy, qty, cid("garbled-1"));
    let err = client.create_order(&req).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    let found = client.resolve_order(&rules.symbol, &req.client_order_id, LONG_AGO).await.unwrap().found();
    let on_venue =
        server.sim().orders().into_iter().filter(|o| o.client_order_id == req.client_order_id).count();
    assert_eq!(found.is_some(), on_venue == 1, "lookup agrees with the venue ({on_venue} orders)");
    server.shutdown().await;
}

#[tokio::test]
async fn create_order_timeout_is_resolved_by_client_order_id_without_duplicate() {
    let server = server(5).await;
    let timeouts = Timeouts { order: Duration::from_millis(400), ..Timeouts::default() };
    let client = client_with(&server, timeouts);
    let rules = first_market(&client).await;
    let bid = client.fetch_ticker(&rules.symbol).await.unwrap().bid.unwrap();
    let (price, qty) = rules.buy_order_for_budget(dec!(60), bid * dec!(0.8)).unwrap();
    let req =
        OrderRequest::limit(rules.symbol.clone(), Side::Buy, qty, price, TimeInForce::Gtc, cid("slow-1"));

    server.inject(fault(Endpoint::CreateOrder, Fault::AcceptThenDelay(Duration::from_secs(2))));
    let started = Instant::now();
    let err = client.create_order(&req).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1_500), "gave up at the order timeout");
    match &err {
        ExchangeError::Timeout { operation, client_order_id, .. } => {
            assert_eq!(*operation, "create_order");
            assert_eq!(client_order_id.as_ref(), Some(&req.client_order_id));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(err.is_outcome_unknown());

    // Resolve by lookup, never by resending.
    let order = client
        .resolve_order(&rules.symbol, &req.client_order_id, LONG_AGO)
        .await
        .unwrap()
        .found()
        .expect("order exists");
    assert_eq!(order.client_order_id, req.client_order_id);
    assert_eq!((order.price, order.quantity, order.status), (Some(price), qty, OrderStatus::New));
    let same_cid =
        server.sim().orders().into_iter().filter(|o| o.client_order_id == req.client_order_id).count();
    assert_eq!(same_cid, 1, "exactly one order on the venue");
    assert_eq!(requests_to(&server, "/api/v3/order"), 2, "one POST and one GET, no second POST");
    let posts = server.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 1);

    // A resubmission with the same id would be refused as a duplicate, not placed twice.
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    match client.create_order(&req).await {
        Err(ExchangeError::Rejected { reason, .. }) => assert!(reason.contains("uplicate"), "{reason}"),
        other => panic!("expected a duplicate rejection, got {other:?}"),
    }
    // An id the venue never saw resolves to None.
    assert!(client
        .resolve_order(&rules.symbol, &cid("never-sent"), LONG_AGO)
        .await
        .unwrap()
        .found()
        .is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn server_error_on_create_order_is_an_unknown_outcome() {
    let server = server(5).await;
    let client = client(&server);
    let rules = first_market(&client).await;
    server.inject(fault(Endpoint::CreateOrder, Fault::ServerError));
    let ask = client.fetch_ticker(&rules.symbol).await.unwrap().ask.unwrap();
    let (_, qty) = rules.buy_order_for_budget(dec!(20), ask).unwrap();
    let req = OrderRequest::market(rules.symbol.clone(), Side::Buy, qty, cid("err-500-1"));
    let err = client.create_order(&req).await.unwrap_err();
    assert!(matches!(err, ExchangeError::Unavailable { .. }) && err.is_outcome_unknown(), "{err:?}");
    let resolved = client.resolve_order(&rules.symbol, &req.client_order_id, LONG_AGO).await.unwrap().found();
    let on_venue = server.sim().orders().iter().any(|o| o.client_order_id == req.client_order_id);
    assert_eq!(resolved.is_some(), on_venue);
    server.shutdown().await;
}

#[tokio::test]
async fn clock_skew_triggers_one_resync_and_a_successful_retry() {
    let server = server(3).await;
    let client = client(&server);
    client.fetch_balances().await.unwrap();
    assert!(
        client.time_offset_ms().abs() < 1_000,
        "synced at first signed call: {}",
        client.time_offset_ms()
    );
    let time_calls = requests_to(&server, "/api/v3/time");

    // The venue's clock jumps 20 s ahead: our timestamps fall outside recvWindow (-1021).
    server.set_clock_skew_ms(20_000);
    let balances = client.fetch_balances().await.unwrap();
    assert!(balances.iter().any(|b| b.asset == "USDT"));
    assert_eq!(requests_to(&server, "/api/v3/time"), time_calls + 1, "one resync");
    assert_eq!(requests_to(&server, "/api/v3/account"), 3, "first call, rejected try, retry");
    let offset = client.time_offset_ms();
    assert!((19_000..21_000).contains(&offset), "offset {offset}");

    // And behind: 20 s in the past.
    server.set_clock_skew_ms(-20_000);
    client.fetch_balances().await.unwrap();
    assert!((-21_000..-19_000).contains(&client.time_offset_ms()), "offset {}", client.time_offset_ms());
    server.shutdown().await;
}

#[tokio::test]
async fn no_credentials_means_public_data_only() {
    let server = server(3).await;
    let profile = VenueProfile::custom(server.base_url(), VenueProfile::binance_spot());
    let client = BinanceClient::new(ClientConfig::new(profile, Arc::new(SystemClock))).unwrap();
    assert_eq!(client.fetch_tickers(None).await.unwrap().len(), 3);
    let sent = server.requests().len();
    assert!(matches!(client.fetch_balances().await, Err(ExchangeError::Auth(_))));
    assert_eq!(server.requests().len(), sent, "nothing signed is sent without credentials");

    // Wrong secret: the venue refuses the signature.
    let profile = VenueProfile::custom(server.base_url(), VenueProfile::binance_spot());
    let wrong = ClientConfig::new(profile, Arc::new(SystemClock))
        .with_credentials(Credentials::new(DEFAULT_API_KEY, "wrong-secret").unwrap());
    let err = BinanceClient::new(wrong).unwrap().fetch_balances().await.unwrap_err();
    assert!(err.is_fatal(), "{err:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_unavailable_and_nothing_was_placed() {
    let server = server(3).await;
    let base = server.base_url();
    let client = client(&server);
    let rules = first_market(&client).await;
    server.shutdown().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let req = OrderRequest::market(rules.symbol.clone(), Side::Buy, dec!(1), cid("refused-1"));
    let err = client.create_order(&req).await.unwrap_err();
    assert!(matches!(err, ExchangeError::Unavailable { .. }), "{base}: {err:?}");
    assert!(!err.is_outcome_unknown(), "a refused connection sent nothing: {err:?}");
}
