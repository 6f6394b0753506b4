//! `exchange-sim`: a deterministic simulated spot venue, in-process and over HTTP.
//!
//! The bot's default venue and the venue every test and benchmark of the feed, the client and
//! the router runs against.
//!
//! - [`SimExchange`]: the venue itself. A seeded market of N symbols (jump-diffusion price
//!   paths with sharp 1-10 % drops and partial recoveries, or replayed OHLCV files), an
//!   account with balances, market and limit orders matched against the simulated book with
//!   fees, slippage and partial fills, Binance market rules, the per-minute weight budget and
//!   fault injection. Implements [`exchange::Exchange`].
//! - [`SimServer`]: an axum server on 127.0.0.1 that speaks the Binance spot REST v3 subset
//!   (`ping`, `time`, `exchangeInfo`, `ticker/price`, `ticker/bookTicker`, `ticker/24hr`,
//!   `klines`, `order`, `openOrders`, `account`, `myTrades`) with Binance's JSON shapes,
//!   signatures, error codes and `X-MBX-USED-WEIGHT-1M` header, or in MEXC's dialect
//!   ([`Dialect::Mexc`]); gzip when asked, and an optional bandwidth model.
//! - Venue behaviour that clients must survive: late visibility of accepted orders
//!   ([`SimConfig::order_visibility_delay`]) within a configurable acceptance window, reuse of a
//!   client order id once its order is closed, `-1015` and WAF `403` faults, listings and open
//!   orders the bot's vocabulary cannot represent.
//! - [`SimConfig`] (with [`FaultProfile`]), [`ScriptedFault`] / [`Endpoint`] / [`Fault`] for
//!   deterministic faults in tests, [`RecordedRequest`] for asserting what a client sent.
//! - Time comes from the configured [`trading_core::Clock`]; with a
//!   [`trading_core::ManualClock`] (or [`SimExchange::advance`]) a 24 h session runs in seconds.
//!   Same seed and same clock readings give the same prices and fills, byte for byte.
//!
//! # Fuzzing
//!
//! The OHLCV readers behind [`load_ohlcv`] are fuzzed with proptest (arbitrary text and mutated
//! real files): no panic, and every failure names the file and the line. 256 cases per property
//! by default; a long campaign is `PROPTEST_CASES=100000 cargo test -p exchange-sim --release
//! --lib fuzz` (set `OHLCV_FIXTURES_DIR` to mutate the shared OHLCV fixtures too; see
//! `docs/reliability.md`, "Bad input: fuzzing").
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use exchange::Exchange;
//! use exchange_sim::{SimConfig, SimExchange};
//! use trading_core::{ManualClock, Timestamp};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
//! let sim = SimExchange::new(SimConfig { symbols: 10, clock: Arc::new(clock.clone()), ..SimConfig::default() })?;
//! assert_eq!(sim.load_markets().await?.markets.len(), 10);
//! let before = sim.fetch_ticker(&"BTC/USDT".parse()?).await?;
//! clock.advance(Duration::from_secs(60)); // the market moves only with the clock
//! let after = sim.fetch_ticker(&"BTC/USDT".parse()?).await?;
//! assert!(before.bid < before.ask && after.exchange_ts > before.exchange_ts);
//! # Ok(()) }
//! ```

mod binance;
mod config;
mod error;
mod faults;
mod market;
mod mexc;
mod replay;
mod server;
mod sim;
mod venue;
mod weights;

pub use config::{Dialect, SimConfig, DEFAULT_API_KEY, DEFAULT_API_SECRET};
pub use error::SimError;
pub use faults::{Endpoint, Fault, FaultProfile, ScriptedFault};
pub use replay::{load_ohlcv, ReplaySource};
pub use server::{RecordedRequest, SimServer};
pub use sim::SimExchange;
