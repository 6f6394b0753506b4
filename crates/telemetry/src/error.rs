//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// What can go wrong at start-up, when reading events back, or when managing session
/// directories. Emitting an event never returns an error (see [`crate::EventSink`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A file or directory could not be created, opened, read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`create session directory`, `open events file`, ...).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A setting (e.g. `ENGINE_DEBUG_TRACE`) has a value that is not allowed.
    #[error("invalid setting {key} = {value:?}: expected {allowed}")]
    InvalidSetting {
        /// The setting's name.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// The session directory would already exist (same second, same suffix).
    #[error("session directory {path} already exists")]
    SessionExists {
        /// The directory.
        path: PathBuf,
    },
    /// A session suffix contains characters that are not allowed in a directory name.
    #[error("session suffix {suffix:?} is invalid: {reason}")]
    InvalidSuffix {
        /// The suffix given.
        suffix: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// The clock's time cannot be rendered as a date (outside chrono's range).
    #[error("clock time {millis} ms is not a representable date")]
    BadClockTime {
        /// The clock reading.
        millis: i64,
    },
    /// The telemetry writer must be started inside a Tokio runtime.
    #[error("the telemetry writer needs a Tokio runtime: {0}")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
    /// The log filter is not valid `RUST_LOG` syntax.
    #[error("log filter {filter:?} is invalid: {source}")]
    LogFilter {
        /// The filter given.
        filter: String,
        /// The parser's error.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The global tracing subscriber was already installed.
    #[error("a global tracing subscriber is already installed")]
    TracingInstalled(#[source] tracing::dispatcher::SetGlobalDefaultError),
}

/// A line of `events.jsonl` that could not be read; the reader reports it and goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not a valid event record (bad JSON, unknown `event_type`, wrong field).
    #[error("line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: u64,
        /// The parser's error (with column).
        #[source]
        source: serde_json::Error,
    },
    /// The line was written by a newer schema than this reader understands.
    #[error("line {line}: schema {schema} is newer than the supported {supported}")]
    UnsupportedSchema {
        /// 1-based line number.
        line: u64,
        /// The line's schema version.
        schema: u32,
        /// The newest version this reader knows.
        supported: u32,
    },
    /// Reading failed at this line; nothing after it was read.
    #[error("line {line}: read failed: {source}")]
    Io {
        /// 1-based line number.
        line: u64,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl LineError {
    /// The 1-based line number the error refers to.
    pub fn line(&self) -> u64 {
        match self {
            LineError::Parse { line, .. }
            | LineError::UnsupportedSchema { line, .. }
            | LineError::Io { line, .. } => *line,
        }
    }
}
