//! Exit rules for one held position.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use trading_core::Timestamp;

use crate::config::ExitConfig;
use crate::SignalError;

/// Which exit rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitRule {
    /// The price fell to the stop-loss level.
    StopLoss,
    /// The price fell from its peak by the trailing distance, after activation.
    TrailingStop,
    /// The price reached the take-profit level.
    TakeProfit,
    /// The position was held for the maximum time.
    MaxHold,
}

/// An exit decision: the rule, the observed price that crossed it, and the rule's level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exit {
    /// The rule that fired.
    pub rule: ExitRule,
    /// The tick's timestamp.
    pub ts: Timestamp,
    /// The observed price.
    pub price: Decimal,
    /// The level the rule compared against (for max hold: the price itself).
    pub level: Decimal,
}

/// What a restart must not forget about a position's exits: saved with [`PositionExits::state`]
/// (serde, e.g. into the ledger) and restored with [`PositionExits::restore`], so a trailing
/// stop that was active before a restart is active after it, at the same peak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitState {
    /// The entry (average fill) price.
    pub entry_price: Decimal,
    /// When the position was entered.
    pub entry_ts: Timestamp,
    /// Highest price seen since entry.
    pub peak: Decimal,
    /// True once the trailing stop was activated (the peak reached the activation level).
    pub trailing_activated: bool,
    /// The latest price seen and its time.
    pub last_price: Decimal,
    /// Time of the latest price.
    pub last_ts: Timestamp,
}

/// Tracks one position's exit rules.
///
/// Order when one tick meets several rules: the falling rules first (stop loss and trailing
/// stop), then take profit, then max hold. When a gap takes the price through both the trailing
/// stop and the stop loss, the rule **hit first in price order** is reported: the one with the
/// higher level, which the falling price crossed first (on equal levels, the stop loss). Max
/// hold is a rule of time alone: [`PositionExits::on_time`] checks it without a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionExits {
    entry_price: Decimal,
    entry_ts: Timestamp,
    stop: Option<Decimal>,
    take: Option<Decimal>,
    trailing: Option<(Decimal, Decimal)>,
    max_hold_ms: Option<i64>,
    peak: Decimal,
    activated: bool,
    last_price: Decimal,
    last_ts: Timestamp,
}

const POSITIVE: &str = "a positive price";

fn positive(what: &'static str, value: Decimal) -> Result<Decimal, SignalError> {
    if value > Decimal::ZERO {
        Ok(value)
    } else {
        Err(SignalError::InvalidPrice { what, value, reason: POSITIVE })
    }
}

impl PositionExits {
    /// Starts tracking a position entered at `entry_price` (any positive price, e.g. an average
    /// fill price with 28 digits: exits compute in `Decimal`) at `entry_ts`.
    pub fn new(cfg: &ExitConfig, entry_price: Decimal, entry_ts: Timestamp) -> Result<Self, SignalError> {
        let entry_price = positive("entry price", entry_price)?;
        let pct = |p: Decimal| p / Decimal::ONE_HUNDRED;
        Ok(PositionExits {
            entry_price,
            entry_ts,
            stop: cfg.stop_loss_pct.map(|p| entry_price * (Decimal::ONE - pct(p))),
            take: cfg.take_profit_pct.map(|p| entry_price * (Decimal::ONE + pct(p))),
            trailing: cfg
                .trailing
                .map(|(a, d)| (entry_price * (Decimal::ONE + pct(a)), Decimal::ONE - pct(d))),
            max_hold_ms: cfg.max_hold.map(|h| i64::try_from(h.as_millis()).unwrap_or(i64::MAX)),
            peak: entry_price,
            activated: false,
            last_price: entry_price,
            last_ts: entry_ts,
        })
    }

    /// Rebuilds a position's exits from the configuration and a saved [`ExitState`]: levels
    /// come from `cfg` and the entry price, the peak and the trailing activation from `state`
    /// (an activation saved as true stays true).
    pub fn restore(cfg: &ExitConfig, state: &ExitState) -> Result<Self, SignalError> {
        let mut p = PositionExits::new(cfg, state.entry_price, state.entry_ts)?;
        p.peak = positive("saved peak", state.peak)?.max(p.entry_price);
        p.last_price = positive("saved last price", state.last_price)?;
        p.last_ts = state.last_ts.max(state.entry_ts);
        p.activated = p.trailing.is_some() && (state.trailing_activated || p.reached_activation());
        Ok(p)
    }

    /// The state to save so a restart does not forget the peak or an active trailing stop.
    pub fn state(&self) -> ExitState {
        ExitState {
            entry_price: self.entry_price,
            entry_ts: self.entry_ts,
            peak: self.peak,
            trailing_activated: self.activated,
            last_price: self.last_price,
            last_ts: self.last_ts,
        }
    }

    /// The entry price.
    pub fn entry_price(&self) -> Decimal {
        self.entry_price
    }

    /// Highest price seen since entry.
    pub fn peak(&self) -> Decimal {
        self.peak
    }

    /// The trailing stop's current level, once activated.
    pub fn trailing_level(&self) -> Option<Decimal> {
        let (_, keep) = self.trailing?;
        self.activated.then(|| self.peak * keep)
    }

    /// When max hold fires (`entry + MAX_HOLD_MIN`), so the caller can wait for it (e.g. a
    /// `tokio::time::sleep_until`) instead of waiting for a tick.
    pub fn max_hold_deadline(&self) -> Option<Timestamp> {
        let ms = self.max_hold_ms?;
        Some(Timestamp::from_millis(self.entry_ts.as_millis().saturating_add(ms)))
    }

    fn reached_activation(&self) -> bool {
        self.trailing.is_some_and(|(activation, _)| self.peak >= activation)
    }

    /// Feeds a price; returns the exit when a rule fires. Ticks older than the latest are
    /// ignored (`Ok(None)`); a price that is not positive is an error.
    pub fn on_price(&mut self, ts: Timestamp, price: Decimal) -> Result<Option<Exit>, SignalError> {
        let price = positive("position price", price)?;
        if ts < self.last_ts {
            return Ok(None);
        }
        self.last_ts = ts;
        self.last_price = price;
        let exit = |rule, level| Some(Exit { rule, ts, price, level });
        let stop = self.stop.filter(|s| price <= *s);
        // the trailing level is the one from before this tick: a new peak cannot stop itself
        let trail = self.trailing_level().filter(|l| price <= *l);
        match (stop, trail) {
            // both crossed by one gap: the higher level was hit first on the way down
            (Some(s), Some(t)) if t > s => return Ok(exit(ExitRule::TrailingStop, t)),
            (Some(s), _) => return Ok(exit(ExitRule::StopLoss, s)),
            (None, Some(t)) => return Ok(exit(ExitRule::TrailingStop, t)),
            (None, None) => {}
        }
        self.peak = self.peak.max(price);
        if !self.activated && self.reached_activation() {
            self.activated = true;
        }
        if let Some(take) = self.take.filter(|t| price >= *t) {
            return Ok(exit(ExitRule::TakeProfit, take));
        }
        Ok(self.on_time(ts))
    }

    /// Checks max hold on time alone (no tick needed): at or after the deadline it returns the
    /// exit, with the latest seen price (the entry price before any tick) as `price` and
    /// `level`.
    pub fn on_time(&self, now: Timestamp) -> Option<Exit> {
        let hold = self.max_hold_ms?;
        (now.millis_since(self.entry_ts) >= hold).then_some(Exit {
            rule: ExitRule::MaxHold,
            ts: now,
            price: self.last_price,
            level: self.last_price,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use std::time::Duration;

    fn cfg() -> ExitConfig {
        ExitConfig::none()
            .take_profit_pct(dec!(5))
            .unwrap()
            .stop_loss_pct(dec!(3))
            .unwrap()
            .trailing_stop(dec!(2), dec!(1))
            .unwrap()
            .max_hold(Duration::from_secs(3600))
            .unwrap()
    }

    #[track_caller]
    fn check(path: &[(i64, Decimal)], expected: Option<(ExitRule, Decimal)>) {
        let mut p = PositionExits::new(&cfg(), dec!(100), Timestamp::from_millis(0)).unwrap();
        let mut got = None;
        for &(s, price) in path {
            if let Some(e) = p.on_price(Timestamp::from_millis(s * 1000), price).unwrap() {
                got = Some((e.rule, e.level));
                break;
            }
        }
        assert_eq!(got, expected, "path {path:?}");
    }

    #[test]
    fn each_rule_fires_at_its_level() {
        check(&[(1, dec!(99)), (2, dec!(97))], Some((ExitRule::StopLoss, dec!(97))));
        check(&[(1, dec!(105))], Some((ExitRule::TakeProfit, dec!(105))));
        // activation at 102; peak 103 -> trailing level 101.97
        check(
            &[(1, dec!(103)), (2, dec!(102.5)), (3, dec!(101.97))],
            Some((ExitRule::TrailingStop, dec!(101.97))),
        );
        // below activation the trailing stop is not armed
        check(&[(1, dec!(101.9)), (2, dec!(100.5))], None);
        check(&[(1, dec!(100)), (3600, dec!(100.1))], Some((ExitRule::MaxHold, dec!(100.1))));
        check(&[(1, dec!(101)), (3599, dec!(101))], None);
    }

    /// A gap through both levels of an activated trailing position reports the rule hit first
    /// on the way down: the trailing level (above the stop) here, the stop loss when it is
    /// higher.
    #[test]
    fn gap_through_trailing_and_stop_reports_the_higher_level() {
        // peak 103 -> trailing level 101.97; stop 97; a gap to 90 crosses both
        check(&[(1, dec!(103)), (2, dec!(90))], Some((ExitRule::TrailingStop, dec!(101.97))));
        // trailing distance 10 %, activation 0 %: trailing level 90 at peak 100, stop 97
        let cfg =
            ExitConfig::none().stop_loss_pct(dec!(3)).unwrap().trailing_stop(dec!(0), dec!(10)).unwrap();
        let mut p = PositionExits::new(&cfg, dec!(100), Timestamp::from_millis(0)).unwrap();
        assert_eq!(p.on_price(Timestamp::from_millis(1), dec!(100)).unwrap(), None);
        let e = p.on_price(Timestamp::from_millis(2), dec!(80)).unwrap().unwrap();
        assert_eq!((e.rule, e.level), (ExitRule::StopLoss, dec!(97)));
    }

    /// An average fill price beyond the fixed-point range of the trigger is a valid entry.
    #[test]
    fn any_positive_entry_price_is_accepted() {
        let entry = Decimal::from_i128_with_scale(1_234_567_890_123_456_789_012_345_678, 27);
        assert_eq!(entry.scale(), 27);
        let mut p = PositionExits::new(&cfg(), entry, Timestamp::from_millis(0)).unwrap();
        let e = p.on_price(Timestamp::from_millis(1), dec!(1.1)).unwrap().unwrap();
        assert_eq!(e.rule, ExitRule::StopLoss);
        let big = PositionExits::new(&cfg(), dec!(20000000000), Timestamp::EPOCH).unwrap();
        assert_eq!(big.entry_price(), dec!(20000000000));
        assert!(PositionExits::new(&cfg(), dec!(-0.5), Timestamp::EPOCH).is_err());
    }

    /// Max hold fires on time alone, with no tick after entry.
    #[test]
    fn max_hold_fires_without_a_tick() {
        let p = PositionExits::new(&cfg(), dec!(100), Timestamp::from_millis(1_000)).unwrap();
        assert_eq!(p.max_hold_deadline(), Some(Timestamp::from_millis(3_601_000)));
        assert_eq!(p.on_time(Timestamp::from_millis(3_600_999)), None);
        let e = p.on_time(Timestamp::from_millis(3_601_000)).unwrap();
        assert_eq!((e.rule, e.price, e.level), (ExitRule::MaxHold, dec!(100), dec!(100)));
        assert_eq!(
            PositionExits::new(&ExitConfig::none(), dec!(1), Timestamp::EPOCH)
                .unwrap()
                .on_time(Timestamp::from_millis(i64::MAX)),
            None
        );
    }

    /// The peak and the trailing activation survive a save and restore (through JSON).
    #[test]
    fn exit_state_round_trips_and_keeps_the_trailing_stop() {
        let mut p = PositionExits::new(&cfg(), dec!(100), Timestamp::from_millis(0)).unwrap();
        assert_eq!(p.on_price(Timestamp::from_millis(1_000), dec!(104)).unwrap(), None);
        assert_eq!(p.on_price(Timestamp::from_millis(2_000), dec!(103.5)).unwrap(), None);
        let json = serde_json::to_string(&p.state()).unwrap();
        let saved: ExitState = serde_json::from_str(&json).unwrap();
        assert_eq!(saved.peak, dec!(104));
        assert!(saved.trailing_activated);
        let mut restored = PositionExits::restore(&cfg(), &saved).unwrap();
        assert_eq!(restored, p);
        assert_eq!(restored.trailing_level(), Some(dec!(102.96)));
        let e = restored.on_price(Timestamp::from_millis(3_000), dec!(102.9)).unwrap().unwrap();
        assert_eq!((e.rule, e.level), (ExitRule::TrailingStop, dec!(102.96)));
        // a restored activation stays on even if the peak alone would not activate it now
        let strict = ExitConfig::none().trailing_stop(dec!(50), dec!(1)).unwrap();
        let r = PositionExits::restore(&strict, &saved).unwrap();
        assert_eq!(r.trailing_level(), Some(dec!(102.96)));
        let bad = ExitState { peak: dec!(0), ..saved };
        assert!(PositionExits::restore(&cfg(), &bad).is_err());
    }

    #[test]
    fn invalid_and_late_prices() {
        let mut p = PositionExits::new(&cfg(), dec!(100), Timestamp::from_millis(5_000)).unwrap();
        assert!(p.on_price(Timestamp::from_millis(6_000), dec!(-1)).is_err());
        assert_eq!(p.on_price(Timestamp::from_millis(1_000), dec!(50)).unwrap(), None);
        assert!(PositionExits::new(&cfg(), dec!(0), Timestamp::EPOCH).is_err());
        assert_eq!(p.entry_price(), dec!(100));
    }
}
