//! The task registry: who is expected to beat, how often, when they last did, and how each
//! registered task ended.
//!
//! Lateness is measured on the [`Clock`]: a beat records `clock.now()`, a check compares it with
//! `clock.now()`. That makes one check usable from the runtime (simulated sessions, where the
//! clock follows tokio's paused time) and from the watchdog's own thread (live mode, where the
//! clock is the system clock); see [`Supervisor::start_watchdog_thread`](crate::Supervisor::start_watchdog_thread).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use telemetry::{Event, EventSink};
use trading_core::{Clock, Timestamp};

use crate::error::SupervisorError;
use crate::history::BeatHistory;

/// How a registered task ended: the `how` field of TASK_ENDED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskEnd {
    /// It finished its work (`Ok(())` from a supervised task, or [`Heartbeat::ended`]).
    Returned,
    /// It failed and, with restarts exhausted, escalated to a shutdown.
    Failed,
    /// It panicked (and is not restarted).
    Panicked,
    /// Restarts were exhausted and the policy gave up on it.
    GaveUp,
    /// The shutdown (or an abort of its supervisor) stopped it.
    Cancelled,
    /// Every [`Heartbeat`] handle went away without anyone saying how the task ended.
    Dropped,
}

impl TaskEnd {
    /// `returned`, `failed`, `panicked`, `gave_up`, `cancelled` or `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskEnd::Returned => "returned",
            TaskEnd::Failed => "failed",
            TaskEnd::Panicked => "panicked",
            TaskEnd::GaveUp => "gave_up",
            TaskEnd::Cancelled => "cancelled",
            TaskEnd::Dropped => "dropped",
        }
    }
}

/// Shared state of one registered task. Held by the registry (so its end stays visible in the
/// health snapshot) and by its [`Heartbeat`] handles.
#[derive(Debug)]
pub(crate) struct TaskSlot {
    name: String,
    expected: Duration,
    sink: Arc<dyn EventSink>,
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    /// Clock time of the last beat, registration or restart: what lateness is measured against.
    last_beat: Timestamp,
    /// Clock times of recent beats, for the report.
    history: BeatHistory,
    /// When the watchdog last reported this silence episode; cleared by a beat.
    reported_at: Option<Timestamp>,
    /// Waiting out a restart backoff: not expected to beat, never late.
    in_backoff: bool,
    /// Set once, when the task ended (TASK_ENDED was emitted then).
    ended: Option<TaskEnd>,
    /// Run by `spawn_supervised`, which reports the end itself: dropping the last handle does
    /// not end the task (the supervisor may drop its factory before it reports).
    supervised: bool,
}

/// What the watchdog sees of one task at one check.
#[derive(Debug, Clone)]
pub(crate) struct TaskView {
    pub(crate) name: String,
    pub(crate) expected: Duration,
    pub(crate) last_beat: Timestamp,
    pub(crate) silent_for: Duration,
    pub(crate) last_report_ago: Option<Duration>,
    pub(crate) recent_beats: Vec<Timestamp>,
    pub(crate) beats: u64,
    pub(crate) in_backoff: bool,
    pub(crate) ended: Option<TaskEnd>,
}

impl TaskSlot {
    /// A consistent snapshot at clock time `now`.
    pub(crate) fn view(&self, now: Timestamp) -> TaskView {
        let state = self.state.lock();
        TaskView {
            name: self.name.clone(),
            expected: self.expected,
            last_beat: state.last_beat,
            silent_for: now.saturating_since(state.last_beat),
            last_report_ago: state.reported_at.map(|at| now.saturating_since(at)),
            recent_beats: state.history.recent(),
            beats: state.history.total_beats(),
            in_backoff: state.in_backoff,
            ended: state.ended,
        }
    }

    /// Notes that the current silence was reported at `now`.
    pub(crate) fn mark_reported(&self, now: Timestamp) {
        self.state.lock().reported_at = Some(now);
    }

    /// The task is waiting out a restart backoff: the watchdog leaves it alone.
    pub(crate) fn enter_backoff(&self) {
        self.state.lock().in_backoff = true;
    }

    /// The task was restarted at `now`: it gets a full interval before it can be late.
    pub(crate) fn restarted(&self, now: Timestamp) {
        let mut state = self.state.lock();
        state.in_backoff = false;
        state.last_beat = now;
        state.reported_at = None;
    }

    /// Records the task's end and emits TASK_ENDED, once; later calls change nothing and
    /// return `false`.
    pub(crate) fn end(&self, how: TaskEnd, detail: Option<String>) -> bool {
        {
            let mut state = self.state.lock();
            if state.ended.is_some() {
                return false;
            }
            state.ended = Some(how);
            state.in_backoff = false;
        }
        emit_task_ended(&*self.sink, &self.name, how, detail);
        true
    }

    /// `spawn_supervised` runs this task and will report its end.
    pub(crate) fn mark_supervised(&self) {
        self.state.lock().supervised = true;
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.state.lock().ended.is_some()
    }
}

/// Emits TASK_ENDED (and says it in the log).
pub(crate) fn emit_task_ended(sink: &dyn EventSink, task: &str, how: TaskEnd, detail: Option<String>) {
    match how {
        TaskEnd::Returned | TaskEnd::Cancelled => {
            tracing::info!(task, how = how.as_str(), detail = detail.as_deref(), "task ended");
        }
        _ => tracing::warn!(task, how = how.as_str(), detail = detail.as_deref(), "task ended"),
    }
    sink.emit(Event::TaskEnded { task: task.to_owned(), how: how.as_str().to_owned(), detail });
}

/// Ends the slot as `dropped` (or `panicked`, when dropped while unwinding) once the last
/// [`Heartbeat`] clone goes away without an explicit end.
#[derive(Debug)]
struct EndOnDrop {
    slot: Arc<TaskSlot>,
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if self.slot.state.lock().supervised {
            return;
        }
        let how = if std::thread::panicking() { TaskEnd::Panicked } else { TaskEnd::Dropped };
        self.slot.end(how, None);
    }
}

/// The handle a long-running task beats through.
///
/// Obtained from [`Supervisor::register`](crate::Supervisor::register). Cloning shares the same
/// registration (useful when a supervised task is restarted: the factory clones the handle into
/// each attempt and the beat history survives the restart). A task that finishes on its own
/// says so with [`Heartbeat::ended`]; when every clone is dropped without that (and the task was
/// not run by [`Supervisor::spawn_supervised`](crate::Supervisor::spawn_supervised), which
/// reports the end itself) the task is reported as `dropped`. Either way TASK_ENDED is emitted
/// exactly once and the task leaves the watch list. [`Heartbeat::beat`] is cheap: one clock
/// read and one uncontended lock around a fixed-size ring buffer.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    guard: Arc<EndOnDrop>,
    clock: Arc<dyn Clock>,
}

impl Heartbeat {
    /// Records that the task is alive now.
    pub fn beat(&self) {
        let now = self.clock.now();
        let mut state = self.guard.slot.state.lock();
        state.last_beat = now;
        state.reported_at = None;
        state.history.record(now);
    }

    /// Reports that the task ended (`how`, with an error or message in `detail`): emits
    /// TASK_ENDED and takes the task off the watch list. Only the first end counts; returns
    /// whether this call was it.
    pub fn ended(&self, how: TaskEnd, detail: Option<String>) -> bool {
        self.guard.slot.end(how, detail)
    }

    /// The task's registered name.
    pub fn name(&self) -> &str {
        &self.guard.slot.name
    }

    /// The beat interval the task promised at registration.
    pub fn expected_interval(&self) -> Duration {
        self.guard.slot.expected
    }

    /// Beats recorded since registration (for tests and diagnostics).
    pub fn beats(&self) -> u64 {
        self.guard.slot.state.lock().history.total_beats()
    }

    /// Clock time of the last beat, or of registration if the task never beat.
    pub fn last_beat(&self) -> Option<Timestamp> {
        self.guard.slot.state.lock().history.last()
    }
}

/// All registered tasks, in registration order; ended ones stay (for the health snapshot)
/// until a task of the same name registers again.
#[derive(Debug, Default)]
pub(crate) struct TaskRegistry {
    slots: Mutex<Vec<Arc<TaskSlot>>>,
}

impl TaskRegistry {
    /// Registers `name`; the registration time is the first history entry.
    pub(crate) fn register(
        &self,
        name: &str,
        expected: Duration,
        history_len: usize,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn EventSink>,
    ) -> Result<Heartbeat, SupervisorError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(SupervisorError::EmptyTaskName);
        }
        if expected.is_zero() {
            return Err(SupervisorError::ZeroInterval { task: name.to_owned() });
        }
        let mut slots = self.slots.lock();
        if slots.iter().any(|slot| slot.name == name && !slot.is_ended()) {
            return Err(SupervisorError::DuplicateTask { task: name.to_owned() });
        }
        slots.retain(|slot| slot.name != name);
        let now = clock.now();
        let slot = Arc::new(TaskSlot {
            name: name.to_owned(),
            expected,
            sink,
            state: Mutex::new(SlotState {
                last_beat: now,
                history: BeatHistory::new(now, history_len),
                reported_at: None,
                in_backoff: false,
                ended: None,
                supervised: false,
            }),
        });
        slots.push(slot.clone());
        Ok(Heartbeat { guard: Arc::new(EndOnDrop { slot }), clock })
    }

    /// The tasks that have not ended, in registration order.
    pub(crate) fn live(&self) -> Vec<Arc<TaskSlot>> {
        self.slots.lock().iter().filter(|slot| !slot.is_ended()).cloned().collect()
    }

    /// Every task, ended ones included, in registration order.
    pub(crate) fn all(&self) -> Vec<Arc<TaskSlot>> {
        self.slots.lock().clone()
    }

    /// The live task registered as `name`, if any.
    pub(crate) fn find_live(&self, name: &str) -> Option<Arc<TaskSlot>> {
        let name = name.trim();
        self.slots.lock().iter().find(|slot| slot.name == name && !slot.is_ended()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use telemetry::MemorySink;
    use trading_core::ManualClock;

    use super::*;

    fn setup() -> (TaskRegistry, ManualClock, MemorySink) {
        (TaskRegistry::default(), ManualClock::new(Timestamp::from_millis(1_000)), MemorySink::new())
    }

    fn ended_events(sink: &MemorySink) -> Vec<(String, String, Option<String>)> {
        sink.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::TaskEnded { task, how, detail } => Some((task, how, detail)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn beats_update_history_and_silence() {
        let (reg, clock, sink) = setup();
        let hb =
            reg.register("feed", Duration::from_secs(1), 4, Arc::new(clock.clone()), Arc::new(sink)).unwrap();
        clock.advance(Duration::from_millis(300));
        hb.beat();
        clock.advance(Duration::from_millis(200));
        let view = reg.live()[0].view(clock.now());
        assert_eq!(view.name, "feed");
        assert_eq!(view.silent_for, Duration::from_millis(200));
        assert_eq!(view.recent_beats, vec![Timestamp::from_millis(1_000), Timestamp::from_millis(1_300)]);
        assert_eq!(hb.beats(), 1);
        assert_eq!(hb.last_beat(), Some(Timestamp::from_millis(1_300)));
    }

    #[test]
    fn rejects_bad_registrations() {
        let (reg, clock, sink) = setup();
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let sink: Arc<dyn EventSink> = Arc::new(sink);
        let err = reg.register("  ", Duration::from_secs(1), 4, clock.clone(), sink.clone()).unwrap_err();
        assert!(matches!(err, SupervisorError::EmptyTaskName));
        let err = reg.register("a", Duration::ZERO, 4, clock.clone(), sink.clone()).unwrap_err();
        assert!(matches!(err, SupervisorError::ZeroInterval { ref task } if task == "a"));
        let _hb = reg.register("a", Duration::from_secs(1), 4, clock.clone(), sink.clone()).unwrap();
        let err = reg.register("a", Duration::from_secs(1), 4, clock, sink).unwrap_err();
        assert!(err.to_string().contains("`a` is already registered"), "{err}");
    }

    #[test]
    fn dropping_every_handle_ends_the_task_with_an_event() {
        let (reg, clock, sink) = setup();
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let hb = reg.register("a", Duration::from_secs(1), 4, clock.clone(), Arc::new(sink.clone())).unwrap();
        let clone = hb.clone();
        drop(hb);
        assert_eq!(reg.live().len(), 1);
        assert!(ended_events(&sink).is_empty());
        drop(clone);
        assert!(reg.live().is_empty());
        assert_eq!(ended_events(&sink), vec![("a".to_owned(), "dropped".to_owned(), None)]);
        assert_eq!(reg.all()[0].view(clock.now()).ended, Some(TaskEnd::Dropped), "kept for the snapshot");
        assert!(reg.register("a", Duration::from_secs(1), 4, clock, Arc::new(sink)).is_ok());
        assert_eq!(reg.all().len(), 1, "the ended registration is replaced");
    }

    #[test]
    fn an_explicit_end_is_reported_once_and_the_drop_adds_nothing() {
        let (reg, clock, sink) = setup();
        let hb =
            reg.register("a", Duration::from_secs(1), 4, Arc::new(clock), Arc::new(sink.clone())).unwrap();
        assert!(hb.ended(TaskEnd::Returned, Some("done".into())));
        assert!(!hb.ended(TaskEnd::Failed, None));
        drop(hb);
        assert_eq!(
            ended_events(&sink),
            vec![("a".to_owned(), "returned".to_owned(), Some("done".to_owned()))]
        );
    }

    #[test]
    fn a_handle_dropped_while_panicking_reports_panicked() {
        let (reg, clock, sink) = setup();
        let hb =
            reg.register("a", Duration::from_secs(1), 4, Arc::new(clock), Arc::new(sink.clone())).unwrap();
        let result = std::thread::spawn(move || {
            let _hb = hb;
            panic!("task body exploded");
        })
        .join();
        assert!(result.is_err());
        assert_eq!(ended_events(&sink), vec![("a".to_owned(), "panicked".to_owned(), None)]);
    }

    #[test]
    fn a_beat_clears_the_report_mark_and_a_restart_resets_silence() {
        let (reg, clock, sink) = setup();
        let hb =
            reg.register("a", Duration::from_secs(1), 4, Arc::new(clock.clone()), Arc::new(sink)).unwrap();
        let slot = reg.live().remove(0);
        slot.mark_reported(clock.now());
        clock.advance(Duration::from_secs(1));
        assert_eq!(slot.view(clock.now()).last_report_ago, Some(Duration::from_secs(1)));
        hb.beat();
        assert_eq!(slot.view(clock.now()).last_report_ago, None);
        slot.enter_backoff();
        clock.advance(Duration::from_secs(9));
        assert!(slot.view(clock.now()).in_backoff);
        slot.restarted(clock.now());
        let view = slot.view(clock.now());
        assert!(!view.in_backoff);
        assert_eq!(view.silent_for, Duration::ZERO);
    }
}
