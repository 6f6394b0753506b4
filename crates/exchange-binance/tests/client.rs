//! Integration tests: the client against the simulated venue's HTTP server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

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

/// The tests' `recvWindow` and backend timeout: the acceptance window after which a "not
/// found" proves an order absent is 700 ms, on the client and on the simulator alike, so a test
/// that waits it out takes well under a second.
const RECV_WINDOW: Duration = Duration::from_millis(600);
const BACKEND_TIMEOUT: Duration = Duration::from_millis(100);
const WINDOW: Duration = Duration::from_millis(700);

fn sim_config(symbols: usize) -> SimConfig {
    SimConfig { symbols, acceptance_window: WINDOW, ..SimConfig::default() }
}

async fn server(symbols: usize) -> SimServer {
    SimServer::start(sim_config(symbols)).await.unwrap()
}

fn profile(server: &SimServer) -> VenueProfile {
    VenueProfile::custom(server.base_url(), VenueProfile::binance_spot())
        .with_name("sim")
        .with_recv_window(RECV_WINDOW)
        .unwrap()
        .with_backend_timeout(BACKEND_TIMEOUT)
}

fn now() -> trading_core::Timestamp {
    use trading_core::Clock;
    SystemClock.now()
}

fn client_with(server: &SimServer, timeouts: Timeouts) -> BinanceClient {
    let profile = profile(server);
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
    let sent_at = now();
    let err = client.create_order(&req).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    let found = client.resolve_order(&rules.symbol, &req.client_order_id, sent_at).await.unwrap().found();
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
    let sent_at = now();
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
        .resolve_order(&rules.symbol, &req.client_order_id, sent_at)
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
    // An id the venue never saw resolves to None (after the acceptance window).
    let sent_at = now();
    assert!(client
        .resolve_order(&rules.symbol, &cid("never-sent"), sent_at)
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
    let sent_at = now();
    let err = client.create_order(&req).await.unwrap_err();
    assert!(matches!(err, ExchangeError::Unavailable { .. }) && err.is_outcome_unknown(), "{err:?}");
    let resolved = client.resolve_order(&rules.symbol, &req.client_order_id, sent_at).await.unwrap().found();
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

// ---------------------------------------------------------------------------------------------
// Issue 9: safe to trade real money with

/// Item 1: a market buy times out; the venue accepted it but answers "not found" (-2013) for a
/// while. The caller resolves the outcome and, if the answer were "absent", would buy again
/// under the same id (which the venue accepts once the first order is filled). Resolution must
/// keep looking until the acceptance window has passed: exactly one order ends up on the venue.
/// (One lookup, as before, answered "absent" here and the retry bought twice.)
#[tokio::test]
async fn timed_out_market_buy_seen_late_is_resolved_not_bought_twice() {
    let server =
        SimServer::start(SimConfig { order_visibility_delay: Duration::from_millis(400), ..sim_config(5) })
            .await
            .unwrap();
    let client = client_with(&server, Timeouts { order: Duration::from_millis(150), ..Timeouts::default() });
    let rules = first_market(&client).await;
    let ask = client.fetch_ticker(&rules.symbol).await.unwrap().ask.unwrap();
    let (_, qty) = rules.buy_order_for_budget(dec!(30), ask).unwrap();
    let req = OrderRequest::market(rules.symbol.clone(), Side::Buy, qty, cid("late-buy-1"));
    server.inject(fault(Endpoint::CreateOrder, Fault::AcceptThenDelay(Duration::from_secs(1))));

    let sent_at = now();
    let err = client.create_order(&req).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    // The venue has the order but does not show it yet.
    let early = client.fetch_order(&rules.symbol, &OrderRef::Client(req.client_order_id.clone())).await;
    assert!(matches!(early, Err(ExchangeError::OrderNotFound(_))), "{early:?}");

    // What a caller does: resolve; only a certain "absent" allows buying again.
    let order = match client.resolve_order(&rules.symbol, &req.client_order_id, sent_at).await.unwrap() {
        exchange::OrderResolution::Found(order) => order,
        exchange::OrderResolution::Absent => client.create_order(&req).await.unwrap(),
    };
    assert_eq!(order.status, OrderStatus::Filled);
    let on_venue =
        server.sim().orders().into_iter().filter(|o| o.client_order_id == req.client_order_id).count();
    assert_eq!(on_venue, 1, "exactly one buy on the venue");
    assert_eq!(server.requests().iter().filter(|r| r.method == "POST").count(), 1, "never resent");
    server.shutdown().await;
}

/// Item 1: "absent" is answered only by a lookup sent after the acceptance window.
#[tokio::test]
async fn absent_only_after_the_acceptance_window() {
    let server = server(3).await;
    let client = client(&server);
    let rules = first_market(&client).await;
    assert_eq!(client.capabilities().acceptance_window, WINDOW);
    let started = Instant::now();
    let sent_at = now();
    let resolution = client.resolve_order(&rules.symbol, &cid("nobody-sent-this"), sent_at).await.unwrap();
    assert_eq!(resolution, exchange::OrderResolution::Absent);
    assert!(started.elapsed() >= WINDOW, "answered after {:?}", started.elapsed());
    let last_lookup = server.requests().into_iter().rev().find(|r| r.path == "/api/v3/order").unwrap();
    assert!(
        last_lookup.at.duration_since(started) >= WINDOW,
        "the deciding lookup was sent after the window"
    );
    assert!(requests_to(&server, "/api/v3/order") >= 2, "looked more than once");
    server.shutdown().await;
}

/// Item 2: a listing with a non-ASCII name and a STOP_LOSS_LIMIT order placed by hand are
/// reported, and everything else works.
#[tokio::test]
async fn unusual_listing_and_manual_stop_order_do_not_kill_the_client() {
    let server = SimServer::start(SimConfig {
        unrepresentable_listings: vec!["币安人生USDT".to_owned()],
        ..sim_config(5)
    })
    .await
    .unwrap();
    let client = client(&server);
    let list = client.load_markets().await.unwrap();
    assert_eq!(list.markets.len(), 5);
    assert_eq!(list.skipped.len(), 1);
    assert_eq!(list.skipped[0].venue_name, "币安人生USDT");
    assert_eq!(client.fetch_tickers(None).await.unwrap().len(), 5);
    let rules = list.markets.iter().find(|m| m.symbol.quote() == "USDT" && m.is_trading()).unwrap().clone();

    let bid = client.fetch_ticker(&rules.symbol).await.unwrap().bid.unwrap();
    let (price, qty) = rules.buy_order_for_budget(dec!(40), bid * dec!(0.8)).unwrap();
    let req =
        OrderRequest::limit(rules.symbol.clone(), Side::Buy, qty, price, TimeInForce::Gtc, cid("keep-1"));
    client.create_order(&req).await.unwrap();
    server.sim().add_foreign_open_order(serde_json::json!({
        "symbol": rules.venue_id, "orderId": 999_001, "orderListId": -1, "clientOrderId": "manual-stop",
        "price": "1.00000000", "origQty": "1.00000000", "executedQty": "0.00000000",
        "cummulativeQuoteQty": "0.00000000", "status": "NEW", "timeInForce": "GTC",
        "type": "STOP_LOSS_LIMIT", "side": "SELL", "stopPrice": "1.10000000", "icebergQty": "0.00000000",
        "time": 1, "updateTime": 1, "isWorking": false, "workingTime": -1, "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "NONE"
    }));
    for open in [
        client.fetch_open_orders(None).await.unwrap(),
        client.fetch_open_orders(Some(&rules.symbol)).await.unwrap(),
    ] {
        assert_eq!(open.orders.len(), 1);
        assert_eq!(open.orders[0].client_order_id, req.client_order_id);
        assert_eq!(open.unrecognised.len(), 1);
        assert_eq!(open.unrecognised[0].venue_name, format!("{}#999001", rules.venue_id));
    }
    server.shutdown().await;
}

fn tight_profile(server: &SimServer, weight: u32, order_window: Duration) -> VenueProfile {
    profile(server).with_rate_budget(RateBudget {
        weight_per_window: NonZeroU32::new(weight).unwrap(),
        window: Duration::from_secs(60),
        orders_per_window: NonZeroU32::new(100),
        order_window,
    })
}

fn signed_client(profile: VenueProfile, order_budget: exchange_binance::OrderBudget) -> BinanceClient {
    let config = ClientConfig::new(profile, Arc::new(SystemClock))
        .with_credentials(Credentials::new(DEFAULT_API_KEY, DEFAULT_API_SECRET).unwrap())
        .with_order_budget(order_budget);
    BinanceClient::new(config).unwrap()
}

/// Item 4: after polling used what market data may use, an order goes out at once from the
/// reserved headroom; when even that is gone, it fails fast with RateLimited instead of
/// leaving up to a minute later.
#[tokio::test]
async fn orders_do_not_wait_behind_market_data() {
    away_from_minute_boundary(Duration::from_secs(20)).await;
    let server = server(5).await;
    let budget = exchange_binance::OrderBudget { reserved_percent: 20, max_wait: Duration::from_millis(300) };
    let client = signed_client(tight_profile(&server, 200, Duration::from_secs(10)), budget);
    let rules = first_market(&client).await; // 20
    client.sync_time().await.unwrap(); // 1
                                       // Poll until market data has used its share (160 of 200).
    while client.used_weight() + 4 <= 160 {
        client.fetch_tickers(None).await.unwrap();
    }
    let poll = tokio::time::timeout(Duration::from_millis(300), client.fetch_tickers(None)).await;
    assert!(poll.is_err(), "market data waits for the next window");
    let (_, qty) = rules
        .buy_order_for_budget(dec!(20), server.sim().fetch_ticker(&rules.symbol).await.unwrap().ask.unwrap())
        .unwrap();
    let started = Instant::now();
    let order = tokio::time::timeout(
        Duration::from_secs(3),
        client.create_order(&OrderRequest::market(rules.symbol.clone(), Side::Buy, qty, cid("now-1"))),
    )
    .await
    .expect("the order did not wait for the next window")
    .unwrap();
    assert_eq!(order.status, OrderStatus::Filled);
    // Spend the reserve with order queries (weight 4), then one more order must fail fast.
    while client.used_weight() + 4 <= 200 {
        client.fetch_order(&rules.symbol, &OrderRef::Exchange(order.id.clone())).await.unwrap();
    }
    // ... and the last units with cancels (weight 1) of the filled order.
    while client.used_weight() < 200 {
        let late = client.cancel_order(&rules.symbol, &OrderRef::Exchange(order.id.clone())).await;
        assert!(matches!(late, Err(ExchangeError::OrderNotFound(_))), "{late:?}");
    }
    let sent = server.requests().len();
    let refused = tokio::time::timeout(
        Duration::from_secs(3),
        client.create_order(&OrderRequest::market(rules.symbol.clone(), Side::Buy, qty, cid("now-2"))),
    )
    .await
    .expect("refused without waiting for the window");
    assert!(matches!(refused, Err(ExchangeError::RateLimited { .. })), "{refused:?}");
    assert_eq!(server.requests().len(), sent, "nothing stale was sent");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.shutdown().await;
}

/// Items 4 and 5: -1015 (too many new orders) pauses new orders only, for the order window;
/// market data, queries and cancels go on. (Before, the whole venue paused for a minute.)
#[tokio::test]
async fn too_many_orders_pauses_new_orders_only() {
    let server = server(5).await;
    let client = signed_client(tight_profile(&server, 6000, Duration::from_millis(500)), Default::default());
    let rules = first_market(&client).await;
    let bid = client.fetch_ticker(&rules.symbol).await.unwrap().bid.unwrap();
    let (price, qty) = rules.buy_order_for_budget(dec!(40), bid * dec!(0.8)).unwrap();
    let resting =
        OrderRequest::limit(rules.symbol.clone(), Side::Buy, qty, price, TimeInForce::Gtc, cid("rest-1"));
    client.create_order(&resting).await.unwrap();

    server.inject(fault(Endpoint::CreateOrder, Fault::TooManyOrders));
    let second =
        OrderRequest::limit(rules.symbol.clone(), Side::Buy, qty, price, TimeInForce::Gtc, cid("rest-2"));
    let err = client.create_order(&second).await.unwrap_err();
    assert!(matches!(err, ExchangeError::RateLimited { .. }), "{err:?}");
    let posts = || server.requests().iter().filter(|r| r.method == "POST").count();
    let posted = posts();
    assert!(matches!(client.create_order(&second).await, Err(ExchangeError::RateLimited { .. })));
    assert_eq!(posts(), posted, "no new order is sent while paused");
    // Everything else goes on.
    client.fetch_tickers(None).await.unwrap();
    client.fetch_order(&rules.symbol, &OrderRef::Client(cid("rest-1"))).await.unwrap();
    let canceled = client.cancel_order(&rules.symbol, &OrderRef::Client(cid("rest-1"))).await.unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled);
    tokio::time::sleep(Duration::from_millis(550)).await;
    client.create_order(&second).await.unwrap();
    server.shutdown().await;
}

/// Item 6: a 403 from the web application firewall backs off instead of being retried at
/// full speed.
#[tokio::test]
async fn waf_403_backs_off() {
    let server = server(3).await;
    let profile = profile(&server).with_waf_backoff(Duration::from_millis(300));
    let client = signed_client(profile, Default::default());
    client.load_markets().await.unwrap();
    server.inject(fault(Endpoint::BookTicker, Fault::Firewall));
    let err = client.fetch_tickers(None).await.unwrap_err();
    assert!(
        matches!(err, ExchangeError::RateLimited { retry_after } if retry_after <= Duration::from_millis(300)),
        "{err:?}"
    );
    let sent = server.requests().len();
    for _ in 0..3 {
        assert!(matches!(client.fetch_tickers(None).await, Err(ExchangeError::RateLimited { .. })));
    }
    assert_eq!(server.requests().len(), sent, "nothing sent while backing off");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(client.fetch_tickers(None).await.unwrap().len(), 3);
    server.shutdown().await;
}

/// Item 8: a bad symbol in a list request names one symbol or none, never the list.
#[tokio::test]
async fn bad_symbol_in_a_list_names_no_list() {
    let server = server(6).await;
    let client = client(&server);
    let markets = client.load_markets().await.unwrap().markets;
    let listed: Vec<Symbol> =
        markets.iter().filter(|m| m.is_trading()).take(3).map(|m| m.symbol.clone()).collect();
    server.sim().set_listed(&listed[1], false).unwrap();
    match client.fetch_tickers(Some(&listed)).await {
        Err(ExchangeError::BadSymbol { symbol, .. }) => {
            assert!(symbol.is_empty() || symbol == listed[1].as_str(), "named {symbol:?}");
            assert!(!symbol.contains(','), "{symbol}");
        }
        other => panic!("expected BadSymbol, got {other:?}"),
    }
    match client.fetch_ticker(&listed[1]).await {
        Err(ExchangeError::BadSymbol { symbol, .. }) => assert_eq!(symbol, listed[1].as_str()),
        other => panic!("expected BadSymbol, got {other:?}"),
    }
    server.shutdown().await;
}

/// Item 9: concurrent first calls share one exchangeInfo request.
#[tokio::test]
async fn concurrent_first_calls_share_one_market_list_load() {
    let server = server(4).await;
    let client = client(&server);
    let calls = (0..8).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.fetch_tickers(None).await })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap().unwrap().len(), 4);
    }
    assert_eq!(requests_to(&server, "/api/v3/exchangeInfo"), 1);
    let (a, b) = tokio::join!(client.load_markets(), client.load_markets());
    assert_eq!(a.unwrap(), b.unwrap());
    assert!(requests_to(&server, "/api/v3/exchangeInfo") <= 3);
    server.shutdown().await;
}

/// Item 11: own trades with price, quantity, fee and fee asset (myTrades, weight 20).
#[tokio::test]
async fn fetch_fills_reports_fees() {
    let server = server(4).await;
    let client = client(&server);
    let rules = first_market(&client).await;
    let ask = client.fetch_ticker(&rules.symbol).await.unwrap().ask.unwrap();
    let (_, qty) = rules.buy_order_for_budget(dec!(50), ask).unwrap();
    let since = now();
    let order = client
        .create_order(&OrderRequest::market(rules.symbol.clone(), Side::Buy, qty, cid("fee-1")))
        .await
        .unwrap();
    let by_order = exchange::FillQuery {
        symbol: rules.symbol.clone(),
        since: None,
        order_id: Some(order.id.clone()),
        limit: 100,
    };
    let fills = client.fetch_fills(&by_order).await.unwrap();
    let venue: Vec<_> = server.sim().fills().into_iter().filter(|f| f.order_id == order.id).collect();
    assert_eq!(fills, venue, "what the venue recorded, fee included");
    assert_eq!(fills.iter().map(|f| f.quantity).sum::<Decimal>(), order.filled_quantity);
    assert!(fills.iter().all(|f| f.fee > Decimal::ZERO && f.fee_asset == rules.symbol.base()));
    assert_eq!(server.requests().last().unwrap().weight, 20);
    let by_time = exchange::FillQuery { order_id: None, since: Some(since), ..by_order };
    assert_eq!(client.fetch_fills(&by_time).await.unwrap(), fills);
    server.shutdown().await;
}

fn mexc_client(server: &SimServer) -> BinanceClient {
    let profile = VenueProfile::custom(server.base_url(), VenueProfile::mexc_spot())
        .with_recv_window(RECV_WINDOW)
        .unwrap()
        .with_backend_timeout(BACKEND_TIMEOUT);
    signed_client(profile, Default::default())
}

/// Item 10: a MEXC-profile client runs the order lifecycle against the simulator's MEXC
/// dialect; the create answer (no status) is followed by a query, never reported as "new,
/// 0 filled".
#[tokio::test]
async fn mexc_profile_runs_the_lifecycle_against_the_mexc_dialect() {
    let server =
        SimServer::start(SimConfig { dialect: exchange_sim::Dialect::Mexc, ..sim_config(5) }).await.unwrap();
    let client = mexc_client(&server);
    let rules = first_market(&client).await;
    let quotes = client.fetch_tickers(None).await.unwrap();
    assert_eq!(quotes.len(), 5);
    let ask = client.fetch_ticker(&rules.symbol).await.unwrap().ask.unwrap();
    let (_, qty) = rules.buy_order_for_budget(dec!(50), ask).unwrap();
    let bought = client
        .create_order(&OrderRequest::market(rules.symbol.clone(), Side::Buy, qty, cid("mx-buy-1")))
        .await
        .unwrap();
    assert_eq!(bought.status, OrderStatus::Filled, "the follow-up query says how it went");
    assert_eq!(bought.filled_quantity, qty);
    assert!(bought.cumulative_quote > Decimal::ZERO);

    let bid = client.fetch_ticker(&rules.symbol).await.unwrap().bid.unwrap();
    let (price, qty) = rules.buy_order_for_budget(dec!(40), bid * dec!(0.8)).unwrap();
    let resting =
        OrderRequest::limit(rules.symbol.clone(), Side::Buy, qty, price, TimeInForce::Gtc, cid("mx-rest-1"));
    let placed = client.create_order(&resting).await.unwrap();
    assert_eq!((placed.status, placed.price), (OrderStatus::New, Some(price)));
    let open = client.fetch_open_orders(Some(&rules.symbol)).await.unwrap();
    assert_eq!(open.orders.len(), 1);
    let canceled = client.cancel_order(&rules.symbol, &OrderRef::Client(cid("mx-rest-1"))).await.unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled);
    let fills = client
        .fetch_fills(&exchange::FillQuery {
            symbol: rules.symbol.clone(),
            since: None,
            order_id: Some(bought.id.clone()),
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(fills.iter().map(|f| f.quantity).sum::<Decimal>(), bought.filled_quantity);
    assert!(client.fetch_balances().await.unwrap().iter().any(|b| b.asset == rules.symbol.base()));
    // No POST body and the MEXC key header: the request shape MEXC expects.
    assert!(server.requests().iter().any(|r| r.method == "POST" && r.query.contains("signature=")));

    // The follow-up query fails: the order's state is unknown, never "new, 0 filled".
    server.inject(fault(Endpoint::QueryOrder, Fault::ServerError));
    let ask = client.fetch_ticker(&rules.symbol).await.unwrap().ask.unwrap();
    let (_, qty) = rules.buy_order_for_budget(dec!(20), ask).unwrap();
    let req = OrderRequest::market(rules.symbol.clone(), Side::Buy, qty, cid("mx-buy-2"));
    let sent_at = now();
    let err = client.create_order(&req).await.unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    let resolved = client.resolve_order(&rules.symbol, &req.client_order_id, sent_at).await.unwrap();
    assert_eq!(resolved.found().map(|o| o.status), Some(OrderStatus::Filled));

    // MEXC's bad-symbol code.
    server.sim().set_listed(&rules.symbol, false).unwrap();
    assert!(matches!(client.fetch_ticker(&rules.symbol).await, Err(ExchangeError::BadSymbol { .. })));
    server.shutdown().await;
}

/// Issue 14 (preflight): `test_order` goes to `POST /api/v3/order/test`, is validated exactly
/// as a placement would be (same error for the same request), and creates nothing: no order,
/// no balance change. A filter failure is `Rejected` with the venue's code; a wrong key or
/// signature is `Auth`; an unlisted symbol is `BadSymbol`.
#[tokio::test]
async fn test_order_validates_like_a_placement_and_places_nothing() {
    let server = server(3).await;
    let client = client(&server);
    let rules = first_market(&client).await;
    let symbol = rules.symbol.clone();
    let balances_before = server.sim().balances();

    let quote = client.fetch_ticker(&symbol).await.unwrap();
    let (_, qty) = rules.buy_order_for_budget(dec!(50), quote.ask.unwrap()).unwrap();
    client.test_order(&OrderRequest::market(symbol.clone(), Side::Buy, qty, cid("pre-mkt-1"))).await.unwrap();
    let (price, lqty) = rules.buy_order_for_budget(dec!(100), quote.bid.unwrap() * dec!(0.9)).unwrap();
    let limit =
        OrderRequest::limit(symbol.clone(), Side::Buy, lqty, price, TimeInForce::Gtc, cid("pre-lim-1"));
    client.test_order(&limit).await.unwrap();
    assert_eq!(requests_to(&server, "/api/v3/order/test"), 2);
    assert_eq!(requests_to(&server, "/api/v3/order"), 0);
    assert!(server.sim().orders().is_empty(), "a test order is never placed");
    assert_eq!(server.sim().balances(), balances_before, "nor does it lock or move funds");

    // Below the minimum notional: the filter code, as a placement would get it.
    let tiny = rules.floor_qty(rules.min_notional / price / dec!(2)).max(rules.min_qty);
    assert!(tiny * price < rules.min_notional, "precondition: {tiny} x {price} is below the minimum");
    let small =
        OrderRequest::limit(symbol.clone(), Side::Buy, tiny, price, TimeInForce::Gtc, cid("pre-small-1"));
    let tested = client.test_order(&small).await.unwrap_err();
    let ExchangeError::Rejected { code, reason } = &tested else { panic!("{tested:?}") };
    assert_eq!(*code, Some(-1013), "{reason}");
    assert!(reason.contains("NOTIONAL"), "{reason}");
    assert!(!tested.is_outcome_unknown(), "nothing can have been placed");
    let placed = client.create_order(&small).await.unwrap_err();
    assert_eq!(placed.to_string(), tested.to_string(), "the same answer as a real placement");

    // More than the account holds: insufficient balance, as a placement.
    let (_, big) = rules.buy_order_for_budget(dec!(20000), quote.ask.unwrap()).unwrap();
    let broke = OrderRequest::market(symbol.clone(), Side::Buy, big, cid("pre-big-1"));
    let e = client.test_order(&broke).await.unwrap_err();
    assert!(matches!(e, ExchangeError::Rejected { code: Some(-2010), .. }), "{e:?}");

    // An unlisted symbol is refused before sending; a delisted one by the venue.
    let unknown = OrderRequest::market(Symbol::new("NOPE", "USDT").unwrap(), Side::Buy, qty, cid("pre-x-1"));
    assert!(matches!(client.test_order(&unknown).await, Err(ExchangeError::BadSymbol { .. })));

    // Wrong key and wrong secret: Auth (fatal), and still nothing placed.
    for (key, secret) in [("not-the-key", DEFAULT_API_SECRET), (DEFAULT_API_KEY, "wrong-secret")] {
        let profile = VenueProfile::custom(server.base_url(), VenueProfile::binance_spot());
        let wrong = BinanceClient::new(
            ClientConfig::new(profile, Arc::new(SystemClock))
                .with_credentials(Credentials::new(key, secret).unwrap()),
        )
        .unwrap();
        let e = wrong.test_order(&limit).await.unwrap_err();
        assert!(matches!(e, ExchangeError::Auth(_)), "{key}/{secret}: {e:?}");
    }
    assert!(server.sim().orders().is_empty());
    assert_eq!(server.sim().balances(), balances_before);
    server.shutdown().await;
}

/// The MEXC dialect has the same endpoint: a valid order validates, a small one is refused,
/// nothing is placed.
#[tokio::test]
async fn test_order_on_the_mexc_dialect() {
    let server =
        SimServer::start(SimConfig { dialect: exchange_sim::Dialect::Mexc, ..sim_config(3) }).await.unwrap();
    let client = mexc_client(&server);
    let rules = first_market(&client).await;
    let bid = client.fetch_ticker(&rules.symbol).await.unwrap().bid.unwrap();
    let (price, qty) = rules.buy_order_for_budget(dec!(40), bid * dec!(0.8)).unwrap();
    let ok =
        OrderRequest::limit(rules.symbol.clone(), Side::Buy, qty, price, TimeInForce::Gtc, cid("mx-pre-1"));
    client.test_order(&ok).await.unwrap();
    let tiny = rules.floor_qty(rules.min_notional / price / dec!(2)).max(rules.min_qty);
    let small = OrderRequest { quantity: tiny, client_order_id: cid("mx-pre-2"), ..ok.clone() };
    assert!(matches!(client.test_order(&small).await, Err(ExchangeError::Rejected { .. })));
    assert_eq!(requests_to(&server, "/api/v3/order/test"), 2);
    assert!(server.sim().orders().is_empty());
    server.shutdown().await;
}
