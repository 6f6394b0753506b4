//! Measures whether gzip-compressed answers shorten a 2000-symbol ticker poll
//! (`ticker/bookTicker` and `ticker/24hr`, all symbols) against the simulator over HTTP with a
//! modelled network: a fixed latency per answer plus the body's transfer time at a bandwidth
//! limit. Gzip on and off run in the same process, interleaved; the output is medians and the
//! ratio off/on (above 1: gzip is faster).
//!
//! `cargo run --release -p exchange-binance --example gzip_poll -- [latency_ms] [mbit_per_s] [rounds]`
//! (defaults: 30 ms, 50 Mbit/s, 15 rounds).

#![allow(clippy::disallowed_methods)] // a measurement of wall-clock poll time
#![allow(clippy::print_stdout)] // an example reports its measurement on stdout

use std::sync::Arc;
use std::time::{Duration, Instant};

use exchange::Exchange;
use exchange_binance::{parse_ticker_array, BinanceClient, ClientConfig, TickerEndpoint, VenueProfile};
use exchange_sim::{SimConfig, SimServer};
use trading_core::{ManualClock, SymbolMap, SystemClock, Timestamp};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let latency_ms = args.first().copied().unwrap_or(30);
    let mbit = args.get(1).copied().unwrap_or(50);
    let rounds = usize::try_from(args.get(2).copied().unwrap_or(15))?;
    let server = SimServer::start(SimConfig {
        symbols: 2000,
        history_minutes: 30,
        clock: Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000))),
        latency: Duration::from_millis(latency_ms),
        bandwidth_bytes_per_sec: Some(mbit * 1_000_000 / 8),
        weight_limit_per_minute: u32::MAX,
        ..SimConfig::default()
    })
    .await?;
    let profile = VenueProfile::custom(server.base_url(), VenueProfile::binance_spot());
    let markets =
        BinanceClient::new(ClientConfig::new(profile, Arc::new(SystemClock)))?.load_markets().await?;
    let mut map = SymbolMap::default();
    for m in &markets.markets {
        map.insert(&m.venue_id, m.symbol.clone())?;
    }
    // The same HTTP stack the client uses (reqwest, rustls build, pooled connection).
    let http = |gzip: bool| reqwest::Client::builder().gzip(gzip).tcp_nodelay(true).build();
    let clients = [http(false)?, http(true)?];
    let endpoints = [
        ("bookTicker (all)", "/api/v3/ticker/bookTicker", TickerEndpoint::BookTicker),
        ("24hr (all)", "/api/v3/ticker/24hr", TickerEndpoint::Ticker24h),
    ];
    let mut times = vec![[Vec::new(), Vec::new()]; endpoints.len()];
    for _ in 0..rounds {
        for (k, (_, path, endpoint)) in endpoints.iter().enumerate() {
            for (i, c) in clients.iter().enumerate() {
                let t = Instant::now();
                let body = c.get(format!("{}{path}", server.base_url())).send().await?.text().await?;
                let quotes = parse_ticker_array(*endpoint, &body, &map, Timestamp::EPOCH)?;
                times[k][i].push(t.elapsed());
                assert_eq!(quotes.len(), 2000);
            }
        }
    }
    println!(
        "latency {latency_ms} ms, {mbit} Mbit/s, {rounds} rounds, 2000 symbols (request + transfer + parse)"
    );
    for (k, (name, _, _)) in endpoints.iter().enumerate() {
        let off = median(times[k][0].clone());
        let on = median(times[k][1].clone());
        println!(
            "{name:18} gzip off {:>9.1?}  gzip on {:>9.1?}  off/on = {:.2}",
            off,
            on,
            off.as_secs_f64() / on.as_secs_f64()
        );
    }
    server.shutdown().await;
    Ok(())
}
