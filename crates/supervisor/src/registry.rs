//! The task registry: who is expected to beat, how often, and when they last did.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;
use trading_core::{Clock, Timestamp};

use crate::error::SupervisorError;
use crate::history::BeatHistory;

/// Shared state of one registered task. Held strongly by its [`Heartbeat`] handles and weakly by
/// the registry, so a task whose handles are all dropped leaves the watch list by itself.
#[derive(Debug)]
pub(crate) struct TaskSlot {
    name: String,
    expected: Duration,
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    /// Monotonic time of the last beat (or registration): what lateness is measured against.
    last_beat: Instant,
    /// Wall-clock times of recent beats, for the report.
    history: BeatHistory,
    /// When the watchdog last reported this silence episode; cleared by a beat.
    reported_at: Option<Instant>,
}

/// What the watchdog sees of one task at one check.
#[derive(Debug, Clone)]
pub(crate) struct TaskView {
    pub(crate) name: String,
    pub(crate) expected: Duration,
    pub(crate) silent_for: Duration,
    pub(crate) last_report_ago: Option<Duration>,
    pub(crate) recent_beats: Vec<Timestamp>,
}

impl TaskSlot {
    /// A consistent snapshot at monotonic time `now`.
    pub(crate) fn view(&self, now: Instant) -> TaskView {
        let state = self.state.lock();
        TaskView {
            name: self.name.clone(),
            expected: self.expected,
            silent_for: now.saturating_duration_since(state.last_beat),
            last_report_ago: state.reported_at.map(|at| now.saturating_duration_since(at)),
            recent_beats: state.history.recent(),
        }
    }

    /// Notes that the current silence was reported at `now`.
    pub(crate) fn mark_reported(&self, now: Instant) {
        self.state.lock().reported_at = Some(now);
    }
}

/// The handle a long-running task beats through.
///
/// Obtained from [`Supervisor::register`](crate::Supervisor::register). Cloning shares the same
/// registration (useful when a supervised task is restarted: the factory clones the handle into
/// each attempt and the beat history survives the restart). When every clone is dropped the task
/// leaves the watch list. [`Heartbeat::beat`] is cheap: one clock read, one monotonic read and
/// one uncontended lock around a fixed-size ring buffer.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    slot: Arc<TaskSlot>,
    clock: Arc<dyn Clock>,
}

impl Heartbeat {
    /// Records that the task is alive now.
    pub fn beat(&self) {
        let wall = self.clock.now();
        let now = Instant::now();
        let mut state = self.slot.state.lock();
        state.last_beat = now;
        state.reported_at = None;
        state.history.record(wall);
    }

    /// The task's registered name.
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// The beat interval the task promised at registration.
    pub fn expected_interval(&self) -> Duration {
        self.slot.expected
    }

    /// Beats recorded since registration (for tests and diagnostics).
    pub fn beats(&self) -> u64 {
        self.slot.state.lock().history.total_beats()
    }

    /// Wall-clock time of the last beat, or of registration if the task never beat.
    pub fn last_beat(&self) -> Option<Timestamp> {
        self.slot.state.lock().history.last()
    }
}

/// All registered tasks, held weakly.
#[derive(Debug, Default)]
pub(crate) struct TaskRegistry {
    slots: Mutex<Vec<Weak<TaskSlot>>>,
}

impl TaskRegistry {
    /// Registers `name`; the registration time is the first history entry.
    pub(crate) fn register(
        &self,
        name: &str,
        expected: Duration,
        history_len: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Heartbeat, SupervisorError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(SupervisorError::EmptyTaskName);
        }
        if expected.is_zero() {
            return Err(SupervisorError::ZeroInterval { task: name.to_owned() });
        }
        let mut slots = self.slots.lock();
        slots.retain(|weak| weak.strong_count() > 0);
        if slots.iter().filter_map(Weak::upgrade).any(|slot| slot.name == name) {
            return Err(SupervisorError::DuplicateTask { task: name.to_owned() });
        }
        let slot = Arc::new(TaskSlot {
            name: name.to_owned(),
            expected,
            state: Mutex::new(SlotState {
                last_beat: Instant::now(),
                history: BeatHistory::new(clock.now(), history_len),
                reported_at: None,
            }),
        });
        slots.push(Arc::downgrade(&slot));
        Ok(Heartbeat { slot, clock })
    }

    /// The live tasks, in registration order; forgets tasks whose handles are gone.
    pub(crate) fn live(&self) -> Vec<Arc<TaskSlot>> {
        let mut slots = self.slots.lock();
        slots.retain(|weak| weak.strong_count() > 0);
        slots.iter().filter_map(Weak::upgrade).collect()
    }
}

#[cfg(test)]
mod tests {
    use trading_core::ManualClock;

    use super::*;

    fn setup() -> (TaskRegistry, ManualClock) {
        (TaskRegistry::default(), ManualClock::new(Timestamp::from_millis(1_000)))
    }

    #[tokio::test(start_paused = true)]
    async fn beats_update_history_and_silence() {
        let (reg, clock) = setup();
        let hb = reg.register("feed", Duration::from_secs(1), 4, Arc::new(clock.clone())).unwrap();
        tokio::time::advance(Duration::from_millis(300)).await;
        clock.advance(Duration::from_millis(300));
        hb.beat();
        tokio::time::advance(Duration::from_millis(200)).await;
        let view = reg.live()[0].view(Instant::now());
        assert_eq!(view.name, "feed");
        assert_eq!(view.silent_for, Duration::from_millis(200));
        assert_eq!(view.recent_beats, vec![Timestamp::from_millis(1_000), Timestamp::from_millis(1_300)]);
        assert_eq!(hb.beats(), 1);
        assert_eq!(hb.last_beat(), Some(Timestamp::from_millis(1_300)));
    }

    #[test]
    fn rejects_bad_registrations() {
        let (reg, clock) = setup();
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let err = reg.register("  ", Duration::from_secs(1), 4, clock.clone()).unwrap_err();
        assert!(matches!(err, SupervisorError::EmptyTaskName));
        let err = reg.register("a", Duration::ZERO, 4, clock.clone()).unwrap_err();
        assert!(matches!(err, SupervisorError::ZeroInterval { ref task } if task == "a"));
        let _hb = reg.register("a", Duration::from_secs(1), 4, clock.clone()).unwrap();
        let err = reg.register("a", Duration::from_secs(1), 4, clock).unwrap_err();
        assert!(err.to_string().contains("`a` is already registered"), "{err}");
    }

    #[test]
    fn dropping_every_handle_unregisters() {
        let (reg, clock) = setup();
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let hb = reg.register("a", Duration::from_secs(1), 4, clock.clone()).unwrap();
        let clone = hb.clone();
        drop(hb);
        assert_eq!(reg.live().len(), 1);
        drop(clone);
        assert!(reg.live().is_empty());
        assert!(reg.register("a", Duration::from_secs(1), 4, clock).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_beat_clears_the_report_mark() {
        let (reg, clock) = setup();
        let hb = reg.register("a", Duration::from_secs(1), 4, Arc::new(clock)).unwrap();
        let slot = reg.live().remove(0);
        slot.mark_reported(Instant::now());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(slot.view(Instant::now()).last_report_ago, Some(Duration::from_secs(1)));
        hb.beat();
        assert_eq!(slot.view(Instant::now()).last_report_ago, None);
    }
}
