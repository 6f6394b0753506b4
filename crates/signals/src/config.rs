//! Validated configuration: the drop trigger, the guards and the exit rules.
//!
//! Every constructor checks its values and returns [`SignalError::InvalidSetting`] naming the
//! setting (as the bot's config file and environment spell it) and the allowed range, so an
//! engine built from these types never meets an out-of-range value at run time.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;
use trading_core::Symbol;

use crate::SignalError;

/// `DROP_TRIGGER_MODE`: which reference price a drop is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerMode {
    /// 1: the highest price inside the lookback window.
    WindowHigh,
    /// 2: the oldest price inside the lookback window (plain change over the lookback).
    WindowOpen,
    /// 3: the highest price since start or since this symbol's last trigger.
    RunningHigh,
    /// 4: an anchor that rises with new highs, expires to the window high when older than the
    /// window, and resets to the current price after a trigger.
    AnchorReset,
}

impl TriggerMode {
    /// All modes in setting order (1..=4).
    pub const ALL: [TriggerMode; 4] = [
        TriggerMode::WindowHigh,
        TriggerMode::WindowOpen,
        TriggerMode::RunningHigh,
        TriggerMode::AnchorReset,
    ];

    /// From the `DROP_TRIGGER_MODE` number.
    pub fn from_setting(mode: u8) -> Result<Self, SignalError> {
        match mode {
            1 => Ok(TriggerMode::WindowHigh),
            2 => Ok(TriggerMode::WindowOpen),
            3 => Ok(TriggerMode::RunningHigh),
            4 => Ok(TriggerMode::AnchorReset),
            _ => Err(SignalError::setting(
                "DROP_TRIGGER_MODE",
                mode,
                "1 (window high), 2 (window open), 3 (running high) or 4 (anchor reset)",
            )),
        }
    }

    /// The `DROP_TRIGGER_MODE` number.
    pub const fn setting(self) -> u8 {
        match self {
            TriggerMode::WindowHigh => 1,
            TriggerMode::WindowOpen => 2,
            TriggerMode::RunningHigh => 3,
            TriggerMode::AnchorReset => 4,
        }
    }
}

/// Denominator of the trigger ratio: `DROP_TRIGGER_VALUE` has at most 6 decimal places.
pub(crate) const RATIO_DEN: i128 = 1_000_000;

/// Most buckets a lookback window is divided into (bounds memory per symbol).
pub(crate) const MAX_BUCKETS: i64 = 1024;

/// The default re-arm margin (`DROP_TRIGGER_REARM_MARGIN`): 0.005, i.e. after a trigger the
/// symbol fires again only once a tick was above `DROP_TRIGGER_VALUE + 0.005` of the reference
/// (half a percent of the reference above the trigger threshold).
pub const DEFAULT_REARM_MARGIN: Decimal = Decimal::from_parts(5, 0, 0, false, 3);

/// The drop trigger: `DROP_TRIGGER_VALUE`, `DROP_TRIGGER_MODE`, `DROP_TRIGGER_LOOKBACK_MIN`.
///
/// The lookback window is kept as time buckets of `resolution` width (1 s, or coarser for
/// windows longer than 1024 s so that a symbol never holds more than 1025 buckets): ticks in
/// the same bucket share its high (the maximum) and open (the first price). The window is the
/// current bucket plus the `ceil(lookback / resolution)` before it.
///
/// Re-arm hysteresis (every mode): after a trigger the symbol is disarmed until a tick with
/// `price / reference > DROP_TRIGGER_VALUE + DROP_TRIGGER_REARM_MARGIN` (default
/// [`DEFAULT_REARM_MARGIN`]), so a price that jitters around the threshold fires once per drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerConfig {
    value: Decimal,
    ratio_num: i128,
    rearm_margin: Decimal,
    rearm_num: i128,
    mode: TriggerMode,
    lookback_min: u32,
    resolution_ms: i64,
    buckets: i64,
}

impl TriggerConfig {
    /// Validates `DROP_TRIGGER_VALUE` (a ratio in (0, 1) with at most 6 decimal places, e.g.
    /// 0.985 = a 1.5 % drop) and `DROP_TRIGGER_LOOKBACK_MIN` (1..=1440).
    pub fn new(value: Decimal, mode: TriggerMode, lookback_min: u32) -> Result<Self, SignalError> {
        const ALLOWED: &str =
            "a ratio greater than 0 and less than 1 with at most 6 decimal places (0.985 = 1.5 % drop)";
        if value <= Decimal::ZERO || value >= Decimal::ONE || value.normalize().scale() > 6 {
            return Err(SignalError::setting("DROP_TRIGGER_VALUE", value, ALLOWED));
        }
        let scaled = value.normalize();
        let ratio_num = scaled.mantissa() * 10_i128.pow(6 - scaled.scale());
        if !(1..=1440).contains(&lookback_min) {
            return Err(SignalError::setting("DROP_TRIGGER_LOOKBACK_MIN", lookback_min, "1..=1440 minutes"));
        }
        let lookback_ms = i64::from(lookback_min) * 60_000;
        let resolution_ms = (lookback_ms + MAX_BUCKETS - 1) / MAX_BUCKETS;
        let resolution_ms = resolution_ms.max(1_000);
        let buckets = (lookback_ms + resolution_ms - 1) / resolution_ms;
        let config = TriggerConfig {
            value,
            ratio_num,
            rearm_margin: Decimal::ZERO,
            rearm_num: ratio_num,
            mode,
            lookback_min,
            resolution_ms,
            buckets,
        };
        // the default margin is clamped so that any valid value keeps a valid default
        let margin = DEFAULT_REARM_MARGIN
            .min((Decimal::ONE - value) / Decimal::TWO)
            .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::ToZero);
        config.with_rearm_margin(margin)
    }

    /// Sets `DROP_TRIGGER_REARM_MARGIN`: a ratio `m >= 0` with at most 6 decimal places and
    /// `DROP_TRIGGER_VALUE + m < 1`. After a trigger the symbol re-arms only on a tick with
    /// `price / reference > DROP_TRIGGER_VALUE + m` (0 = re-arm on any tick above the threshold).
    pub fn with_rearm_margin(mut self, margin: Decimal) -> Result<Self, SignalError> {
        const ALLOWED: &str = "a ratio of at least 0 with at most 6 decimal places, and \
             DROP_TRIGGER_VALUE + margin less than 1 (0.005 = re-arm half a percent above the threshold)";
        let m = margin.normalize();
        if m < Decimal::ZERO || m.scale() > 6 || self.value + m >= Decimal::ONE {
            return Err(SignalError::setting("DROP_TRIGGER_REARM_MARGIN", margin, ALLOWED));
        }
        self.rearm_margin = m;
        self.rearm_num = self.ratio_num + m.mantissa() * 10_i128.pow(6 - m.scale());
        Ok(self)
    }

    /// `DROP_TRIGGER_REARM_MARGIN`.
    pub fn rearm_margin(&self) -> Decimal {
        self.rearm_margin
    }

    /// `DROP_TRIGGER_VALUE`.
    pub fn value(&self) -> Decimal {
        self.value
    }

    /// `DROP_TRIGGER_MODE`.
    pub fn mode(&self) -> TriggerMode {
        self.mode
    }

    /// `DROP_TRIGGER_LOOKBACK_MIN`.
    pub fn lookback_min(&self) -> u32 {
        self.lookback_min
    }

    /// Width of one window bucket.
    pub fn resolution(&self) -> Duration {
        Duration::from_millis(self.resolution_ms.unsigned_abs())
    }

    /// Most buckets a symbol's window holds (the bound of its ring buffers).
    pub fn max_window_buckets(&self) -> usize {
        usize::try_from(self.buckets + 1).unwrap_or(usize::MAX)
    }

    pub(crate) fn ratio_num(&self) -> i128 {
        self.ratio_num
    }

    pub(crate) fn rearm_num(&self) -> i128 {
        self.rearm_num
    }

    pub(crate) fn resolution_ms(&self) -> i64 {
        self.resolution_ms
    }

    pub(crate) fn buckets(&self) -> i64 {
        self.buckets
    }
}

/// Market-wide crash guard: blocks every trigger while the reference symbol (usually
/// `BTC/USDT`) has fallen by at least `max_drop_pct` over `window_min`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketCrashGuard {
    /// The symbol whose change stands for the market.
    pub symbol: Symbol,
    /// Window of the change, minutes.
    pub window_min: u32,
    /// Block when the change is `<= -max_drop_pct` percent.
    pub max_drop_pct: Decimal,
}

/// Volatility guard: blocks when ATR as a percent of the last close exceeds `max_atr_pct`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolatilityGuard {
    /// ATR period in candles (Wilder smoothing).
    pub period: usize,
    /// Block when `ATR / close * 100 > max_atr_pct`.
    pub max_atr_pct: Decimal,
}

/// The guards, each switched on by setting it (`None` = off). Built with the validating
/// methods, starting from [`GuardConfig::none`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardConfig {
    pub(crate) market_crash: Option<MarketCrashGuard>,
    pub(crate) volatility: Option<VolatilityGuard>,
    pub(crate) max_spread_pct: Option<Decimal>,
    pub(crate) min_quote_volume_24h: Option<Decimal>,
    pub(crate) falling_knife_max_drop_pct: Option<Decimal>,
    pub(crate) cooldown: Option<Duration>,
    pub(crate) blacklist: Vec<Symbol>,
}

fn pct_in(setting: &'static str, v: Decimal, allowed: &'static str) -> Result<Decimal, SignalError> {
    if v > Decimal::ZERO && v < Decimal::ONE_HUNDRED {
        Ok(v)
    } else {
        Err(SignalError::setting(setting, v, allowed))
    }
}

impl GuardConfig {
    /// Every guard off.
    pub fn none() -> Self {
        GuardConfig::default()
    }

    /// `GUARD_MARKET_CRASH_SYMBOL`, `GUARD_MARKET_CRASH_WINDOW_MIN` (1..=1440),
    /// `GUARD_MARKET_CRASH_MAX_DROP_PCT` (0 < x < 100).
    pub fn market_crash(
        mut self,
        symbol: Symbol,
        window_min: u32,
        max_drop_pct: Decimal,
    ) -> Result<Self, SignalError> {
        if !(1..=1440).contains(&window_min) {
            return Err(SignalError::setting(
                "GUARD_MARKET_CRASH_WINDOW_MIN",
                window_min,
                "1..=1440 minutes",
            ));
        }
        let max_drop_pct = pct_in(
            "GUARD_MARKET_CRASH_MAX_DROP_PCT",
            max_drop_pct,
            "a percent greater than 0 and less than 100",
        )?;
        self.market_crash = Some(MarketCrashGuard { symbol, window_min, max_drop_pct });
        Ok(self)
    }

    /// `GUARD_ATR_PERIOD` (1..=500 candles) and `GUARD_MAX_ATR_PCT` (0 < x < 100).
    pub fn volatility(mut self, period: usize, max_atr_pct: Decimal) -> Result<Self, SignalError> {
        if !(1..=500).contains(&period) {
            return Err(SignalError::setting("GUARD_ATR_PERIOD", period, "1..=500 candles"));
        }
        let max_atr_pct =
            pct_in("GUARD_MAX_ATR_PCT", max_atr_pct, "a percent greater than 0 and less than 100")?;
        self.volatility = Some(VolatilityGuard { period, max_atr_pct });
        Ok(self)
    }

    /// `GUARD_MAX_SPREAD_PCT` (0 < x < 100): block when `(ask - bid) / mid * 100` is larger.
    pub fn max_spread_pct(mut self, pct: Decimal) -> Result<Self, SignalError> {
        self.max_spread_pct =
            Some(pct_in("GUARD_MAX_SPREAD_PCT", pct, "a percent greater than 0 and less than 100")?);
        Ok(self)
    }

    /// `GUARD_MIN_QUOTE_VOLUME_24H` (> 0, quote currency): block thinner markets.
    pub fn min_quote_volume_24h(mut self, volume: Decimal) -> Result<Self, SignalError> {
        if volume <= Decimal::ZERO {
            return Err(SignalError::setting(
                "GUARD_MIN_QUOTE_VOLUME_24H",
                volume,
                "a quote amount greater than 0",
            ));
        }
        self.min_quote_volume_24h = Some(volume);
        Ok(self)
    }

    /// `GUARD_FALLING_KNIFE_MAX_DROP_PCT` (0 < x < 100): block drops deeper than this.
    pub fn falling_knife(mut self, max_drop_pct: Decimal) -> Result<Self, SignalError> {
        self.falling_knife_max_drop_pct = Some(pct_in(
            "GUARD_FALLING_KNIFE_MAX_DROP_PCT",
            max_drop_pct,
            "a percent greater than 0 and less than 100",
        )?);
        Ok(self)
    }

    /// `GUARD_COOLDOWN_S` (1 s ..= 7 days): no trigger for a symbol this long after its last
    /// trigger or exit.
    pub fn cooldown(mut self, cooldown: Duration) -> Result<Self, SignalError> {
        if cooldown < Duration::from_secs(1) || cooldown > Duration::from_secs(7 * 86_400) {
            return Err(SignalError::setting(
                "GUARD_COOLDOWN_S",
                cooldown.as_secs_f64(),
                "1..=604800 seconds",
            ));
        }
        self.cooldown = Some(cooldown);
        Ok(self)
    }

    /// `BLACKLIST`: symbols that never trigger (on when the list is not empty).
    pub fn blacklist(mut self, symbols: Vec<Symbol>) -> Self {
        self.blacklist = symbols;
        self
    }

    /// True when at least one guard is on.
    pub fn any_enabled(&self) -> bool {
        self.market_crash.is_some()
            || self.volatility.is_some()
            || self.max_spread_pct.is_some()
            || self.min_quote_volume_24h.is_some()
            || self.falling_knife_max_drop_pct.is_some()
            || self.cooldown.is_some()
            || !self.blacklist.is_empty()
    }

    /// The market-crash guard, when on.
    pub fn market_crash_guard(&self) -> Option<&MarketCrashGuard> {
        self.market_crash.as_ref()
    }

    /// The volatility guard, when on.
    pub fn volatility_guard(&self) -> Option<&VolatilityGuard> {
        self.volatility.as_ref()
    }
}

/// Exit rules for a held position, each switched on by setting it. Percents are relative to
/// the entry price (trailing distance: relative to the highest price since entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitConfig {
    pub(crate) take_profit_pct: Option<Decimal>,
    pub(crate) stop_loss_pct: Option<Decimal>,
    pub(crate) trailing: Option<(Decimal, Decimal)>,
    pub(crate) max_hold: Option<Duration>,
}

impl ExitConfig {
    /// No exit rule.
    pub fn none() -> Self {
        ExitConfig::default()
    }

    /// `TAKE_PROFIT_PCT` (0 < x <= 1000): sell when the price reaches `entry * (1 + x/100)`.
    pub fn take_profit_pct(mut self, pct: Decimal) -> Result<Self, SignalError> {
        if pct <= Decimal::ZERO || pct > Decimal::ONE_THOUSAND {
            return Err(SignalError::setting(
                "TAKE_PROFIT_PCT",
                pct,
                "a percent greater than 0, at most 1000",
            ));
        }
        self.take_profit_pct = Some(pct);
        Ok(self)
    }

    /// `STOP_LOSS_PCT` (0 < x < 100): sell when the price falls to `entry * (1 - x/100)`.
    pub fn stop_loss_pct(mut self, pct: Decimal) -> Result<Self, SignalError> {
        self.stop_loss_pct =
            Some(pct_in("STOP_LOSS_PCT", pct, "a percent greater than 0 and less than 100")?);
        Ok(self)
    }

    /// `TRAILING_ACTIVATION_PCT` (0 <= x <= 1000) and `TRAILING_DISTANCE_PCT` (0 < x < 100): once
    /// the price has reached `entry * (1 + activation/100)`, sell when it falls to
    /// `peak * (1 - distance/100)`.
    pub fn trailing_stop(
        mut self,
        activation_pct: Decimal,
        distance_pct: Decimal,
    ) -> Result<Self, SignalError> {
        if activation_pct < Decimal::ZERO || activation_pct > Decimal::ONE_THOUSAND {
            return Err(SignalError::setting(
                "TRAILING_ACTIVATION_PCT",
                activation_pct,
                "a percent from 0 to 1000",
            ));
        }
        let distance_pct =
            pct_in("TRAILING_DISTANCE_PCT", distance_pct, "a percent greater than 0 and less than 100")?;
        self.trailing = Some((activation_pct, distance_pct));
        Ok(self)
    }

    /// `MAX_HOLD_MIN` (1 minute ..= 30 days): sell at the first price this long after entry.
    pub fn max_hold(mut self, hold: Duration) -> Result<Self, SignalError> {
        if hold < Duration::from_secs(60) || hold > Duration::from_secs(30 * 86_400) {
            return Err(SignalError::setting("MAX_HOLD_MIN", hold.as_secs() / 60, "1..=43200 minutes"));
        }
        self.max_hold = Some(hold);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[track_caller]
    fn check_err(result: Result<impl std::fmt::Debug, SignalError>, setting: &str) {
        match result {
            Err(SignalError::InvalidSetting { setting: s, .. }) => assert_eq!(s, setting),
            other => panic!("expected an InvalidSetting error for {setting}, got {other:?}"),
        }
    }

    #[test]
    fn trigger_config_validates_each_setting() {
        check_err(TriggerConfig::new(dec!(1), TriggerMode::WindowHigh, 15), "DROP_TRIGGER_VALUE");
        check_err(TriggerConfig::new(dec!(0), TriggerMode::WindowHigh, 15), "DROP_TRIGGER_VALUE");
        check_err(TriggerConfig::new(dec!(0.9850001), TriggerMode::WindowHigh, 15), "DROP_TRIGGER_VALUE");
        check_err(TriggerConfig::new(dec!(0.985), TriggerMode::WindowHigh, 0), "DROP_TRIGGER_LOOKBACK_MIN");
        check_err(
            TriggerConfig::new(dec!(0.985), TriggerMode::WindowHigh, 1441),
            "DROP_TRIGGER_LOOKBACK_MIN",
        );
        check_err(TriggerMode::from_setting(5), "DROP_TRIGGER_MODE");
        check_err(TriggerMode::from_setting(0), "DROP_TRIGGER_MODE");
        let base = TriggerConfig::new(dec!(0.985), TriggerMode::WindowHigh, 15).unwrap();
        assert_eq!(base.rearm_margin(), dec!(0.005));
        assert_eq!(base.rearm_num(), 990_000);
        check_err(base.clone().with_rearm_margin(dec!(-0.001)), "DROP_TRIGGER_REARM_MARGIN");
        check_err(base.clone().with_rearm_margin(dec!(0.015)), "DROP_TRIGGER_REARM_MARGIN");
        check_err(base.clone().with_rearm_margin(dec!(0.0000001)), "DROP_TRIGGER_REARM_MARGIN");
        assert_eq!(base.clone().with_rearm_margin(dec!(0)).unwrap().rearm_num(), 985_000);
        // a threshold close to 1 keeps a valid default margin
        let tight = TriggerConfig::new(dec!(0.999999), TriggerMode::WindowHigh, 15).unwrap();
        assert!(tight.value() + tight.rearm_margin() < Decimal::ONE);
        let msg = TriggerConfig::new(dec!(1.5), TriggerMode::WindowHigh, 15).unwrap_err().to_string();
        assert!(msg.contains("DROP_TRIGGER_VALUE") && msg.contains("1.5") && msg.contains("(0.985"), "{msg}");
    }

    #[test]
    fn trigger_config_derives_ratio_and_buckets() {
        let c = TriggerConfig::new(dec!(0.98500), TriggerMode::AnchorReset, 15).unwrap();
        assert_eq!(c.ratio_num(), 985_000);
        assert_eq!(c.resolution(), Duration::from_secs(1));
        assert_eq!(c.max_window_buckets(), 901);
        // a day-long window is coarser, but never more than 1025 buckets
        let day = TriggerConfig::new(dec!(0.9), TriggerMode::WindowHigh, 1440).unwrap();
        assert!(day.max_window_buckets() <= 1025, "{}", day.max_window_buckets());
        assert!(day.resolution_ms() * day.buckets() >= 1440 * 60_000);
        for m in TriggerMode::ALL {
            assert_eq!(TriggerMode::from_setting(m.setting()).unwrap(), m);
        }
    }

    #[test]
    fn guard_and_exit_settings_are_checked() {
        let btc: Symbol = "BTC/USDT".parse().unwrap();
        check_err(GuardConfig::none().market_crash(btc.clone(), 0, dec!(3)), "GUARD_MARKET_CRASH_WINDOW_MIN");
        check_err(GuardConfig::none().market_crash(btc, 60, dec!(100)), "GUARD_MARKET_CRASH_MAX_DROP_PCT");
        check_err(GuardConfig::none().volatility(0, dec!(5)), "GUARD_ATR_PERIOD");
        check_err(GuardConfig::none().volatility(14, dec!(-1)), "GUARD_MAX_ATR_PCT");
        check_err(GuardConfig::none().max_spread_pct(dec!(0)), "GUARD_MAX_SPREAD_PCT");
        check_err(GuardConfig::none().min_quote_volume_24h(dec!(0)), "GUARD_MIN_QUOTE_VOLUME_24H");
        check_err(GuardConfig::none().falling_knife(dec!(150)), "GUARD_FALLING_KNIFE_MAX_DROP_PCT");
        check_err(GuardConfig::none().cooldown(Duration::ZERO), "GUARD_COOLDOWN_S");
        check_err(ExitConfig::none().take_profit_pct(dec!(0)), "TAKE_PROFIT_PCT");
        check_err(ExitConfig::none().stop_loss_pct(dec!(100)), "STOP_LOSS_PCT");
        check_err(ExitConfig::none().trailing_stop(dec!(-1), dec!(1)), "TRAILING_ACTIVATION_PCT");
        check_err(ExitConfig::none().trailing_stop(dec!(1), dec!(0)), "TRAILING_DISTANCE_PCT");
        check_err(ExitConfig::none().max_hold(Duration::from_secs(59)), "MAX_HOLD_MIN");
        assert!(!GuardConfig::none().any_enabled());
        assert!(GuardConfig::none().max_spread_pct(dec!(0.5)).unwrap().any_enabled());
    }
}
