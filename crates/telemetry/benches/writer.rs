//! Events per second through the telemetry writer to a real file, and the `emit` latency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report
#![allow(clippy::disallowed_methods)] // a benchmark measures real elapsed time: std Instant is the point

use std::fs::File;
use std::io::{BufWriter, Write};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, BatchSize, Criterion, Throughput};
use rust_decimal::Decimal;
use telemetry::{Event, EventRecord, EventSink, RunId, Telemetry, WriterConfig, SCHEMA_VERSION};
use trading_core::{ManualClock, Symbol, Timestamp};

const EVENTS: u64 = 100_000;

fn event(i: u64) -> Event {
    Event::GuardBlocked {
        symbol: Symbol::new("BTC", "USDT").unwrap(),
        guard: "spread".to_owned(),
        value: Some(Decimal::new(i as i64, 6)),
        threshold: Decimal::new(3, 3),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)))
}

fn config() -> WriterConfig {
    WriterConfig { capacity: NonZeroUsize::new(EVENTS as usize).unwrap(), ..WriterConfig::default() }
}

fn throughput(c: &mut Criterion) {
    let events: Vec<Event> = (0..EVENTS).map(event).collect();
    let mut group = c.benchmark_group("writer");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10).measurement_time(Duration::from_secs(5));

    // Baseline: the same lines serialized and written synchronously on the caller's thread.
    group.bench_function("baseline_sync_serde_bufwriter", |b| {
        let dir = tempfile::tempdir().unwrap();
        let run_id = RunId::new("bench");
        b.iter_batched(
            || File::create(dir.path().join("baseline.jsonl")).unwrap(),
            |file| {
                let mut out = BufWriter::with_capacity(64 * 1024, file);
                for (i, e) in events.iter().enumerate() {
                    let record = EventRecord {
                        ts: Timestamp::from_millis(i as i64),
                        event: e.clone(),
                        schema: SCHEMA_VERSION,
                        run_id: run_id.clone(),
                    };
                    serde_json::to_writer(&mut out, &record).unwrap();
                    out.write_all(b"\n").unwrap();
                }
                out.into_inner().unwrap().sync_data().unwrap();
            },
            BatchSize::PerIteration,
        );
    });

    // Emit everything, then shutdown (drain, write, fsync): end-to-end events per second.
    group.bench_function("telemetry_emit_to_fsync", |b| {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        b.iter_batched(
            || {
                let path = dir.path().join("events.jsonl");
                let _ = std::fs::remove_file(&path);
                (
                    rt.block_on(async {
                        Telemetry::start(&path, RunId::new("bench"), clock(), config()).unwrap()
                    }),
                    events.clone(),
                )
            },
            |(t, events)| {
                for e in events {
                    t.emit(e);
                }
                let summary = rt.block_on(t.shutdown());
                assert_eq!(summary.written, EVENTS, "{summary:?}");
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn emit_latency(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let t = rt.block_on(async {
        Telemetry::start(dir.path().join("latency.jsonl"), RunId::new("bench"), clock(), config()).unwrap()
    });

    // Mean cost of one emit while the writer drains concurrently (chunks below the capacity,
    // flushed outside the timing, so every emit is a real enqueue, not a drop).
    let mut group = c.benchmark_group("emit");
    group.sample_size(20).measurement_time(Duration::from_secs(3));
    group.bench_function("emit_one", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(EVENTS / 2);
                let events: Vec<Event> = (0..chunk).map(event).collect();
                let start = Instant::now();
                for e in events {
                    t.emit(e);
                }
                total += start.elapsed();
                rt.block_on(t.flush());
                left -= chunk;
            }
            total
        });
    });
    group.finish();

    // The distribution: time each emit on its own.
    let mut samples = Vec::with_capacity(EVENTS as usize);
    for round in 0..4 {
        let events: Vec<Event> = (0..EVENTS / 2).map(event).collect();
        for e in events {
            let start = Instant::now();
            t.emit(e);
            samples.push(start.elapsed().as_nanos() as u64);
        }
        let summary = rt.block_on(t.flush());
        assert_eq!(summary.dropped, 0, "round {round}: {summary:?}");
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    #[allow(clippy::print_stdout)]
    {
        println!(
            "emit latency over {} emits (ns): p50 {} p90 {} p99 {} p99.9 {} max {}",
            samples.len(),
            pct(0.50),
            pct(0.90),
            pct(0.99),
            pct(0.999),
            samples[samples.len() - 1]
        );
    }
    rt.block_on(t.shutdown());
}

mod group {
    #![allow(missing_docs, unreachable_pub)] // the function criterion_group! generates
    criterion::criterion_group!(benches, super::throughput, super::emit_latency);
}
criterion_main!(group::benches);
