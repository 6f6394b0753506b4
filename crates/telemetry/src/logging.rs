//! Tracing set-up: `bot.log` (human-readable) plus console, and the optional JSON debug trace.
//!
//! Both files are written by `tracing-appender`'s non-blocking writer: the logging thread only
//! queues the formatted line; a dedicated thread per file does the IO, so a slow disk never
//! stalls trading. A full queue drops the line and counts it ([`LogLosses`]); the events writer
//! reports the count as `LOG_DROPPED` (see [`Telemetry::watch_log_losses`](crate::Telemetry::watch_log_losses)).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use tracing::Dispatch;
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use crate::{Event, EventSink, SessionPaths, TelemetryError};

/// The environment variable that turns the debug trace on (`true` or `1`; `false`, `0` or empty
/// leave it off; anything else is an error).
pub const DEBUG_TRACE_ENV: &str = "ENGINE_DEBUG_TRACE";

/// Default number of lines each log file's queue holds before lines are dropped (and counted).
pub const DEFAULT_LOG_QUEUE_LINES: usize = 65_536;

/// How logging is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Filter for `bot.log` and the console, in `RUST_LOG` syntax (e.g. `info,md_feed=debug`).
    pub filter: String,
    /// Also print the human-readable log to standard error.
    pub console: bool,
    /// Write trace-level spans and events as JSON to `debug_trace.jsonl`.
    pub debug_trace: bool,
    /// Lines each file's queue holds before new lines are dropped and counted (at least 1).
    pub queue_lines: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".to_owned(),
            console: true,
            debug_trace: false,
            queue_lines: DEFAULT_LOG_QUEUE_LINES,
        }
    }
}

impl LogConfig {
    /// Sets the debug trace from the value of [`DEBUG_TRACE_ENV`] (given here, e.g. from
    /// `std::env::var(DEBUG_TRACE_ENV).ok()`): `true` or `1` turn it on; `false`, `0`, empty or
    /// unset leave it off (case and surrounding spaces ignored).
    ///
    /// # Errors
    /// [`TelemetryError::InvalidSetting`] naming the variable and the value for anything else
    /// (a typo such as `ture` must not silently run without the trace that was asked for).
    pub fn with_debug_trace_env(mut self, value: Option<&str>) -> Result<Self, TelemetryError> {
        let Some(raw) = value else {
            self.debug_trace = false;
            return Ok(self);
        };
        let v = raw.trim();
        self.debug_trace = if v.eq_ignore_ascii_case("true") || v == "1" {
            true
        } else if v.is_empty() || v.eq_ignore_ascii_case("false") || v == "0" {
            false
        } else {
            return Err(TelemetryError::InvalidSetting {
                key: DEBUG_TRACE_ENV,
                value: raw.to_owned(),
                allowed: "`true`, `1`, `false`, `0` or empty",
            });
        };
        Ok(self)
    }
}

/// Lines the log writers dropped because their queue was full, per file. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LogLosses {
    files: Vec<(String, ErrorCounter)>,
}

impl LogLosses {
    /// Lines dropped so far, per file name (`bot.log`, `debug_trace.jsonl`), in a fixed order.
    pub fn dropped(&self) -> Vec<(&str, u64)> {
        self.files
            .iter()
            .map(|(name, counter)| {
                (name.as_str(), u64::try_from(counter.dropped_lines()).unwrap_or(u64::MAX))
            })
            .collect()
    }

    /// Lines dropped so far, all files together.
    pub fn total(&self) -> u64 {
        self.dropped().iter().fold(0u64, |sum, (_, n)| sum.saturating_add(*n))
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
///
/// Keep it alive for the whole session: dropping it stops the log writer threads after they
/// have written what is queued (each waits at most about a second). Drop it last, after the
/// shutdown, so the final log lines land.
#[derive(Debug)]
pub struct LogSetup {
    /// The subscriber; install it with [`install`] or use it with
    /// `tracing::dispatcher::with_default`.
    pub dispatch: Dispatch,
    /// What became of the debug trace.
    pub debug_trace: DebugTrace,
    /// Lines dropped by the log writers; hand it to
    /// [`Telemetry::watch_log_losses`](crate::Telemetry::watch_log_losses).
    pub losses: LogLosses,
    /// The writer threads' guards: dropping them flushes and stops the threads.
    guards: Vec<WorkerGuard>,
}

impl LogSetup {
    /// Writes what the log queues hold and stops the writer threads (same as dropping).
    pub fn close(mut self) {
        self.guards.clear();
    }
}

/// A non-blocking writer over `file`, named for its thread; lossy: a full queue drops lines
/// (counted by the returned writer's error counter) instead of blocking the caller.
fn non_blocking(file: File, queue_lines: usize, thread: &str) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(queue_lines.max(1))
        .thread_name(thread)
        .finish(file)
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
    let file_filter = filter()?;
    let (log_writer, log_guard) = non_blocking(log_file, config.queue_lines, "bot-log-writer");
    let mut losses = LogLosses { files: vec![("bot.log".to_owned(), log_writer.error_counter())] };
    let mut guards = vec![log_guard];
    let file_layer =
        tracing_subscriber::fmt::layer().with_ansi(false).with_writer(log_writer).with_filter(file_filter);
    let console_layer = if config.console {
        Some(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter()?))
    } else {
        None
    };

    let (trace_layer, debug_trace) = if config.debug_trace {
        match open_append(&paths.debug_trace) {
            Ok(file) => {
                let (writer, guard) = non_blocking(file, config.queue_lines, "debug-trace-writer");
                losses.files.push(("debug_trace.jsonl".to_owned(), writer.error_counter()));
                guards.push(guard);
                let layer = tracing_subscriber::fmt::layer()
                    .json()
                    .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(writer)
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
    Ok(LogSetup { dispatch, debug_trace, losses, guards })
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
            (Some("0"), false),
            (Some(""), false),
        ] {
            assert_eq!(
                LogConfig::default().with_debug_trace_env(value).unwrap().debug_trace,
                expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn an_unknown_debug_trace_value_is_an_error_naming_it() {
        for value in ["yes", "ture", "on", "2"] {
            let err = LogConfig::default().with_debug_trace_env(Some(value)).unwrap_err().to_string();
            assert!(err.contains("ENGINE_DEBUG_TRACE") && err.contains(&format!("{value:?}")), "{err}");
            assert!(err.contains("`true`, `1`, `false`, `0` or empty"), "{err}");
        }
    }

    /// Every line is either in bot.log or counted as lost: a one-line queue under a burst.
    #[test]
    fn log_lines_are_written_off_thread_and_every_loss_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let paths = SessionPaths::in_dir(dir.path());
        let config = LogConfig { console: false, queue_lines: 1, ..LogConfig::default() };
        let setup = build_dispatch(&paths, &config, &MemorySink::new()).unwrap();
        let lines = 20_000u64;
        tracing::dispatcher::with_default(&setup.dispatch, || {
            for i in 0..lines {
                tracing::info!(i, "burst line");
            }
        });
        let losses = setup.losses.clone();
        setup.close();
        let log = std::fs::read_to_string(&paths.log).unwrap();
        let in_file = log.lines().filter(|l| l.contains("burst line")).count() as u64;
        assert!(in_file > 0, "the writer thread wrote");
        assert_eq!(in_file + losses.total(), lines, "written + dropped == logged");
        assert_eq!(losses.dropped()[0].0, "bot.log");
        assert!(losses.total() > 0, "a one-line queue under a 20 000-line burst must drop");
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
        assert_eq!(setup.losses.total(), 0);
        setup.close();
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
        setup.close();
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
        let config = LogConfig { filter: "info,=[".to_owned(), console: false, ..LogConfig::default() };
        let err = build_dispatch(&paths, &config, &MemorySink::new()).unwrap_err().to_string();
        assert!(err.contains("log filter \"info,=[\" is invalid"), "{err}");
    }
}
