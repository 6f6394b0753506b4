//! `sim-server`: serves the simulated venue over HTTP (Binance spot REST v3 subset) until killed.
//!
//! ```text
//! cargo run -p exchange-sim --bin sim-server -- --addr 127.0.0.1:0 --symbols 130 --seed 42 \
//!     --latency-ms 0 --faults none
//! ```
//! The first line on stdout is `listening on http://IP:PORT`. Signed endpoints accept
//! `--api-key/--api-secret` (default: the test credentials `exchange_sim::DEFAULT_API_KEY` /
//! `DEFAULT_API_SECRET`); the account starts with `--usdt` USDT (default 10 000).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use exchange_sim::{
    Dialect, FaultProfile, ReplaySource, SimConfig, SimServer, DEFAULT_API_KEY, DEFAULT_API_SECRET,
};
use rust_decimal::Decimal;
use trading_core::Symbol;

/// Simulated Binance-compatible spot venue.
#[derive(Debug, Parser)]
#[command(name = "sim-server", version, about)]
struct Args {
    /// Address to bind (port 0 = pick a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Number of simulated markets.
    #[arg(long, default_value_t = 130)]
    symbols: usize,
    /// Seed of the market and of the random faults.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Extra latency of every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Random fault profile: none, light, heavy or chaos.
    #[arg(long, default_value = "none")]
    faults: String,
    /// API key signed requests must carry.
    #[arg(long, default_value = DEFAULT_API_KEY)]
    api_key: String,
    /// Secret signed requests are verified with.
    #[arg(long, default_value = DEFAULT_API_SECRET)]
    api_secret: String,
    /// Starting USDT balance.
    #[arg(long, default_value = "10000")]
    usdt: Decimal,
    /// Request-weight budget per minute.
    #[arg(long, default_value_t = 6000)]
    weight_limit: u32,
    /// Time control: advance simulated time by this many ms on every market-data request
    /// (replays long sessions fast). 0 = real time.
    #[arg(long, default_value_t = 0)]
    pull_step_ms: u64,
    /// API dialect: `binance` or `mexc`.
    #[arg(long, default_value = "binance")]
    dialect: String,
    /// Late visibility: accepted orders answer "not found" (-2013) for this long.
    #[arg(long, default_value_t = 0)]
    order_visibility_ms: u64,
    /// Modelled network bandwidth for answer bodies, in Mbit/s (0 = loopback speed).
    #[arg(long, default_value_t = 0)]
    bandwidth_mbit: u64,
    /// Replay mode: `SYMBOL=FILE` (e.g. `ETH/BTC=data/ETH_BTC-5m.csv`), repeatable.
    #[arg(long = "replay", value_name = "SYMBOL=FILE")]
    replay: Vec<String>,
}

fn replay_source(arg: &str) -> Result<ReplaySource, String> {
    let (symbol, path) =
        arg.split_once('=').ok_or_else(|| format!("--replay {arg:?}: expected SYMBOL=FILE"))?;
    let symbol: Symbol = symbol.parse().map_err(|e| format!("--replay {arg:?}: {e}"))?;
    Ok(ReplaySource { symbol, path: PathBuf::from(path) })
}

fn config(args: Args) -> Result<SimConfig, String> {
    let faults: FaultProfile = args.faults.parse().map_err(|e| format!("--faults: {e}"))?;
    let replay = args.replay.iter().map(|a| replay_source(a)).collect::<Result<Vec<_>, _>>()?;
    let dialect = match args.dialect.as_str() {
        "binance" => Dialect::Binance,
        "mexc" => Dialect::Mexc,
        other => return Err(format!("--dialect {other:?}: expected binance or mexc")),
    };
    let mut config = SimConfig {
        dialect,
        order_visibility_delay: Duration::from_millis(args.order_visibility_ms),
        bandwidth_bytes_per_sec: (args.bandwidth_mbit > 0)
            .then(|| args.bandwidth_mbit.saturating_mul(125_000)),
        symbols: args.symbols,
        seed: args.seed,
        faults,
        api_key: args.api_key,
        api_secret: args.api_secret,
        addr: args.addr,
        latency: Duration::from_millis(args.latency_ms),
        weight_limit_per_minute: args.weight_limit,
        pull_step: (args.pull_step_ms > 0).then(|| Duration::from_millis(args.pull_step_ms)),
        replay,
        ..SimConfig::default()
    };
    config.initial_balances.insert("USDT".into(), args.usdt);
    Ok(config)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sim-server: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match SimServer::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sim-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "listening on {}", server.base_url()).and_then(|()| out.flush()).is_err() {
        eprintln!("sim-server: cannot write to stdout");
    }
    drop(out);
    shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
