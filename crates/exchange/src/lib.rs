//! `exchange`: the boundary between the bot and a trading venue.
//!
//! The bot's crates depend on the object-safe [`Exchange`] trait, never on a concrete client;
//! clients (`exchange-binance`, `exchange-sim`) implement it. Errors come as [`ExchangeError`],
//! whose variants say what the caller must do: quarantine a symbol, wait, retry, resolve an
//! unknown order outcome by looking the client order id up, or stop.
//!
//! ```
//! use std::sync::Arc;
//! use exchange::{Exchange, ExchangeError};
//!
//! async fn best_bid(venue: Arc<dyn Exchange>) -> Result<(), ExchangeError> {
//!     let quote = venue.fetch_ticker(&"BTC/USDT".parse().map_err(ExchangeError::from)?).await?;
//!     println!("{:?}", quote.bid);
//!     Ok(())
//! }
//! ```

mod capabilities;
mod error;
mod resolve;
mod traits;

pub use capabilities::{Capabilities, EndpointWeights, RateBudget};
pub use error::ExchangeError;
pub use resolve::{resolve_by_lookup, ResolvePolicy};
pub use traits::{Exchange, FillQuery, MarketList, OhlcvRequest, OpenOrders, OrderResolution, SkippedEntry};
