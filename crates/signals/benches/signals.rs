//! Tick evaluations per second for 2000 symbols, each trigger mode, guards off and all on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use signals::{Decision, GuardConfig, SignalEngine, SymbolId, Tick, TriggerConfig, TriggerMode};
use trading_core::{Candle, Symbol, Timestamp};

const SYMBOLS: usize = 2000;
/// A small universe whose state stays in the CPU cache: the compute cost without memory stalls.
const FEW: usize = 100;
/// Length of each symbol's price cycle (a random walk followed by its mirror, so it loops).
const CYCLE: usize = 256;

/// xorshift64*: a deterministic driver for the random walk (f64 only inside the driver).
struct Rng(u64);
impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// `prices[i * SYMBOLS + s]`: symbol `s` at step `i`, rounded to 2..8 decimals by price level.
fn price_paths() -> Vec<Decimal> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut prices = vec![Decimal::ZERO; CYCLE * SYMBOLS];
    for s in 0..SYMBOLS {
        let mut p = 10_f64.powf(rng.next_f64() * 8.0 - 3.0); // 0.001 .. 100 000
        let dp = if p < 1.0 {
            8
        } else if p < 100.0 {
            4
        } else {
            2
        };
        let half = CYCLE / 2;
        let mut walk = Vec::with_capacity(half);
        for _ in 0..half {
            // steps of up to +-0.1 % a second: a 1.5 % drop is rare, as in a real market
            p *= 1.0 + (rng.next_f64() - 0.5) * 0.002;
            walk.push(Decimal::from_f64_retain(p).unwrap().round_dp(dp));
        }
        for (i, price) in walk.iter().chain(walk.iter().rev()).enumerate() {
            prices[i * SYMBOLS + s] = *price;
        }
    }
    prices
}

fn all_guards() -> GuardConfig {
    GuardConfig::none()
        .market_crash("S0/USDT".parse().unwrap(), 60, dec!(3))
        .unwrap()
        .volatility(14, dec!(50))
        .unwrap()
        .max_spread_pct(dec!(1))
        .unwrap()
        .min_quote_volume_24h(dec!(100000))
        .unwrap()
        .falling_knife(dec!(10))
        .unwrap()
        .cooldown(Duration::from_secs(60))
        .unwrap()
        .blacklist(vec!["S7/USDT".parse().unwrap(), "S77/USDT".parse().unwrap()])
}

fn setup(mode: TriggerMode, guards: GuardConfig) -> (SignalEngine, Vec<SymbolId>) {
    let mut engine = SignalEngine::new(TriggerConfig::new(dec!(0.985), mode, 15).unwrap(), guards);
    let candles: Vec<Candle> = (0..20)
        .map(|i| Candle {
            open_time: Timestamp::from_millis(i * 60_000),
            open: dec!(100),
            high: dec!(100.5),
            low: dec!(99.5),
            close: dec!(100),
            volume: dec!(1),
            quote_volume: None,
        })
        .collect();
    let ids = (0..SYMBOLS)
        .map(|s| {
            let sym: Symbol = format!("S{s}/USDT").parse().unwrap();
            let id = engine.register(sym).unwrap();
            engine.update_candles(id, &candles).unwrap();
            id
        })
        .collect();
    (engine, ids)
}

fn bench(c: &mut Criterion) {
    let prices = price_paths();
    let mut group = c.benchmark_group("tick_evaluations_2000_symbols");
    group.throughput(Throughput::Elements(SYMBOLS as u64));
    group.sample_size(15).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));

    // baseline: reading the same ticks and converting nothing (the floor of the loop)
    let mut round = 0_usize;
    group.bench_function("baseline_read_ticks", |b| {
        b.iter(|| {
            let row = &prices[(round % CYCLE) * SYMBOLS..][..SYMBOLS];
            for p in row {
                black_box(Tick::new(Timestamp::from_millis(round as i64 * 1_000), *p));
            }
            round += 1;
        })
    });

    for mode in TriggerMode::ALL {
        for (label, guards) in [("guards_off", GuardConfig::none()), ("guards_on", all_guards())] {
            let (mut engine, ids) = setup(mode, guards);
            let template = Tick {
                ts: Timestamp::EPOCH,
                price: Decimal::ONE,
                bid: Some(dec!(99.9)),
                ask: Some(dec!(100.1)),
                quote_volume_24h: Some(dec!(5000000)),
            };
            let mut round = 0_usize;
            group.bench_function(BenchmarkId::new(format!("mode{}", mode.setting()), label), |b| {
                b.iter(|| {
                    let row = &prices[(round % CYCLE) * SYMBOLS..][..SYMBOLS];
                    let ts = Timestamp::from_millis(round as i64 * 1_000);
                    for (id, p) in ids.iter().zip(row) {
                        let tick = Tick { ts, price: *p, ..template };
                        // a caller branches on the decision; it copies the record only on a trigger
                        if let Decision::Fired(t) = engine.on_tick(*id, &tick).unwrap() {
                            black_box(t);
                        }
                    }
                    round += 1;
                })
            });
            if label == "guards_off" {
                // the same engine and ticks, only the first FEW symbols: state stays in cache
                let mut round_few = round;
                group.throughput(Throughput::Elements(FEW as u64));
                group.bench_function(
                    BenchmarkId::new(format!("mode{}", mode.setting()), "guards_off_100_symbols"),
                    |b| {
                        b.iter(|| {
                            let row = &prices[(round_few % CYCLE) * SYMBOLS..][..FEW];
                            let ts = Timestamp::from_millis(round_few as i64 * 1_000);
                            for (id, p) in ids.iter().zip(row) {
                                let tick = Tick { ts, price: *p, ..template };
                                // a caller branches on the decision; it copies the record only on a trigger
                                if let Decision::Fired(t) = engine.on_tick(*id, &tick).unwrap() {
                                    black_box(t);
                                }
                            }
                            round_few += 1;
                        })
                    },
                );
                group.throughput(Throughput::Elements(SYMBOLS as u64));

                // a realistic feed: a fresh engine, one tick per symbol every 1.5 s (bucket steps
                // alternate 1 and 2: half the window's 1 s buckets stay empty)
                let (mut engine, ids) = setup(mode, GuardConfig::none());
                let mut round = 0_usize;
                group.bench_function(
                    BenchmarkId::new(format!("mode{}", mode.setting()), "guards_off_every_1500ms"),
                    |b| {
                        b.iter(|| {
                            let row = &prices[(round % CYCLE) * SYMBOLS..][..SYMBOLS];
                            let ts = Timestamp::from_millis(round as i64 * 1_500);
                            for (id, p) in ids.iter().zip(row) {
                                let tick = Tick { ts, price: *p, ..template };
                                if let Decision::Fired(t) = engine.on_tick(*id, &tick).unwrap() {
                                    black_box(t);
                                }
                            }
                            round += 1;
                        })
                    },
                );
            }
            let f = engine.funnel();
            eprintln!(
                "  mode {} {label}: evaluated {}, fired {}, blocked {}, already fired {}",
                mode.setting(),
                f.evaluated,
                f.fired,
                f.blocked_total(),
                f.already_fired
            );
        }
    }
    group.finish();
}

mod group {
    #![allow(missing_docs, unreachable_pub)] // the function criterion_group! generates
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
