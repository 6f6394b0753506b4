//! Runs the market-data feed alone against the simulated venue and prints the drops it sees.
//!
//! `cargo run -p drop-bot-examples --example feed_watch -- --symbols 130 --seconds 60`
//! watches in real time; `--simulated --seconds 3600` runs an hour of simulated time in
//! seconds (tokio's paused time and the venue on the same clock). A drop is a price at least
//! `--drop-pct` below the highest price of the last `--window-s` seconds; the symbol is then
//! marked hot through the feed's handle, as the signal engine would.

use std::collections::{BTreeMap, VecDeque};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use exchange_sim::{SimConfig, SimExchange};
use md_feed::{Feed, FeedConfig};
use rust_decimal::Decimal;
use telemetry::{Event, EventSink};
use trading_core::{Clock, SystemClock, Timestamp, TokioClock};

#[derive(Parser, Debug)]
#[command(name = "feed_watch", about = "The market-data feed alone on the simulated venue, printing drops")]
struct Args {
    /// Simulated markets.
    #[arg(long, default_value_t = 130)]
    symbols: usize,
    /// Seed of the simulated market.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// How long to watch (simulated seconds with --simulated).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// MD_POLL_MS.
    #[arg(long, default_value_t = 1500)]
    poll_ms: u64,
    /// MD_MODE: auto, bulk, list or per_symbol.
    #[arg(long, default_value = "auto")]
    mode: String,
    /// Print a drop at least this deep (percent below the window high).
    #[arg(long, default_value = "1.0")]
    drop_pct: Decimal,
    /// The window the high is taken over, in seconds.
    #[arg(long, default_value_t = 300)]
    window_s: u64,
    /// Average sharp drops per symbol and simulated hour.
    #[arg(long, default_value_t = 2.0)]
    drops_per_hour: f64,
    /// Run on simulated time (as fast as possible) instead of real time.
    #[arg(long)]
    simulated: bool,
}

/// Prints the feed's own events that an operator wants to see.
#[derive(Debug)]
struct Printer;

impl EventSink for Printer {
    #[allow(clippy::print_stdout)] // a command-line example reports to its user
    fn emit(&self, event: Event) {
        match &event {
            Event::FeedFeasibility { .. }
            | Event::MdPollOverrun { .. }
            | Event::MdHealth { .. }
            | Event::SymbolSkipped { .. }
            | Event::SymbolDegraded { .. }
            | Event::SymbolRecovered { .. } => {
                println!("{} {event:?}", event.event_type());
            }
            _ => {}
        }
    }
}

#[allow(clippy::print_stderr)] // a command-line example reports its error
fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = if args.simulated {
        tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    };
    let result = runtime.context("could not start the runtime").and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feed_watch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[allow(clippy::print_stdout)] // a command-line example reports to its user
async fn run(args: Args) -> Result<()> {
    let clock: Arc<dyn Clock> = if args.simulated {
        Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_700_000_000_000)))
    } else {
        Arc::new(SystemClock)
    };
    let mut config = FeedConfig::default();
    config.set("MD_POLL_MS", &args.poll_ms.to_string())?;
    config.set("MD_MODE", &args.mode)?;
    config.hot = config.poll.max(config.hot);
    config.warm = config.poll.max(config.warm);
    config.cold = config.warm.max(config.cold);
    let sim = SimExchange::new(SimConfig {
        symbols: args.symbols,
        seed: args.seed,
        clock: clock.clone(),
        drops_per_hour: args.drops_per_hour,
        ..SimConfig::default()
    })?;
    let watchlist = sim.symbols();
    let mut feed = Feed::new(Arc::new(sim), config, watchlist, clock.clone(), Arc::new(Printer))?;
    feed.start().await?;
    let handle = feed.handle();
    let mut updates = handle.updates();
    let window = Duration::from_secs(args.window_s);
    let threshold = Decimal::ONE - args.drop_pct / Decimal::ONE_HUNDRED;
    let watcher = {
        let handle = handle.clone();
        let clock = clock.clone();
        async move {
            let mut history: BTreeMap<_, VecDeque<(Timestamp, Decimal)>> = BTreeMap::new();
            let mut drops = 0u64;
            while let Some((update, missed)) = updates.next().await {
                if missed > 0 {
                    println!("(watcher fell behind: {missed} updates missed; the store has the latest)");
                }
                let now = clock.now();
                for q in &update.quotes {
                    let Some(price) = q.price() else { continue };
                    let h = history.entry(q.symbol.clone()).or_default();
                    while h.front().is_some_and(|(t, _)| now.saturating_since(*t) > window) {
                        h.pop_front();
                    }
                    h.push_back((now, price));
                    let high = h.iter().map(|(_, p)| *p).max().unwrap_or(price);
                    if high > Decimal::ZERO && price / high <= threshold {
                        drops += 1;
                        let pct = ((price / high - Decimal::ONE) * Decimal::ONE_HUNDRED).round_dp(2);
                        println!(
                            "{} DROP {} {pct}% below the {} s high: {high} -> {price}",
                            now.to_rfc3339(),
                            q.symbol,
                            args.window_s
                        );
                        handle.mark_hot(&q.symbol, "recent drop", Some(Duration::from_secs(300)));
                        h.clear(); // one drop prints once
                        h.push_back((now, price));
                    }
                }
            }
            drops
        }
    };
    let stop = tokio::time::sleep(Duration::from_secs(args.seconds));
    let watch_task = tokio::spawn(watcher);
    let summary = feed.run(stop).await?;
    let drops = watch_task.await.unwrap_or(0);
    println!(
        "feed_watch: {} cycles, p50 {} ms, p99 {} ms, {} overruns, {} requests, {} weight, {} errors, {} drops printed",
        summary.cycles,
        summary.cycle_p50_ms,
        summary.cycle_p99_ms,
        summary.overruns,
        summary.requests,
        summary.weight,
        summary.errors,
        drops
    );
    Ok(())
}
