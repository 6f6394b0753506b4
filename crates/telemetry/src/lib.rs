//! `telemetry`: typed events, a non-blocking JSONL writer, the session directory, retention and
//! tracing set-up for the drop-trading bot.
//!
//! - [`Event`]: every event the bot emits, one variant per `event_type`; a new event is a
//!   compile-time change. [`EventSink`] is the seam components emit through; [`EventRecord`] is
//!   one line of `events.jsonl` (`ts`, `event_type`, `payload`, `schema`, `run_id`).
//! - [`Telemetry`]: the handle to the background writer of `events.jsonl`. `emit` never blocks
//!   and never fails; losses are counted and written as `TELEMETRY_DROPPED`.
//!   [`Telemetry::shutdown`] writes, reports and `fsync`s what is left.
//! - [`read_events`] / [`EventReader`]: typed reading back, bad lines reported by number.
//! - [`Session`]: creates `sessions/session_YYYYMMDD_HHMMSS[_suffix]/` and resolves its
//!   [`SessionPaths`]; [`apply_retention`] prunes old sessions by a [`RetentionPolicy`].
//! - [`build_dispatch`] / [`install`]: tracing to `bot.log` and the console, plus the optional
//!   JSON debug trace (`ENGINE_DEBUG_TRACE=true`), written by non-blocking writer threads whose
//!   losses are counted ([`LogLosses`]) and reported as `LOG_DROPPED` by the events writer.
//!
//! Test helpers (`MemorySink`, `sample_events`) are behind the `test-utils` feature.
//!
//! ```
//! use std::sync::Arc;
//! use telemetry::{read_events, Event, EventSink, Session, Telemetry, WriterConfig};
//! use trading_core::{ManualClock, Timestamp};
//!
//! # let root = tempfile::tempdir()?;
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
//! let session = Session::create(&root.path().join("sessions"), &*clock, None)?;
//! assert_eq!(session.name(), "session_20231114_221320");
//! runtime.block_on(async {
//!     let telemetry = Telemetry::start(&session.paths().events, session.run_id().clone(), clock,
//!         WriterConfig::default())?;
//!     telemetry.emit(Event::LoopLag { lag_ms: 12, threshold_ms: 10 });
//!     let summary = telemetry.shutdown().await;
//!     assert_eq!((summary.written, summary.dropped), (1, 0));
//!     Ok::<(), telemetry::TelemetryError>(())
//! })?;
//! let log = read_events(&session.paths().events)?;
//! assert_eq!(log.records[0].event, Event::LoopLag { lag_ms: 12, threshold_ms: 10 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod event;
mod logging;
#[cfg(any(test, feature = "test-utils"))]
mod memory;
mod reader;
mod retention;
mod session;
mod writer;

pub use error::{LineError, TelemetryError};
pub use event::{
    AssetBalance, DeepestDrop, Event, EventRecord, EventSink, ExitReason, RunId, Tier, SCHEMA_VERSION,
};
pub use logging::{
    build_dispatch, install, DebugTrace, LogConfig, LogLosses, LogSetup, DEBUG_TRACE_ENV,
    DEFAULT_LOG_QUEUE_LINES,
};
#[cfg(any(test, feature = "test-utils"))]
pub use memory::{sample_events, MemorySink};
pub use reader::{read_events, EventLog, EventReader};
pub use retention::{apply_retention, RemovedSession, RetentionPolicy, RetentionProblem, RetentionReport};
pub use session::{Session, SessionPaths};
pub use writer::{Telemetry, WriterConfig, WriterSummary};
