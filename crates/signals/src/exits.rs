//! Exit rules for one held position.

use rust_decimal::Decimal;
use serde::Serialize;
use trading_core::Timestamp;

use crate::config::ExitConfig;
use crate::fixed::{to_px, PRICE_RANGE};
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

/// Tracks one position's exit rules. Rules are checked in the order stop loss, trailing stop,
/// take profit, max hold; the first that fires is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionExits {
    entry_price: Decimal,
    entry_ts: Timestamp,
    stop: Option<Decimal>,
    take: Option<Decimal>,
    trailing: Option<(Decimal, Decimal)>,
    max_hold_ms: Option<i64>,
    peak: Decimal,
    last_ts: Timestamp,
}

impl PositionExits {
    /// Starts tracking a position entered at `entry_price` at `entry_ts`.
    pub fn new(cfg: &ExitConfig, entry_price: Decimal, entry_ts: Timestamp) -> Result<Self, SignalError> {
        if to_px(entry_price).is_none() {
            return Err(SignalError::InvalidPrice {
                what: "entry price",
                value: entry_price,
                reason: PRICE_RANGE,
            });
        }
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
            last_ts: entry_ts,
        })
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
        let (activation, keep) = self.trailing?;
        (self.peak >= activation).then(|| self.peak * keep)
    }

    /// Feeds a price; returns the exit when a rule fires. Ticks older than the latest are
    /// ignored (`Ok(None)`); an invalid price is an error.
    pub fn on_price(&mut self, ts: Timestamp, price: Decimal) -> Result<Option<Exit>, SignalError> {
        if to_px(price).is_none() {
            return Err(SignalError::InvalidPrice {
                what: "position price",
                value: price,
                reason: PRICE_RANGE,
            });
        }
        if ts < self.last_ts {
            return Ok(None);
        }
        self.last_ts = ts;
        let exit = |rule, level| Some(Exit { rule, ts, price, level });
        if let Some(stop) = self.stop.filter(|s| price <= *s) {
            return Ok(exit(ExitRule::StopLoss, stop));
        }
        // the trailing level is the one from before this tick: a new peak cannot stop itself
        if let Some(level) = self.trailing_level().filter(|l| price <= *l) {
            return Ok(exit(ExitRule::TrailingStop, level));
        }
        self.peak = self.peak.max(price);
        if let Some(take) = self.take.filter(|t| price >= *t) {
            return Ok(exit(ExitRule::TakeProfit, take));
        }
        if self.max_hold_ms.is_some_and(|h| ts.millis_since(self.entry_ts) >= h) {
            return Ok(exit(ExitRule::MaxHold, price));
        }
        Ok(None)
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

    #[test]
    fn invalid_and_late_prices() {
        let mut p = PositionExits::new(&cfg(), dec!(100), Timestamp::from_millis(5_000)).unwrap();
        assert!(p.on_price(Timestamp::from_millis(6_000), dec!(-1)).is_err());
        assert_eq!(p.on_price(Timestamp::from_millis(1_000), dec!(50)).unwrap(), None);
        assert!(PositionExits::new(&cfg(), dec!(0), Timestamp::EPOCH).is_err());
        assert_eq!(p.entry_price(), dec!(100));
    }
}
