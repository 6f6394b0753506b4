//! The `Clock` seam: every component reads time through it, so a simulated session can run
//! faster than real time and tests are deterministic.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::Timestamp;

/// A source of wall-clock time.
///
/// Implementations must be cheap (called on the market-data hot path) and thread-safe.
/// Time read from a clock may go backwards only if the implementation says so: [`SystemClock`]
/// follows the OS clock, [`ManualClock`] moves only when told.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock. The only place in the workspace that reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the system clock
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(chrono::Utc::now())
    }
}

/// A clock that moves only when told: for tests and for simulated sessions that run as fast as
/// the consumer pulls. Cloning shares the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: Timestamp) -> Self {
        ManualClock { ms: Arc::new(AtomicI64::new(start.as_millis())) }
    }

    /// Moves the clock forward by `by` and returns the new time.
    pub fn advance(&self, by: Duration) -> Timestamp {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let prev = self.ms.fetch_add(by, Ordering::SeqCst);
        Timestamp::from_millis(prev.saturating_add(by))
    }

    /// Sets the clock to `to` (which may be earlier: tests of out-of-order data need that).
    pub fn set(&self, to: Timestamp) {
        self.ms.store(to.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.ms.load(Ordering::SeqCst))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let clock = ManualClock::new(Timestamp::from_millis(10));
        let other = clock.clone();
        assert_eq!(clock.now(), Timestamp::from_millis(10));
        assert_eq!(other.advance(Duration::from_millis(5)), Timestamp::from_millis(15));
        assert_eq!(clock.now(), Timestamp::from_millis(15));
        clock.set(Timestamp::from_millis(3));
        assert_eq!(other.now(), Timestamp::from_millis(3));
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > Timestamp::from_millis(1_577_836_800_000));
    }

    #[test]
    fn clock_is_object_safe() {
        let c: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp::EPOCH));
        assert_eq!(c.now(), Timestamp::EPOCH);
    }
}

/// A clock that reads tokio's [`tokio::time::Instant`] from a fixed epoch (feature `tokio`).
///
/// Live, tokio's time is real time and this clock moves with it. Under tokio's paused time (a
/// simulated session on a current-thread runtime, or `#[tokio::test(start_paused = true)]`) it
/// moves only when the runtime auto-advances to the next timer, so a whole session is
/// reproducible and runs faster than real time. One code path for both.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    epoch: Timestamp,
    start: tokio::time::Instant,
}

#[cfg(feature = "tokio")]
impl TokioClock {
    /// A clock that reads `epoch` now and moves with tokio's time from here on.
    pub fn starting_at(epoch: Timestamp) -> Self {
        TokioClock { epoch, start: tokio::time::Instant::now() }
    }
}

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.epoch + self.start.elapsed()
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tokio_tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_moves_with_paused_time_only() {
        let clock = TokioClock::starting_at(Timestamp::from_millis(1_000));
        assert_eq!(clock.now(), Timestamp::from_millis(1_000));
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), Timestamp::from_millis(91_000));
    }
}
