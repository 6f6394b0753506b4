//! Integration tests of the feed: against the simulator's HTTP server (real sockets, the
//! Binance client) for bad symbols, degradation, rate limits and zero prices; against the
//! in-process simulator on tokio's paused time wherever timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exchange::{
    Capabilities, Exchange, ExchangeError, FillQuery, MarketList, OhlcvRequest, OpenOrders, OrderResolution,
};
use exchange_binance::{BinanceClient, ClientConfig, Credentials, VenueProfile};
use exchange_sim::{
    Endpoint, Fault, ScriptedFault, SimConfig, SimExchange, SimServer, DEFAULT_API_KEY, DEFAULT_API_SECRET,
};
use md_feed::{Feed, FeedConfig, FeedHandle, PollMode};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use supervisor::{ShutdownCoordinator, Supervisor, SupervisorConfig};
use telemetry::{Event, MemorySink, Tier};
use tokio::time::Instant;
use trading_core::{
    Balance, Candle, ClientOrderId, Clock, Fill, Order, OrderRef, OrderRequest, Quote, Symbol, SystemClock,
    Timestamp, TokioClock,
};

// ---------- helpers ----------

/// A config with the statistics/candle side off (tests of the quote cycle count its requests).
fn config(mode: PollMode, poll_ms: u64) -> FeedConfig {
    let poll = Duration::from_millis(poll_ms);
    FeedConfig {
        mode,
        poll,
        hot: poll,
        warm: poll,
        cold: poll * 4,
        stats_every: Duration::ZERO,
        candles_every: Duration::ZERO,
        ..FeedConfig::default()
    }
}

fn client(server: &SimServer) -> Arc<BinanceClient> {
    let profile = VenueProfile::custom(server.base_url(), VenueProfile::binance_spot()).with_name("sim");
    let config = ClientConfig::new(profile, Arc::new(SystemClock))
        .with_credentials(Credentials::new(DEFAULT_API_KEY, DEFAULT_API_SECRET).unwrap());
    Arc::new(BinanceClient::new(config).unwrap())
}

fn ticker_requests(server: &SimServer) -> Vec<exchange_sim::RecordedRequest> {
    server.requests().into_iter().filter(|r| r.path.starts_with("/api/v3/ticker")).collect()
}

fn count(sink: &MemorySink, pred: impl Fn(&Event) -> bool) -> usize {
    sink.events().iter().filter(|e| pred(e)).count()
}

/// Stops a run once `n` cycles have completed.
fn after_cycles(handle: &FeedHandle, n: u64) -> impl std::future::Future<Output = ()> {
    let mut rx = handle.updates();
    async move {
        while let Some((u, _)) = rx.next().await {
            if u.seq >= n {
                return;
            }
        }
    }
}

/// What the decorator does to one quote call.
#[derive(Clone)]
enum Step {
    Delay(Duration),
    Fail(fn(Timestamp) -> ExchangeError),
}

/// A venue in front of a real one: records when each quote call went out (tokio time),
/// applies scripted steps by call number, and can zero prices the way an unfixed client reads
/// Binance's "0.00000000" (so the feed's own guard is tested).
struct Recorder {
    inner: Arc<dyn Exchange>,
    clock: Arc<dyn Clock>,
    calls: Mutex<Vec<(Instant, usize)>>,
    script: Mutex<VecDeque<Step>>,
    zero_all: Vec<Symbol>,
    zero_bid: Vec<Symbol>,
    unrepresentable: Vec<exchange::SkippedEntry>,
}

impl Recorder {
    fn new(inner: Arc<dyn Exchange>, clock: Arc<dyn Clock>) -> Self {
        Recorder {
            inner,
            clock,
            calls: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            zero_all: Vec::new(),
            zero_bid: Vec::new(),
            unrepresentable: Vec::new(),
        }
    }

    fn script(self, steps: Vec<Step>) -> Self {
        *self.script.lock() = steps.into();
        self
    }

    fn times(&self) -> Vec<Instant> {
        self.calls.lock().iter().map(|(t, _)| *t).collect()
    }
}

#[async_trait]
impl Exchange for Recorder {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn load_markets(&self) -> Result<MarketList, ExchangeError> {
        let mut list = self.inner.load_markets().await?;
        list.skipped.extend(self.unrepresentable.iter().cloned());
        Ok(list)
    }
    async fn fetch_tickers(&self, symbols: Option<&[Symbol]>) -> Result<Vec<Quote>, ExchangeError> {
        self.calls.lock().push((Instant::now(), symbols.map_or(0, <[Symbol]>::len)));
        let step = self.script.lock().pop_front();
        match step {
            Some(Step::Delay(d)) => tokio::time::sleep(d).await,
            Some(Step::Fail(f)) => return Err(f(self.clock.now())),
            None => {}
        }
        let mut quotes = self.inner.fetch_tickers(symbols).await?;
        for q in &mut quotes {
            if self.zero_all.contains(&q.symbol) {
                (q.bid, q.ask, q.last) = (Some(Decimal::ZERO), Some(Decimal::ZERO), Some(Decimal::ZERO));
            }
            if self.zero_bid.contains(&q.symbol) {
                q.bid = Some(Decimal::ZERO);
            }
        }
        Ok(quotes)
    }
    async fn fetch_ohlcv(&self, request: &OhlcvRequest) -> Result<Vec<Candle>, ExchangeError> {
        self.inner.fetch_ohlcv(request).await
    }
    async fn create_order(&self, request: &OrderRequest) -> Result<Order, ExchangeError> {
        self.inner.create_order(request).await
    }
    async fn cancel_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError> {
        self.inner.cancel_order(symbol, order).await
    }
    async fn fetch_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError> {
        self.inner.fetch_order(symbol, order).await
    }
    async fn fetch_open_orders(&self, symbol: Option<&Symbol>) -> Result<OpenOrders, ExchangeError> {
        self.inner.fetch_open_orders(symbol).await
    }
    async fn fetch_fills(&self, query: &FillQuery) -> Result<Vec<Fill>, ExchangeError> {
        self.inner.fetch_fills(query).await
    }
    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.inner.fetch_balances().await
    }
    async fn server_time(&self) -> Result<Timestamp, ExchangeError> {
        self.inner.server_time().await
    }
    async fn resolve_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
        sent_at: Timestamp,
    ) -> Result<OrderResolution, ExchangeError> {
        self.inner.resolve_order(symbol, client_order_id, sent_at).await
    }
}

/// The in-process simulator on tokio's (paused) clock.
fn paused_sim(symbols: usize) -> (SimExchange, Arc<TokioClock>) {
    let clock = Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_700_000_000_000)));
    let sim = SimExchange::new(SimConfig { symbols, clock: clock.clone(), ..SimConfig::default() }).unwrap();
    (sim, clock)
}

// ---------- over HTTP (real sockets) ----------

#[tokio::test]
async fn bad_symbol_is_skipped_after_one_error() {
    let server = SimServer::start(SimConfig { symbols: 5, ..SimConfig::default() }).await.unwrap();
    let watch = server.sim().symbols();
    let sink = MemorySink::new();
    let mut feed = Feed::new(
        client(&server),
        config(PollMode::PerSymbol, 1500),
        watch.clone(),
        Arc::new(SystemClock),
        Arc::new(sink.clone()),
    )
    .unwrap();
    let handle = feed.handle();
    feed.start().await.unwrap();
    let bad = watch[2].clone();
    server.sim().set_listed(&bad, false).unwrap(); // delisted after start: -1121 Invalid symbol
    let before = ticker_requests(&server).len();
    let summary = feed.run(after_cycles(&handle, 3)).await.unwrap();
    // Cycle 1: 5 requests, one refused; cycles 2 and 3: only the 4 good symbols.
    assert_eq!(
        (summary.requests, summary.errors, summary.quotes, summary.skipped),
        (13, 1, 12, 1),
        "{summary:?}"
    );
    assert_eq!(ticker_requests(&server).len() - before, 13);
    let skipped: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SymbolSkipped { symbol, reason } => Some((symbol, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].0, bad);
    assert!(skipped[0].1.contains("Invalid symbol"), "{}", skipped[0].1);
}

/// A feed stopped before its first MD_HEALTH_S window ends still reports the window: a short
/// session, and the last minute of any session, keep their health figures.
#[tokio::test]
async fn the_health_window_in_progress_is_reported_when_the_feed_stops() {
    let server = SimServer::start(SimConfig { symbols: 5, ..SimConfig::default() }).await.unwrap();
    let sink = MemorySink::new();
    let cfg = FeedConfig { health_every: Duration::from_secs(3600), ..config(PollMode::Bulk, 200) };
    let feed = Feed::new(
        client(&server),
        cfg,
        server.sim().symbols(),
        Arc::new(SystemClock),
        Arc::new(sink.clone()),
    )
    .unwrap();
    let handle = feed.handle();
    let summary = feed.run(after_cycles(&handle, 3)).await.unwrap();
    let health: Vec<(u64, u64)> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::MdHealth { requests, cycles, .. } => Some((requests, cycles)),
            _ => None,
        })
        .collect();
    assert_eq!(health.len(), 1, "one report, at the stop: {health:?}");
    assert!(health[0].1 >= 3, "the window's cycles: {health:?}");
    // the cycles' requests, and the start-up probe's
    assert!(health[0].0 >= summary.requests, "{health:?} {summary:?}");
}

#[tokio::test]
async fn unnamed_bad_symbol_in_a_list_request_is_found_by_splitting() {
    let server = SimServer::start(SimConfig { symbols: 8, ..SimConfig::default() }).await.unwrap();
    let watch = server.sim().symbols();
    let sink = MemorySink::new();
    let cfg = FeedConfig { batch_size: 8, ..config(PollMode::List, 1500) };
    let mut feed =
        Feed::new(client(&server), cfg, watch.clone(), Arc::new(SystemClock), Arc::new(sink.clone()))
            .unwrap();
    let handle = feed.handle();
    feed.start().await.unwrap();
    let mut sorted = watch.clone();
    sorted.sort();
    let bad = sorted[5].clone();
    server.sim().set_listed(&bad, false).unwrap();
    let mut rx = handle.updates();
    let summary = feed.run(after_cycles(&handle, 2)).await.unwrap();
    // Cycle 1: 8 -> 4 ok + 4 -> 2 ok + 2 -> 1 ok + 1 bad: 7 requests, 4 refused, and every good
    // symbol still gets its quote in the same cycle. Cycle 2: one request for the 7.
    assert_eq!((summary.requests, summary.errors, summary.quotes), (8, 4, 14), "{summary:?}");
    assert_eq!(feed_skipped(&sink), vec![bad.clone()]);
    let (last, _) = rx.next().await.unwrap();
    assert_eq!(last.quotes.len(), 7);
    assert!(last.quotes.iter().all(|q| q.symbol != bad));
}

fn feed_skipped(sink: &MemorySink) -> Vec<Symbol> {
    sink.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SymbolSkipped { symbol, .. } => Some(symbol),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn degraded_symbols_back_off_and_recover() {
    let server = SimServer::start(SimConfig { symbols: 2, ..SimConfig::default() }).await.unwrap();
    let watch = server.sim().symbols();
    let sink = MemorySink::new();
    let cfg = FeedConfig {
        max_concurrency: 1,
        degrade_after: 2,
        backoff_base: Duration::from_millis(300),
        ..config(PollMode::PerSymbol, 100)
    };
    let mut feed =
        Feed::new(client(&server), cfg, watch.clone(), Arc::new(SystemClock), Arc::new(sink.clone()))
            .unwrap();
    let handle = feed.handle();
    feed.start().await.unwrap();
    // Four 503 answers: two failures in a row for each symbol.
    server.inject(ScriptedFault { endpoint: Endpoint::Any, fault: Fault::ServerError, times: 4 });
    let recovered = {
        let sink = sink.clone();
        let mut rx = handle.updates();
        async move {
            while rx.next().await.is_some() {
                if count(&sink, |e| matches!(e, Event::SymbolRecovered { .. })) == 2 {
                    return;
                }
            }
        }
    };
    let summary = tokio::time::timeout(Duration::from_secs(30), feed.run(recovered))
        .await
        .expect("both symbols recover")
        .unwrap();
    let degraded: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SymbolDegraded { symbol, consecutive_failures, backoff_ms, .. } => {
                Some((symbol, consecutive_failures, backoff_ms))
            }
            _ => None,
        })
        .collect();
    assert_eq!(degraded.len(), 2, "{degraded:?}");
    assert!(degraded.iter().all(|(_, n, b)| (*n, *b) == (2, 300)), "{degraded:?}");
    let recovered: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SymbolRecovered { symbol, degraded_for_ms } => Some((symbol, degraded_for_ms)),
            _ => None,
        })
        .collect();
    assert!(recovered.iter().all(|(_, ms)| *ms >= 300), "{recovered:?}");
    assert_eq!((summary.degraded, summary.skipped), (0, 0));
    assert!(handle.store().get(&watch[0]).is_some() && handle.store().get(&watch[1]).is_some());
}

#[tokio::test]
async fn rate_limit_pauses_the_feed_and_nothing_goes_out_early() {
    let server = SimServer::start(SimConfig { symbols: 10, ..SimConfig::default() }).await.unwrap();
    let watch = server.sim().symbols();
    let sink = MemorySink::new();
    let feed = Feed::new(
        client(&server),
        config(PollMode::Bulk, 100),
        watch,
        Arc::new(SystemClock),
        Arc::new(sink.clone()),
    )
    .unwrap();
    let handle = feed.handle();
    let mut feed = feed;
    feed.start().await.unwrap();
    let first = ticker_requests(&server).len();
    server.inject(ScriptedFault {
        endpoint: Endpoint::BookTicker,
        fault: Fault::RateLimited { retry_after: Duration::from_secs(1) },
        times: 1,
    });
    let summary = tokio::time::timeout(Duration::from_secs(30), feed.run(after_cycles(&handle, 4)))
        .await
        .expect("the feed resumes")
        .unwrap();
    assert_eq!(summary.rate_limited, 1);
    let sent = ticker_requests(&server);
    let limited = &sent[first];
    let after = &sent[first + 1];
    let gap = after.at.duration_since(limited.at);
    assert!(gap >= Duration::from_secs(1), "next request {gap:?} after the 429 with Retry-After 1 s");
    assert!(sent.len() - first >= 4);
}

#[tokio::test]
async fn zero_price_quotes_never_reach_the_output() {
    let server = SimServer::start(SimConfig { symbols: 6, ..SimConfig::default() }).await.unwrap();
    let mut watch = server.sim().symbols();
    watch.sort();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut venue = Recorder::new(client(&server), clock.clone());
    venue.zero_all = vec![watch[0].clone()];
    venue.zero_bid = vec![watch[1].clone()];
    for mode in [PollMode::Bulk, PollMode::PerSymbol] {
        let venue = Arc::new(Recorder {
            inner: venue.inner.clone(),
            clock: clock.clone(),
            calls: Mutex::default(),
            script: Mutex::default(),
            zero_all: venue.zero_all.clone(),
            zero_bid: venue.zero_bid.clone(),
            unrepresentable: Vec::new(),
        });
        let mut feed =
            Feed::new(venue, config(mode, 1500), watch.clone(), clock.clone(), Arc::new(MemorySink::new()))
                .unwrap();
        let handle = feed.handle();
        let mut rx = handle.updates();
        feed.start().await.unwrap();
        let report = feed.run_cycle().await;
        assert_eq!((report.no_price, report.quotes), (1, 5), "{mode:?}: {report:?}");
        let (update, _) = rx.next().await.unwrap();
        assert!(update.quotes.iter().all(|q| q.symbol != watch[0]), "{mode:?}");
        // the quotes after the dropped one moved up to fill its place: each is its own symbol's
        let symbols: Vec<&Symbol> = update.quotes.iter().map(|q| &q.symbol).collect();
        assert_eq!(
            symbols,
            watch[1..].iter().collect::<Vec<_>>(),
            "{mode:?}: the kept quotes, in symbol order"
        );
        for q in &update.quotes {
            assert_eq!(handle.store().get(&q.symbol).map(|s| s.quote).as_ref(), Some(q), "{mode:?}");
        }
        assert!(handle.store().get(&watch[0]).is_none(), "{mode:?}: a zero-price quote was stored");
        let one_sided = handle.store().get(&watch[1]).unwrap().quote;
        assert_eq!(one_sided.bid, None);
        assert!(one_sided.price().is_some_and(|p| p > Decimal::ZERO));
        for q in &update.quotes {
            for p in [q.bid, q.ask, q.last].into_iter().flatten() {
                assert!(p > Decimal::ZERO, "{mode:?}: {q:?}");
            }
        }
    }
    drop(venue);
}

// ---------- in-process, on paused time ----------

#[tokio::test(start_paused = true)]
async fn overrun_events_exactly_when_a_cycle_exceeds_the_interval() {
    let (sim, clock) = paused_sim(20);
    let watch = sim.symbols();
    // Call 0 is the start-up probe; then one call per cycle.
    let ms = Duration::from_millis;
    let venue = Arc::new(Recorder::new(Arc::new(sim), clock.clone()).script(vec![
        Step::Delay(ms(0)),
        Step::Delay(ms(0)),
        Step::Delay(ms(1200)), // cycle 2: overrun
        Step::Delay(ms(0)),
        Step::Delay(ms(1000)), // cycle 4: exactly the interval, not an overrun
        Step::Delay(ms(999)),
    ]));
    let sink = MemorySink::new();
    let shutdown = ShutdownCoordinator::new(Arc::new(sink.clone()));
    let supervisor =
        Supervisor::new(SupervisorConfig::default(), clock.clone(), Arc::new(sink.clone()), &shutdown)
            .unwrap();
    let heartbeat = supervisor.register("md-feed", Duration::from_secs(3)).unwrap();
    let mut feed =
        Feed::new(venue.clone(), config(PollMode::Bulk, 1000), watch, clock, Arc::new(sink.clone()))
            .unwrap()
            .with_heartbeat(heartbeat.clone());
    let handle = feed.handle();
    feed.start().await.unwrap();
    let t0 = Instant::now();
    let summary = feed.run(after_cycles(&handle, 6)).await.unwrap();
    let overruns: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::MdPollOverrun { cycle_ms, target_ms, requests, weight, symbols, .. } => {
                Some((cycle_ms, target_ms, requests, weight, symbols))
            }
            _ => None,
        })
        .collect();
    assert_eq!(overruns, vec![(1200, 1000, 1, 4, 20)]);
    assert_eq!((summary.cycles, summary.overruns), (6, 1));
    // The slow cycle is not queued behind: no tick is made up.
    let starts: Vec<u128> = venue.times()[1..].iter().map(|t| t.duration_since(t0).as_millis()).collect();
    // Cycle 3 starts when the slow cycle 2 ends (2200), and the interval counts from there.
    assert_eq!(starts, vec![0, 1000, 2200, 3200, 4200, 5200]);
    assert_eq!(heartbeat.beats(), 6);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_and_ban_pause_exactly_as_long_as_the_venue_says() {
    let (sim, clock) = paused_sim(10);
    let watch = sim.symbols();
    let ok = Step::Delay(Duration::ZERO);
    let mut script = vec![ok.clone(); 11]; // probe + cycle 1 (10 symbols)
    script.push(Step::Fail(|_| ExchangeError::RateLimited { retry_after: Duration::from_secs(30) }));
    script.extend(vec![ok.clone(); 1]); // its in-flight neighbour
    script.extend(vec![ok.clone(); 10]); // the cycle after the pause
    script.push(Step::Fail(|now| ExchangeError::Banned { until: now + Duration::from_secs(120) }));
    let venue = Arc::new(Recorder::new(Arc::new(sim), clock.clone()).script(script));
    let sink = MemorySink::new();
    let cfg = FeedConfig { max_concurrency: 2, ..config(PollMode::PerSymbol, 1000) };
    let mut feed = Feed::new(venue.clone(), cfg, watch, clock, Arc::new(sink.clone())).unwrap();
    let handle = feed.handle();
    feed.start().await.unwrap();
    let summary = feed.run(after_cycles(&handle, 5)).await.unwrap();
    assert_eq!(summary.rate_limited, 2);
    let times = venue.times();
    for (limited, wait) in [(11, Duration::from_secs(30)), (23, Duration::from_secs(120))] {
        let t = times[limited];
        let later: Vec<_> = times.iter().filter(|x| **x > t).collect();
        assert!(!later.is_empty(), "the feed resumed after call {limited}");
        assert!(
            later.iter().all(|x| x.duration_since(t) >= wait),
            "a request went out early after call {limited}"
        );
        assert_eq!(later[0].duration_since(t), wait, "resumed exactly when allowed");
    }
}

#[tokio::test(start_paused = true)]
async fn per_symbol_mode_runs_at_the_weight_limited_optimum_without_rate_limits() {
    let (sim, clock) = paused_sim(130);
    let watch = sim.symbols();
    let sink = MemorySink::new();
    let mut feed =
        Feed::new(Arc::new(sim), config(PollMode::PerSymbol, 1500), watch, clock, Arc::new(sink.clone()))
            .unwrap();
    let handle = feed.handle();
    let verdict = feed.start().await.unwrap().clone();
    // 130 x 2 weight with 90 % of 6000/min = 2889 ms: the 1.5 s target is named infeasible.
    assert!(!verdict.feasible);
    assert_eq!(verdict.weight_per_cycle, 260);
    assert_eq!(verdict.achievable, Duration::from_millis(2889));
    assert!(verdict.advice.contains("bulk endpoint: 4 weight/cycle"), "{}", verdict.advice);
    assert_eq!(count(&sink, |e| matches!(e, Event::FeedFeasibility { feasible: false, .. })), 1);
    let summary = feed.run(after_cycles(&handle, 30)).await.unwrap();
    assert_eq!((summary.errors, summary.rate_limited), (0, 0), "{summary:?}");
    let optimum = 2889;
    assert!(
        summary.cycle_p50_ms >= optimum * 9 / 10 && summary.cycle_p50_ms <= optimum * 11 / 10,
        "{summary:?}"
    );
    assert_eq!(summary.overruns, 30);
}

#[tokio::test(start_paused = true)]
async fn tiers_follow_marks_and_health_reports_percentiles() {
    let (sim, clock) = paused_sim(5);
    let watch = sim.symbols();
    let sink = MemorySink::new();
    let cfg = FeedConfig { health_every: Duration::from_secs(2), ..config(PollMode::Bulk, 1000) };
    let mut feed =
        Feed::new(Arc::new(sim), cfg, watch.clone(), clock.clone(), Arc::new(sink.clone())).unwrap();
    let handle = feed.handle();
    feed.start().await.unwrap();
    handle.mark_hot(&watch[0], "open order", None);
    feed.run_cycle().await;
    assert_eq!(feed.tier(&watch[0]), Some(Tier::Hot));
    assert_eq!(handle.store().get(&watch[0]).unwrap().tier, Tier::Hot);
    handle.unmark(&watch[0], "open order");
    feed.run_cycle().await;
    let changes: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::TierChanged { symbol, from, to, reason } => Some((symbol, from, to, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        (changes[0].1, changes[0].2, changes[0].3.as_str()),
        (Tier::Warm, Tier::Hot, "marked hot: open order")
    );
    assert_eq!((changes[1].1, changes[1].2), (Tier::Hot, Tier::Warm));
    tokio::time::sleep(Duration::from_secs(2)).await;
    feed.run_cycle().await;
    let health: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::MdHealth {
                requests,
                success_rate,
                stale_symbols,
                weight_used,
                latency_p99_ms,
                cycles,
                cycle_max_ms,
                ..
            } => Some((
                requests,
                success_rate,
                stale_symbols,
                weight_used,
                latency_p99_ms,
                cycles,
                cycle_max_ms,
            )),
            _ => None,
        })
        .collect();
    // Probe + 3 cycles, one bulk request each at weight 4, all fresh, answered at once; the
    // window counts its 3 cycles (each instant on paused time).
    assert_eq!(health, vec![(4, Decimal::ONE, 0, 16, 0, 3, 0)]);
    let age = handle.store().age(&watch[1], clock.now()).unwrap();
    assert_eq!(age, Duration::ZERO, "updated by the last cycle");
}

#[tokio::test(start_paused = true)]
async fn statistics_and_candles_fill_on_their_own_budget_by_tier() {
    let (sim, clock) = paused_sim(30);
    let watch = sim.symbols();
    let venue = Arc::new(Recorder::new(Arc::new(sim), clock.clone()));
    let cfg = FeedConfig {
        stats_every: Duration::from_secs(60),
        candles_every: Duration::from_secs(60),
        candle_limit: 20,
        // Only the mark makes a symbol hot here: a jump of the random path would too.
        fast_move_pct: Decimal::ONE_HUNDRED,
        ..config(PollMode::Bulk, 1000)
    };
    let feed =
        Feed::new(venue.clone(), cfg, watch.clone(), clock.clone(), Arc::new(MemorySink::new())).unwrap();
    let handle = feed.handle();
    handle.mark_hot(&watch[0], "held position", None);
    let summary = feed.run(after_cycles(&handle, 90)).await.unwrap();
    assert_eq!((summary.overruns, summary.errors), (0, 0));
    for s in &watch {
        let candles = handle.store().candles(s).unwrap();
        assert_eq!(candles.candles.len(), 20, "{s}");
        assert!(handle.store().get(s).unwrap().quote_volume_24h.is_some());
    }
    // Statistics are list requests of up to 20 symbols: 30 symbols = 2 per refresh. In 90 s a
    // warm symbol is refreshed twice (0 s, 60 s: 2 requests each), the hot one every 12 s
    // (12, 24, 36, 48, 72, 84 s: 6 more).
    let lists: usize = venue.calls.lock().iter().filter(|(_, n)| *n > 0).count();
    assert_eq!(lists, 10, "statistics requests");
}

#[tokio::test(start_paused = true)]
async fn start_up_skips_unlisted_symbols_and_reports_unrepresentable_listings() {
    let (sim, clock) = paused_sim(5);
    let mut watch = sim.symbols();
    let unlisted: Symbol = "NOPE/USDT".parse().unwrap();
    watch.push(unlisted.clone());
    let mut venue = Recorder::new(Arc::new(sim), clock.clone());
    venue.unrepresentable = vec![exchange::SkippedEntry {
        venue_name: "币安人生USDT".into(),
        reason: "not a valid symbol".into(),
    }];
    let sink = MemorySink::new();
    let mut feed =
        Feed::new(Arc::new(venue), config(PollMode::Auto, 1000), watch, clock, Arc::new(sink.clone()))
            .unwrap();
    feed.start().await.unwrap();
    assert_eq!(feed.mode(), PollMode::Bulk);
    assert_eq!(feed.skipped(), vec![unlisted.clone()]);
    let events = sink.events();
    assert!(events.iter().any(|e| matches!(e,
        Event::ListingsSkipped { source, count: 1, entries } if source == "load_markets" && entries[0].starts_with("币安人生USDT"))));
    assert!(events.iter().any(|e| matches!(e,
        Event::SymbolSkipped { symbol, reason } if *symbol == unlisted && reason == "not listed by sim")));
    assert!(events.iter().any(|e| matches!(e, Event::FeedFeasibility { feasible: true, symbols: 5, .. })));
    let report = feed.run_cycle().await;
    assert_eq!((report.symbols, report.quotes), (5, 5));
}
