//! The feed's weight budget: a token bucket on tokio's time, and the venue-wide pause after a
//! 429 or 418.
//!
//! The bucket refills at `share x venue budget / window` and holds at most one second of
//! refill (and never less than the largest single request), so over any venue window the feed
//! spends at most its share plus that small burst: with the default 90 % share the sum stays
//! under the venue's limit even when orders use the rest. Waiting is `tokio::time`, so under
//! paused time the pacing is exact and instantaneous.

use std::time::Duration;

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::time::Instant;

/// The venue-wide silence after a 429 or 418, shared by every budget of one feed.
#[derive(Debug, Default)]
pub(crate) struct Pause(Mutex<Option<Instant>>);

impl Pause {
    /// The instant the pause ends, if one is in force.
    pub(crate) fn until(&self) -> Option<Instant> {
        let mut p = self.0.lock();
        match *p {
            Some(until) if until > Instant::now() => Some(until),
            Some(_) => {
                *p = None;
                None
            }
            None => None,
        }
    }

    /// Stops every request until `until` (a later pause wins over an earlier one).
    pub(crate) fn extend_to(&self, until: Instant) {
        let mut p = self.0.lock();
        if p.is_none_or(|u| u < until) {
            *p = Some(until);
        }
    }
}

/// What [`WeightBudget::acquire`] answers when it does not grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// The venue told us to be silent until this instant.
    Paused(Instant),
}

#[derive(Debug)]
struct State {
    /// Available weight in micro-units (1 weight = 1_000_000); negative after a request larger
    /// than the burst (a debt the next requests wait for).
    micros: i128,
    last: Instant,
}

/// A token bucket of request weight.
#[derive(Debug)]
pub(crate) struct WeightBudget {
    /// Refill in micro-weight per nanosecond, as a ratio `num / den`.
    per_window_micros: u128,
    window_nanos: u128,
    capacity_micros: u128,
    state: Mutex<State>,
    pause: Arc<Pause>,
    /// Serializes waiters so that the order of requests is first come, first served.
    queue: tokio::sync::Mutex<()>,
}

const MICRO: u128 = 1_000_000;

impl WeightBudget {
    /// `weight_per_window` units per `window`; bursts up to one second of refill, at least
    /// `largest_request`.
    pub(crate) fn new(
        weight_per_window: u64,
        window: Duration,
        largest_request: u32,
        pause: Arc<Pause>,
    ) -> Self {
        let window_nanos = window.as_nanos().max(1);
        let per_window_micros = u128::from(weight_per_window.max(1)) * MICRO;
        let one_second = per_window_micros * 1_000_000_000 / window_nanos;
        let capacity_micros = one_second.max(u128::from(largest_request.max(1)) * MICRO);
        WeightBudget {
            per_window_micros,
            window_nanos,
            capacity_micros,
            state: Mutex::new(State {
                micros: i128::try_from(capacity_micros).unwrap_or(i128::MAX),
                last: Instant::now(),
            }),
            pause,
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// Weight per minute this budget grants in the long run.
    pub(crate) fn per_minute(&self) -> f64 {
        self.per_window_micros as f64 / MICRO as f64 * 60e9 / self.window_nanos as f64
    }

    fn capacity(&self) -> i128 {
        i128::try_from(self.capacity_micros).unwrap_or(i128::MAX)
    }

    fn refill(&self, s: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(s.last).as_nanos();
        s.last = now;
        let add = i128::try_from(elapsed * self.per_window_micros / self.window_nanos).unwrap_or(i128::MAX);
        s.micros = s.micros.saturating_add(add).min(self.capacity());
    }

    /// Waits until `weight` fits and takes it. Refuses at once (without waiting) while the
    /// venue pause is in force, and when a pause starts while waiting.
    pub(crate) async fn acquire(&self, weight: u32) -> Result<(), Denied> {
        let need = i128::from(weight) * 1_000_000;
        let _turn = self.queue.lock().await;
        loop {
            let wait = {
                if let Some(until) = self.pause.until() {
                    return Err(Denied::Paused(until));
                }
                let mut s = self.state.lock();
                let now = Instant::now();
                self.refill(&mut s, now);
                // A request larger than the burst waits for a full bucket and leaves a debt.
                if s.micros >= need.min(self.capacity()) {
                    s.micros -= need;
                    return Ok(());
                }
                let missing = u128::try_from(need.min(self.capacity()) - s.micros).unwrap_or(0);
                // Round up so that the bucket really holds what is needed after the wait.
                let nanos = (missing * self.window_nanos).div_ceil(self.per_window_micros);
                Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_to_the_rate_after_the_burst() {
        // 600 per minute = 10 per second; burst = 10.
        let b = WeightBudget::new(600, Duration::from_secs(60), 2, Arc::default());
        let start = Instant::now();
        for _ in 0..5 {
            b.acquire(2).await.unwrap(); // the burst: 10 weight at once
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..10 {
            b.acquire(2).await.unwrap(); // 20 more weight at 10/s
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert!((b.per_minute() - 600.0).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_refuses_until_it_ends() {
        let pause = Arc::new(Pause::default());
        let b = WeightBudget::new(6000, Duration::from_secs(60), 4, pause.clone());
        let until = Instant::now() + Duration::from_secs(3);
        pause.extend_to(until);
        pause.extend_to(Instant::now() + Duration::from_secs(1)); // an earlier end does not shorten it
        assert_eq!(b.acquire(1).await, Err(Denied::Paused(until)));
        assert_eq!(pause.until(), Some(until));
        tokio::time::sleep(Duration::from_millis(2999)).await;
        assert!(b.acquire(1).await.is_err());
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(b.acquire(1).await, Ok(()));
        assert_eq!(pause.until(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_larger_than_the_burst_waits_for_a_full_bucket() {
        let b = WeightBudget::new(60, Duration::from_secs(60), 1, Arc::default()); // 1 per second, burst 1
        let start = Instant::now();
        b.acquire(1).await.unwrap();
        b.acquire(80).await.unwrap(); // waits for a full bucket, then owes the rest
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        b.acquire(1).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(81));
    }
}
