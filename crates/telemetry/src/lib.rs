//! `telemetry`: typed events, a non-blocking JSONL writer, the session directory, retention and
//! tracing set-up for the drop-trading bot.
//!
//! - [`Event`]: every event the bot emits, one variant per `event_type`; a new event is a
//!   compile-time change. [`EventSink`] is the seam components emit through.
//! - [`Telemetry`]: the handle to the background writer of `events.jsonl`. `emit` never blocks
//!   and never fails; losses are counted and written as `TELEMETRY_DROPPED`.
//!
//! ```
//! use std::sync::Arc;
//! use telemetry::{Event, EventSink, RunId, Telemetry, WriterConfig};
//! use trading_core::{ManualClock, Timestamp};
//!
//! # let dir = tempfile::tempdir()?;
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # runtime.block_on(async {
//! let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
//! let telemetry = Telemetry::start(dir.path().join("events.jsonl"), RunId::new("run-1"), clock,
//!     WriterConfig::default())?;
//! telemetry.emit(Event::LoopLag { lag_ms: 12, threshold_ms: 10 });
//! let summary = telemetry.shutdown().await;
//! assert_eq!((summary.written, summary.dropped), (1, 0));
//! # Ok::<(), telemetry::TelemetryError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod event;
#[cfg(any(test, feature = "test-utils"))]
mod memory;
mod writer;

pub use error::TelemetryError;
pub use event::{Event, EventRecord, EventSink, ExitReason, RunId, Tier, SCHEMA_VERSION};
#[cfg(any(test, feature = "test-utils"))]
pub use memory::MemorySink;
pub use writer::{Telemetry, WriterConfig, WriterSummary};
