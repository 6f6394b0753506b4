//! Market-condition guards as plain functions: each takes what it needs and returns pass or
//! [`GuardBlock`]. The engine runs them in [`GuardKind::ALL`] order (cheapest first) on a trigger
//! candidate and reports the first that blocks.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;

/// Which guard blocked a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardKind {
    /// The symbol is on the blacklist.
    Blacklist,
    /// The symbol triggered or exited too recently.
    Cooldown,
    /// The reference symbol (BTC) fell too far over its window.
    MarketCrash,
    /// ATR % of the symbol's candles is too high.
    Volatility,
    /// Bid/ask spread too wide.
    Spread,
    /// 24 h quote volume too low.
    QuoteVolume,
    /// The drop is deeper than the falling-knife maximum.
    FallingKnife,
}

impl GuardKind {
    /// Every guard, in evaluation order.
    pub const ALL: [GuardKind; 7] = [
        GuardKind::Blacklist,
        GuardKind::Cooldown,
        GuardKind::MarketCrash,
        GuardKind::Volatility,
        GuardKind::Spread,
        GuardKind::QuoteVolume,
        GuardKind::FallingKnife,
    ];

    /// Number of guards.
    pub const COUNT: usize = 7;

    /// Stable snake-case name for reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            GuardKind::Blacklist => "blacklist",
            GuardKind::Cooldown => "cooldown",
            GuardKind::MarketCrash => "market_crash",
            GuardKind::Volatility => "volatility",
            GuardKind::Spread => "spread",
            GuardKind::QuoteVolume => "quote_volume",
            GuardKind::FallingKnife => "falling_knife",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// The input a guard could not get, so it blocked without measuring anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingInput {
    /// The crash guard's reference symbol (e.g. `BTC/USDT`) is not registered with the engine.
    ReferenceNotRegistered,
    /// The reference symbol is registered but has had no price yet.
    ReferenceNoPrice,
    /// The reference symbol's latest price is older than the guard's window.
    ReferenceStale,
    /// No candles were given for the symbol's ATR yet.
    NoCandles,
    /// The tick has no usable book (bid or ask missing or not positive, or crossed).
    NoBook,
    /// The tick carries no 24 h quote volume.
    NoQuoteVolume,
}

impl MissingInput {
    /// Stable snake-case name for reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            MissingInput::ReferenceNotRegistered => "reference_not_registered",
            MissingInput::ReferenceNoPrice => "reference_no_price",
            MissingInput::ReferenceStale => "reference_stale",
            MissingInput::NoCandles => "no_candles",
            MissingInput::NoBook => "no_book",
            MissingInput::NoQuoteVolume => "no_quote_volume",
        }
    }
}

/// Why a guard blocked: it measured a value beyond its threshold, or it could not measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockCause {
    /// The measured `value` is beyond the threshold.
    OverThreshold,
    /// The guard's input is missing: it blocks rather than let a trade through unchecked.
    MissingInput(MissingInput),
}

/// A guard said no: which one, the value it saw, the threshold it compared against and why.
///
/// `cause` says whether the guard measured a value beyond its threshold
/// ([`BlockCause::OverThreshold`], `value` is `Some`) or had no data to decide on
/// ([`BlockCause::MissingInput`] naming what was missing, `value` is `None`): a guard that
/// cannot check blocks, and says so distinctly. Units: percent for market crash
/// (the change, negative = fall), volatility (ATR %), spread and falling knife (drop %); quote
/// currency for the volume; seconds for the cooldown (elapsed vs required); 1 vs 0 for the
/// blacklist (listed vs allowed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardBlock {
    /// The guard.
    pub guard: GuardKind,
    /// What it measured, when it could.
    pub value: Option<Decimal>,
    /// Its threshold.
    pub threshold: Decimal,
    /// Measured over the threshold, or missing input.
    pub cause: BlockCause,
}

impl GuardBlock {
    /// A block for missing input (no value measured).
    pub fn missing(guard: GuardKind, threshold: Decimal, input: MissingInput) -> Self {
        GuardBlock { guard, value: None, threshold, cause: BlockCause::MissingInput(input) }
    }

    /// True when the guard blocked because its input was missing.
    pub fn is_missing_input(&self) -> bool {
        matches!(self.cause, BlockCause::MissingInput(_))
    }
}

/// The verdict of one guard.
pub type GuardVerdict = Result<(), GuardBlock>;

fn block(guard: GuardKind, value: Decimal, threshold: Decimal) -> GuardVerdict {
    Err(GuardBlock { guard, value: Some(value), threshold, cause: BlockCause::OverThreshold })
}

fn block_missing(guard: GuardKind, threshold: Decimal, input: MissingInput) -> GuardVerdict {
    Err(GuardBlock::missing(guard, threshold, input))
}

/// Blocks a listed symbol.
pub fn check_blacklist(listed: bool) -> GuardVerdict {
    if listed {
        block(GuardKind::Blacklist, Decimal::ONE, Decimal::ZERO)
    } else {
        Ok(())
    }
}

/// Blocks while less than `cooldown` has passed since `since_last_ms` ago (`None` = never).
pub fn check_cooldown(since_last_ms: Option<i64>, cooldown: Duration) -> GuardVerdict {
    let need_ms = i64::try_from(cooldown.as_millis()).unwrap_or(i64::MAX);
    match since_last_ms {
        Some(elapsed) if elapsed < need_ms => block(
            GuardKind::Cooldown,
            Decimal::new(elapsed, 3).normalize(),
            Decimal::new(need_ms, 3).normalize(),
        ),
        _ => Ok(()),
    }
}

/// Blocks when the reference symbol's change over its window (percent) is at or below
/// `-max_drop_pct`, or unknown (missing input: [`MissingInput::ReferenceNoPrice`]; the engine
/// says more precisely what is missing).
pub fn check_market_crash(change_pct: Option<Decimal>, max_drop_pct: Decimal) -> GuardVerdict {
    match change_pct {
        Some(c) if c > -max_drop_pct => Ok(()),
        Some(c) => block(GuardKind::MarketCrash, c, -max_drop_pct),
        None => block_missing(GuardKind::MarketCrash, -max_drop_pct, MissingInput::ReferenceNoPrice),
    }
}

/// Blocks when ATR % is above `max_atr_pct`, or unknown.
pub fn check_volatility(atr_pct: Option<Decimal>, max_atr_pct: Decimal) -> GuardVerdict {
    match atr_pct {
        Some(v) if v <= max_atr_pct => Ok(()),
        Some(v) => block(GuardKind::Volatility, v, max_atr_pct),
        None => block_missing(GuardKind::Volatility, max_atr_pct, MissingInput::NoCandles),
    }
}

/// Spread in percent of the mid price, when both sides are there and positive.
pub fn spread_pct(bid: Option<Decimal>, ask: Option<Decimal>) -> Option<Decimal> {
    let (bid, ask) = (bid?, ask?);
    if bid <= Decimal::ZERO || ask < bid {
        return None;
    }
    let mid = (bid + ask) / Decimal::TWO;
    Some(((ask - bid) / mid * Decimal::ONE_HUNDRED).round_dp(6))
}

/// Blocks when the spread (percent) is above `max_spread_pct`, or unknown.
pub fn check_spread(spread_pct: Option<Decimal>, max_spread_pct: Decimal) -> GuardVerdict {
    match spread_pct {
        Some(s) if s <= max_spread_pct => Ok(()),
        Some(s) => block(GuardKind::Spread, s, max_spread_pct),
        None => block_missing(GuardKind::Spread, max_spread_pct, MissingInput::NoBook),
    }
}

/// Blocks when the 24 h quote volume is below `min`, or unknown.
pub fn check_quote_volume(volume: Option<Decimal>, min: Decimal) -> GuardVerdict {
    match volume {
        Some(v) if v >= min => Ok(()),
        Some(v) => block(GuardKind::QuoteVolume, v, min),
        None => block_missing(GuardKind::QuoteVolume, min, MissingInput::NoQuoteVolume),
    }
}

/// Blocks a drop (percent) deeper than `max_drop_pct`.
pub fn check_falling_knife(drop_pct: Decimal, max_drop_pct: Decimal) -> GuardVerdict {
    if drop_pct > max_drop_pct {
        block(GuardKind::FallingKnife, drop_pct, max_drop_pct)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[track_caller]
    fn check(verdict: GuardVerdict, expected: Option<(GuardKind, Option<Decimal>, Decimal)>) {
        let got = verdict.err().map(|b| (b.guard, b.value, b.threshold));
        assert_eq!(got, expected);
    }

    #[test]
    fn each_guard_passes_or_blocks_with_value_and_threshold() {
        use GuardKind::*;
        check(check_blacklist(false), None);
        check(check_blacklist(true), Some((Blacklist, Some(dec!(1)), dec!(0))));
        let cd = Duration::from_secs(300);
        check(check_cooldown(None, cd), None);
        check(check_cooldown(Some(300_000), cd), None);
        check(check_cooldown(Some(120_500), cd), Some((Cooldown, Some(dec!(120.5)), dec!(300))));
        check(check_market_crash(Some(dec!(-2.9)), dec!(3)), None);
        check(check_market_crash(Some(dec!(-3)), dec!(3)), Some((MarketCrash, Some(dec!(-3)), dec!(-3))));
        check(check_market_crash(None, dec!(3)), Some((MarketCrash, None, dec!(-3))));
        check(check_volatility(Some(dec!(2)), dec!(2)), None);
        check(check_volatility(Some(dec!(2.1)), dec!(2)), Some((Volatility, Some(dec!(2.1)), dec!(2))));
        check(check_spread(spread_pct(Some(dec!(99)), Some(dec!(101))), dec!(2)), None);
        check(
            check_spread(spread_pct(Some(dec!(99)), Some(dec!(101))), dec!(1.5)),
            Some((Spread, Some(dec!(2)), dec!(1.5))),
        );
        check(check_spread(spread_pct(None, Some(dec!(1))), dec!(1)), Some((Spread, None, dec!(1))));
        check(check_quote_volume(Some(dec!(1e6)), dec!(1e6)), None);
        check(check_quote_volume(Some(dec!(5)), dec!(10)), Some((QuoteVolume, Some(dec!(5)), dec!(10))));
        check(check_falling_knife(dec!(8), dec!(8)), None);
        check(check_falling_knife(dec!(8.01), dec!(8)), Some((FallingKnife, Some(dec!(8.01)), dec!(8))));
    }

    /// A guard without input says which input is missing; a measured block says it measured.
    #[test]
    fn missing_input_is_distinct_from_a_measured_block() {
        let cause = |v: GuardVerdict| v.err().map(|b| (b.cause, b.is_missing_input()));
        let missing = |m| Some((BlockCause::MissingInput(m), true));
        let measured = Some((BlockCause::OverThreshold, false));
        assert_eq!(cause(check_market_crash(None, dec!(3))), missing(MissingInput::ReferenceNoPrice));
        assert_eq!(cause(check_market_crash(Some(dec!(-4)), dec!(3))), measured);
        assert_eq!(cause(check_volatility(None, dec!(2))), missing(MissingInput::NoCandles));
        assert_eq!(cause(check_volatility(Some(dec!(3)), dec!(2))), measured);
        assert_eq!(cause(check_spread(None, dec!(1))), missing(MissingInput::NoBook));
        assert_eq!(cause(check_quote_volume(None, dec!(1))), missing(MissingInput::NoQuoteVolume));
        assert_eq!(cause(check_blacklist(true)), measured);
        let json = serde_json::to_value(check_spread(None, dec!(1)).unwrap_err()).unwrap();
        assert_eq!(json["cause"]["missing_input"], "no_book");
        let json = serde_json::to_value(check_blacklist(true).unwrap_err()).unwrap();
        assert_eq!(json["cause"], "over_threshold");
    }

    #[test]
    fn crossed_or_empty_books_have_no_spread() {
        assert_eq!(spread_pct(Some(dec!(101)), Some(dec!(99))), None);
        assert_eq!(spread_pct(Some(dec!(0)), Some(dec!(99))), None);
        assert_eq!(spread_pct(Some(dec!(100)), Some(dec!(100))), Some(dec!(0)));
    }

    #[test]
    fn kinds_have_distinct_indexes_in_order() {
        for (i, g) in GuardKind::ALL.iter().enumerate() {
            assert_eq!(g.index(), i);
        }
    }
}
