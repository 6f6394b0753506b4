//! Per-symbol trigger state: the lookback window as time buckets, a monotonic deque for the
//! window high, a ring of bucket opens for the window open, the running high and the anchor.
//!
//! Everything here works on fixed-point prices (`crate::fixed`) and integer bucket numbers, so a
//! tick costs a few integer comparisons and at most one `i64` division (when it starts a new
//! bucket), and never allocates once the deques have grown to their bound.

use std::collections::VecDeque;

use crate::config::{TriggerConfig, TriggerMode, RATIO_DEN};

/// Time buckets of a window: bucket `k` covers `[k * res, (k + 1) * res)` ms.
#[derive(Debug, Clone)]
pub(crate) struct BucketClock {
    res: i64,
    /// Buckets before the current one that are still inside the window.
    span: i64,
    last_ts: i64,
    k: i64,
    end: i64,
}

impl BucketClock {
    pub(crate) fn new(res: i64, span: i64) -> Self {
        BucketClock { res, span, last_ts: i64::MIN, k: i64::MIN, end: i64::MIN }
    }

    /// The bucket of `ts`, or `None` when `ts` is older than the latest tick (out of order).
    #[inline]
    pub(crate) fn locate(&mut self, ts: i64) -> Option<i64> {
        if ts < self.last_ts {
            return None;
        }
        self.last_ts = ts;
        if ts >= self.end {
            // the common next-bucket case avoids the division
            if ts < self.end.saturating_add(self.res) {
                self.k += 1;
            } else {
                self.k = ts.div_euclid(self.res);
            }
            self.end = (self.k + 1) * self.res;
        }
        Some(self.k)
    }

    /// Oldest bucket still inside the window when the current bucket is `k`.
    #[inline]
    pub(crate) fn oldest(&self, k: i64) -> i64 {
        k - self.span
    }

    /// Most buckets a window holds.
    pub(crate) fn bound(&self) -> usize {
        usize::try_from(self.span + 1).unwrap_or(usize::MAX)
    }
}

/// Window high: bucket highs in decreasing order, oldest first; the front is the window high.
///
/// The front is also kept in the struct itself: it is the oldest entry, so its heap line is
/// the one least likely to be in cache, and it is needed on every tick.
#[derive(Debug, Clone, Default)]
pub(crate) struct MaxDeque {
    q: VecDeque<(i64, i128)>,
    front: Option<(i64, i128)>,
}

impl MaxDeque {
    #[inline]
    pub(crate) fn push(&mut self, k: i64, px: i128, oldest: i64) {
        while self.front.is_some_and(|(fk, _)| fk < oldest) {
            self.q.pop_front();
            self.front = self.q.front().copied();
        }
        let q = &mut self.q;
        while q.back().is_some_and(|&(_, h)| h <= px) {
            q.pop_back();
        }
        // a later bucket is never behind the back, so a same-bucket back has a higher high
        if q.back().is_none_or(|&(bk, _)| bk != k) {
            q.push_back((k, px));
        }
        if q.len() == 1 {
            self.front = Some((k, px));
        }
    }

    /// The window high and its bucket.
    #[inline]
    pub(crate) fn high(&self) -> Option<(i64, i128)> {
        self.front
    }

    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }
}

/// Window open: the first price of each bucket, oldest first; the front is the window open.
/// The front is cached in the struct, as in [`MaxDeque`].
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenRing {
    q: VecDeque<(i64, i128)>,
    front: Option<(i64, i128)>,
}

impl OpenRing {
    #[inline]
    pub(crate) fn push(&mut self, k: i64, px: i128, oldest: i64) {
        while self.front.is_some_and(|(fk, _)| fk < oldest) {
            self.q.pop_front();
            self.front = self.q.front().copied();
        }
        if self.q.back().is_none_or(|&(bk, _)| bk != k) {
            self.q.push_back((k, px));
            if self.q.len() == 1 {
                self.front = Some((k, px));
            }
        }
    }

    #[inline]
    pub(crate) fn open(&self) -> Option<i128> {
        self.front.map(|(_, p)| p)
    }

    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }
}

/// What one tick means for the trigger, before guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Older than the latest tick: ignored.
    OutOfOrder,
    /// `price / reference > DROP_TRIGGER_VALUE`.
    Above,
    /// At or below the threshold, but this drop has already fired.
    AlreadyFired { reference: i128 },
    /// At or below the threshold and armed: a trigger unless a guard blocks it.
    Candidate { reference: i128 },
}

/// The trigger state of one symbol.
#[derive(Debug, Clone)]
pub(crate) struct TriggerState {
    clock: BucketClock,
    highs: MaxDeque,
    opens: OpenRing,
    running_high: i128,
    anchor: (i64, i128),
    armed: bool,
    last_k: i64,
}

impl TriggerState {
    pub(crate) fn new(cfg: &TriggerConfig) -> Self {
        TriggerState {
            clock: BucketClock::new(cfg.resolution_ms(), cfg.buckets()),
            highs: MaxDeque::default(),
            opens: OpenRing::default(),
            running_high: 0,
            anchor: (i64::MIN, 0),
            armed: true,
            last_k: 0,
        }
    }

    /// Feeds one tick (fixed-point price) and says whether it is a trigger candidate.
    #[inline]
    pub(crate) fn step(&mut self, mode: TriggerMode, ratio_num: i128, ts: i64, px: i128) -> Step {
        let Some(k) = self.clock.locate(ts) else {
            return Step::OutOfOrder;
        };
        self.last_k = k;
        let oldest = self.clock.oldest(k);
        let reference = match mode {
            TriggerMode::WindowHigh => {
                self.highs.push(k, px, oldest);
                self.highs.high().map_or(px, |(_, h)| h)
            }
            TriggerMode::WindowOpen => {
                self.opens.push(k, px, oldest);
                self.opens.open().unwrap_or(px)
            }
            TriggerMode::RunningHigh => {
                self.running_high = self.running_high.max(px);
                self.running_high
            }
            TriggerMode::AnchorReset => {
                self.highs.push(k, px, oldest);
                if px > self.anchor.1 {
                    self.anchor = (k, px);
                } else if self.anchor.0 < oldest {
                    if let Some(high) = self.highs.high() {
                        self.anchor = high;
                    }
                }
                self.anchor.1
            }
        };
        // price / reference <= value  <=>  price * 10^6 <= reference * value * 10^6 (exact)
        if px * RATIO_DEN > reference * ratio_num {
            self.armed = true;
            Step::Above
        } else if self.armed {
            Step::Candidate { reference }
        } else {
            Step::AlreadyFired { reference }
        }
    }

    /// The candidate of the last step became a trigger. Modes 1 and 2 disarm until the price is
    /// above the threshold again; modes 3 and 4 reset their reference to the trigger price, which
    /// ends this drop by itself (the next trigger needs a full new drop from that price).
    pub(crate) fn fired(&mut self, mode: TriggerMode, px: i128) {
        match mode {
            TriggerMode::RunningHigh => self.running_high = px,
            TriggerMode::AnchorReset => self.anchor = (self.last_k, px),
            TriggerMode::WindowHigh | TriggerMode::WindowOpen => self.armed = false,
        }
    }

    /// Entries held in the ring buffers and their bound.
    pub(crate) fn buffer_len(&self) -> (usize, usize) {
        (self.highs.len().max(self.opens.len()), self.clock.bound())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_clock_handles_next_bucket_gaps_and_order() {
        let mut c = BucketClock::new(1_000, 3);
        assert_eq!(c.locate(5_500), Some(5));
        assert_eq!(c.locate(5_999), Some(5));
        assert_eq!(c.locate(6_000), Some(6));
        assert_eq!(c.locate(5_999), None);
        assert_eq!(c.locate(60_000), Some(60));
        assert_eq!(c.locate(60_000), Some(60));
        assert_eq!(c.oldest(60), 57);
        assert_eq!(c.bound(), 4);
        let mut neg = BucketClock::new(1_000, 3);
        assert_eq!(neg.locate(-1), Some(-1));
    }

    #[test]
    fn max_deque_tracks_window_high_and_expires() {
        let mut q = MaxDeque::default();
        q.push(0, 10, -2);
        q.push(1, 8, -1);
        q.push(2, 9, 0);
        assert_eq!(q.high(), Some((0, 10)));
        q.push(3, 7, 1); // bucket 0 left the window
        assert_eq!(q.high(), Some((2, 9)));
        q.push(3, 12, 1); // same bucket, higher: replaces the bucket's high
        assert_eq!(q.high(), Some((3, 12)));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn open_ring_keeps_first_price_of_oldest_bucket() {
        let mut r = OpenRing::default();
        r.push(0, 10, -2);
        r.push(0, 11, -2);
        r.push(1, 12, -1);
        assert_eq!(r.open(), Some(10));
        r.push(3, 13, 1);
        assert_eq!(r.open(), Some(12));
        assert_eq!(r.len(), 2);
    }
}
