//! Hot / warm / cold tiers: the rules that move a symbol between them (pure; no IO, time comes
//! in as an argument).
//!
//! - **Hot** while another crate has marked it (recent drop, open order, held position; see
//!   [`crate::FeedHandle::mark_hot`]) or for `MD_HOT_HOLD_S` after a fast move (at least
//!   `MD_FAST_MOVE_PCT` between two consecutive prices).
//! - **Cold** when it is quiet (the price stayed within `MD_QUIET_PCT` of its anchor for
//!   `MD_QUIET_S`) or its 24h quote volume is below `MD_COLD_VOLUME`.
//! - **Warm** otherwise (the default).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use telemetry::Tier;
use trading_core::Timestamp;

use crate::FeedConfig;

/// What the tier rules remember about one symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TierState {
    pub(crate) tier: Tier,
    last_price: Option<Decimal>,
    /// Price the quiet rule measures against, and since when.
    anchor: Option<(Decimal, Timestamp)>,
    /// Hot until this time because of a fast move.
    hot_until: Option<Timestamp>,
    /// Marks from other crates: reason -> until (None = until cleared).
    marks: BTreeMap<String, Option<Timestamp>>,
    /// The earliest end among the marks: expired marks are looked for only once one is due
    /// (the rules run for every symbol every cycle).
    marks_due: Option<Timestamp>,
    volume: Option<Decimal>,
}

impl Default for TierState {
    fn default() -> Self {
        TierState {
            tier: Tier::Warm,
            last_price: None,
            anchor: None,
            hot_until: None,
            marks: BTreeMap::new(),
            marks_due: None,
            volume: None,
        }
    }
}

/// How the move from `from` to `to`, in percent of `from`, compares with `pct`: compares
/// `|to - from| * 100` with `pct * from`, two exact multiplications instead of a division per
/// quote. A non-positive `from` is no move (0 %); a product too large for a `Decimal` is the
/// larger side.
fn move_vs(from: Decimal, to: Decimal, pct: Decimal) -> Ordering {
    if !trading_core::is_positive(&from) {
        return Decimal::ZERO.cmp(&pct);
    }
    // Prices of one market share a scale: then the same comparison on the mantissas, in
    // integers (`|to - from| * 100 * 10^pct_scale` against `pct_mantissa * from`); with the
    // usual magnitudes both products fit a `u128` by construction (one 64 x 64 and one
    // 32 x 96-bit factor), else they are checked; the `Decimal` products when they overflow.
    if from.scale() == to.scale() && to.is_sign_positive() && pct.is_sign_positive() {
        let (f, t) = (from.mantissa().unsigned_abs(), to.mantissa().unsigned_abs());
        let (diff, pm) = (t.abs_diff(f), pct.mantissa().unsigned_abs());
        if let Some(&scale) = HUNDRED_POW10.get(pct.scale() as usize) {
            if diff <= u128::from(u64::MAX) && scale <= u128::from(u64::MAX) && pm <= u128::from(u32::MAX) {
                // diff * scale < 2^128; pm * f < 2^32 * 2^96 (a mantissa is below 2^96)
                return (diff * scale).cmp(&(pm * f));
            }
            if let (Some(moved), Some(limit)) = (diff.checked_mul(scale), pm.checked_mul(f)) {
                return moved.cmp(&limit);
            }
        }
    }
    match ((to - from).abs().checked_mul(Decimal::ONE_HUNDRED), pct.checked_mul(from)) {
        (Some(moved), Some(limit)) => moved.cmp(&limit),
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

/// `100 * 10^s` for every `Decimal` scale `s` (0..=28): below 2^100.
const HUNDRED_POW10: [u128; 29] = {
    let mut t = [100_u128; 29];
    let mut i = 1;
    while i < 29 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Which rule decided a tier (its words are built only when the tier changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    Marked,
    FastMove,
    LowVolume,
    Quiet,
    Default,
}

impl TierState {
    /// Records a price seen at `now`. Returns a fast-move reason when it made the symbol hot.
    pub(crate) fn observe_price(&mut self, price: Decimal, now: Timestamp, config: &FeedConfig) {
        if let Some(prev) = self.last_price {
            if move_vs(prev, price, config.fast_move_pct).is_ge() {
                self.hot_until = Some(now + config.hot_hold);
            }
        }
        self.last_price = Some(price);
        match self.anchor {
            Some((anchor, _)) if move_vs(anchor, price, config.quiet_pct).is_le() => {}
            _ => self.anchor = Some((price, now)),
        }
    }

    /// Records the 24h quote volume.
    pub(crate) fn observe_volume(&mut self, volume: Decimal) {
        self.volume = Some(volume);
    }

    /// Marks the symbol hot for `reason` until `until` (`None`: until cleared).
    pub(crate) fn mark(&mut self, reason: &str, until: Option<Timestamp>) {
        self.marks.insert(reason.to_owned(), until);
        self.marks_due = self.earliest_mark_end();
    }

    /// Clears one mark.
    pub(crate) fn unmark(&mut self, reason: &str) {
        self.marks.remove(reason);
        self.marks_due = self.earliest_mark_end();
    }

    fn earliest_mark_end(&self) -> Option<Timestamp> {
        self.marks.values().flatten().min().copied()
    }

    /// The tier the rules give at `now` and the rule that gave it (no allocation: this runs
    /// for every symbol every cycle).
    pub(crate) fn rule(&mut self, now: Timestamp, config: &FeedConfig) -> (Tier, Rule) {
        if !self.marks.is_empty() {
            if self.marks_due.is_some_and(|due| due <= now) {
                self.marks.retain(|_, until| until.is_none_or(|u| u > now));
                self.marks_due = self.earliest_mark_end();
            }
            if !self.marks.is_empty() {
                return (Tier::Hot, Rule::Marked);
            }
        }
        if self.hot_until.is_some_and(|u| u > now) {
            return (Tier::Hot, Rule::FastMove);
        }
        if config.cold_volume > Decimal::ZERO && self.volume.is_some_and(|v| v < config.cold_volume) {
            return (Tier::Cold, Rule::LowVolume);
        }
        if config.quiet_pct > Decimal::ZERO
            && self.anchor.is_some_and(|(_, since)| now.saturating_since(since) >= config.quiet_for)
        {
            return (Tier::Cold, Rule::Quiet);
        }
        (Tier::Warm, Rule::Default)
    }

    /// The words of `rule` for a TIER_CHANGED event (from the tier this symbol had so far).
    pub(crate) fn describe(&self, rule: Rule, config: &FeedConfig) -> String {
        match rule {
            Rule::Marked => format!("marked hot: {}", self.marks.keys().next().map_or("", String::as_str)),
            Rule::FastMove => format!("fast move >= {}%", config.fast_move_pct),
            Rule::LowVolume => format!(
                "low volume: 24h quote volume {} < {}",
                self.volume.unwrap_or_default(),
                config.cold_volume
            ),
            Rule::Quiet => {
                format!("quiet: within {}% for {} s", config.quiet_pct, config.quiet_for.as_secs())
            }
            Rule::Default => match self.tier {
                Tier::Hot => "no longer hot: marks cleared and no fast move",
                Tier::Cold => "moving again",
                Tier::Warm => "default",
            }
            .to_owned(),
        }
    }

    /// The tier the rules give at `now`, with the rule's words.
    #[cfg(test)]
    pub(crate) fn decide(&mut self, now: Timestamp, config: &FeedConfig) -> (Tier, String) {
        let (tier, rule) = self.rule(now, config);
        (tier, self.describe(rule, config))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rust_decimal_macros::dec;

    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    #[test]
    fn move_vs_in_integers_agrees_with_the_decimal_products() {
        let prices =
            [dec!(0.0001), dec!(1.0000), dec!(1.0100), dec!(0.9900), dec!(64999.99), dec!(65650.00), dec!(3)];
        let pcts = [dec!(0), dec!(1), dec!(0.5), dec!(0.25), dec!(12.5), dec!(100)];
        for from in prices {
            for to in prices {
                for pct in pcts {
                    let expected = ((to - from).abs() * dec!(100)).cmp(&(pct * from));
                    assert_eq!(move_vs(from, to, pct), expected, "{from} -> {to} vs {pct}%");
                }
            }
        }
        // Wide mantissas and fine percentages take the checked and the Decimal paths.
        let wide = [
            dec!(79228162514264337593543950.335),
            dec!(0.000000000000000000000000001),
            dec!(18446744073709551.616),
        ];
        for from in wide.iter().chain(&prices) {
            for to in wide.iter().chain(&prices) {
                for pct in [dec!(4294967296), dec!(1.5), dec!(0.001)] {
                    if pct.scale() + from.scale() > 28 {
                        continue; // the Decimal product would round: not a reference
                    }
                    let expected = match ((to - from).abs().checked_mul(dec!(100)), pct.checked_mul(*from)) {
                        (Some(moved), Some(limit)) => moved.cmp(&limit),
                        (None, Some(_)) => Ordering::Greater,
                        (Some(_), None) => Ordering::Less,
                        (None, None) => Ordering::Equal,
                    };
                    assert_eq!(move_vs(*from, *to, pct), expected, "{from} -> {to} vs {pct}%");
                }
            }
        }
        let huge = Decimal::MAX / dec!(2);
        assert_eq!(
            move_vs(huge, Decimal::MAX, dec!(1)),
            Ordering::Greater,
            "a product too large is the larger side"
        );
    }

    fn config() -> FeedConfig {
        FeedConfig {
            fast_move_pct: dec!(1),
            hot_hold: Duration::from_secs(60),
            quiet_pct: dec!(0.2),
            quiet_for: Duration::from_secs(300),
            cold_volume: dec!(100000),
            ..FeedConfig::default()
        }
    }

    #[test]
    fn fast_move_makes_hot_for_the_hold_time() {
        let c = config();
        let mut s = TierState::default();
        s.observe_price(dec!(100), at(0), &c);
        assert_eq!(s.decide(at(0), &c).0, Tier::Warm);
        s.observe_price(dec!(98.9), at(1), &c); // -1.1 %
        assert_eq!(s.decide(at(1), &c).0, Tier::Hot);
        assert_eq!(s.decide(at(60), &c).0, Tier::Hot);
        assert_eq!(s.decide(at(61), &c).0, Tier::Warm);
    }

    #[test]
    fn marks_hold_until_cleared_or_expired() {
        let c = config();
        let mut s = TierState::default();
        s.mark("open order", None);
        s.mark("recent drop", Some(at(10)));
        assert_eq!(s.decide(at(20), &c), (Tier::Hot, "marked hot: open order".into()));
        s.unmark("open order");
        assert_eq!(s.decide(at(20), &c).0, Tier::Warm);
    }

    #[test]
    fn quiet_and_low_volume_make_cold_and_movement_warms_again() {
        let c = config();
        let mut s = TierState::default();
        s.observe_price(dec!(100), at(0), &c);
        s.observe_price(dec!(100.1), at(200), &c); // within 0.2 %
        assert_eq!(s.decide(at(299), &c).0, Tier::Warm);
        let (tier, reason) = s.decide(at(300), &c);
        assert_eq!(tier, Tier::Cold);
        assert!(reason.starts_with("quiet"), "{reason}");
        s.tier = Tier::Cold;
        s.observe_price(dec!(100.5), at(301), &c); // 0.5 % from the anchor: a new anchor
        assert_eq!(s.decide(at(301), &c), (Tier::Warm, "moving again".into()));
        s.observe_volume(dec!(5000));
        assert!(s.decide(at(302), &c).1.starts_with("low volume"));
    }
}
