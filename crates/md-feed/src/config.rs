//! `FeedConfig`: every `MD_*` setting of the feed, typed and validated.
//!
//! The bot maps its file and environment onto this struct (or calls [`FeedConfig::set`] with
//! the `MD_*` key and the text); [`FeedConfig::validate`] runs before anything starts and its
//! error names the key, the value and what is allowed.

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use trading_core::Interval;

use crate::ConfigError;

/// How the cycle buys its quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollMode {
    /// Bulk when the venue has an all-symbols book ticker, else list, else per symbol.
    Auto,
    /// One all-symbols request per cycle (`bookTicker` without symbols: weight 4 on Binance).
    Bulk,
    /// One list request per batch of `MD_BATCH_SIZE` symbols.
    List,
    /// One request per symbol, `MD_BATCH_SIZE` per batch.
    PerSymbol,
}

impl PollMode {
    /// The setting's text (`auto`, `bulk`, `list`, `per_symbol`), also used in events.
    pub const fn as_str(self) -> &'static str {
        match self {
            PollMode::Auto => "auto",
            PollMode::Bulk => "bulk",
            PollMode::List => "list",
            PollMode::PerSymbol => "per_symbol",
        }
    }
}

impl FromStr for PollMode {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" => Ok(PollMode::Auto),
            "bulk" => Ok(PollMode::Bulk),
            "list" => Ok(PollMode::List),
            "per_symbol" => Ok(PollMode::PerSymbol),
            _ => Err(ConfigError::new("MD_MODE", s, "one of auto, bulk, list, per_symbol")),
        }
    }
}

/// The feed's settings. `Default` gives the documented defaults (see `docs/md-feed.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// `MD_POLL_MS`: one cycle per this interval (the target an overrun is measured against).
    pub poll: Duration,
    /// `MD_MODE`: how quotes are bought.
    pub mode: PollMode,
    /// `MD_BATCH_SIZE`: symbols per batch (per-symbol mode: requests per batch; list mode:
    /// symbols per list request).
    pub batch_size: usize,
    /// `MD_BATCH_INTERVAL_MS`: spacing between the starts of consecutive batches.
    pub batch_interval: Duration,
    /// `MD_MAX_CONCURRENCY`: requests in flight at most.
    pub max_concurrency: usize,
    /// `MD_HOT_MS`: per-symbol/list polling interval of hot symbols.
    pub hot: Duration,
    /// `MD_WARM_MS`: polling interval of warm symbols (the default tier).
    pub warm: Duration,
    /// `MD_COLD_MS`: polling interval of cold symbols.
    pub cold: Duration,
    /// `MD_HEALTH_S`: one MD_HEALTH event per this interval.
    pub health_every: Duration,
    /// `MD_STALE_MS`: a symbol whose last price is older than this is stale.
    pub stale_after: Duration,
    /// `MD_WEIGHT_SHARE_PCT`: percent of the venue's weight budget the feed may spend (the rest
    /// is left for orders and for the pacing burst).
    pub weight_share_pct: u8,
    /// `MD_AUX_SHARE_PCT`: percent of the feed's share reserved for 24h statistics and candles.
    pub aux_share_pct: u8,
    /// `MD_REQUEST_TIMEOUT_MS`: the feed gives up on one request after this long.
    pub request_timeout: Duration,
    /// `MD_SLOW_MS`: an answer slower than this counts as a strike towards degradation.
    pub slow_after: Duration,
    /// `MD_DEGRADE_AFTER`: failures or slow answers in a row that degrade a symbol.
    pub degrade_after: u32,
    /// `MD_BACKOFF_MS`: first backoff of a degraded symbol; doubles per further failure.
    pub backoff_base: Duration,
    /// `MD_BACKOFF_MAX_MS`: longest backoff.
    pub backoff_max: Duration,
    /// `MD_FAST_MOVE_PCT`: a move of at least this many percent between two quotes makes a
    /// symbol hot.
    pub fast_move_pct: Decimal,
    /// `MD_HOT_HOLD_S`: how long a symbol stays hot after its last reason to be hot.
    pub hot_hold: Duration,
    /// `MD_QUIET_PCT`: a symbol whose price stayed within this many percent of its anchor for
    /// `MD_QUIET_S` is quiet (cold).
    pub quiet_pct: Decimal,
    /// `MD_QUIET_S`: how long a symbol must be quiet to become cold.
    pub quiet_for: Duration,
    /// `MD_COLD_VOLUME`: a 24h quote volume below this makes a symbol cold (0 = off).
    pub cold_volume: Decimal,
    /// `MD_STATS_S`: 24h statistics refresh of warm symbols (hot: a fifth, cold: three times);
    /// 0 turns statistics off.
    pub stats_every: Duration,
    /// `MD_CANDLE_S`: candle refresh of warm symbols (hot: a fifth, cold: three times); 0 = off.
    pub candles_every: Duration,
    /// `MD_CANDLE_INTERVAL`: candle width for the ATR cache.
    pub candle_interval: Interval,
    /// `MD_CANDLE_LIMIT`: candles kept per symbol.
    pub candle_limit: u32,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            poll: Duration::from_millis(1500),
            mode: PollMode::Auto,
            batch_size: 20,
            batch_interval: Duration::ZERO,
            max_concurrency: 8,
            hot: Duration::from_millis(1500),
            warm: Duration::from_millis(1500),
            cold: Duration::from_millis(6000),
            health_every: Duration::from_secs(60),
            stale_after: Duration::from_secs(15),
            weight_share_pct: 90,
            aux_share_pct: 10,
            request_timeout: Duration::from_secs(5),
            slow_after: Duration::from_secs(2),
            degrade_after: 3,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            fast_move_pct: Decimal::ONE,
            hot_hold: Duration::from_secs(300),
            quiet_pct: Decimal::new(2, 1),
            quiet_for: Duration::from_secs(600),
            cold_volume: Decimal::ZERO,
            stats_every: Duration::from_secs(300),
            candles_every: Duration::from_secs(300),
            candle_interval: Interval::M5,
            candle_limit: 50,
        }
    }
}

fn ms(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::new(key, value, "a whole number of milliseconds"))
}

fn secs(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| ConfigError::new(key, value, "a whole number of seconds"))
}

fn int<T: FromStr>(key: &'static str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse::<T>().map_err(|_| ConfigError::new(key, value, "a whole number"))
}

fn pct(key: &'static str, value: &str) -> Result<Decimal, ConfigError> {
    Decimal::from_str(value.trim()).map_err(|_| ConfigError::new(key, value, "a decimal number of percent"))
}

fn millis_text(d: Duration) -> String {
    d.as_millis().to_string()
}

impl FeedConfig {
    /// Every key [`FeedConfig::set`] understands.
    pub const KEYS: [&'static str; 26] = [
        "MD_POLL_MS",
        "MD_MODE",
        "MD_BATCH_SIZE",
        "MD_BATCH_INTERVAL_MS",
        "MD_MAX_CONCURRENCY",
        "MD_HOT_MS",
        "MD_WARM_MS",
        "MD_COLD_MS",
        "MD_HEALTH_S",
        "MD_STALE_MS",
        "MD_WEIGHT_SHARE_PCT",
        "MD_AUX_SHARE_PCT",
        "MD_REQUEST_TIMEOUT_MS",
        "MD_SLOW_MS",
        "MD_DEGRADE_AFTER",
        "MD_BACKOFF_MS",
        "MD_BACKOFF_MAX_MS",
        "MD_FAST_MOVE_PCT",
        "MD_HOT_HOLD_S",
        "MD_QUIET_PCT",
        "MD_QUIET_S",
        "MD_COLD_VOLUME",
        "MD_STATS_S",
        "MD_CANDLE_S",
        "MD_CANDLE_INTERVAL",
        "MD_CANDLE_LIMIT",
    ];

    /// Sets one setting from its `MD_*` key and text (environment or file value). Only parses;
    /// call [`FeedConfig::validate`] once every value is set.
    ///
    /// # Errors
    /// An unknown key, or a value that does not parse; the error names the key and the value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "MD_POLL_MS" => self.poll = ms("MD_POLL_MS", value)?,
            "MD_MODE" => self.mode = value.parse()?,
            "MD_BATCH_SIZE" => self.batch_size = int("MD_BATCH_SIZE", value)?,
            "MD_BATCH_INTERVAL_MS" => self.batch_interval = ms("MD_BATCH_INTERVAL_MS", value)?,
            "MD_MAX_CONCURRENCY" => self.max_concurrency = int("MD_MAX_CONCURRENCY", value)?,
            "MD_HOT_MS" => self.hot = ms("MD_HOT_MS", value)?,
            "MD_WARM_MS" => self.warm = ms("MD_WARM_MS", value)?,
            "MD_COLD_MS" => self.cold = ms("MD_COLD_MS", value)?,
            "MD_HEALTH_S" => self.health_every = secs("MD_HEALTH_S", value)?,
            "MD_STALE_MS" => self.stale_after = ms("MD_STALE_MS", value)?,
            "MD_WEIGHT_SHARE_PCT" => self.weight_share_pct = int("MD_WEIGHT_SHARE_PCT", value)?,
            "MD_AUX_SHARE_PCT" => self.aux_share_pct = int("MD_AUX_SHARE_PCT", value)?,
            "MD_REQUEST_TIMEOUT_MS" => self.request_timeout = ms("MD_REQUEST_TIMEOUT_MS", value)?,
            "MD_SLOW_MS" => self.slow_after = ms("MD_SLOW_MS", value)?,
            "MD_DEGRADE_AFTER" => self.degrade_after = int("MD_DEGRADE_AFTER", value)?,
            "MD_BACKOFF_MS" => self.backoff_base = ms("MD_BACKOFF_MS", value)?,
            "MD_BACKOFF_MAX_MS" => self.backoff_max = ms("MD_BACKOFF_MAX_MS", value)?,
            "MD_FAST_MOVE_PCT" => self.fast_move_pct = pct("MD_FAST_MOVE_PCT", value)?,
            "MD_HOT_HOLD_S" => self.hot_hold = secs("MD_HOT_HOLD_S", value)?,
            "MD_QUIET_PCT" => self.quiet_pct = pct("MD_QUIET_PCT", value)?,
            "MD_QUIET_S" => self.quiet_for = secs("MD_QUIET_S", value)?,
            "MD_COLD_VOLUME" => {
                self.cold_volume = Decimal::from_str(value.trim()).map_err(|_| {
                    ConfigError::new("MD_COLD_VOLUME", value, "a decimal amount of quote currency")
                })?;
            }
            "MD_STATS_S" => self.stats_every = secs("MD_STATS_S", value)?,
            "MD_CANDLE_S" => self.candles_every = secs("MD_CANDLE_S", value)?,
            "MD_CANDLE_INTERVAL" => {
                self.candle_interval = value.trim().parse().map_err(|_| {
                    ConfigError::new("MD_CANDLE_INTERVAL", value, "one of 1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d")
                })?;
            }
            "MD_CANDLE_LIMIT" => self.candle_limit = int("MD_CANDLE_LIMIT", value)?,
            _ => {
                return Err(ConfigError {
                    key: "MD_*",
                    value: key.to_owned(),
                    allowed: format!("a known setting: {}", Self::KEYS.join(", ")),
                })
            }
        }
        Ok(())
    }

    /// Checks every value and how they relate.
    ///
    /// # Errors
    /// The first invalid setting, naming its key, value and the allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |key: &'static str, d: Duration, lo: u64, hi: u64| {
            let v = d.as_millis();
            if v < u128::from(lo) || v > u128::from(hi) {
                Err(ConfigError::new(key, millis_text(d), format!("{lo}..={hi} ms")))
            } else {
                Ok(())
            }
        };
        range("MD_POLL_MS", self.poll, 50, 600_000)?;
        if !(1..=1000).contains(&self.batch_size) {
            return Err(ConfigError::new("MD_BATCH_SIZE", self.batch_size, "1..=1000"));
        }
        range("MD_BATCH_INTERVAL_MS", self.batch_interval, 0, 60_000)?;
        if !(1..=256).contains(&self.max_concurrency) {
            return Err(ConfigError::new("MD_MAX_CONCURRENCY", self.max_concurrency, "1..=256"));
        }
        let tier_max = 3_600_000;
        range("MD_HOT_MS", self.hot, 50, tier_max)?;
        range("MD_WARM_MS", self.warm, 50, tier_max)?;
        range("MD_COLD_MS", self.cold, 50, tier_max)?;
        if self.hot < self.poll {
            return Err(ConfigError::new(
                "MD_HOT_MS",
                millis_text(self.hot),
                format!(
                    "at least MD_POLL_MS ({} ms): a symbol cannot be polled faster than the cycle",
                    self.poll.as_millis()
                ),
            ));
        }
        if self.warm < self.hot {
            return Err(ConfigError::new(
                "MD_WARM_MS",
                millis_text(self.warm),
                format!("at least MD_HOT_MS ({} ms)", self.hot.as_millis()),
            ));
        }
        if self.cold < self.warm {
            return Err(ConfigError::new(
                "MD_COLD_MS",
                millis_text(self.cold),
                format!("at least MD_WARM_MS ({} ms)", self.warm.as_millis()),
            ));
        }
        if self.health_every.is_zero() || self.health_every > Duration::from_secs(86_400) {
            return Err(ConfigError::new("MD_HEALTH_S", self.health_every.as_secs(), "1..=86400 s"));
        }
        range("MD_STALE_MS", self.stale_after, 100, 86_400_000)?;
        if !(1..=100).contains(&self.weight_share_pct) {
            return Err(ConfigError::new("MD_WEIGHT_SHARE_PCT", self.weight_share_pct, "1..=100 percent"));
        }
        if self.aux_share_pct > 90 {
            return Err(ConfigError::new("MD_AUX_SHARE_PCT", self.aux_share_pct, "0..=90 percent"));
        }
        range("MD_REQUEST_TIMEOUT_MS", self.request_timeout, 10, 120_000)?;
        range("MD_SLOW_MS", self.slow_after, 1, 120_000)?;
        if !(1..=100).contains(&self.degrade_after) {
            return Err(ConfigError::new("MD_DEGRADE_AFTER", self.degrade_after, "1..=100"));
        }
        range("MD_BACKOFF_MS", self.backoff_base, 1, 3_600_000)?;
        range("MD_BACKOFF_MAX_MS", self.backoff_max, 1, 86_400_000)?;
        if self.backoff_max < self.backoff_base {
            return Err(ConfigError::new(
                "MD_BACKOFF_MAX_MS",
                millis_text(self.backoff_max),
                format!("at least MD_BACKOFF_MS ({} ms)", self.backoff_base.as_millis()),
            ));
        }
        let hundred = Decimal::ONE_HUNDRED;
        if self.fast_move_pct <= Decimal::ZERO || self.fast_move_pct > hundred {
            return Err(ConfigError::new("MD_FAST_MOVE_PCT", self.fast_move_pct, "more than 0, at most 100"));
        }
        if self.quiet_pct < Decimal::ZERO || self.quiet_pct > hundred {
            return Err(ConfigError::new("MD_QUIET_PCT", self.quiet_pct, "0..=100 (0 = never quiet)"));
        }
        if self.quiet_for.is_zero() {
            return Err(ConfigError::new("MD_QUIET_S", 0, "at least 1 s"));
        }
        if self.cold_volume < Decimal::ZERO {
            return Err(ConfigError::new("MD_COLD_VOLUME", self.cold_volume, "0 (off) or more"));
        }
        if self.candle_limit == 0 || self.candle_limit > 1000 {
            return Err(ConfigError::new("MD_CANDLE_LIMIT", self.candle_limit, "1..=1000"));
        }
        Ok(())
    }

    /// The polling interval of `tier`.
    pub fn tier_interval(&self, tier: telemetry::Tier) -> Duration {
        match tier {
            telemetry::Tier::Hot => self.hot,
            telemetry::Tier::Warm => self.warm,
            telemetry::Tier::Cold => self.cold,
        }
    }

    /// Refresh interval of statistics or candles for `tier`, from the warm interval `every`.
    pub(crate) fn aux_interval(every: Duration, tier: telemetry::Tier) -> Duration {
        match tier {
            telemetry::Tier::Hot => every / 5,
            telemetry::Tier::Warm => every,
            telemetry::Tier::Cold => every * 3,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
mod tests {
    use super::*;

    #[track_caller]
    fn check(pairs: &[(&str, &str)], expected_key: Option<&str>) {
        let mut c = FeedConfig::default();
        let result = pairs.iter().try_for_each(|(k, v)| c.set(k, v)).and_then(|()| c.validate());
        match (result, expected_key) {
            (Ok(()), None) => {}
            (Err(e), Some(key)) => {
                assert_eq!(e.key, key, "{e}");
                assert!(e.to_string().contains(key));
            }
            (other, _) => panic!("{pairs:?}: unexpected {other:?}"),
        }
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(FeedConfig::default().validate(), Ok(()));
    }

    #[test]
    fn every_key_is_settable() {
        let mut c = FeedConfig::default();
        for key in FeedConfig::KEYS {
            let value = match key {
                "MD_MODE" => "per-symbol",
                "MD_CANDLE_INTERVAL" => "1m",
                _ => "7",
            };
            assert!(c.set(key, value).is_ok(), "{key}");
        }
        assert_eq!(c.mode, PollMode::PerSymbol);
    }

    #[test]
    fn errors_name_key_and_value() {
        check(&[("MD_POLL_MS", "1500")], None);
        check(&[("MD_POLL_MS", "fast")], Some("MD_POLL_MS"));
        check(&[("MD_POLL_MS", "0")], Some("MD_POLL_MS"));
        check(&[("MD_BATCH_SIZE", "0")], Some("MD_BATCH_SIZE"));
        check(&[("MD_MAX_CONCURRENCY", "1000")], Some("MD_MAX_CONCURRENCY"));
        check(&[("MD_HOT_MS", "1000")], Some("MD_HOT_MS")); // faster than the cycle
        check(&[("MD_WARM_MS", "3000"), ("MD_COLD_MS", "2000")], Some("MD_COLD_MS"));
        check(&[("MD_WEIGHT_SHARE_PCT", "0")], Some("MD_WEIGHT_SHARE_PCT"));
        check(&[("MD_WEIGHT_SHARE_PCT", "300")], Some("MD_WEIGHT_SHARE_PCT"));
        check(&[("MD_AUX_SHARE_PCT", "95")], Some("MD_AUX_SHARE_PCT"));
        check(&[("MD_MODE", "websocket")], Some("MD_MODE"));
        check(&[("MD_FAST_MOVE_PCT", "-1")], Some("MD_FAST_MOVE_PCT"));
        check(&[("MD_BACKOFF_MS", "5000"), ("MD_BACKOFF_MAX_MS", "1000")], Some("MD_BACKOFF_MAX_MS"));
        check(&[("MD_CANDLE_INTERVAL", "2m")], Some("MD_CANDLE_INTERVAL"));
        check(&[("MD_NOPE", "1")], Some("MD_*"));
        let e =
            FeedConfig { poll: Duration::from_millis(10), ..FeedConfig::default() }.validate().unwrap_err();
        assert_eq!(e.to_string(), "MD_POLL_MS = \"10\": 50..=600000 ms");
    }
}
