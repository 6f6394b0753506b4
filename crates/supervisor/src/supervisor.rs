//! The `Supervisor`: registry, watchdog loop, lag monitor and supervised spawn in one handle.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use telemetry::{Event, EventSink};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use trading_core::{Clock, Timestamp};

use crate::error::SupervisorError;
use crate::lag::LagConfig;
use crate::registry::{Heartbeat, TaskEnd, TaskRegistry};
use crate::restart::{supervise, RestartPolicy, SuperviseCtx, TaskExit};
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
            self.inner.sink.clone(),
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

    /// One watchdog pass over every registered task at the clock's current time: emits
    /// HEARTBEAT_LATE for late tasks due a report, and in enforce mode triggers the shutdown for
    /// a task late beyond the limit. A task waiting out a restart backoff is not expected to
    /// beat and is never late. [`Supervisor::spawn_watchdog`] and
    /// [`Supervisor::start_watchdog_thread`] call this every `check_every`; it is public so a
    /// custom loop or a test can drive it.
    pub fn check_heartbeats(&self) -> WatchdogPass {
        let config = &self.inner.config.watchdog;
        let now = self.inner.clock.now();
        let mut pass = WatchdogPass::default();
        for slot in self.inner.registry.live() {
            pass.checked += 1;
            let view = slot.view(now);
            if view.in_backoff {
                continue;
            }
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

    /// What the supervisor knows now, for a metrics or health endpoint: every registered task
    /// (ended ones included, until a task of the same name registers again) with its last beat
    /// and state, and whether the shutdown has started.
    pub fn health(&self) -> HealthSnapshot {
        let now = self.inner.clock.now();
        let deadline_slack = self.inner.config.watchdog.grace;
        let tasks = self
            .inner
            .registry
            .all()
            .into_iter()
            .map(|slot| {
                let view = slot.view(now);
                let state = match (view.ended, view.in_backoff) {
                    (Some(how), _) => TaskState::Ended(how),
                    (None, true) => TaskState::RestartBackoff,
                    (None, false) if view.silent_for > view.expected.saturating_add(deadline_slack) => {
                        TaskState::Late
                    }
                    (None, false) => TaskState::Running,
                };
                TaskHealth {
                    name: view.name,
                    expected_interval: view.expected,
                    last_beat: view.last_beat,
                    silent_for: view.silent_for,
                    beats: view.beats,
                    state,
                }
            })
            .collect();
        HealthSnapshot { at: now, tasks, shutdown: self.inner.signal.reason() }
    }

    /// Runs [`Supervisor::check_heartbeats`] every `watchdog.check_every` until the shutdown
    /// starts (whoever triggered it), as a task on the current runtime. Use it in simulated
    /// sessions (paused tokio time and a clock that follows it, `trading_core::TokioClock`:
    /// lateness is judged on the clock, the pace on tokio's timer); a live bot uses
    /// [`Supervisor::start_watchdog_thread`], which a stalled runtime cannot silence.
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
        let ctx = SuperviseCtx {
            name: name.trim().to_owned(),
            policy,
            sink: self.inner.sink.clone(),
            trigger: self.inner.trigger.clone(),
            signal: self.inner.signal.clone(),
            clock: self.inner.clock.clone(),
            slot: self.inner.registry.find_live(name),
        };
        if let Some(slot) = &ctx.slot {
            slot.mark_supervised();
        }
        tokio::spawn(supervise(ctx, factory))
    }

    /// Starts the live-mode watchdog on its own OS thread, where a stalled runtime cannot
    /// silence it, and a pulse task on the current runtime.
    ///
    /// The pulse is a registered task named [`RUNTIME_PULSE_TASK`] that beats every
    /// `watchdog.runtime_pulse`; a runtime that stops advancing (a task blocking its worker,
    /// a deadlock) stops the pulse, and the thread reports it as HEARTBEAT_LATE for `runtime`
    /// (and, in enforce mode, triggers the shutdown) while the stall lasts, together with
    /// every other task that went silent. The thread paces itself in real time, but every time
    /// it judges comes from the [`Clock`]: in live mode that is the system clock, so a stall is
    /// measured as it happens.
    ///
    /// In a simulated session (paused tokio time, a clock that follows it) use
    /// [`Supervisor::spawn_watchdog`] instead: simulated time only moves when the runtime does,
    /// so a stalled simulated runtime has, in simulated time, not been silent at all, and a
    /// thread outside the runtime cannot read tokio's paused clock.
    ///
    /// The thread ends when the shutdown starts or when the returned handle is stopped or
    /// dropped. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// A duplicate `runtime` registration, or the OS refusing a thread.
    pub fn start_watchdog_thread(&self) -> Result<WatchdogThread, SupervisorError> {
        let pulse_every = self.inner.config.watchdog.runtime_pulse;
        let pulse = self.register(RUNTIME_PULSE_TASK, pulse_every)?;
        let signal = self.shutdown_signal();
        let pulse_task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(pulse_every);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => pulse.beat(),
                    _ = signal.triggered() => {
                        pulse.ended(TaskEnd::Cancelled, Some("shutdown".to_owned()));
                        return;
                    }
                }
            }
        });
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let this = self.clone();
        let thread = std::thread::Builder::new()
            .name("supervisor-watchdog".to_owned())
            .spawn(move || {
                let every = this.inner.config.watchdog.check_every;
                let signal = this.shutdown_signal();
                loop {
                    match stopped.recv_timeout(every) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    if signal.is_triggered() || this.check_heartbeats().escalated.is_some() {
                        return;
                    }
                }
            })
            .map_err(|source| SupervisorError::Thread { source })?;
        Ok(WatchdogThread { stop: Some(stop), thread: Some(thread), pulse: pulse_task })
    }
}

/// Name of the runtime's own pulse task, registered by [`Supervisor::start_watchdog_thread`].
pub const RUNTIME_PULSE_TASK: &str = "runtime";

/// The live-mode watchdog thread started by [`Supervisor::start_watchdog_thread`]. Dropping it
/// stops the thread (without waiting) and the pulse task.
#[derive(Debug)]
pub struct WatchdogThread {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pulse: JoinHandle<()>,
}

impl WatchdogThread {
    /// Stops the thread and waits for it to end (at most one check period).
    pub fn stop(mut self) {
        self.pulse.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Whether the thread has ended (shutdown started, or stopped).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(std::thread::JoinHandle::is_finished)
    }
}

impl Drop for WatchdogThread {
    fn drop(&mut self) {
        self.pulse.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The state of one task in a [`HealthSnapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Beating within its interval plus grace.
    Running,
    /// Silent for longer than its interval plus grace.
    Late,
    /// Failed and waiting out its restart backoff (not late).
    RestartBackoff,
    /// Ended, and how.
    Ended(TaskEnd),
}

impl TaskState {
    /// `running`, `late`, `restart_backoff` or `ended:<how>`, for a metrics label.
    pub fn label(self) -> String {
        match self {
            TaskState::Running => "running".to_owned(),
            TaskState::Late => "late".to_owned(),
            TaskState::RestartBackoff => "restart_backoff".to_owned(),
            TaskState::Ended(how) => format!("ended:{}", how.as_str()),
        }
    }
}

/// One task in a [`HealthSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHealth {
    /// The registered name.
    pub name: String,
    /// The interval it promised to beat at.
    pub expected_interval: Duration,
    /// Clock time of its last beat (registration or restart if none since).
    pub last_beat: Timestamp,
    /// Time since then, at the snapshot.
    pub silent_for: Duration,
    /// Beats since registration.
    pub beats: u64,
    /// Running, late, in restart backoff, or ended.
    pub state: TaskState,
}

/// What [`Supervisor::health`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// Clock time of the snapshot.
    pub at: Timestamp,
    /// Every registered task, in registration order.
    pub tasks: Vec<TaskHealth>,
    /// The shutdown's reason, once it has started.
    pub shutdown: Option<ExitReason>,
}
