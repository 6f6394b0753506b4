//! Event-loop lag: how late a timer that should have fired at a scheduled instant actually ran.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::SupervisorError;

/// Settings of the event-loop lag monitor.
///
/// The monitor sleeps until a scheduled instant, then measures how much later it actually woke
/// up. On a healthy runtime that is well under a millisecond; a task that blocks a worker thread
/// (synchronous IO, a long computation) shows up as lag. Lag above `threshold` produces
/// LOOP_LAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagConfig {
    /// Period of the probe timer (default 250 ms).
    pub tick_every: Duration,
    /// Lag at or below this is normal and not reported (default 100 ms).
    pub threshold: Duration,
}

impl Default for LagConfig {
    fn default() -> Self {
        LagConfig { tick_every: Duration::from_millis(250), threshold: Duration::from_millis(100) }
    }
}

impl LagConfig {
    pub(crate) fn validate(&self) -> Result<(), SupervisorError> {
        if self.tick_every.is_zero() {
            return Err(SupervisorError::InvalidConfig {
                field: "lag.tick_every",
                value: self.tick_every,
                allowed: "greater than zero",
            });
        }
        Ok(())
    }

    /// The lag of a wake-up at `actual` for a timer scheduled at `scheduled`, if it is above the
    /// threshold.
    pub(crate) fn excess_lag(&self, scheduled: Instant, actual: Instant) -> Option<Duration> {
        let lag = actual.saturating_duration_since(scheduled);
        (lag > self.threshold).then_some(lag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(lag_ms: u64, expected: Option<u64>) {
        let config =
            LagConfig { tick_every: Duration::from_millis(250), threshold: Duration::from_millis(100) };
        let scheduled = Instant::now();
        let actual = scheduled + Duration::from_millis(lag_ms);
        assert_eq!(
            config.excess_lag(scheduled, actual),
            expected.map(Duration::from_millis),
            "lag {lag_ms} ms"
        );
    }

    #[test]
    fn only_lag_above_the_threshold_counts() {
        check(0, None);
        check(100, None);
        check(101, Some(101));
        check(2_000, Some(2_000));
    }

    #[test]
    fn early_wake_up_is_no_lag() {
        let config = LagConfig { threshold: Duration::ZERO, ..LagConfig::default() };
        let scheduled = Instant::now() + Duration::from_secs(1);
        assert_eq!(config.excess_lag(scheduled, Instant::now()), None);
    }

    #[test]
    fn zero_tick_is_rejected() {
        let bad = LagConfig { tick_every: Duration::ZERO, ..LagConfig::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("lag.tick_every"));
    }
}
