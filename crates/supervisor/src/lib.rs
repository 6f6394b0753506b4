//! `supervisor`: keeps the bot's long-running tasks honest and stops the bot in order.
//!
//! - [`Supervisor`]: the task registry. Each long-running task calls
//!   [`Supervisor::register`] with a name and the interval it promises to beat at, and gets a
//!   [`Heartbeat`] to [`beat`](Heartbeat::beat). A watchdog ([`Supervisor::spawn_watchdog`])
//!   checks every second; a late task is reported with its recent beat history, which starts at
//!   registration so there is always one. [`WatchdogMode`] is warn-only or enforce (late beyond a
//!   limit -> orderly shutdown).
//! - [`Supervisor::spawn_lag_monitor`]: an event-loop lag probe (scheduled tick vs actual).
//! - [`Supervisor::spawn_supervised`]: runs a task under a [`RestartPolicy`]: a panic or an
//!   `Err` return is reported and restarted with exponential backoff, or escalated
//!   ([`Escalation`]) to a shutdown.
//! - [`Supervisor::start_watchdog_thread`]: the live-mode watchdog on its own OS thread, with a
//!   `runtime` pulse task, so a runtime blocked by a task is reported while it is blocked.
//!   [`Supervisor::spawn_watchdog`] is the in-runtime variant for simulated sessions.
//! - [`Supervisor::health`]: a [`HealthSnapshot`] (tasks, last beat, state) for a metrics
//!   endpoint; [`HeartbeatSettings`] reads `HEARTBEAT_TIMEOUT_S` / `HEARTBEAT_MODE`.
//! - [`ShutdownCoordinator`]: the first trigger (Ctrl-C, SIGTERM, enforce-mode watchdog, fatal
//!   error, or [`ShutdownTrigger::trigger`] from code) starts ordered phases, each with a time
//!   limit; the [`ShutdownReport`] carries the [`ExitReason`] and the process exit code.
//!
//! Time: beats and lateness are read through [`trading_core::Clock`] (so the watchdog can judge
//! from its own thread); backoff, lag and phase limits use `tokio::time`. Nothing reads
//! `std::time::Instant::now`. In a simulated session (paused tokio time and a clock that
//! follows it, `trading_core::TokioClock`) heartbeats, lag and restarts all happen in simulated
//! time; the own-thread watchdog is for live mode (see [`Supervisor::start_watchdog_thread`]).
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use supervisor::{ExitReason, RestartPolicy, ShutdownCoordinator, Supervisor, SupervisorConfig};
//! use trading_core::SystemClock;
//!
//! # #[derive(Debug)] struct Discard;
//! # impl telemetry::EventSink for Discard { fn emit(&self, _event: telemetry::Event) {} }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let sink: Arc<dyn telemetry::EventSink> = Arc::new(Discard); // the session's Telemetry in the bot
//! let mut shutdown = ShutdownCoordinator::new(sink.clone());
//! let supervisor = Supervisor::new(SupervisorConfig::default(), Arc::new(SystemClock), sink, &shutdown)?;
//!
//! let heartbeat = supervisor.register("md-feed", Duration::from_secs(2))?;
//! let signal = supervisor.shutdown_signal();
//! supervisor.spawn_supervised("md-feed", RestartPolicy::default(), move || {
//!     let (heartbeat, signal) = (heartbeat.clone(), signal.clone());
//!     async move {
//!         while !signal.is_triggered() {
//!             heartbeat.beat(); // ... one poll cycle ...
//!             tokio::time::sleep(Duration::from_millis(10)).await;
//!         }
//!         Ok::<(), std::io::Error>(())
//!     }
//! });
//! let _watchdog = supervisor.spawn_watchdog();
//!
//! shutdown.add_phase("stop_new_intents", Duration::from_secs(1), || async { Ok::<(), std::io::Error>(()) });
//! shutdown.add_phase("flush_telemetry", Duration::from_secs(5), || async { Ok::<(), std::io::Error>(()) });
//! supervisor.shutdown_trigger().trigger(ExitReason::Requested); // normally Ctrl-C or SIGTERM
//! let report = shutdown.run().await;
//! assert_eq!(report.exit_code(), 0);
//! # Ok::<(), supervisor::SupervisorError>(())
//! # })?;
//! # Ok(())
//! # }
//! ```
//!
//! # Supervisor events
//!
//! Everything is reported through `Arc<dyn telemetry::EventSink>` (never blocks, never fails):
//!
//! | event | when |
//! |---|---|
//! | `HEARTBEAT_LATE { task, expected_interval_ms, silent_for_ms, recent_beats, mode }` | a watchdog pass finds a task silent for longer than its interval + `grace`; once per silence episode and again every `report_every` while it lasts; `recent_beats` holds up to `history_len` wall-clock times, oldest first, the first being the registration time until it scrolls out; `mode` is `"warn"` or `"enforce"` |
//! | `LOOP_LAG { lag_ms, threshold_ms }` | the lag probe woke up more than `threshold` after its scheduled instant |
//! | `TASK_PANICKED { task, message, failures }` | a supervised attempt panicked; `message` is the panic payload, `failures` the count in the current series |
//! | `TASK_FAILED { task, error, failures }` | a supervised attempt returned `Err` |
//! | `TASK_RESTARTED { task, attempt, backoff_ms }` | a restart is scheduled (emitted before the backoff wait); `attempt` 1 is the first restart; the task is not watched for beats while it waits |
//! | `TASK_ENDED { task, how, detail }` | once per registered or supervised task when it ends: `returned`, `failed`, `panicked`, `gave_up`, `cancelled` or `dropped` (every [`Heartbeat`] gone without a word) |
//! | `SHUTDOWN_STARTED { reason }` | the coordinator saw the first trigger (the reason's text) |
//! | `SHUTDOWN_PHASE { phase, outcome, elapsed_ms, detail }` | each phase ended: `completed`, `timed_out` (cut at its limit) or `failed` (error or panic in `detail`) |
//! | `SHUTDOWN_COMPLETED { reason, exit_code, elapsed_ms }` | after the last phase |
//!
//! # Exit codes
//!
//! 0 requested, 2 configuration error, 3 watchdog (enforce), 4 fatal error (incl. a task that
//! exhausted its restarts), 5 a requested shutdown whose phases did not all complete,
//! 130 Ctrl-C (SIGINT), 143 SIGTERM. See [`ExitReason`].

mod error;
mod history;
mod lag;
mod registry;
mod restart;
mod settings;
mod shutdown;
mod supervisor;
mod watchdog;

pub use crate::supervisor::{
    HealthSnapshot, Supervisor, SupervisorConfig, TaskHealth, TaskState, WatchdogPass, WatchdogThread,
    RUNTIME_PULSE_TASK,
};
pub use error::SupervisorError;
pub use lag::LagConfig;
pub use registry::{Heartbeat, TaskEnd};
pub use restart::{Escalation, RestartPolicy, TaskExit};
pub use settings::{HeartbeatMode, HeartbeatSettings, RawSetting, HEARTBEAT_MODE_KEY, HEARTBEAT_TIMEOUT_KEY};
pub use shutdown::{
    ExitReason, PhaseOutcome, PhaseReport, ShutdownCoordinator, ShutdownReport, ShutdownSignal,
    ShutdownTrigger, EXIT_INCOMPLETE_SHUTDOWN,
};
pub use watchdog::{WatchdogConfig, WatchdogMode};

/// The text of a panic payload (`&str` or `String`; anything else is named as such).
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast_ref::<&'static str>() {
            Some(message) => (*message).to_owned(),
            None => "panic with a non-string payload".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_payloads_become_text() {
        assert_eq!(panic_message(Box::new(String::from("formatted 42"))), "formatted 42");
        assert_eq!(panic_message(Box::new("static text")), "static text");
        assert_eq!(panic_message(Box::new(42_u8)), "panic with a non-string payload");
    }
}
