//! The feed benchmark: cycle time, overruns, requests and weight per cycle, against the
//! simulator's HTTP server through the Binance client.
//!
//! Against a server someone else started:
//! `cargo run --release -p md-feed --example feed_bench -- --url http://127.0.0.1:PORT --mode bulk --cycles 20 --poll-ms 1500`
//! ends with one line `feed_bench mode=M symbols=N cycles=C p50_ms=X p99_ms=Y max_ms=Z
//! overruns=O requests=R weight=W errors=E` (requests and weight per cycle).
//!
//! `--table` (what `cargo xtask bench feed` runs) starts the simulator itself for 130, 500 and
//! 2000 symbols with 100 ms injected latency and prints one table for bulk and per-symbol mode,
//! with the weight-limited optimum of per-symbol mode and a plain loop of `fetch_tickers` calls
//! as the baseline measured in the same run.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool reports to its user

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use exchange::Exchange;
use exchange_binance::{BinanceClient, ClientConfig, VenueProfile};
use exchange_sim::{SimConfig, SimServer};
use md_feed::{Feed, FeedConfig, FeedSummary, PollMode};
use parking_lot::Mutex;
use telemetry::{Event, EventSink};
use trading_core::{Symbol, SystemClock};

#[derive(Parser, Debug)]
#[command(name = "feed_bench", about = "Market-data feed benchmark against the simulator's HTTP server")]
struct Args {
    /// Base URL of a running simulator (`http://127.0.0.1:PORT`); not needed with --table.
    #[arg(long)]
    url: Option<String>,
    /// `bulk` or `per-symbol` (also `list`, `auto`).
    #[arg(long, default_value = "bulk")]
    mode: String,
    /// Cycles to measure.
    #[arg(long, default_value_t = 20)]
    cycles: u64,
    /// MD_POLL_MS: the target interval.
    #[arg(long, default_value_t = 1500)]
    poll_ms: u64,
    /// Watch only the first N trading markets (default: all).
    #[arg(long)]
    symbols: Option<usize>,
    /// MD_MAX_CONCURRENCY.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Run the whole table: start the simulator for 130 / 500 / 2000 symbols, both modes.
    #[arg(long)]
    table: bool,
    /// Injected latency of the simulator in --table mode (ms).
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Per-symbol cycles per size in --table mode (they are weight-limited: 2000 symbols take
    /// about 44 s a cycle).
    #[arg(long, default_value_t = 4)]
    per_symbol_cycles: u64,
    /// Sizes of the --table run.
    #[arg(long, value_delimiter = ',', default_value = "130,500,2000")]
    sizes: Vec<usize>,
    /// Skip the baselines in --table mode.
    #[arg(long)]
    no_baseline: bool,
}

/// Counts overruns and keeps the feasibility verdict.
#[derive(Debug, Default)]
struct Counter {
    feasibility: Mutex<Option<Event>>,
}

impl EventSink for Counter {
    fn emit(&self, event: Event) {
        if matches!(event, Event::FeedFeasibility { .. }) {
            *self.feasibility.lock() = Some(event);
        }
    }
}

struct Row {
    mode: PollMode,
    symbols: usize,
    summary: FeedSummary,
    achievable_ms: u64,
    feasible: bool,
    feed_budget_per_min: u64,
    weight_per_cycle_planned: u32,
}

fn client(url: &str) -> Result<Arc<BinanceClient>> {
    let profile = VenueProfile::custom(url, VenueProfile::binance_spot()).with_name("sim");
    Ok(Arc::new(BinanceClient::new(ClientConfig::new(profile, Arc::new(SystemClock)))?))
}

async fn watchlist(client: &BinanceClient, limit: Option<usize>) -> Result<Vec<Symbol>> {
    let markets = client.load_markets().await?;
    let mut symbols: Vec<Symbol> =
        markets.markets.into_iter().filter(|m| m.is_trading()).map(|m| m.symbol).collect();
    symbols.sort();
    if let Some(n) = limit {
        symbols.truncate(n);
    }
    if symbols.is_empty() {
        bail!("the venue lists no trading market");
    }
    Ok(symbols)
}

async fn measure(
    url: &str,
    mode: PollMode,
    cycles: u64,
    poll_ms: u64,
    limit: Option<usize>,
    concurrency: usize,
) -> Result<Row> {
    let client = client(url)?;
    let symbols = watchlist(&client, limit).await?;
    let poll = Duration::from_millis(poll_ms);
    let config = FeedConfig {
        mode,
        poll,
        hot: poll,
        warm: poll,
        cold: poll,
        max_concurrency: concurrency,
        // The quote cycle alone: statistics and candles would take their budget share.
        stats_every: Duration::ZERO,
        candles_every: Duration::ZERO,
        ..FeedConfig::default()
    };
    let sink = Arc::new(Counter::default());
    let n = symbols.len();
    let mut feed = Feed::new(client, config, symbols, Arc::new(SystemClock), sink.clone())?;
    let verdict = feed.start().await?.clone();
    let handle = feed.handle();
    let mut rx = handle.updates();
    let stop = async move {
        while let Some((u, _)) = rx.next().await {
            if u.seq >= cycles {
                return;
            }
        }
    };
    let summary = feed.run(stop).await?;
    Ok(Row {
        mode: feed_mode(mode),
        symbols: n,
        summary,
        achievable_ms: u64::try_from(verdict.achievable.as_millis()).unwrap_or(u64::MAX),
        feasible: verdict.feasible,
        feed_budget_per_min: verdict.feed_budget_per_min,
        weight_per_cycle_planned: verdict.weight_per_cycle,
    })
}

fn feed_mode(mode: PollMode) -> PollMode {
    if mode == PollMode::Auto {
        PollMode::Bulk
    } else {
        mode
    }
}

fn mode_name(mode: PollMode) -> &'static str {
    match mode {
        PollMode::PerSymbol => "per-symbol",
        other => other.as_str(),
    }
}

fn line(row: &Row) -> String {
    let s = &row.summary;
    let c = s.cycles.max(1);
    format!(
        "feed_bench mode={} symbols={} cycles={} p50_ms={} p99_ms={} max_ms={} overruns={} requests={} weight={} errors={}",
        mode_name(row.mode),
        row.symbols,
        s.cycles,
        s.cycle_p50_ms,
        s.cycle_p99_ms,
        s.cycle_max_ms,
        s.overruns,
        s.requests / c,
        s.weight / c,
        s.errors
    )
}

/// The baseline: a plain loop of `fetch_tickers` calls for the watchlist, one per tick.
async fn plain_loop(
    url: &str,
    limit: Option<usize>,
    cycles: u64,
    poll_ms: u64,
) -> Result<(u64, u64, u64, u64)> {
    let client = client(url)?;
    let symbols = watchlist(&client, limit).await?;
    let mut took = Vec::new();
    let mut errors = 0;
    let mut next = tokio::time::Instant::now();
    for _ in 0..cycles {
        tokio::time::sleep_until(next).await;
        let t0 = tokio::time::Instant::now();
        if client.fetch_tickers(Some(&symbols)).await.is_err() {
            errors += 1;
        }
        took.push(u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX));
        next = (next + Duration::from_millis(poll_ms)).max(tokio::time::Instant::now());
    }
    took.sort_unstable();
    let q = |p: f64| took[((took.len() as f64 - 1.0) * p).round() as usize];
    Ok((q(0.5), q(0.99), took.last().copied().unwrap_or(0), errors))
}

/// A plain loop of one `fetch_ticker` per symbol, one after another (the predecessor's way).
async fn plain_per_symbol(url: &str, limit: Option<usize>, cycles: u64) -> Result<(u64, u64)> {
    let client = client(url)?;
    let symbols = watchlist(&client, limit).await?;
    let mut took = Vec::new();
    let mut errors = 0;
    for _ in 0..cycles {
        let t0 = tokio::time::Instant::now();
        for s in &symbols {
            if client.fetch_ticker(s).await.is_err() {
                errors += 1;
            }
        }
        took.push(u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX));
    }
    took.sort_unstable();
    Ok((took[took.len() / 2], errors))
}

async fn table(args: &Args) -> Result<()> {
    let latency = Duration::from_millis(args.latency_ms);
    let start_sim = |symbols: usize| async move {
        SimServer::start(SimConfig { symbols, latency, ..SimConfig::default() })
            .await
            .context("could not start the simulator")
    };
    println!(
        "feed benchmark: simulator over HTTP on 127.0.0.1, {} ms injected latency, target {} ms, Binance weights (6000/min; the feed's share 90 %)\n",
        args.latency_ms, args.poll_ms
    );
    println!("| symbols | mode | cycles | p50 ms | p99 ms | max ms | overruns | req/cycle | weight/cycle | errors (of which 429/418) | feasibility | optimum ms (feed share / full budget) |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    let mut baselines = Vec::new();
    for &n in &args.sizes {
        for (mode, cycles) in [(PollMode::Bulk, args.cycles), (PollMode::PerSymbol, args.per_symbol_cycles)] {
            let server = start_sim(n).await?;
            let row = measure(&server.base_url(), mode, cycles, args.poll_ms, None, args.concurrency).await?;
            let s = &row.summary;
            let c = s.cycles.max(1);
            let optimum = if mode == PollMode::PerSymbol {
                let w = u64::from(row.weight_per_cycle_planned);
                format!(
                    "{} / {}",
                    (w * 60_000).div_ceil(row.feed_budget_per_min.max(1)),
                    (w * 60_000).div_ceil(6000)
                )
            } else {
                "-".to_owned()
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} (achievable {} ms) | {} |",
                row.symbols,
                mode_name(mode),
                s.cycles,
                s.cycle_p50_ms,
                s.cycle_p99_ms,
                s.cycle_max_ms,
                s.overruns,
                s.requests / c,
                s.weight / c,
                s.errors,
                s.rate_limited,
                if row.feasible { "feasible" } else { "infeasible" },
                row.achievable_ms,
                optimum
            );
            eprintln!("{}", line(&row));
            server.shutdown().await;
        }
        if !args.no_baseline {
            let server = start_sim(n).await?;
            baselines
                .push((n, plain_loop(&server.base_url(), None, args.cycles.min(10), args.poll_ms).await?));
            server.shutdown().await;
        }
    }
    if args.no_baseline {
        return Ok(());
    }
    println!("\nbaseline, same run: a plain loop of `fetch_tickers(watchlist)` calls, one per tick\n");
    println!("| symbols | p50 ms | p99 ms | max ms | errors |");
    println!("|---:|---:|---:|---:|---:|");
    for (n, (p50, p99, max, errors)) in baselines {
        println!("| {n} | {p50} | {p99} | {max} | {errors} |");
    }
    let server = start_sim(130).await?;
    let (seq_p50, seq_errors) = plain_per_symbol(&server.base_url(), None, 2).await?;
    server.shutdown().await;
    println!(
        "\nbaseline, same run: a plain loop of one `fetch_ticker` per symbol, one after another, 130 symbols: cycle p50 {seq_p50} ms, errors {seq_errors}"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.table {
        return table(&args).await;
    }
    let Some(url) = args.url.as_deref() else {
        bail!("--url http://127.0.0.1:PORT is required (or --table to start the simulator here)");
    };
    let mode: PollMode = args.mode.parse().map_err(|e| anyhow::anyhow!("--mode: {e}"))?;
    let row = measure(url, mode, args.cycles, args.poll_ms, args.symbols, args.concurrency).await?;
    println!("{}", line(&row));
    Ok(())
}
