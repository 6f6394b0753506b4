//! A fixed-capacity ring buffer of beat timestamps: the "recent beats" a late report carries.

use std::collections::VecDeque;

use trading_core::Timestamp;

/// The most recent beats of one task, oldest first, bounded by a fixed capacity.
///
/// The buffer is filled at registration with the registration time, so a task that never beat
/// still has a history to report (the seed's "no beat history" cannot happen).
#[derive(Debug, Clone)]
pub(crate) struct BeatHistory {
    beats: VecDeque<Timestamp>,
    capacity: usize,
    total: u64,
}

impl BeatHistory {
    /// A history that starts with `registered_at` and keeps at most `capacity` entries
    /// (a capacity of zero is treated as one: the newest entry is always kept).
    pub(crate) fn new(registered_at: Timestamp, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut beats = VecDeque::with_capacity(capacity);
        beats.push_back(registered_at);
        BeatHistory { beats, capacity, total: 0 }
    }

    /// Records one beat, dropping the oldest entry when full. Never allocates once full.
    pub(crate) fn record(&mut self, at: Timestamp) {
        if self.beats.len() == self.capacity {
            self.beats.pop_front();
        }
        self.beats.push_back(at);
        self.total = self.total.saturating_add(1);
    }

    /// The retained entries, oldest first.
    pub(crate) fn recent(&self) -> Vec<Timestamp> {
        self.beats.iter().copied().collect()
    }

    /// The newest entry (the registration time if the task never beat).
    pub(crate) fn last(&self) -> Option<Timestamp> {
        self.beats.back().copied()
    }

    /// Beats recorded since registration (the registration entry is not a beat).
    pub(crate) fn total_beats(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn starts_with_the_registration_time() {
        let h = BeatHistory::new(ts(7), 4);
        assert_eq!(h.recent(), vec![ts(7)]);
        assert_eq!(h.last(), Some(ts(7)));
        assert_eq!(h.total_beats(), 0);
    }

    #[test]
    fn keeps_the_newest_entries_oldest_first() {
        let mut h = BeatHistory::new(ts(0), 3);
        for ms in [10, 20, 30, 40] {
            h.record(ts(ms));
        }
        assert_eq!(h.recent(), vec![ts(20), ts(30), ts(40)]);
        assert_eq!(h.last(), Some(ts(40)));
        assert_eq!(h.total_beats(), 4);
    }

    #[test]
    fn zero_capacity_still_keeps_the_newest() {
        let mut h = BeatHistory::new(ts(1), 0);
        h.record(ts(2));
        assert_eq!(h.recent(), vec![ts(2)]);
    }
}
