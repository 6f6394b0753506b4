//! `order-router`: turns the strategy's intents into orders on any [`exchange::Exchange`], and
//! never loses an order, a position or a reserved unit of budget on the way.
//!
//! Flow of one intent ([`OrderRouter::submit`]): validate and round to the market's rules
//! ([`plan_order`]; a refusal is an `INTENT_REJECTED` with its [`RejectReason`]) -> reserve
//! budget ([`Budget`]) -> commit the intent row with its deterministic client order id to the
//! SQLite [`Ledger`] -> send -> track ([`OrderRouter::poll_once`], cadence within the venue's
//! weight budget) -> cancel at the deadline -> commit the filled quote, release the rest ->
//! open, extend, reduce or close the [`Position`]. An order whose submission outcome is unknown
//! (timeout, 5xx, dropped future) keeps its reservation until the venue proves what happened
//! ([`OrderState::OutcomeUnknown`]) and is never resent. On start,
//! [`OrderRouter::reconcile`] compares the ledger with the venue and fails closed while a
//! difference remains that it cannot explain.
//!
//! Invariant after every step: `free + reserved + committed == total` ([`Budget::check`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use order_router::{Durability, IntentId, Ledger, OrderIntent, OrderRouter, PricePolicy, RouterConfig, Sizing};
//! # async fn run(venue: Arc<dyn exchange::Exchange>, clock: Arc<dyn trading_core::Clock>,
//! #              sink: Arc<dyn telemetry::EventSink>) -> Result<(), Box<dyn std::error::Error>> {
//! let ledger = Ledger::open(std::path::Path::new("state.db"), Durability::Full)?;
//! let router = OrderRouter::open(RouterConfig::new(), venue, clock.clone(), sink, ledger)?;
//! let report = router.reconcile().await?;
//! assert!(report.blocked.is_none());
//! let intent = OrderIntent {
//!     id: IntentId::new("drop-BTC-1")?,
//!     symbol: "BTC/USDT".parse()?,
//!     side: trading_core::Side::Buy,
//!     sizing: Sizing::Quote(rust_decimal::Decimal::from(50)),
//!     price: PricePolicy::BestWithOffset(rust_decimal::Decimal::ZERO),
//!     reason: "drop 4.2 %".into(),
//!     exit_reason: None,
//!     deadline: clock.now() + std::time::Duration::from_secs(60),
//! };
//! router.submit(intent).await?;
//! router.track_until_settled(std::time::Duration::from_secs(120)).await?;
//! # Ok(()) }
//! ```

mod budget;
mod config;
mod error;
mod intent;
mod ledger;
mod lifecycle;
mod position;
mod router;
mod state;

pub use budget::Budget;
pub use config::RouterConfig;
pub use error::RouterError;
pub use intent::{plan_order, IntentId, OrderIntent, PlannedOrder, PricePolicy, RejectReason, Sizing};
pub use ledger::{Durability, Ledger};
pub use lifecycle::{merge, Merge, OrderRecord, OrderState};
pub use position::{apply_buy, apply_sell, BuyExecution, Position, SellResult};
pub use router::{
    tracking_interval, FailPoint, FailpointHook, Finding, OrderRouter, ReconcileReport, RouterFigures,
    RouterView, Submission,
};
pub use state::RouterState;
