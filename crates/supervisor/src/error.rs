//! The crate's one error type.

use std::time::Duration;

/// What can go wrong when setting up supervision.
///
/// Everything here happens at start-up (configuration, registration, signal handlers); once the
/// supervisor runs, problems become telemetry events and shutdown reasons, never errors returned
/// into the trading path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// A configuration value is outside what is allowed.
    #[error("invalid supervisor setting `{field}` = {value:?}: {allowed}")]
    InvalidConfig {
        /// The setting, e.g. `watchdog.check_every`.
        field: &'static str,
        /// The rejected value.
        value: Duration,
        /// What is allowed instead.
        allowed: &'static str,
    },
    /// A task name was empty or only whitespace.
    #[error("a supervised task needs a non-empty name")]
    EmptyTaskName,
    /// A task registered with an expected beat interval of zero.
    #[error("task `{task}`: expected beat interval must be greater than zero")]
    ZeroInterval {
        /// The task's name.
        task: String,
    },
    /// A live task with the same name is already registered.
    #[error("task `{task}` is already registered (drop its Heartbeat handles before registering again)")]
    DuplicateTask {
        /// The task's name.
        task: String,
    },
    /// A setting (`HEARTBEAT_TIMEOUT_S`, `HEARTBEAT_MODE`) has a value that is not allowed.
    #[error("invalid setting {key} = {value:?} (from {origin}): {allowed}")]
    InvalidSetting {
        /// The setting's name.
        key: &'static str,
        /// The rejected value, as given.
        value: String,
        /// Where the value came from (file, environment, flag).
        origin: String,
        /// What is allowed instead.
        allowed: &'static str,
    },
    /// The OS refused to start the watchdog thread.
    #[error("could not start the watchdog thread")]
    Thread {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Installing an OS signal handler failed.
    #[error("could not listen for {signal}")]
    Signal {
        /// The signal, e.g. `SIGTERM`.
        signal: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
