//! `md-feed`: a market-data feed that meets its interval by design, and says with numbers when
//! a configuration cannot.
//!
//! [`Feed`] polls a watchlist over `Arc<dyn exchange::Exchange>`: one cycle every `MD_POLL_MS`,
//! the bulk endpoint when the venue has one (Binance `bookTicker`, weight 4 for every symbol),
//! otherwise list or per-symbol requests in batches (`MD_BATCH_SIZE`, `MD_BATCH_INTERVAL_MS`,
//! `MD_MAX_CONCURRENCY`), every request inside the feed's share of the venue's weight budget.
//! Cycles never pile up; a slow one is reported (MD_POLL_OVERRUN). Around it:
//!
//! - [`CostModel`] / [`Feasibility`]: the start-up check (FEED_FEASIBILITY) with the achievable
//!   interval and the change that would meet the target.
//! - Tiers hot / warm / cold (TIER_CHANGED); [`FeedHandle::mark_hot`] for other crates.
//! - Skip list (SYMBOL_SKIPPED, list requests split to find an unnamed bad symbol), degraded
//!   symbols with exponential backoff (SYMBOL_DEGRADED / SYMBOL_RECOVERED), a feed-wide pause
//!   after 429 / 418.
//! - MD_HEALTH every `MD_HEALTH_S` with HDR-histogram latency percentiles.
//! - Output: [`SnapshotStore`] (latest quote per symbol with its age, 24h volume, candles) and
//!   [`UpdateReceiver`] (a slow consumer sees the latest; misses are counted).
//! - 24h statistics and the candle cache on their own budget share (`MD_AUX_SHARE_PCT`).
//!
//! Time: all waiting is `tokio::time`, all timestamps come from the [`trading_core::Clock`], so
//! the feed runs unchanged live and under tokio's paused time.
//!
//! ```
//! use std::sync::Arc;
//! use exchange_sim::{SimConfig, SimExchange};
//! use md_feed::{Feed, FeedConfig};
//! use trading_core::{TokioClock, Timestamp};
//!
//! # #[derive(Debug)] struct Discard;
//! # impl telemetry::EventSink for Discard { fn emit(&self, _event: telemetry::Event) {} }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
//! let clock = Arc::new(TokioClock::starting_at(Timestamp::from_millis(1_700_000_000_000)));
//! let sim = SimExchange::new(SimConfig { symbols: 20, clock: clock.clone(), ..SimConfig::default() })?;
//! let watchlist = sim.symbols();
//! let mut feed = Feed::new(Arc::new(sim), FeedConfig::default(), watchlist, clock, Arc::new(Discard))?;
//! let verdict = feed.start().await?;
//! assert!(verdict.feasible); // bulk: 4 weight per cycle for all 20 symbols
//! let handle = feed.handle();
//! let report = feed.run_cycle().await;
//! assert_eq!((report.requests, report.quotes), (1, 20));
//! assert_eq!(handle.store().len(), 20);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok(())
//! # }
//! ```

mod budget;
mod config;
mod error;
mod feasibility;
mod feed;
mod health;
mod store;
mod tiers;

pub use config::{FeedConfig, PollMode};
pub use error::{ConfigError, FeedError};
pub use feasibility::{CostModel, Feasibility};
pub use feed::{CycleReport, Feed, FeedHandle, FeedSummary};
pub use store::{CandleSet, CycleUpdate, Snapshot, SnapshotStore, UpdateReceiver};
