//! The bot's supervisor settings (`HEARTBEAT_TIMEOUT_S`, `HEARTBEAT_MODE`), typed and validated,
//! and how they map to the watchdog.

use std::time::Duration;

use crate::error::SupervisorError;
use crate::watchdog::{WatchdogConfig, WatchdogMode};

/// Key of the heartbeat timeout setting: whole seconds, 1 to 86 400.
pub const HEARTBEAT_TIMEOUT_KEY: &str = "HEARTBEAT_TIMEOUT_S";
/// Key of the heartbeat mode setting: `warn` or `enforce`.
pub const HEARTBEAT_MODE_KEY: &str = "HEARTBEAT_MODE";

/// What the watchdog does about a task that stays silent past its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeartbeatMode {
    /// Report (HEARTBEAT_LATE) and run on.
    #[default]
    Warn,
    /// Report and start an orderly shutdown (exit code 3).
    Enforce,
}

/// One raw setting value and where it came from (for the error message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSetting {
    /// The value as written.
    pub value: String,
    /// Where it came from, e.g. `env`, `config.toml`, `--flag`.
    pub origin: String,
}

impl RawSetting {
    /// A value from `origin`.
    pub fn new(value: impl Into<String>, origin: impl Into<String>) -> Self {
        RawSetting { value: value.into(), origin: origin.into() }
    }
}

/// The supervisor's settings as the bot's configuration gives them.
///
/// `HEARTBEAT_TIMEOUT_S` (default 30) is how long a task may stay silent past the interval it
/// promised before the watchdog acts; `HEARTBEAT_MODE` (default `warn`) says what it does
/// then: `warn` reports HEARTBEAT_LATE, `enforce` also starts an orderly shutdown at once
/// (see [`HeartbeatSettings::apply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatSettings {
    /// Silence allowed past a task's expected interval.
    pub timeout: Duration,
    /// Warn or enforce.
    pub mode: HeartbeatMode,
}

impl Default for HeartbeatSettings {
    fn default() -> Self {
        HeartbeatSettings { timeout: Duration::from_secs(30), mode: HeartbeatMode::Warn }
    }
}

impl HeartbeatSettings {
    /// Reads both settings through `lookup` (key -> raw value and origin); a missing key keeps
    /// its default.
    ///
    /// # Errors
    /// [`SupervisorError::InvalidSetting`] naming the key, the value, its origin and what is
    /// allowed: a timeout that is not a whole number of seconds from 1 to 86 400, a mode that is
    /// not `warn` or `enforce` (case and surrounding spaces are ignored).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<RawSetting>) -> Result<Self, SupervisorError> {
        let mut settings = HeartbeatSettings::default();
        if let Some(raw) = lookup(HEARTBEAT_TIMEOUT_KEY) {
            let bad = |raw: &RawSetting| SupervisorError::InvalidSetting {
                key: HEARTBEAT_TIMEOUT_KEY,
                value: raw.value.clone(),
                origin: raw.origin.clone(),
                allowed: "a whole number of seconds from 1 to 86400",
            };
            let secs: u64 = raw.value.trim().parse().map_err(|_| bad(&raw))?;
            if !(1..=86_400).contains(&secs) {
                return Err(bad(&raw));
            }
            settings.timeout = Duration::from_secs(secs);
        }
        if let Some(raw) = lookup(HEARTBEAT_MODE_KEY) {
            let value = raw.value.trim();
            settings.mode = if value.eq_ignore_ascii_case("warn") {
                HeartbeatMode::Warn
            } else if value.eq_ignore_ascii_case("enforce") {
                HeartbeatMode::Enforce
            } else {
                return Err(SupervisorError::InvalidSetting {
                    key: HEARTBEAT_MODE_KEY,
                    value: raw.value.clone(),
                    origin: raw.origin.clone(),
                    allowed: "`warn` or `enforce`",
                });
            };
        }
        Ok(settings)
    }

    /// Maps the settings onto `watchdog`: the timeout becomes its `grace` (silence allowed past
    /// a task's interval before it is late) and the mode its [`WatchdogMode`]; `enforce` shuts
    /// down at the first check that finds a task late (`late_limit` zero). Other watchdog
    /// settings are kept.
    pub fn apply(&self, watchdog: &mut WatchdogConfig) {
        watchdog.grace = self.timeout;
        watchdog.mode = match self.mode {
            HeartbeatMode::Warn => WatchdogMode::Warn,
            HeartbeatMode::Enforce => WatchdogMode::Enforce { late_limit: Duration::ZERO },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<RawSetting> + 'a {
        move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| RawSetting::new(*v, "env"))
    }

    #[test]
    fn defaults_when_absent_and_values_when_given() {
        assert_eq!(HeartbeatSettings::from_lookup(lookup(&[])).unwrap(), HeartbeatSettings::default());
        let s = HeartbeatSettings::from_lookup(lookup(&[
            ("HEARTBEAT_TIMEOUT_S", " 45 "),
            ("HEARTBEAT_MODE", "Enforce"),
        ]))
        .unwrap();
        assert_eq!(s, HeartbeatSettings { timeout: Duration::from_secs(45), mode: HeartbeatMode::Enforce });
    }

    #[test]
    fn bad_values_name_key_value_and_origin() {
        for (key, value, allowed) in [
            ("HEARTBEAT_TIMEOUT_S", "0", "1 to 86400"),
            ("HEARTBEAT_TIMEOUT_S", "1.5", "whole number"),
            ("HEARTBEAT_TIMEOUT_S", "86401", "1 to 86400"),
            ("HEARTBEAT_TIMEOUT_S", "-3", "whole number"),
            ("HEARTBEAT_MODE", "strict", "`warn` or `enforce`"),
            ("HEARTBEAT_MODE", "", "`warn` or `enforce`"),
        ] {
            let pairs = [(key, value)];
            let err = HeartbeatSettings::from_lookup(lookup(&pairs)).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(&format!("{value:?}")), "{err}");
            assert!(err.contains("from env") && err.contains(allowed), "{err}");
        }
    }

    #[test]
    fn maps_onto_the_watchdog() {
        let mut w = WatchdogConfig::default();
        HeartbeatSettings { timeout: Duration::from_secs(12), mode: HeartbeatMode::Enforce }.apply(&mut w);
        assert_eq!(w.grace, Duration::from_secs(12));
        assert_eq!(w.mode, WatchdogMode::Enforce { late_limit: Duration::ZERO });
        assert_eq!(w.check_every, WatchdogConfig::default().check_every, "other settings kept");
        HeartbeatSettings { timeout: Duration::from_secs(3), mode: HeartbeatMode::Warn }.apply(&mut w);
        assert_eq!(w.mode, WatchdogMode::Warn);
    }
}
