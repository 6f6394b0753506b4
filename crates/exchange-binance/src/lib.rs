//! `exchange-binance`: our own REST client for Binance spot and MEXC spot v3.
//!
//! One client type, [`BinanceClient`], implements [`exchange::Exchange`] for every venue; what
//! differs between venues (URLs, endpoint weights, rate budgets, kline interval names, error
//! codes, the API-key header, how time in force is sent, `PARTIALLY_CANCELED`) is data in a
//! [`VenueProfile`]. The client is typed (prices and quantities are `Decimal` end to end), fast
//! (borrowed JSON parsing, one pooled rustls connection set per venue) and honest about unknown
//! outcomes: an order request that times out or meets a venue failure returns an error whose
//! [`exchange::ExchangeError::is_outcome_unknown`] is true, to be resolved by a client-order-id
//! lookup, never by resending.
//!
//! Main types:
//! - [`BinanceClient`], built from a [`ClientConfig`] (profile, [`Credentials`], clock,
//!   [`Timeouts`]).
//! - [`VenueProfile`]: `binance_spot()`, `binance_spot_testnet()`, `mexc_spot()`,
//!   `custom(base_url, based_on)` (the simulator).
//! - [`Credentials`]: key and secret from the environment, redacted in `Debug`/`Display`.
//! - [`Signer`]: HMAC-SHA256 request signing.
//! - [`parse_ticker_array`]: the ticker parser, for recorded payloads and benchmarks.
//!
//! Requests pass a weight-aware limiter (fixed-window counters on the venue's clock: one per
//! venue for Binance, one per endpoint for MEXC, corrected from `X-MBX-USED-WEIGHT-1M`). A share
//! of every window is reserved for order traffic and an order waits for budget at most
//! [`OrderBudget::max_wait`]; after a 429/418/403 nothing is sent to the venue until
//! `Retry-After` has passed, and Binance's `-1015` (too many new orders) pauses new orders only.
//! Signed requests carry the server-time offset measured at first use; a `-1021` timestamp
//! rejection resyncs once and retries. An unknown order outcome is resolved by repeated
//! lookups until the venue's acceptance window has passed ([`exchange::resolve_by_lookup`]).
//!
//! # Fuzzing
//!
//! Every response parser and the error classifier are fuzzed with proptest (arbitrary text and
//! mutated recorded answers from `test_data/`): no panic, and every failure is an
//! `InvalidResponse` naming the endpoint and the place. 256 cases per property by default; a
//! long campaign is `PROPTEST_CASES=100000 cargo test -p exchange-binance --release fuzz`
//! (see `docs/reliability.md`, "Bad input: fuzzing").
//!
//! ```no_run
//! use std::sync::Arc;
//! use exchange::Exchange;
//! use exchange_binance::{BinanceClient, ClientConfig, Credentials, Venue, VenueProfile};
//! use trading_core::SystemClock;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::new(VenueProfile::binance_spot(), Arc::new(SystemClock))
//!     .with_credentials(Credentials::from_env(Venue::Binance)?);
//! let client = BinanceClient::new(config)?;
//! let markets = client.load_markets().await?;
//! let quotes = client.fetch_tickers(None).await?; // one bookTicker request, weight 4
//! println!("{} markets, {} quotes", markets.markets.len(), quotes.len());
//! # Ok(())
//! # }
//! ```

mod classify;
mod client;
mod credentials;
mod error;
#[cfg(test)]
mod fuzz;
mod limiter;
mod profile;
mod request;
mod sign;
mod wire;

pub use client::{BinanceClient, ClientConfig, Timeouts};
pub use credentials::Credentials;
pub use error::ClientError;
pub use limiter::OrderBudget;
pub use profile::{Venue, VenueProfile};
pub use sign::Signer;
pub use wire::{parse_ticker_array, TickerEndpoint};
