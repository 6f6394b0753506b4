//! Restart policy (pure) and the supervised-task loop built on it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use telemetry::{Event, EventSink};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use trading_core::Clock;

use crate::panic_message;
use crate::registry::{emit_task_ended, TaskEnd, TaskSlot};
use crate::shutdown::{millis, ExitReason, ShutdownSignal, ShutdownTrigger};

/// What happens when a supervised task has failed more often than its policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escalation {
    /// Start an orderly shutdown with [`ExitReason::Fatal`] (the default: a task that cannot
    /// stay up is a bot that cannot trade safely).
    #[default]
    Shutdown,
    /// Stop restarting this task and let the rest of the bot run on.
    GiveUp,
}

/// When and how fast a failed supervised task is restarted.
///
/// After the `n`-th consecutive failure (`n >= 1`) the task is restarted after
/// `initial_backoff * 2^(n-1)`, capped at `max_backoff`, as long as `n <= max_restarts`; the
/// failure after that escalates per `on_exhausted`. An attempt that ran for at least
/// `reset_after` before failing counts as the first failure of a new series, so a task that
/// fails once a day is not escalated after a week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts allowed in one series of consecutive failures (default 5; 0 = never restart).
    pub max_restarts: u32,
    /// Wait before the first restart (default 500 ms).
    pub initial_backoff: Duration,
    /// Upper bound of the doubling wait (default 30 s).
    pub max_backoff: Duration,
    /// A run at least this long resets the failure series (default 60 s; `None` never resets).
    pub reset_after: Option<Duration>,
    /// What to do when restarts are exhausted.
    pub on_exhausted: Escalation,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            reset_after: Some(Duration::from_secs(60)),
            on_exhausted: Escalation::Shutdown,
        }
    }
}

/// What the policy says after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestartDecision {
    /// Restart as attempt `attempt` (1 = first restart) after `backoff`.
    Restart { attempt: u32, backoff: Duration },
    /// Restarts exhausted.
    Escalate(Escalation),
}

impl RestartPolicy {
    /// The wait before restart number `attempt` (1-based): doubling from `initial_backoff`,
    /// capped at `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial_backoff.saturating_mul(1u32 << doublings).min(self.max_backoff)
    }

    /// The decision after `failures` consecutive failures (`failures >= 1`).
    pub(crate) fn decide(&self, failures: u32) -> RestartDecision {
        if failures > self.max_restarts {
            RestartDecision::Escalate(self.on_exhausted)
        } else {
            RestartDecision::Restart { attempt: failures, backoff: self.backoff(failures) }
        }
    }
}

/// How a supervised task ended for good.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskExit {
    /// The task returned `Ok(())`: it finished its work; it is not restarted.
    Completed,
    /// Shutdown started (or the supervisor's handle was aborted) before the task finished or
    /// while it waited for a restart; it is not restarted any more.
    Stopped,
    /// Restarts were exhausted and the policy says [`Escalation::GiveUp`].
    GaveUp {
        /// Consecutive failures in the final series.
        failures: u32,
    },
    /// Restarts were exhausted and a shutdown was triggered ([`Escalation::Shutdown`]).
    Escalated {
        /// Consecutive failures in the final series.
        failures: u32,
    },
}

/// Aborts the wrapped task when dropped, so aborting the supervising task also stops the
/// attempt it is waiting on.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why one attempt ended.
enum AttemptEnd {
    Finished,
    Failed(String),
    Panicked(String),
    Stopped,
}

/// What a supervised task needs besides its factory.
pub(crate) struct SuperviseCtx {
    pub(crate) name: String,
    pub(crate) policy: RestartPolicy,
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) trigger: ShutdownTrigger,
    pub(crate) signal: ShutdownSignal,
    pub(crate) clock: Arc<dyn Clock>,
    /// The task's registration, when it registered under the same name: its backoff and end
    /// are recorded there.
    pub(crate) slot: Option<Arc<TaskSlot>>,
}

/// Reports the end of a supervised task exactly once: with how it ended, or as `cancelled`
/// when the supervising future is dropped (its handle aborted, the runtime shut down).
struct EndReport {
    name: String,
    sink: Arc<dyn EventSink>,
    slot: Option<Arc<TaskSlot>>,
    done: bool,
}

impl EndReport {
    fn report(&mut self, how: TaskEnd, detail: Option<String>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        match &self.slot {
            Some(slot) => {
                slot.end(how, detail);
            }
            None => emit_task_ended(&*self.sink, &self.name, how, detail),
        }
    }
}

impl Drop for EndReport {
    fn drop(&mut self) {
        self.report(TaskEnd::Cancelled, Some("supervisor aborted".to_owned()));
    }
}

pub(crate) async fn supervise<F, Fut, E>(ctx: SuperviseCtx, factory: F) -> TaskExit
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let mut end =
        EndReport { name: ctx.name.clone(), sink: ctx.sink.clone(), slot: ctx.slot.clone(), done: false };
    let (exit, how, detail) = supervise_attempts(&ctx, factory).await;
    end.report(how, detail);
    exit
}

async fn supervise_attempts<F, Fut, E>(
    ctx: &SuperviseCtx,
    mut factory: F,
) -> (TaskExit, TaskEnd, Option<String>)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let SuperviseCtx { name, policy, sink, trigger, signal, clock, slot } = ctx;
    let stopped = || (TaskExit::Stopped, TaskEnd::Cancelled, Some("shutdown".to_owned()));
    let mut failures: u32 = 0;
    loop {
        if signal.is_triggered() {
            return stopped();
        }
        let started = Instant::now();
        let fut = factory();
        let mut attempt = AbortOnDrop(tokio::spawn(async move { fut.await.map_err(|e| e.to_string()) }));
        let end = match (&mut attempt.0).await {
            Ok(Ok(())) => AttemptEnd::Finished,
            Ok(Err(error)) => AttemptEnd::Failed(error),
            Err(join) if join.is_panic() => AttemptEnd::Panicked(panic_message(join.into_panic())),
            Err(_cancelled) => AttemptEnd::Stopped,
        };
        if policy.reset_after.is_some_and(|reset| started.elapsed() >= reset) {
            failures = 0;
        }
        let last_error = match end {
            AttemptEnd::Finished => return (TaskExit::Completed, TaskEnd::Returned, None),
            AttemptEnd::Stopped => return stopped(),
            AttemptEnd::Failed(error) => {
                failures = failures.saturating_add(1);
                tracing::error!(task = %name, %error, failures, "supervised task failed");
                sink.emit(Event::TaskFailed { task: name.clone(), error: error.clone(), failures });
                error
            }
            AttemptEnd::Panicked(message) => {
                failures = failures.saturating_add(1);
                tracing::error!(task = %name, %message, failures, "supervised task panicked");
                sink.emit(Event::TaskPanicked { task: name.clone(), message: message.clone(), failures });
                format!("panicked: {message}")
            }
        };
        match policy.decide(failures) {
            RestartDecision::Restart { attempt, backoff } => {
                sink.emit(Event::TaskRestarted { task: name.clone(), attempt, backoff_ms: millis(backoff) });
                // Waiting out the backoff is not silence: the watchdog leaves the task alone
                // until the next attempt starts, which gets a full beat interval.
                if let Some(slot) = slot {
                    slot.enter_backoff();
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = signal.triggered() => return stopped(),
                }
                if let Some(slot) = slot {
                    slot.restarted(clock.now());
                }
            }
            RestartDecision::Escalate(Escalation::GiveUp) => {
                tracing::error!(task = %name, failures, "restarts exhausted; giving up on the task");
                return (TaskExit::GaveUp { failures }, TaskEnd::GaveUp, Some(last_error));
            }
            RestartDecision::Escalate(Escalation::Shutdown) => {
                let error = format!("task `{name}` failed {failures} times in a row; last: {last_error}");
                trigger.trigger(ExitReason::Fatal { error: error.clone() });
                let how =
                    if last_error.starts_with("panicked: ") { TaskEnd::Panicked } else { TaskEnd::Failed };
                return (TaskExit::Escalated { failures }, how, Some(error));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            max_restarts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..RestartPolicy::default()
        }
    }

    #[track_caller]
    fn check(failures: u32, expected: RestartDecision) {
        assert_eq!(policy().decide(failures), expected, "after {failures} failures");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_then_escalates() {
        let restart = |attempt, ms| RestartDecision::Restart { attempt, backoff: Duration::from_millis(ms) };
        check(1, restart(1, 100));
        check(2, restart(2, 200));
        check(3, restart(3, 400));
        check(4, restart(4, 500));
        check(5, RestartDecision::Escalate(Escalation::Shutdown));
    }

    #[test]
    fn backoff_never_overflows() {
        let p = RestartPolicy { max_backoff: Duration::MAX, ..policy() };
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert!(p.backoff(u32::MAX) >= Duration::from_millis(100) * 1024);
    }

    #[test]
    fn zero_restarts_escalates_at_once() {
        let p = RestartPolicy { max_restarts: 0, on_exhausted: Escalation::GiveUp, ..policy() };
        assert_eq!(p.decide(1), RestartDecision::Escalate(Escalation::GiveUp));
    }
}
