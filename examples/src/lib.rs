//! `drop-bot-examples`: runnable compositions of the workspace crates.
//!
//! - [`run_dry_session`] with a [`DryConfig`]: a decide-and-record session on the embedded
//!   simulated venue (`ORDER_FLOW_ENABLED=false`), the body of `examples/dry_session.rs`. It runs
//!   on simulated time: the caller drives it on a current-thread tokio runtime with paused time,
//!   the session's clock is a [`trading_core::TokioClock`] from a fixed market epoch, so a
//!   seeded session is reproducible event for event (see [`DryConfig`] for the fields that name
//!   a run and therefore differ between two runs).
//!
//! This package is a composition, not a library to publish: like a binary it reports errors
//! with `anyhow`.

mod dry;

pub use dry::{run_dry_session, DryConfig, DryOutcome, DEFAULT_MARKET_EPOCH_MS};
