//! Tracing set-up: `bot.log` (human-readable) plus console, and the optional JSON debug trace.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::Dispatch;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use crate::{Event, EventSink, SessionPaths, TelemetryError};

/// The environment variable that turns the debug trace on (`true` or `1`).
pub const DEBUG_TRACE_ENV: &str = "ENGINE_DEBUG_TRACE";

/// How logging is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Filter for `bot.log` and the console, in `RUST_LOG` syntax (e.g. `info,md_feed=debug`).
    pub filter: String,
    /// Also print the human-readable log to standard error.
    pub console: bool,
    /// Write trace-level spans and events as JSON to `debug_trace.jsonl`.
    pub debug_trace: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { filter: "info".to_owned(), console: true, debug_trace: false }
    }
}

impl LogConfig {
    /// Turns the debug trace on when the value of [`DEBUG_TRACE_ENV`] (given here, e.g. from
    /// `std::env::var(DEBUG_TRACE_ENV).ok()`) is `true` or `1`, ignoring case and spaces.
    pub fn with_debug_trace_env(mut self, value: Option<&str>) -> Self {
        self.debug_trace = value.is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("true") || v == "1"
        });
        self
    }
}

/// What became of the debug trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebugTrace {
    /// Not requested.
    Off,
    /// Being written to this file.
    Writing(PathBuf),
    /// Requested but the file could not be opened; the bot runs on without it.
    Unavailable {
        /// The file.
        path: PathBuf,
        /// Why, in words.
        error: String,
    },
}

/// A tracing dispatcher for a session, built by [`build_dispatch`].
#[derive(Debug)]
pub struct LogSetup {
    /// The subscriber; install it with [`install`] or use it with
    /// `tracing::dispatcher::with_default`.
    pub dispatch: Dispatch,
    /// What became of the debug trace.
    pub debug_trace: DebugTrace,
}

/// Builds the subscriber: `bot.log` and (if asked) the console with `config.filter`, and the
/// JSON debug trace at trace level when requested.
///
/// An unopenable `bot.log` or a bad filter is a start-up error naming the path or the filter.
/// An unopenable debug trace is not: it is said once (an [`Event::DebugTraceUnavailable`]
/// through `sink` and a warning in the log) and the result records it.
pub fn build_dispatch(
    paths: &SessionPaths,
    config: &LogConfig,
    sink: &dyn EventSink,
) -> Result<LogSetup, TelemetryError> {
    let filter = || {
        EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse(&config.filter)
            .map_err(|source| TelemetryError::LogFilter { filter: config.filter.clone(), source })
    };
    let log_file = open_append(&paths.log)?;
    let file_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(Mutex::new(log_file))
        .with_filter(filter()?);
    let console_layer = if config.console {
        Some(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter()?))
    } else {
        None
    };

    let (trace_layer, debug_trace) = if config.debug_trace {
        match open_append(&paths.debug_trace) {
            Ok(file) => {
                let layer = tracing_subscriber::fmt::layer()
                    .json()
                    .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(Mutex::new(file))
                    .with_filter(LevelFilter::TRACE);
                (Some(layer), DebugTrace::Writing(paths.debug_trace.clone()))
            }
            Err(error) => {
                let error = match error {
                    TelemetryError::Io { source, .. } => source.to_string(),
                    other => other.to_string(),
                };
                (None, DebugTrace::Unavailable { path: paths.debug_trace.clone(), error })
            }
        }
    } else {
        (None, DebugTrace::Off)
    };

    let dispatch = Dispatch::new(Registry::default().with(file_layer).with(console_layer).with(trace_layer));
    if let DebugTrace::Unavailable { path, error } = &debug_trace {
        sink.emit(Event::DebugTraceUnavailable { path: path.display().to_string(), error: error.clone() });
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::warn!(path = %path.display(), %error, "debug trace requested but cannot be opened; running without it");
        });
    }
    Ok(LogSetup { dispatch, debug_trace })
}

/// Installs `setup.dispatch` as the process-wide subscriber (once per process).
pub fn install(setup: &LogSetup) -> Result<(), TelemetryError> {
    tracing::dispatcher::set_global_default(setup.dispatch.clone()).map_err(TelemetryError::TracingInstalled)
}

fn open_append(path: &Path) -> Result<File, TelemetryError> {
    OpenOptions::new().create(true).append(true).open(path).map_err(|source| TelemetryError::Io {
        action: "open log file",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySink;

    #[test]
    fn debug_trace_env_values() {
        for (value, expected) in [
            (None, false),
            (Some("true"), true),
            (Some(" TRUE "), true),
            (Some("1"), true),
            (Some("false"), false),
            (Some("yes"), false),
            (Some(""), false),
        ] {
            assert_eq!(LogConfig::default().with_debug_trace_env(value).debug_trace, expected, "{value:?}");
        }
    }

    #[test]
    fn writes_human_log_and_json_trace() {
        let dir = tempfile::tempdir().unwrap();
        let paths = SessionPaths::in_dir(dir.path());
        let config = LogConfig { console: false, debug_trace: true, ..LogConfig::default() };
        let sink = MemorySink::new();
        let setup = build_dispatch(&paths, &config, &sink).unwrap();
        assert_eq!(setup.debug_trace, DebugTrace::Writing(paths.debug_trace.clone()));
        tracing::dispatcher::with_default(&setup.dispatch, || {
            let span = tracing::trace_span!("poll_cycle", cycle = 7);
            span.in_scope(|| {
                tracing::info!(symbols = 3, "cycle done");
                tracing::trace!("fine detail");
            });
        });
        let log = std::fs::read_to_string(&paths.log).unwrap();
        assert!(log.contains("INFO") && log.contains("cycle done") && log.contains("symbols=3"), "{log}");
        assert!(!log.contains("fine detail"), "trace stays out of bot.log at info: {log}");
        let trace = std::fs::read_to_string(&paths.debug_trace).unwrap();
        let lines: Vec<serde_json::Value> = trace.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(lines.iter().any(|l| l["fields"]["message"] == "fine detail"), "{trace}");
        assert!(lines.iter().any(|l| l["span"]["name"] == "poll_cycle"), "{trace}");
        assert!(sink.events().is_empty());
    }

    #[test]
    fn an_unopenable_debug_trace_is_said_once_and_logging_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = SessionPaths::in_dir(dir.path());
        // A path whose parent is a regular file cannot be opened, even by root.
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        paths.debug_trace = dir.path().join("file").join("debug_trace.jsonl");
        let config = LogConfig { console: false, debug_trace: true, ..LogConfig::default() };
        let sink = MemorySink::new();
        let setup = build_dispatch(&paths, &config, &sink).unwrap();
        assert!(
            matches!(&setup.debug_trace, DebugTrace::Unavailable { path, .. } if *path == paths.debug_trace)
        );
        let events = sink.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            matches!(&events[0], Event::DebugTraceUnavailable { path, .. } if path.ends_with("debug_trace.jsonl"))
        );
        tracing::dispatcher::with_default(&setup.dispatch, || tracing::info!("still logging"));
        let log = std::fs::read_to_string(&paths.log).unwrap();
        assert_eq!(log.matches("debug trace requested but cannot be opened").count(), 1, "{log}");
        assert!(log.contains("still logging"), "{log}");
    }

    #[test]
    fn an_unopenable_log_and_a_bad_filter_are_start_up_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = SessionPaths::in_dir(dir.path());
        paths.log = dir.path().join("missing_dir").join("bot.log");
        let err = build_dispatch(&paths, &LogConfig::default(), &MemorySink::new()).unwrap_err().to_string();
        assert!(err.contains("bot.log") && err.contains("open log file"), "{err}");

        let paths = SessionPaths::in_dir(dir.path());
        let config = LogConfig { filter: "info,=[".to_owned(), console: false, debug_trace: false };
        let err = build_dispatch(&paths, &config, &MemorySink::new()).unwrap_err().to_string();
        assert!(err.contains("log filter \"info,=[\" is invalid"), "{err}");
    }
}
