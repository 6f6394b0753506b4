//! Watchdog settings and the pure decision: is this task on time, late, or late beyond the limit?

use std::time::Duration;

use crate::error::SupervisorError;

/// What the watchdog does about a late task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WatchdogMode {
    /// Report late tasks (HEARTBEAT_LATE) and nothing else.
    #[default]
    Warn,
    /// Report late tasks, and start an orderly shutdown (exit reason
    /// [`ExitReason::Watchdog`](crate::ExitReason::Watchdog)) once a task has been late for
    /// `late_limit` or longer. A `late_limit` of zero shuts down at the first late check.
    Enforce {
        /// How long a task may stay late before the bot stops.
        late_limit: Duration,
    },
}

impl WatchdogMode {
    /// `"warn"` or `"enforce"`: the `mode` field of HEARTBEAT_LATE.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchdogMode::Warn => "warn",
            WatchdogMode::Enforce { .. } => "enforce",
        }
    }
}

/// How the watchdog checks registered tasks.
///
/// A task is *late* when it has been silent for longer than its expected interval plus `grace`.
/// A late task is reported at once and then again every `report_every` while it stays silent;
/// a beat ends the episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchdogConfig {
    /// How often the watchdog looks at every task (default 1 s).
    pub check_every: Duration,
    /// Slack on top of a task's expected interval before it counts as late (default 1 s, one
    /// check period, so a task beating exactly on its interval is never reported).
    pub grace: Duration,
    /// Repeat interval for reports about a task that stays silent (default 30 s).
    pub report_every: Duration,
    /// Beats kept per task for the report (default 16; the registration time is the first;
    /// 0 is treated as 1, the newest beat).
    pub history_len: usize,
    /// Warn-only or enforce.
    pub mode: WatchdogMode,
    /// Beat interval of the runtime's pulse task that the watchdog thread watches (default
    /// 250 ms; see [`Supervisor::start_watchdog_thread`](crate::Supervisor::start_watchdog_thread)).
    pub runtime_pulse: Duration,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            check_every: Duration::from_secs(1),
            grace: Duration::from_secs(1),
            report_every: Duration::from_secs(30),
            history_len: 16,
            mode: WatchdogMode::Warn,
            runtime_pulse: Duration::from_millis(250),
        }
    }
}

impl WatchdogConfig {
    pub(crate) fn validate(&self) -> Result<(), SupervisorError> {
        if self.check_every.is_zero() {
            return Err(SupervisorError::InvalidConfig {
                field: "watchdog.check_every",
                value: self.check_every,
                allowed: "greater than zero",
            });
        }
        if self.runtime_pulse.is_zero() {
            return Err(SupervisorError::InvalidConfig {
                field: "watchdog.runtime_pulse",
                value: self.runtime_pulse,
                allowed: "greater than zero",
            });
        }
        if self.report_every.is_zero() {
            return Err(SupervisorError::InvalidConfig {
                field: "watchdog.report_every",
                value: self.report_every,
                allowed: "greater than zero",
            });
        }
        Ok(())
    }
}

/// The watchdog's judgement of one task at one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Silent for no longer than allowed.
    OnTime,
    /// Late; `report` says whether this check emits HEARTBEAT_LATE.
    Late { report: bool },
    /// Late beyond the enforce limit: report and shut down.
    Escalate,
}

/// Judges a task that promised to beat every `expected`, has been silent for `silent_for`, and
/// whose current silence was last reported `last_report_ago` ago (`None`: not yet reported).
pub(crate) fn assess(
    config: &WatchdogConfig,
    expected: Duration,
    silent_for: Duration,
    last_report_ago: Option<Duration>,
) -> Verdict {
    let deadline = expected.saturating_add(config.grace);
    if silent_for <= deadline {
        return Verdict::OnTime;
    }
    let overdue = silent_for - deadline;
    if let WatchdogMode::Enforce { late_limit } = config.mode {
        if overdue >= late_limit {
            return Verdict::Escalate;
        }
    }
    let report = last_report_ago.is_none_or(|ago| ago >= config.report_every);
    Verdict::Late { report }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[track_caller]
    fn check(mode: WatchdogMode, silent_for: u64, last_report_ago: Option<u64>, expected: Verdict) {
        let config =
            WatchdogConfig { grace: ms(500), report_every: ms(10_000), mode, ..WatchdogConfig::default() };
        let got = assess(&config, ms(2_000), ms(silent_for), last_report_ago.map(ms));
        assert_eq!(
            got, expected,
            "mode {mode:?}, silent {silent_for} ms, reported {last_report_ago:?} ms ago"
        );
    }

    #[test]
    fn verdicts() {
        let warn = WatchdogMode::Warn;
        let enforce = WatchdogMode::Enforce { late_limit: ms(3_000) };
        let strict = WatchdogMode::Enforce { late_limit: Duration::ZERO };
        // expected 2 000 ms + grace 500 ms = late after 2 500 ms of silence.
        check(warn, 0, None, Verdict::OnTime);
        check(warn, 2_500, None, Verdict::OnTime);
        check(warn, 2_501, None, Verdict::Late { report: true });
        check(warn, 60_000, Some(9_999), Verdict::Late { report: false });
        check(warn, 60_000, Some(10_000), Verdict::Late { report: true });
        check(enforce, 2_501, None, Verdict::Late { report: true });
        check(enforce, 5_499, Some(1_000), Verdict::Late { report: false });
        check(enforce, 5_500, Some(1_000), Verdict::Escalate);
        check(strict, 2_500, None, Verdict::OnTime);
        check(strict, 2_501, None, Verdict::Escalate);
    }

    #[test]
    fn mode_names() {
        assert_eq!(WatchdogMode::Warn.as_str(), "warn");
        assert_eq!(WatchdogMode::Enforce { late_limit: ms(1) }.as_str(), "enforce");
    }

    #[test]
    fn zero_periods_are_rejected() {
        let bad = WatchdogConfig { check_every: Duration::ZERO, ..WatchdogConfig::default() };
        let err = bad.validate().unwrap_err();
        assert!(err.to_string().contains("watchdog.check_every"), "{err}");
        let bad = WatchdogConfig { report_every: Duration::ZERO, ..WatchdogConfig::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("watchdog.report_every"));
        assert!(WatchdogConfig::default().validate().is_ok());
    }
}
