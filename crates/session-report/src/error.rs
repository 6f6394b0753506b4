//! The crate's error type: what could not be read or written, and where.

use std::path::PathBuf;

/// Why a report could not be built. Bad lines inside `events.jsonl` are not errors (they are
/// listed in the report); only a missing events file or a failed write is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// `events.jsonl` could not be opened.
    #[error("reading the session's events: {source}")]
    Read {
        /// The reader's error (names the path).
        #[source]
        source: telemetry::TelemetryError,
    },
    /// A report file or the charts directory could not be written.
    #[error("{action} {path}: {source}")]
    Write {
        /// What was being done (`create charts directory`, `write`, `rename`).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A chart could not be drawn.
    #[error("drawing chart {chart}: {message}")]
    Chart {
        /// The chart's file name.
        chart: &'static str,
        /// The plotting library's error, in words.
        message: String,
    },
}
