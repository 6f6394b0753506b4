//! The `Supervisor`: registry, watchdog loop, lag monitor and supervised spawn in one handle.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use telemetry::{Event, EventSink};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use trading_core::Clock;

use crate::error::SupervisorError;
use crate::lag::LagConfig;
use crate::registry::{Heartbeat, TaskRegistry};
use crate::restart::{supervise, RestartPolicy, TaskExit};
use crate::shutdown::{millis, ExitReason, ShutdownCoordinator, ShutdownSignal, ShutdownTrigger};
use crate::watchdog::{assess, Verdict, WatchdogConfig};

/// All supervisor settings. `Default` gives the documented production defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// Heartbeat watchdog.
    pub watchdog: WatchdogConfig,
    /// Event-loop lag monitor.
    pub lag: LagConfig,
}

impl SupervisorConfig {
    /// Checks every setting; the error names the setting, its value and what is allowed.
    ///
    /// # Errors
    /// [`SupervisorError::InvalidConfig`] for a zero period.
    pub fn validate(&self) -> Result<(), SupervisorError> {
        self.watchdog.validate()?;
        self.lag.validate()
    }
}

/// What one watchdog pass found (returned by [`Supervisor::check_heartbeats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchdogPass {
    /// Tasks checked.
    pub checked: usize,
    /// Names of the tasks that were late.
    pub late: Vec<String>,
    /// HEARTBEAT_LATE events emitted by this pass.
    pub reported: usize,
    /// Set when enforce mode asked for a shutdown in this pass (if a shutdown had already been
    /// triggered, the earlier reason stays the one the bot exits with).
    pub escalated: Option<ExitReason>,
}

struct Inner {
    config: SupervisorConfig,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EventSink>,
    registry: TaskRegistry,
    trigger: ShutdownTrigger,
    signal: ShutdownSignal,
}

/// Watches the bot's long-running tasks. Cheap to clone (one shared state).
///
/// Built next to a [`ShutdownCoordinator`], whose trigger it pulls in enforce mode and when a
/// supervised task exhausts its restarts. Background loops ([`Supervisor::spawn_watchdog`],
/// [`Supervisor::spawn_lag_monitor`]) end when the shutdown starts.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("config", &self.inner.config)
            .field("tasks", &self.inner.registry.live().len())
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor with `config` that reads wall time from `clock` (beat history), reports to
    /// `sink`, and stops the bot through `shutdown`'s trigger.
    ///
    /// # Errors
    /// [`SupervisorError::InvalidConfig`] when `config` does not validate.
    pub fn new(
        config: SupervisorConfig,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn EventSink>,
        shutdown: &ShutdownCoordinator,
    ) -> Result<Self, SupervisorError> {
        config.validate()?;
        Ok(Supervisor {
            inner: Arc::new(Inner {
                config,
                clock,
                sink,
                registry: TaskRegistry::default(),
                trigger: shutdown.trigger(),
                signal: shutdown.signal(),
            }),
        })
    }

    /// Registers a long-running task that promises to beat at least every `expected_interval`.
    /// The registration time is the first entry of its beat history, so a task that never beats
    /// is still reported with a history.
    ///
    /// # Errors
    /// An empty name, a zero interval, or a name that is already registered and alive.
    pub fn register(&self, name: &str, expected_interval: Duration) -> Result<Heartbeat, SupervisorError> {
        self.inner.registry.register(
            name,
            expected_interval,
            self.inner.config.watchdog.history_len,
            self.inner.clock.clone(),
        )
    }

    /// The trigger this supervisor pulls; hand it to code that detects fatal errors.
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        self.inner.trigger.clone()
    }

    /// Observes the shutdown; long-running tasks select on it to stop taking new work.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.inner.signal.clone()
    }

    /// One watchdog pass over every registered task at the current (tokio) time: emits
    /// HEARTBEAT_LATE for late tasks due a report, and in enforce mode triggers the shutdown for
    /// a task late beyond the limit. [`Supervisor::spawn_watchdog`] calls this every
    /// `check_every`; it is public so a custom loop or a test can drive it.
    pub fn check_heartbeats(&self) -> WatchdogPass {
        let config = &self.inner.config.watchdog;
        let now = Instant::now();
        let mut pass = WatchdogPass::default();
        for slot in self.inner.registry.live() {
            pass.checked += 1;
            let view = slot.view(now);
            let verdict = assess(config, view.expected, view.silent_for, view.last_report_ago);
            let report = match verdict {
                Verdict::OnTime => continue,
                Verdict::Late { report } => report,
                Verdict::Escalate => true,
            };
            pass.late.push(view.name.clone());
            if report {
                slot.mark_reported(now);
                pass.reported += 1;
                tracing::warn!(
                    task = %view.name,
                    silent_ms = millis(view.silent_for),
                    expected_ms = millis(view.expected),
                    "heartbeat late"
                );
                self.inner.sink.emit(Event::HeartbeatLate {
                    task: view.name.clone(),
                    expected_interval_ms: millis(view.expected),
                    silent_for_ms: millis(view.silent_for),
                    recent_beats: view.recent_beats,
                    mode: config.mode.as_str().to_owned(),
                });
            }
            if verdict == Verdict::Escalate && pass.escalated.is_none() {
                let reason = ExitReason::Watchdog { task: view.name, silent_for: view.silent_for };
                self.inner.trigger.trigger(reason.clone());
                pass.escalated = Some(reason);
            }
        }
        pass
    }

    /// Runs [`Supervisor::check_heartbeats`] every `watchdog.check_every` until the shutdown
    /// starts (whoever triggered it).
    pub fn spawn_watchdog(&self) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(this.inner.config.watchdog.check_every);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let signal = this.shutdown_signal();
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        if this.check_heartbeats().escalated.is_some() {
                            return;
                        }
                    }
                    _ = signal.triggered() => return,
                }
            }
        })
    }

    /// Measures event-loop lag every `lag.tick_every` until the shutdown starts: sleeps until a
    /// scheduled instant and emits LOOP_LAG when it woke up later than `lag.threshold`. The next
    /// probe is scheduled from the actual wake-up, so one stall is reported once.
    pub fn spawn_lag_monitor(&self) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let config = &this.inner.config.lag;
            let signal = this.shutdown_signal();
            let mut scheduled = Instant::now() + config.tick_every;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(scheduled) => {}
                    _ = signal.triggered() => return,
                }
                let actual = Instant::now();
                if let Some(lag) = config.excess_lag(scheduled, actual) {
                    tracing::warn!(lag_ms = millis(lag), "event loop lag");
                    this.inner
                        .sink
                        .emit(Event::LoopLag { lag_ms: millis(lag), threshold_ms: millis(config.threshold) });
                }
                scheduled = actual + config.tick_every;
            }
        })
    }

    /// Spawns a supervised task: `factory` is called for each attempt and its future runs as
    /// its own tokio task. A panic (TASK_PANICKED with the panic message) or an `Err` return
    /// (TASK_FAILED) is reported and, per `policy`, restarted after a backoff (TASK_RESTARTED)
    /// or escalated. `Ok(())` ends supervision. No restart happens once the shutdown has
    /// started. Aborting the returned handle also aborts the running attempt.
    pub fn spawn_supervised<F, Fut, E>(
        &self,
        name: &str,
        policy: RestartPolicy,
        factory: F,
    ) -> JoinHandle<TaskExit>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        tokio::spawn(supervise(
            name.to_owned(),
            policy,
            factory,
            self.inner.sink.clone(),
            self.inner.trigger.clone(),
            self.inner.signal.clone(),
        ))
    }
}
