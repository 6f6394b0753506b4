//! Benchmarks: parsing 2000-symbol bookTicker-all and 24hr-all answers, and signing a request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, Criterion, Throughput};
use exchange_binance::{parse_ticker_array, Signer, TickerEndpoint};
use trading_core::{SymbolMap, Timestamp};

const SYMBOLS: usize = 2000;

/// Base asset codes `A0`..`A1999` against USDT, as a venue would list them.
fn ids() -> Vec<(String, String)> {
    (0..SYMBOLS).map(|i| (format!("A{i}USDT"), format!("A{i}"))).collect()
}

fn map(ids: &[(String, String)]) -> SymbolMap {
    SymbolMap::from_markets(ids.iter().map(|(id, base)| (id.as_str(), base.as_str(), "USDT"))).unwrap()
}

/// Prices with 8 decimals as Binance prints them, varied per symbol.
fn px(i: usize, k: usize) -> String {
    format!("{}.{:08}", 1 + (i * 37 + k) % 90_000, (i * 7_919 + k * 104_729) % 100_000_000)
}

/// `GET /api/v3/ticker/bookTicker` without parameters, Binance's exact field set and order.
fn book_ticker_all(ids: &[(String, String)]) -> String {
    let rows: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, (id, _))| {
            format!(
                r#"{{"symbol":"{id}","bidPrice":"{}","bidQty":"{}","askPrice":"{}","askQty":"{}"}}"#,
                px(i, 0),
                px(i, 1),
                px(i, 2),
                px(i, 3)
            )
        })
        .collect();
    format!("[{}]", rows.join(","))
}

/// `GET /api/v3/ticker/24hr` without parameters (FULL type), Binance's exact field set.
fn ticker_24h_all(ids: &[(String, String)]) -> String {
    let rows: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, (id, _))| {
            format!(
                concat!(
                    r#"{{"symbol":"{id}","priceChange":"-{}","priceChangePercent":"-1.234","#,
                    r#""weightedAvgPrice":"{}","prevClosePrice":"{}","lastPrice":"{}","lastQty":"{}","#,
                    r#""bidPrice":"{}","bidQty":"{}","askPrice":"{}","askQty":"{}","openPrice":"{}","#,
                    r#""highPrice":"{}","lowPrice":"{}","volume":"{}","quoteVolume":"{}","#,
                    r#""openTime":1499783499040,"closeTime":1499869899040,"firstId":28385,"#,
                    r#""lastId":{},"count":{}}}"#
                ),
                px(i, 0),
                px(i, 1),
                px(i, 2),
                px(i, 3),
                px(i, 4),
                px(i, 5),
                px(i, 6),
                px(i, 7),
                px(i, 8),
                px(i, 9),
                px(i, 10),
                px(i, 11),
                px(i, 12),
                px(i, 13),
                28_385 + i,
                i + 1,
                id = id
            )
        })
        .collect();
    format!("[{}]", rows.join(","))
}

fn parse(c: &mut Criterion) {
    let ids = ids();
    let map = map(&ids);
    let now = Timestamp::from_millis(1_700_000_000_000);
    for (name, endpoint, body) in [
        ("bookTicker_all_2000", TickerEndpoint::BookTicker, book_ticker_all(&ids)),
        ("ticker24h_all_2000", TickerEndpoint::Ticker24h, ticker_24h_all(&ids)),
    ] {
        assert_eq!(parse_ticker_array(endpoint, &body, &map, now).unwrap().len(), SYMBOLS);
        let mut g = c.benchmark_group(name);
        g.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function("parse_to_quotes", |b| {
            b.iter(|| parse_ticker_array(endpoint, black_box(&body), &map, now).unwrap())
        });
        // Baseline: a generic serde_json::Value parse of the same bytes (no Decimal, no ids).
        g.bench_function("baseline_serde_json_value", |b| {
            b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&body)).unwrap())
        });
        g.finish();
    }
}

fn sign(c: &mut Criterion) {
    let signer = Signer::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j");
    let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&newClientOrderId=drop-LTCBTC-1700000000000-1&recvWindow=5000&timestamp=1499827319559";
    let mut g = c.benchmark_group("sign");
    g.sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    g.bench_function("order_query_string", |b| b.iter(|| signer.sign(black_box(query), "")));
    g.bench_function("baseline_signer_new_and_sign", |b| {
        b.iter(|| {
            Signer::new(black_box("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"))
                .sign(query, "")
        })
    });
    g.finish();
}

mod group {
    #![allow(missing_docs, unreachable_pub)] // the function criterion_group! generates
    criterion::criterion_group!(benches, super::parse, super::sign);
}
criterion_main!(group::benches);
