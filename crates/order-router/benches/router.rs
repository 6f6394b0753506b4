//! Router throughput and latency against the in-process simulator.
//!
//! - `intents/router_full_fsync` and `intents/router_no_fsync`: intents per second through
//!   validation, budget, the ledger write-ahead and the state machine (limit buys that rest on
//!   the simulated book: one intent row, one order update per intent), with and without fsync.
//! - `intents/venue_only`: the same orders sent straight to the venue: the baseline the router's
//!   overhead is a ratio of.
//! - `latency/intent_to_request_*`: time from `submit` to the moment the request reaches the
//!   venue's `create_order`, with and without the ledger's fsync.
//!
//! Run: `cargo bench -p order-router --bench router -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock latency with std Instant
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use exchange::{
    Capabilities, Exchange, ExchangeError, FillQuery, MarketList, OhlcvRequest, OpenOrders, OrderResolution,
};
use exchange_sim::{SimConfig, SimExchange};
use order_router::{
    Durability, IntentId, Ledger, OrderIntent, OrderRouter, PricePolicy, RouterConfig, Sizing,
};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use telemetry::MemorySink;
use trading_core::{
    Balance, Candle, ClientOrderId, Clock, Fill, ManualClock, Order, OrderRef, OrderRequest, Quote, Side,
    Symbol, TimeInForce, Timestamp,
};

/// The simulator, noting when each order request arrives.
#[derive(Debug)]
struct Timed {
    sim: SimExchange,
    arrived: Mutex<Option<Instant>>,
}

#[async_trait]
impl Exchange for Timed {
    fn capabilities(&self) -> Capabilities {
        self.sim.capabilities()
    }
    async fn load_markets(&self) -> Result<MarketList, ExchangeError> {
        self.sim.load_markets().await
    }
    async fn fetch_tickers(&self, s: Option<&[Symbol]>) -> Result<Vec<Quote>, ExchangeError> {
        self.sim.fetch_tickers(s).await
    }
    async fn fetch_ohlcv(&self, r: &OhlcvRequest) -> Result<Vec<Candle>, ExchangeError> {
        self.sim.fetch_ohlcv(r).await
    }
    async fn create_order(&self, r: &OrderRequest) -> Result<Order, ExchangeError> {
        *self.arrived.lock() = Some(Instant::now());
        self.sim.create_order(r).await
    }
    async fn cancel_order(&self, s: &Symbol, o: &OrderRef) -> Result<Order, ExchangeError> {
        self.sim.cancel_order(s, o).await
    }
    async fn fetch_order(&self, s: &Symbol, o: &OrderRef) -> Result<Order, ExchangeError> {
        self.sim.fetch_order(s, o).await
    }
    async fn fetch_open_orders(&self, s: Option<&Symbol>) -> Result<OpenOrders, ExchangeError> {
        self.sim.fetch_open_orders(s).await
    }
    async fn fetch_fills(&self, q: &FillQuery) -> Result<Vec<Fill>, ExchangeError> {
        self.sim.fetch_fills(q).await
    }
    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        self.sim.fetch_balances().await
    }
    async fn server_time(&self) -> Result<Timestamp, ExchangeError> {
        self.sim.server_time().await
    }
    async fn resolve_order(
        &self,
        s: &Symbol,
        c: &ClientOrderId,
        t: Timestamp,
    ) -> Result<OrderResolution, ExchangeError> {
        self.sim.resolve_order(s, c, t).await
    }
}

struct Rig {
    router: OrderRouter,
    venue: Arc<Timed>,
    symbol: Symbol,
    price: Decimal,
    qty: Decimal,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn sim(clock: Arc<ManualClock>) -> SimExchange {
    let mut config =
        SimConfig { symbols: 2, clock, weight_limit_per_minute: u32::MAX / 2, ..SimConfig::default() };
    config.initial_balances.insert("USDT".into(), Decimal::from(1_000_000_000u64));
    SimExchange::new(config).unwrap()
}

async fn rig(durability: Durability) -> Rig {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let venue = Arc::new(Timed { sim: sim(clock.clone()), arrived: Mutex::new(None) });
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("bench.db"), durability).unwrap();
    let mut config = RouterConfig::new();
    config.budget_total = Decimal::from(100_000_000u64);
    config.position_size_usdt = Decimal::from(100);
    let router =
        OrderRouter::open(config, venue.clone(), clock.clone(), Arc::new(MemorySink::new()), ledger).unwrap();
    router.reconcile().await.unwrap();
    let symbol = venue.sim.symbols()[0].clone();
    let bid = venue.sim.fetch_ticker(&symbol).await.unwrap().bid.unwrap();
    // Far below the market: the order rests and the venue's state stays small per intent.
    let rules =
        venue.sim.load_markets().await.unwrap().markets.into_iter().find(|m| m.symbol == symbol).unwrap();
    let price = rules.floor_price(bid * Decimal::new(5, 1));
    let qty = rules.buy_order_for_budget(Decimal::from(49), price).unwrap().1;
    Rig { router, venue, symbol, price, qty, clock, _dir: dir }
}

fn intent(rig: &Rig, n: u64) -> OrderIntent {
    OrderIntent {
        id: IntentId::new(format!("b{n}")).unwrap(),
        symbol: rig.symbol.clone(),
        side: Side::Buy,
        sizing: Sizing::Quote(Decimal::from(50)),
        price: PricePolicy::Limit(rig.price),
        reason: "bench".into(),
        exit_reason: None,
        deadline: rig.clock.now() + Duration::from_secs(3600),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let mut g = c.benchmark_group("intents");
    g.throughput(Throughput::Elements(1));
    for (name, durability) in
        [("router_full_fsync", Durability::Full), ("router_no_fsync", Durability::NoSyncForBenchmarks)]
    {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let rig = rig(durability).await;
                    let start = Instant::now();
                    for n in 0..iters {
                        rig.router.submit(intent(&rig, n)).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.bench_function("venue_only", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let rig = rig(Durability::Full).await;
                let qty = rig.qty;
                let start = Instant::now();
                for n in 0..iters {
                    let cid = ClientOrderId::new(format!("v-{n}")).unwrap();
                    let req = OrderRequest::limit(
                        rig.symbol.clone(),
                        Side::Buy,
                        qty,
                        rig.price,
                        TimeInForce::Gtc,
                        cid,
                    );
                    rig.venue.sim.create_order(&req).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("latency");
    for (name, durability) in [
        ("intent_to_request_full_fsync", Durability::Full),
        ("intent_to_request_no_fsync", Durability::NoSyncForBenchmarks),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let rig = rig(durability).await;
                    let mut total = Duration::ZERO;
                    for n in 0..iters {
                        let start = Instant::now();
                        rig.router.submit(intent(&rig, n)).await.unwrap();
                        let arrived = rig.venue.arrived.lock().take().expect("request sent");
                        total += arrived.duration_since(start);
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
