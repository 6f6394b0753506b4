//! Benchmarks of the simulated venue: market steps per second with 2000 symbols (130 as the
//! baseline), the in-process bulk book ticker of 2000 symbols, and HTTP requests per second for `ticker/bookTicker` of all 2000 symbols (`ping`
//! as the baseline of the HTTP stack itself), over 127.0.0.1 with reqwest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_main, Criterion, Throughput};
use exchange_sim::{SimConfig, SimExchange, SimServer};
use trading_core::{ManualClock, Timestamp};

fn config(symbols: usize) -> SimConfig {
    SimConfig {
        symbols,
        history_minutes: 60,
        clock: Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000))),
        // The benchmark measures serving speed, not the venue's weight budget.
        weight_limit_per_minute: u32::MAX,
        ..SimConfig::default()
    }
}

fn ticks(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_step");
    group.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for symbols in [130usize, 2000] {
        let sim = SimExchange::new(config(symbols)).unwrap();
        // One element = one symbol moved by one tick.
        group.throughput(Throughput::Elements(symbols as u64));
        group.bench_function(format!("{symbols}_symbols"), |b| b.iter(|| sim.step()));
    }
    group.finish();
}

/// The in-process bulk book ticker of 2000 symbols (what a simulated session's feed asks every
/// cycle): quote building, prices and 24 h quote volumes from the integer state.
fn bulk_quotes(c: &mut Criterion) {
    use exchange::Exchange;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sim = SimExchange::new(SimConfig { latency: Duration::ZERO, ..config(2000) }).unwrap();
    let mut group = c.benchmark_group("bulk_quotes");
    group.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(2000));
    group.bench_function("2000_symbols", |b| {
        b.iter(|| rt.block_on(sim.fetch_tickers(None)).unwrap().len());
    });
    group.finish();
}

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(SimServer::start(config(2000))).unwrap();
    let client = reqwest::Client::new();
    let all = format!("{}/api/v3/ticker/bookTicker", server.base_url());
    let ping = format!("{}/api/v3/ping", server.base_url());
    let body = rt.block_on(async { client.get(&all).send().await.unwrap().text().await.unwrap() });
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap().as_array().unwrap().len(), 2000);
    let mut group = c.benchmark_group("http");
    group.sample_size(10).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    for (name, url) in [("ping", &ping), ("book_ticker_all_2000", &all)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = client.get(url).send().await.unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap().len()
                })
            })
        });
    }
    group.finish();
    rt.block_on(server.shutdown());
}

mod group {
    #![allow(missing_docs, unreachable_pub)] // the function criterion_group! generates
    criterion::criterion_group!(benches, super::ticks, super::bulk_quotes, super::http);
}
criterion_main!(group::benches);
