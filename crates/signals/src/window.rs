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
    #[inline(always)]
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

/// Entries of a [`MaxDeque`] kept in the struct itself: the newest ones, where a tick pushes and
/// pops.
const TAIL: usize = 8;

/// Entries a [`MaxDeque`] moves between its tail and its ring at once: half the tail, so the
/// tail has room both ways after a move.
const MOVE: usize = TAIL / 2;

/// Window high: bucket highs in decreasing order, oldest first; the front is the window high.
///
/// A tick pushes at the back and a rising tick pops from the back, so the newest entries (up to
/// [`TAIL`]) are kept in the struct itself, next to the rest of the symbol's state: a tick then
/// reads no other memory unless the tail runs empty or full, and then moves [`MOVE`] entries
/// from or to the ring at once (a per-symbol heap block: reading it on every rising tick was a
/// cache miss each time). The older entries live in a growable power-of-two ring of
/// `(bucket, high)` entries, which never holds more than the window's bucket count. The front
/// (the oldest entry, in the ring while it holds any) is cached too: it is read every tick.
#[derive(Debug, Clone, Default)]
pub(crate) struct MaxDeque {
    front_px: i128,
    front_k: i64,
    /// The newest entries, oldest first: `tail_*[..tail_len]`. Empty only when the deque is.
    tail_px: [i128; TAIL],
    tail_k: [i64; TAIL],
    tail_len: u32,
    /// Ring entries (all older than the tail) and the first one's index.
    head: u32,
    ring_len: u32,
    ring: Box<[(i64, i128)]>,
}

impl MaxDeque {
    #[inline]
    fn ring_mask(&self) -> usize {
        self.ring.len().wrapping_sub(1)
    }

    #[inline]
    fn at(&self, j: u32) -> (i64, i128) {
        self.ring[(self.head as usize + j as usize) & self.ring_mask()]
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, k: i64, px: i128, oldest: i64) {
        while self.tail_len > 0 && self.front_k < oldest {
            self.pop_front();
        }
        // pop the back while it is not above the new price
        while self.tail_len > 0 {
            let b = self.tail_len - 1;
            if self.tail_px[b as usize] > px {
                break;
            }
            self.tail_len = b;
            if b == 0 && self.ring_len > 0 {
                self.refill();
            }
        }
        // a later bucket is never behind the back, so a same-bucket back has a higher high
        let n = self.tail_len as usize;
        if n == 0 || self.tail_k[n - 1] != k {
            let n = if n == TAIL { self.spill() } else { n };
            self.tail_px[n] = px;
            self.tail_k[n] = k;
            self.tail_len = n as u32 + 1;
            if n == 0 && self.ring_len == 0 {
                (self.front_k, self.front_px) = (k, px);
            }
        }
    }

    /// Drops the front entry (the deque is not empty) and caches the next one.
    #[inline(never)]
    fn pop_front(&mut self) {
        if self.ring_len > 0 {
            self.head = (self.head + 1) & self.ring_mask() as u32;
            self.ring_len -= 1;
            (self.front_k, self.front_px) =
                if self.ring_len > 0 { self.at(0) } else { (self.tail_k[0], self.tail_px[0]) };
        } else {
            let n = self.tail_len as usize;
            self.tail_px.copy_within(1..n, 0);
            self.tail_k.copy_within(1..n, 0);
            self.tail_len -= 1;
            if self.tail_len > 0 {
                (self.front_k, self.front_px) = (self.tail_k[0], self.tail_px[0]);
            }
        }
    }

    /// Moves the newest ring entries (up to [`MOVE`]) into the empty tail.
    #[inline(never)]
    fn refill(&mut self) {
        let n = self.ring_len.min(MOVE as u32);
        let first = self.ring_len - n;
        for j in 0..n {
            let (k, px) = self.at(first + j);
            self.tail_k[j as usize] = k;
            self.tail_px[j as usize] = px;
        }
        self.ring_len = first;
        self.tail_len = n;
    }

    /// Moves the full tail's oldest [`MOVE`] entries to the ring's back; returns the tail's new
    /// length.
    #[inline(never)]
    fn spill(&mut self) -> usize {
        while self.ring_len as usize + MOVE > self.ring.len() {
            self.grow();
        }
        for j in 0..MOVE {
            let slot = (self.head as usize + self.ring_len as usize) & self.ring_mask();
            self.ring[slot] = (self.tail_k[j], self.tail_px[j]);
            self.ring_len += 1;
        }
        self.tail_px.copy_within(MOVE.., 0);
        self.tail_k.copy_within(MOVE.., 0);
        TAIL - MOVE
    }

    /// Doubles the ring (at least 8 entries), unwrapping it to start at index 0.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (self.ring.len() * 2).max(8);
        let mut ring = vec![(0_i64, 0_i128); cap];
        for (j, e) in ring.iter_mut().enumerate().take(self.ring_len as usize) {
            *e = self.at(j as u32);
        }
        self.ring = ring.into_boxed_slice();
        self.head = 0;
    }

    /// The window high and its bucket.
    #[inline]
    pub(crate) fn high(&self) -> Option<(i64, i128)> {
        (self.tail_len > 0).then_some((self.front_k, self.front_px))
    }

    pub(crate) fn len(&self) -> usize {
        self.ring_len as usize + self.tail_len as usize
    }
}

/// Window open: the first price of each bucket, oldest first; the front is the window open.
/// The front is cached in the struct, as in [`MaxDeque`]. Used for the crash guard's window;
/// the per-symbol trigger uses [`OpenSlots`].
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

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }
}

/// Window open for the trigger: one slot per bucket of the window (`span + 1` slots, bucket `b`
/// in slot `b mod (span + 1)`), holding the bucket's first price or 0 for a bucket without
/// ticks (prices are positive). Same answers as [`OpenRing`], but the slot a new bucket writes
/// is the one the expiring bucket frees, next to the slot the new window open is read from: a
/// tick touches one line of the ring instead of two far apart.
#[derive(Debug, Clone)]
pub(crate) struct OpenSlots {
    slots: Box<[i128]>,
    /// Bucket of the latest tick (`i64::MIN` before the first) and its slot.
    last_k: i64,
    cur: usize,
    /// The window open, its bucket and its slot.
    front_k: i64,
    front_px: i128,
    front_i: usize,
}

impl OpenSlots {
    pub(crate) fn new(span: i64) -> Self {
        let n = usize::try_from(span.saturating_add(1)).unwrap_or(1).max(1);
        OpenSlots {
            slots: vec![0; n].into_boxed_slice(),
            last_k: i64::MIN,
            cur: 0,
            front_k: i64::MIN,
            front_px: 0,
            front_i: 0,
        }
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    /// Records a tick of bucket `k` (never older than the latest) and returns the window open.
    #[inline(always)]
    pub(crate) fn push(&mut self, k: i64, px: i128) -> i128 {
        if k == self.last_k {
            return self.front_px;
        }
        let n = self.slots.len();
        let gap = k.saturating_sub(self.last_k);
        if gap >= n as i64 {
            // the whole window is new (first tick, or a gap longer than the window)
            if self.last_k != i64::MIN {
                self.slots.fill(0);
            }
            self.slots[0] = px;
            (self.last_k, self.cur) = (k, 0);
            (self.front_k, self.front_px, self.front_i) = (k, px, 0);
            return px;
        }
        // buckets skipped by the gap get no open
        for _ in 1..gap {
            self.cur = self.next(self.cur);
            self.slots[self.cur] = 0;
        }
        self.cur = self.next(self.cur);
        self.slots[self.cur] = px;
        self.last_k = k;
        let oldest = k - (n as i64 - 1);
        if self.front_k < oldest {
            // oldest - front_k <= gap < n, so one wrap at most
            let mut i = self.front_i + (oldest - self.front_k) as usize;
            if i >= n {
                i -= n;
            }
            let mut b = oldest;
            // stops at the latest bucket at the latest, whose slot was just written
            while self.slots[i] == 0 {
                i = self.next(i);
                b += 1;
            }
            (self.front_k, self.front_px, self.front_i) = (b, self.slots[i], i);
        }
        self.front_px
    }

    /// Buckets of the window holding an open.
    pub(crate) fn len(&self) -> usize {
        if self.last_k == i64::MIN {
            0
        } else {
            self.slots.iter().filter(|&&p| p != 0).count()
        }
    }
}

/// What one tick means for the trigger, before guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Older than the latest tick: ignored.
    OutOfOrder,
    /// `price / reference > DROP_TRIGGER_VALUE`.
    Above { reference: i128 },
    /// At or below the threshold, but this drop has already fired.
    AlreadyFired { reference: i128 },
    /// At or below the threshold and armed: a trigger unless a guard blocks it.
    Candidate { reference: i128 },
}

/// The mode's reference state; only the structure the mode needs is allocated.
#[derive(Debug, Clone)]
enum Reference {
    WindowHigh(MaxDeque),
    WindowOpen(OpenSlots),
    RunningHigh(i128),
    AnchorReset { highs: MaxDeque, anchor_k: i64, anchor_px: i128 },
}

/// The trigger threshold of the latest reference, recomputed only when the reference changes.
///
/// `price / reference <= value` is `px * 10^6 <= reference * N` (exact integers). For an integer
/// `px` and `D = 10^6 > 0`, `px * D > T` holds exactly when `px > floor(T / D)`, so the per-tick
/// test is one comparison against `cut = floor(reference * N / 10^6)`; the division runs only
/// when the reference moves (modes 1, 3 and 4, whose reference changes rarely; mode 2's open
/// changes with every bucket and keeps the two multiplications).
#[derive(Debug, Clone, Copy, Default)]
struct Cut {
    reference: i128,
    cut: i128,
}

impl Cut {
    /// `px * 10^6 > reference * ratio_num`, i.e. the price is above the trigger threshold.
    #[inline(always)]
    fn above(&mut self, reference: i128, px: i128, ratio_num: i128) -> bool {
        if reference != self.reference {
            self.update(reference, ratio_num);
        }
        px > self.cut
    }

    #[inline(never)]
    fn update(&mut self, reference: i128, ratio_num: i128) {
        self.reference = reference;
        // reference < 10^28 and ratio_num <= 10^6: the product is far below i128::MAX
        self.cut = (reference * ratio_num).div_euclid(RATIO_DEN);
    }
}

/// The trigger state of one symbol.
#[derive(Debug, Clone)]
pub(crate) struct TriggerState {
    clock: BucketClock,
    armed: bool,
    /// `DROP_TRIGGER_VALUE + DROP_TRIGGER_REARM_MARGIN` in millionths: while disarmed, a tick
    /// re-arms only when `price * 10^6 > reference * rearm_num`.
    rearm_num: i128,
    cut: Cut,
    reference: Reference,
}

impl TriggerState {
    pub(crate) fn new(cfg: &TriggerConfig) -> Self {
        let reference = match cfg.mode() {
            TriggerMode::WindowHigh => Reference::WindowHigh(MaxDeque::default()),
            TriggerMode::WindowOpen => Reference::WindowOpen(OpenSlots::new(cfg.buckets())),
            TriggerMode::RunningHigh => Reference::RunningHigh(0),
            TriggerMode::AnchorReset => {
                Reference::AnchorReset { highs: MaxDeque::default(), anchor_k: i64::MIN, anchor_px: 0 }
            }
        };
        TriggerState {
            clock: BucketClock::new(cfg.resolution_ms(), cfg.buckets()),
            armed: true,
            rearm_num: cfg.rearm_num(),
            cut: Cut::default(),
            reference,
        }
    }

    /// Feeds one tick (fixed-point price) and says whether it is a trigger candidate.
    #[inline(always)]
    pub(crate) fn step(&mut self, ratio_num: i128, ts: i64, px: i128) -> Step {
        let Some(k) = self.clock.locate(ts) else {
            return Step::OutOfOrder;
        };
        let oldest = self.clock.oldest(k);
        let cut = &mut self.cut;
        let (reference, above) = match &mut self.reference {
            Reference::WindowHigh(highs) => {
                highs.push(k, px, oldest);
                let reference = highs.high().map_or(px, |(_, h)| h);
                (reference, cut.above(reference, px, ratio_num))
            }
            // price / reference <= value  <=>  price * 10^6 <= reference * value * 10^6 (exact)
            Reference::WindowOpen(opens) => {
                let reference = opens.push(k, px);
                (reference, px * RATIO_DEN > reference * ratio_num)
            }
            Reference::RunningHigh(high) => {
                *high = (*high).max(px);
                (*high, cut.above(*high, px, ratio_num))
            }
            Reference::AnchorReset { highs, anchor_k, anchor_px } => {
                highs.push(k, px, oldest);
                if px > *anchor_px {
                    (*anchor_k, *anchor_px) = (k, px);
                } else if *anchor_k < oldest {
                    if let Some(high) = highs.high() {
                        (*anchor_k, *anchor_px) = high;
                    }
                }
                (*anchor_px, cut.above(*anchor_px, px, ratio_num))
            }
        };
        if above {
            if !self.armed {
                self.rearm(reference, px);
            }
            Step::Above { reference }
        } else if self.armed {
            Step::Candidate { reference }
        } else {
            Step::AlreadyFired { reference }
        }
    }

    /// Re-arm hysteresis: a disarmed symbol re-arms on a tick more than the margin above the
    /// threshold (exact integers, as the trigger test).
    #[cold]
    #[inline(never)]
    fn rearm(&mut self, reference: i128, px: i128) {
        if px * RATIO_DEN > reference * self.rearm_num {
            self.armed = true;
        }
    }

    /// The candidate of the last step (bucket `clock.k`) became a trigger. Every mode disarms
    /// until a tick is above the threshold by the re-arm margin; modes 3 and 4 also reset their
    /// reference to the trigger price (the next trigger needs a full new drop from there).
    pub(crate) fn fired(&mut self, px: i128) {
        self.armed = false;
        match &mut self.reference {
            Reference::RunningHigh(high) => *high = px,
            Reference::AnchorReset { anchor_k, anchor_px, .. } => {
                (*anchor_k, *anchor_px) = (self.clock.k, px)
            }
            Reference::WindowHigh(_) | Reference::WindowOpen(_) => {}
        }
    }

    /// Entries held in the ring buffers and their bound.
    pub(crate) fn buffer_len(&self) -> (usize, usize) {
        let len = match &self.reference {
            Reference::WindowHigh(highs) | Reference::AnchorReset { highs, .. } => highs.len(),
            Reference::WindowOpen(opens) => opens.len(),
            Reference::RunningHigh(_) => 0,
        };
        (len, self.clock.bound())
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
    fn max_deque_moves_entries_between_tail_and_ring() {
        let mut q = MaxDeque::default();
        // 40 falling buckets: the tail spills into the ring several times and the ring grows
        for k in 0..40_i64 {
            q.push(k, i128::from(1_000 - k), -100);
        }
        assert_eq!((q.len(), q.high()), (40, Some((0, 1_000))));
        assert!(q.ring_len > 0 && q.tail_len as usize <= TAIL);
        // a rise above the last 15 entries empties the tail twice, refilled from the ring
        q.push(40, 975, -100);
        assert_eq!((q.len(), q.high()), (26, Some((0, 1_000))));
        // the window moves past bucket 5: the front comes from the ring
        q.push(41, 1, 5);
        assert_eq!((q.len(), q.high()), (22, Some((5, 995))));
        // past bucket 40: the ring empties and the front comes from the tail; the equal price
        // of bucket 41 gives way to bucket 42's
        q.push(42, 1, 40);
        assert_eq!((q.len(), q.high()), (2, Some((40, 975))));
        // a rise above everything empties it down to the new entry
        q.push(43, 2_000, 40);
        assert_eq!((q.len(), q.high()), (1, Some((43, 2_000))));
    }

    /// The deque-based window high this ring replaced, kept as the reference for its answers
    /// (with the same-bucket fix both received: a lower tick in the front's bucket no longer
    /// overwrites the cached high).
    #[derive(Default)]
    struct RefMaxDeque {
        q: VecDeque<(i64, i128)>,
        front: Option<(i64, i128)>,
    }

    impl RefMaxDeque {
        fn push(&mut self, k: i64, px: i128, oldest: i64) {
            while self.front.is_some_and(|(fk, _)| fk < oldest) {
                self.q.pop_front();
                self.front = self.q.front().copied();
            }
            while self.q.back().is_some_and(|&(_, h)| h <= px) {
                self.q.pop_back();
            }
            if self.q.back().is_none_or(|&(bk, _)| bk != k) {
                self.q.push_back((k, px));
                if self.q.len() == 1 {
                    self.front = Some((k, px));
                }
            }
        }
    }

    /// How far the property tests move the bucket: same bucket, the next one, a short gap, or a
    /// gap that can outrun the window.
    fn bucket_step(kind: i64, long: i64) -> i64 {
        match kind {
            0 => 0,
            1 => 1,
            2 => long,
            _ => 3 * long,
        }
    }

    proptest::proptest! {
        /// The ring answers exactly as the `VecDeque` version it replaced, through growth,
        /// wrap-around, same-bucket ticks and gaps.
        #[test]
        fn max_ring_matches_the_deque_it_replaced(
            span in 0_i64..40,
            steps in proptest::collection::vec((0_i64..4, 0_i64..12, 1_i128..50), 1..300),
        ) {
            let mut reference = RefMaxDeque::default();
            let mut ring = MaxDeque::default();
            let mut seen: Vec<(i64, i128)> = Vec::new();
            let mut k = -3;
            for (kind, long, px) in steps {
                k += bucket_step(kind, long);
                reference.push(k, px, k - span);
                ring.push(k, px, k - span);
                seen.push((k, px));
                proptest::prop_assert_eq!(ring.high(), reference.front);
                proptest::prop_assert_eq!(ring.len(), reference.q.len());
                // And both are right: the high is the highest price of any tick still in the
                // window, however many ticks share a bucket.
                let truth = seen.iter().filter(|(sk, _)| *sk >= k - span).map(|(_, p)| *p).max();
                proptest::prop_assert_eq!(ring.high().map(|(_, p)| p), truth);
            }
        }

        /// The same on a random walk, whose decreasing runs are long: the tail spills into the
        /// ring, refills from it and the ring grows, over windows longer than the tail.
        #[test]
        fn max_ring_matches_the_deque_on_a_walk(
            span in 0_i64..200,
            steps in proptest::collection::vec((0_i64..4, 0_i64..12, -3_i128..=3), 1..1500),
        ) {
            let mut reference = RefMaxDeque::default();
            let mut ring = MaxDeque::default();
            let (mut k, mut px) = (0_i64, 1_000_i128);
            for (kind, long, delta) in steps {
                k += bucket_step(kind, long);
                px = (px + delta).max(1);
                reference.push(k, px, k - span);
                ring.push(k, px, k - span);
                proptest::prop_assert_eq!(ring.high(), reference.front);
                proptest::prop_assert_eq!(ring.len(), reference.q.len());
            }
        }

        /// The cached cut decides exactly as the two multiplications it replaces, including
        /// prices on the threshold and reference changes in any order.
        #[test]
        fn cut_matches_the_multiplication(
            ratio_num in 1_i128..=1_000_000,
            pairs in proptest::collection::vec((1_i128..10_i128.pow(28), -2_i128..3), 1..50),
        ) {
            let mut cut = Cut::default();
            for (reference, delta) in pairs {
                // prices next to the threshold, so both sides and the exact boundary are hit
                let px = (reference * ratio_num / RATIO_DEN + delta).max(1);
                proptest::prop_assert_eq!(
                    cut.above(reference, px, ratio_num),
                    px * RATIO_DEN > reference * ratio_num
                );
            }
        }

        /// The slot ring answers exactly as the deque of bucket opens, through same-bucket
        /// ticks, one-bucket steps, short gaps and gaps longer than the window.
        #[test]
        fn open_slots_match_open_ring(
            span in 0_i64..6,
            steps in proptest::collection::vec((0_i64..4, 0_i64..12, 1_i128..50), 1..200),
        ) {
            let mut ring = OpenRing::default();
            let mut slots = OpenSlots::new(span);
            let mut k = -3;
            for (kind, long, px) in steps {
                k += bucket_step(kind, long);
                ring.push(k, px, k - span);
                let open = slots.push(k, px);
                proptest::prop_assert_eq!(Some(open), ring.open());
                proptest::prop_assert_eq!(slots.len(), ring.len());
            }
        }
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
