//! Replays an OHLCV file through the simulated venue and the drop trigger on simulated time, and
//! prints every drop that fires: how a setting would have behaved on recorded prices.
//!
//! `cargo run -p drop-bot-examples --example replay -- ../shared/fixtures/ohlcv/freqtrade_ADA_BTC-5m.csv --hours 24`
//! (CSV with a header, Binance kline CSV, or JSON arrays; the market is named `--symbol`).
//! The whole bot replays a file too: `cargo xtask run-session -- --replay FILE`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use exchange::Exchange;
use exchange_sim::{ReplaySource, SimConfig, SimExchange};
use rust_decimal::Decimal;
use signals::{Decision, GuardConfig, SignalEngine, TriggerConfig, TriggerMode};
use trading_core::{Clock, Timestamp, TokioClock};

#[derive(Parser, Debug)]
#[command(name = "replay", about = "An OHLCV file through the simulated venue and the drop trigger")]
struct Args {
    /// The OHLCV file.
    file: PathBuf,
    /// The name of the replayed market.
    #[arg(long, default_value = "REPLAY/USDT")]
    symbol: String,
    /// DROP_TRIGGER_VALUE.
    #[arg(long, default_value = "0.985")]
    trigger: Decimal,
    /// DROP_TRIGGER_MODE (1..=4).
    #[arg(long, default_value_t = 1)]
    mode: u8,
    /// DROP_TRIGGER_LOOKBACK_MIN.
    #[arg(long, default_value_t = 15)]
    lookback_min: u32,
    /// Simulated hours to replay.
    #[arg(long, default_value_t = 12)]
    hours: u64,
    /// MD_POLL_MS: one quote every this many simulated milliseconds.
    #[arg(long, default_value_t = 1500)]
    poll_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("replay: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// An example's output is for the terminal.
#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}

async fn run(args: Args) -> Result<()> {
    let trigger = TriggerConfig::new(args.trigger, TriggerMode::from_setting(args.mode)?, args.lookback_min)?;
    let symbol = args.symbol.parse().context("--symbol")?;
    anyhow::ensure!(args.poll_ms > 0, "--poll-ms must be greater than 0");
    let clock = Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_767_225_600_000)));
    let sim = SimExchange::new(SimConfig {
        clock: clock.clone(),
        replay: vec![ReplaySource { symbol, path: args.file.clone() }],
        // The session starts this far into the file (the lookback needs some history).
        history_minutes: args.lookback_min.max(1) * 2,
        ..SimConfig::default()
    })
    .with_context(|| format!("replaying {}", args.file.display()))?;
    let mut engine = SignalEngine::new(trigger, GuardConfig::none());
    for market in sim.load_markets().await?.markets {
        engine.register(market.symbol)?;
    }
    let end = clock.now() + Duration::from_secs(args.hours * 3600);
    let (mut cycles, mut fired) = (0u64, 0u64);
    while clock.now() < end {
        tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
        let quotes = sim.fetch_tickers(None).await?;
        cycles += 1;
        for (id, decision) in engine.on_cycle(&quotes).decisions {
            if let Decision::Fired(t) = decision {
                fired += 1;
                let name = engine.symbol(id).map_or_else(String::new, ToString::to_string);
                say(&format!(
                    "{}  {name}  {} -> {} ({:.2} % below the reference)",
                    clock.now(),
                    t.reference,
                    t.price,
                    (Decimal::ONE - t.price / t.reference) * Decimal::ONE_HUNDRED
                ));
            }
        }
    }
    let funnel = engine.funnel();
    say(&format!(
        "{cycles} quotes over {} h: {fired} drops fired, {} below the threshold but already fired, deepest: {}",
        args.hours,
        funnel.already_fired,
        engine
            .deepest_drops(1)
            .first()
            .map_or_else(|| "-".to_owned(), |d| format!("{:.4} of the reference", d.level.ratio()))
    ));
    Ok(())
}
