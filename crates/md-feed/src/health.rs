//! Request statistics: the MD_HEALTH window (success rate, HDR-histogram latency percentiles,
//! weight) and the whole-run cycle histogram of [`crate::FeedSummary`].

use std::time::Duration;

use hdrhistogram::Histogram;
use rust_decimal::Decimal;

/// Microseconds, at least 1 (the histogram's lowest trackable value), at most one hour.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, 3_600_000_000)
}

/// An HDR histogram of durations, recorded in microseconds (1 us .. 1 h, 3 significant
/// digits) and read in whole milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct Millis(Option<Histogram<u64>>);

impl Millis {
    pub(crate) fn new() -> Self {
        Millis(Histogram::new_with_bounds(1, 3_600_000_000, 3).ok())
    }

    pub(crate) fn record(&mut self, d: Duration) {
        if let Some(h) = self.0.as_mut() {
            // The value is clamped into the bounds, so recording cannot fail.
            let _ = h.record(micros(d));
        }
    }

    pub(crate) fn quantile(&self, q: f64) -> u64 {
        self.0.as_ref().map_or(0, |h| if h.is_empty() { 0 } else { h.value_at_quantile(q) / 1000 })
    }

    pub(crate) fn max(&self) -> u64 {
        self.0.as_ref().map_or(0, |h| h.max() / 1000)
    }

    pub(crate) fn count(&self) -> u64 {
        self.0.as_ref().map_or(0, Histogram::len)
    }

    pub(crate) fn reset(&mut self) {
        if let Some(h) = self.0.as_mut() {
            h.reset();
        }
    }
}

/// One MD_HEALTH window.
#[derive(Debug, Clone)]
pub(crate) struct HealthWindow {
    pub(crate) requests: u64,
    pub(crate) succeeded: u64,
    pub(crate) weight: u64,
    pub(crate) latency: Millis,
    /// Every cycle that finished in the window (the report's cycle percentiles).
    pub(crate) cycles: Millis,
}

impl HealthWindow {
    pub(crate) fn new() -> Self {
        HealthWindow { requests: 0, succeeded: 0, weight: 0, latency: Millis::new(), cycles: Millis::new() }
    }

    pub(crate) fn success_rate(&self) -> Decimal {
        if self.requests == 0 {
            return Decimal::ONE;
        }
        (Decimal::from(self.succeeded) / Decimal::from(self.requests)).round_dp(4)
    }

    pub(crate) fn reset(&mut self) {
        self.requests = 0;
        self.succeeded = 0;
        self.weight = 0;
        self.latency.reset();
        self.cycles.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_the_histogram() {
        let mut w = HealthWindow::new();
        for i in 1..=100u64 {
            w.latency.record(Duration::from_millis(i));
            w.requests += 1;
            w.succeeded += u64::from(i % 10 != 0);
        }
        assert_eq!(w.latency.quantile(0.5), 50);
        assert_eq!(w.latency.quantile(0.99), 99);
        assert_eq!(w.latency.max(), 100);
        assert_eq!(w.success_rate(), Decimal::new(9, 1));
        w.reset();
        assert_eq!((w.latency.count(), w.latency.quantile(0.5), w.success_rate()), (0, 0, Decimal::ONE));
    }
}
