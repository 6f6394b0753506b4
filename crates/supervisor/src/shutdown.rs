//! The shutdown coordinator: one trigger (first reason wins), then ordered phases with limits.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use telemetry::{Event, EventSink};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::SupervisorError;
use crate::panic_message;

/// Why the bot stops; maps to the process exit code.
///
/// | reason | exit code |
/// |---|---|
/// | [`Requested`](ExitReason::Requested) (end of a session, operator command) | 0 |
/// | [`Config`](ExitReason::Config) | 2 |
/// | [`Watchdog`](ExitReason::Watchdog) (enforce mode) | 3 |
/// | [`Fatal`](ExitReason::Fatal) (incl. a task that exhausted its restarts) | 4 |
/// | [`CtrlC`](ExitReason::CtrlC) (SIGINT, 128 + 2) | 130 |
/// | [`Sigterm`](ExitReason::Sigterm) (128 + 15) | 143 |
///
/// A shutdown whose reason would exit 0 but where a phase timed out or failed exits with
/// [`EXIT_INCOMPLETE_SHUTDOWN`] (5) instead: "clean" must mean clean. See
/// [`ShutdownReport::exit_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitReason {
    /// Stop asked for by the program itself (end of a simulated session, an operator command).
    Requested,
    /// The configuration was found invalid after start-up work had begun.
    Config {
        /// What is wrong.
        detail: String,
    },
    /// The watchdog in enforce mode found a task late beyond its limit.
    Watchdog {
        /// The late task.
        task: String,
        /// How long it had been silent.
        silent_for: Duration,
    },
    /// An unrecoverable error, including a supervised task that exhausted its restarts with
    /// [`Escalation::Shutdown`](crate::Escalation::Shutdown).
    Fatal {
        /// What failed.
        error: String,
    },
    /// Ctrl-C (SIGINT).
    CtrlC,
    /// SIGTERM (service manager, container stop).
    Sigterm,
}

/// Exit code of a shutdown requested cleanly but whose phases did not all complete.
pub const EXIT_INCOMPLETE_SHUTDOWN: i32 = 5;

impl ExitReason {
    /// The process exit code for this reason (see the table on [`ExitReason`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            ExitReason::Requested => 0,
            ExitReason::Config { .. } => 2,
            ExitReason::Watchdog { .. } => 3,
            ExitReason::Fatal { .. } => 4,
            ExitReason::CtrlC => 130,
            ExitReason::Sigterm => 143,
        }
    }
}

/// Short, machine-friendly text: `requested`, `config: ...`, `watchdog: ...`, `fatal: ...`,
/// `ctrl_c`, `sigterm` (the `reason` field of SHUTDOWN_STARTED and SHUTDOWN_COMPLETED).
impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Requested => f.write_str("requested"),
            ExitReason::Config { detail } => write!(f, "config: {detail}"),
            ExitReason::Watchdog { task, silent_for } => {
                write!(f, "watchdog: task `{task}` silent for {} ms", silent_for.as_millis())
            }
            ExitReason::Fatal { error } => write!(f, "fatal: {error}"),
            ExitReason::CtrlC => f.write_str("ctrl_c"),
            ExitReason::Sigterm => f.write_str("sigterm"),
        }
    }
}

/// Starts the shutdown. Cheap to clone; hand one to anything that may need to stop the bot.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger {
    tx: Arc<watch::Sender<Option<ExitReason>>>,
}

impl ShutdownTrigger {
    /// Requests shutdown with `reason`. The first reason wins: returns `false` (and changes
    /// nothing) when a shutdown was already triggered.
    pub fn trigger(&self, reason: ExitReason) -> bool {
        let mut reason = Some(reason);
        self.tx.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = reason.take();
            true
        })
    }

    /// A signal that observes this trigger.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal { rx: self.tx.subscribe() }
    }
}

/// Observes whether shutdown has started. Cheap to clone; long-running tasks `select!` on
/// [`ShutdownSignal::triggered`] to stop taking new work.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<Option<ExitReason>>,
}

impl ShutdownSignal {
    /// The reason, once shutdown has been triggered.
    pub fn reason(&self) -> Option<ExitReason> {
        self.rx.borrow().clone()
    }

    /// Whether shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Resolves with the reason once shutdown is triggered (at once if it already was).
    /// Cancellation safe. Never resolves if every trigger and the coordinator are gone without
    /// triggering, since then nothing can start a shutdown any more.
    pub async fn triggered(&self) -> ExitReason {
        let mut rx = self.rx.clone();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            Err(_closed) => None,
        };
        match reason {
            Some(reason) => reason,
            None => std::future::pending().await,
        }
    }
}

/// How a shutdown phase ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseOutcome {
    /// It finished within its limit.
    Completed,
    /// It was still running at its limit and was cancelled there.
    TimedOut,
    /// It returned an error or panicked.
    Failed {
        /// The error or panic message.
        error: String,
    },
}

impl PhaseOutcome {
    /// `"completed"`, `"timed_out"` or `"failed"`: the `outcome` field of SHUTDOWN_PHASE.
    pub fn as_str(&self) -> &'static str {
        match self {
            PhaseOutcome::Completed => "completed",
            PhaseOutcome::TimedOut => "timed_out",
            PhaseOutcome::Failed { .. } => "failed",
        }
    }
}

/// One phase's result, in the order the phases ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseReport {
    /// The phase's name, e.g. `cancel_open_buys`.
    pub name: String,
    /// How it ended.
    pub outcome: PhaseOutcome,
    /// The time limit it ran under.
    pub limit: Duration,
    /// How long it ran (at most its limit, give or take a scheduler tick).
    pub elapsed: Duration,
}

/// What [`ShutdownCoordinator::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// The first trigger's reason.
    pub reason: ExitReason,
    /// Every phase, in order.
    pub phases: Vec<PhaseReport>,
    /// From the trigger being seen to the last phase ending (the closer not included).
    pub elapsed: Duration,
    /// The closer ([`ShutdownCoordinator::set_closer`]), which ran after SHUTDOWN_COMPLETED.
    pub closer: Option<PhaseReport>,
}

impl ShutdownReport {
    /// The process exit code: the reason's code, except that a `Requested` shutdown with a
    /// phase that did not complete gives [`EXIT_INCOMPLETE_SHUTDOWN`].
    pub fn exit_code(&self) -> i32 {
        let code = self.reason.exit_code();
        let incomplete = self.phases.iter().chain(&self.closer).any(|p| p.outcome != PhaseOutcome::Completed);
        if code == 0 && incomplete {
            EXIT_INCOMPLETE_SHUTDOWN
        } else {
            code
        }
    }
}

type PhaseFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type PhaseFn = Box<dyn FnOnce() -> PhaseFuture + Send>;

struct Phase {
    name: String,
    limit: Duration,
    run: PhaseFn,
}

/// Waits for the first shutdown trigger, then runs the registered phases in order, each within
/// its time limit, and reports every step as an event.
///
/// Typical phases, in this order: stop new intents, cancel open buy orders, persist state,
/// flush telemetry. A phase that fails or times out does not stop the ones after it (state must
/// still be persisted and telemetry flushed when cancelling orders hangs).
///
/// The session's last events must reach the file: the coordinator's own SHUTDOWN_PHASE and
/// SHUTDOWN_COMPLETED are emitted *after* the phases, so closing the telemetry writer in a
/// phase would lose them. Register `telemetry.flush()` as the last phase (its outcome is an
/// event like any other) and `telemetry.shutdown()` as the [closer](ShutdownCoordinator::set_closer):
/// it runs after SHUTDOWN_COMPLETED is emitted and writes it. The closer's own outcome cannot
/// be an event (the writer is what it closes); it is in [`ShutdownReport::closer`], the log,
/// and the exit code.
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use supervisor::{ExitReason, ShutdownCoordinator};
/// # #[derive(Debug)] struct Discard;
/// # impl telemetry::EventSink for Discard { fn emit(&self, _event: telemetry::Event) {} }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let mut shutdown = ShutdownCoordinator::new(Arc::new(Discard));
/// shutdown.add_phase("persist_state", Duration::from_secs(5), || async { Ok::<(), std::io::Error>(()) });
/// shutdown.trigger().trigger(ExitReason::Requested);
/// let report = shutdown.run().await;
/// assert_eq!(report.exit_code(), 0);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ShutdownCoordinator {
    sink: Arc<dyn EventSink>,
    tx: Arc<watch::Sender<Option<ExitReason>>>,
    phases: Vec<Phase>,
    closer: Option<Phase>,
}

impl fmt::Debug for ShutdownCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownCoordinator")
            .field("reason", &*self.tx.borrow())
            .field("phases", &self.phases.iter().map(|p| (&p.name, p.limit)).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ShutdownCoordinator {
    /// A coordinator with no phases that reports to `sink`.
    pub fn new(sink: Arc<dyn EventSink>) -> Self {
        let (tx, _rx) = watch::channel(None);
        ShutdownCoordinator { sink, tx: Arc::new(tx), phases: Vec::new(), closer: None }
    }

    /// A handle that starts the shutdown.
    pub fn trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger { tx: self.tx.clone() }
    }

    /// A handle that observes whether the shutdown has started.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal { rx: self.tx.subscribe() }
    }

    /// Appends a phase. Phases run in the order they were added; `phase` is called once, when
    /// its turn comes, and its future is cancelled at `limit`. An `Err` or a panic makes the
    /// phase `failed`; the next phase runs regardless.
    pub fn add_phase<F, Fut, E>(&mut self, name: impl Into<String>, limit: Duration, phase: F) -> &mut Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let run: PhaseFn = Box::new(move || -> PhaseFuture {
            let fut = phase();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        self.phases.push(Phase { name: name.into(), limit, run });
        self
    }

    /// Sets the step that runs after SHUTDOWN_COMPLETED has been emitted, within `limit`: the
    /// place to close the telemetry writer (`telemetry.shutdown()`), so that the shutdown's own
    /// events are written by it. Replaces an earlier closer. A closer that fails or times out
    /// makes a `Requested` shutdown exit with [`EXIT_INCOMPLETE_SHUTDOWN`].
    pub fn set_closer<F, Fut, E>(&mut self, name: impl Into<String>, limit: Duration, closer: F) -> &mut Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let run: PhaseFn = Box::new(move || -> PhaseFuture {
            let fut = closer();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        self.closer = Some(Phase { name: name.into(), limit, run });
        self
    }

    /// Listens for Ctrl-C (exit reason [`ExitReason::CtrlC`]) and, on Unix, SIGTERM
    /// ([`ExitReason::Sigterm`]), and triggers the shutdown on the first of them. The handlers
    /// are installed before this returns; must be called inside a tokio runtime.
    ///
    /// The handlers replace the default "terminate at once" for the rest of the process, so a
    /// second Ctrl-C during the shutdown does not cut it short: the phases' time limits are what
    /// bound how long the bot takes to stop.
    ///
    /// # Errors
    /// [`SupervisorError::Signal`] when the OS refuses a handler.
    pub fn listen_for_os_signals(&self) -> Result<JoinHandle<()>, SupervisorError> {
        #[cfg(unix)]
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|source| SupervisorError::Signal { signal: "SIGTERM", source })?;
        #[cfg(unix)]
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|source| SupervisorError::Signal { signal: "SIGINT (Ctrl-C)", source })?;
        let trigger = self.trigger();
        Ok(tokio::spawn(async move {
            #[cfg(unix)]
            let reason = tokio::select! {
                _ = sigint.recv() => ExitReason::CtrlC,
                _ = sigterm.recv() => ExitReason::Sigterm,
            };
            #[cfg(not(unix))]
            let reason = match tokio::signal::ctrl_c().await {
                Ok(()) => ExitReason::CtrlC,
                Err(_) => return,
            };
            tracing::warn!(%reason, "shutdown signal received");
            trigger.trigger(reason);
        }))
    }

    /// Waits for the first trigger, then runs every phase in order and returns the report.
    /// Emits SHUTDOWN_STARTED, one SHUTDOWN_PHASE per phase and SHUTDOWN_COMPLETED, then runs
    /// the closer, if one is set.
    pub async fn run(self) -> ShutdownReport {
        let reason = self.signal().triggered().await;
        self.run_phases(reason).await
    }

    async fn run_phases(self, reason: ExitReason) -> ShutdownReport {
        let started = Instant::now();
        tracing::warn!(%reason, phases = self.phases.len(), "shutdown started");
        self.sink.emit(Event::ShutdownStarted { reason: reason.to_string() });
        let mut reports = Vec::with_capacity(self.phases.len());
        for phase in self.phases {
            let report = run_phase(phase).await;
            let detail = match &report.outcome {
                PhaseOutcome::Completed => None,
                PhaseOutcome::TimedOut => {
                    Some(format!("cancelled at its limit of {} ms", report.limit.as_millis()))
                }
                PhaseOutcome::Failed { error } => Some(error.clone()),
            };
            tracing::info!(phase = %report.name, outcome = report.outcome.as_str(), "shutdown phase");
            self.sink.emit(Event::ShutdownPhase {
                phase: report.name.clone(),
                outcome: report.outcome.as_str().to_owned(),
                elapsed_ms: millis(report.elapsed),
                detail,
            });
            reports.push(report);
        }
        let mut report = ShutdownReport { reason, phases: reports, elapsed: started.elapsed(), closer: None };
        self.sink.emit(Event::ShutdownCompleted {
            reason: report.reason.to_string(),
            exit_code: report.exit_code(),
            elapsed_ms: millis(report.elapsed),
        });
        if let Some(closer) = self.closer {
            let closed = run_phase(closer).await;
            match &closed.outcome {
                PhaseOutcome::Completed => tracing::info!(phase = %closed.name, "shutdown closer completed"),
                outcome => {
                    tracing::error!(phase = %closed.name, outcome = outcome.as_str(), ?outcome, "shutdown closer did not complete")
                }
            }
            report.closer = Some(closed);
        }
        report
    }
}

async fn run_phase(phase: Phase) -> PhaseReport {
    let started = Instant::now();
    // Spawned so that a panic inside the phase is contained and reported as `failed`.
    let mut handle = tokio::spawn((phase.run)());
    let outcome = match tokio::time::timeout(phase.limit, &mut handle).await {
        Ok(Ok(Ok(()))) => PhaseOutcome::Completed,
        Ok(Ok(Err(error))) => PhaseOutcome::Failed { error },
        Ok(Err(join)) if join.is_panic() => {
            PhaseOutcome::Failed { error: format!("panicked: {}", panic_message(join.into_panic())) }
        }
        Ok(Err(_cancelled)) => PhaseOutcome::Failed { error: "cancelled".to_owned() },
        Err(_elapsed) => {
            handle.abort();
            PhaseOutcome::TimedOut
        }
    };
    PhaseReport { name: phase.name, outcome, limit: phase.limit, elapsed: started.elapsed() }
}

/// Milliseconds for an event field, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use telemetry::MemorySink;

    use super::*;

    #[track_caller]
    fn check(reason: ExitReason, code: i32, text: &str) {
        assert_eq!(reason.exit_code(), code, "{reason:?}");
        assert_eq!(reason.to_string(), text);
    }

    #[test]
    fn exit_codes_and_texts() {
        check(ExitReason::Requested, 0, "requested");
        check(ExitReason::Config { detail: "bad key".into() }, 2, "config: bad key");
        check(
            ExitReason::Watchdog { task: "feed".into(), silent_for: Duration::from_millis(4_200) },
            3,
            "watchdog: task `feed` silent for 4200 ms",
        );
        check(ExitReason::Fatal { error: "auth".into() }, 4, "fatal: auth");
        check(ExitReason::CtrlC, 130, "ctrl_c");
        check(ExitReason::Sigterm, 143, "sigterm");
    }

    fn report(reason: ExitReason, outcome: PhaseOutcome) -> ShutdownReport {
        let phase = PhaseReport { name: "p".into(), outcome, limit: Duration::ZERO, elapsed: Duration::ZERO };
        ShutdownReport { reason, phases: vec![phase], elapsed: Duration::ZERO, closer: None }
    }

    #[test]
    fn an_incomplete_clean_shutdown_is_not_exit_zero() {
        assert_eq!(report(ExitReason::Requested, PhaseOutcome::Completed).exit_code(), 0);
        assert_eq!(
            report(ExitReason::Requested, PhaseOutcome::TimedOut).exit_code(),
            EXIT_INCOMPLETE_SHUTDOWN
        );
        let failed = PhaseOutcome::Failed { error: "x".into() };
        assert_eq!(report(ExitReason::Sigterm, failed).exit_code(), 143);
    }

    #[test]
    fn the_first_trigger_wins() {
        let coordinator = ShutdownCoordinator::new(Arc::new(MemorySink::new()));
        let signal = coordinator.signal();
        assert!(!signal.is_triggered());
        let trigger = coordinator.trigger();
        assert!(trigger.trigger(ExitReason::CtrlC));
        assert!(!trigger.clone().trigger(ExitReason::Fatal { error: "late".into() }));
        assert_eq!(signal.reason(), Some(ExitReason::CtrlC));
        assert_eq!(trigger.signal().reason(), Some(ExitReason::CtrlC));
    }

    #[tokio::test(start_paused = true)]
    async fn phases_run_in_order_and_report_each_outcome() {
        let sink = MemorySink::new();
        let mut coordinator = ShutdownCoordinator::new(Arc::new(sink.clone()));
        let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let log = |name: &'static str| {
            let order = order.clone();
            move || async move {
                order.lock().push(name);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<(), String>(())
            }
        };
        coordinator.add_phase("stop_new_intents", Duration::from_secs(1), log("stop_new_intents"));
        coordinator.add_phase("cancel_open_buys", Duration::from_secs(2), || async {
            std::future::pending::<Result<(), String>>().await
        });
        coordinator.add_phase("persist_state", Duration::from_secs(1), || async { Err("disk full") });
        coordinator.add_phase("flush_telemetry", Duration::from_secs(1), log("flush_telemetry"));
        coordinator.trigger().trigger(ExitReason::Sigterm);
        let started = Instant::now();
        let report = coordinator.run().await;

        assert_eq!(*order.lock(), vec!["stop_new_intents", "flush_telemetry"]);
        let outcomes: Vec<_> = report.phases.iter().map(|p| (p.name.as_str(), p.outcome.as_str())).collect();
        assert_eq!(
            outcomes,
            vec![
                ("stop_new_intents", "completed"),
                ("cancel_open_buys", "timed_out"),
                ("persist_state", "failed"),
                ("flush_telemetry", "completed"),
            ]
        );
        assert_eq!(report.phases[0].elapsed, Duration::from_millis(100));
        assert_eq!(report.phases[1].elapsed, Duration::from_secs(2), "the hanging phase is cut at its limit");
        assert_eq!(report.elapsed, started.elapsed());
        assert_eq!(report.exit_code(), 143);

        let events = sink.events();
        assert_eq!(events.len(), 6, "{events:#?}");
        assert_eq!(events[0], Event::ShutdownStarted { reason: "sigterm".into() });
        assert_eq!(
            events[2],
            Event::ShutdownPhase {
                phase: "cancel_open_buys".into(),
                outcome: "timed_out".into(),
                elapsed_ms: 2_000,
                detail: Some("cancelled at its limit of 2000 ms".into()),
            }
        );
        assert!(matches!(&events[3], Event::ShutdownPhase { detail: Some(d), .. } if d == "disk full"));
        assert_eq!(
            events[5],
            Event::ShutdownCompleted { reason: "sigterm".into(), exit_code: 143, elapsed_ms: 2_200 }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_phase_fails_and_the_next_still_runs() {
        let sink = MemorySink::new();
        let mut coordinator = ShutdownCoordinator::new(Arc::new(sink.clone()));
        coordinator.add_phase("boom", Duration::from_secs(1), || async {
            if true {
                panic!("phase exploded");
            }
            Ok::<(), String>(())
        });
        coordinator.add_phase("after", Duration::from_secs(1), || async { Ok::<(), String>(()) });
        coordinator.trigger().trigger(ExitReason::Requested);
        let report = coordinator.run().await;
        assert_eq!(
            report.phases[0].outcome,
            PhaseOutcome::Failed { error: "panicked: phase exploded".into() }
        );
        assert_eq!(report.phases[1].outcome, PhaseOutcome::Completed);
        assert_eq!(report.exit_code(), EXIT_INCOMPLETE_SHUTDOWN);
    }

    #[tokio::test(start_paused = true)]
    async fn run_waits_for_the_trigger() {
        let coordinator = ShutdownCoordinator::new(Arc::new(MemorySink::new()));
        let trigger = coordinator.trigger();
        let run = tokio::spawn(coordinator.run());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!run.is_finished());
        trigger.trigger(ExitReason::Fatal { error: "auth rejected".into() });
        let report = run.await.unwrap();
        assert_eq!(report.reason, ExitReason::Fatal { error: "auth rejected".into() });
        assert_eq!(report.exit_code(), 4);
        assert!(report.phases.is_empty());
    }
}
