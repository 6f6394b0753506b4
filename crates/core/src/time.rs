//! `Timestamp`: milliseconds since the Unix epoch (UTC), the one time type of the workspace.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// A point in time as milliseconds since the Unix epoch, UTC.
///
/// Exchanges speak milliseconds; an `i64` keeps comparisons and ring buffers cheap on the hot
/// path. Serialized as the integer; [`Timestamp::to_rfc3339`] renders it for humans and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// From a chrono UTC date-time (sub-millisecond precision is dropped).
    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Timestamp(dt.timestamp_millis())
    }

    /// As a chrono UTC date-time; `None` when out of chrono's range.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.0)
    }

    /// RFC 3339 with milliseconds and `Z`, e.g. `2024-01-02T03:04:05.678Z`.
    pub fn to_rfc3339(self) -> String {
        match self.to_datetime() {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => format!("{}ms", self.0),
        }
    }

    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// Signed milliseconds from `earlier` to `self`.
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms(rhs)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(duration_ms(rhs)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339_with_millis() {
        let ts = Timestamp::from_millis(1_565_246_363_776);
        assert_eq!(ts.to_rfc3339(), "2019-08-08T06:39:23.776Z");
    }

    #[test]
    fn arithmetic_saturates() {
        let ts = Timestamp::from_millis(1_000);
        assert_eq!((ts + Duration::from_secs(2)).as_millis(), 3_000);
        assert_eq!((ts - Duration::from_secs(2)).as_millis(), -1_000);
        assert_eq!(ts.saturating_since(Timestamp::from_millis(5_000)), Duration::ZERO);
        assert_eq!(
            Timestamp::from_millis(i64::MAX) + Duration::from_secs(1),
            Timestamp::from_millis(i64::MAX)
        );
    }
}
