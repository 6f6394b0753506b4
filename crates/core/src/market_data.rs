//! Market data: top-of-book quotes, candles and candle intervals.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Symbol, Timestamp, ValueError};

/// A top-of-book snapshot of one market.
///
/// `bid`/`ask` come from the book ticker, `last` and `quote_volume_24h` from the 24h ticker; a
/// venue endpoint that does not carry a field leaves it `None` rather than inventing one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The market.
    pub symbol: Symbol,
    /// Best bid price.
    pub bid: Option<Decimal>,
    /// Best ask price.
    pub ask: Option<Decimal>,
    /// Last traded price.
    pub last: Option<Decimal>,
    /// Traded volume over the last 24 h in the quote asset.
    pub quote_volume_24h: Option<Decimal>,
    /// When the exchange produced the data, if it says.
    pub exchange_ts: Option<Timestamp>,
    /// When this process received it (from the [`crate::Clock`]).
    pub received_at: Timestamp,
}

impl Quote {
    /// The price a strategy should look at: the mid of bid and ask when both are there, else the
    /// last trade, else whichever side exists. Zero or negative values count as absent (a venue
    /// sends `0` for an idle market), and a mid that does not fit a `Decimal` is `None`: venue
    /// data never panics here.
    #[inline] // every quote's price, in other crates' hot loops
    pub fn price(&self) -> Option<Decimal> {
        // By reference: the mantissas are then read from the quote itself, not from a copy
        // just written piece by piece (a store-forwarding stall on every quote).
        fn positive(v: &Option<Decimal>) -> Option<&Decimal> {
            v.as_ref().filter(|d| is_positive(d))
        }
        let (bid, ask) = (positive(&self.bid), positive(&self.ask));
        match (bid, ask) {
            (Some(b), Some(a)) => mid_of(b, a),
            _ => positive(&self.last).or(bid).or(ask).copied(),
        }
    }

    /// Spread as a fraction of the mid price (`(ask - bid) / mid`), when both sides exist and
    /// are positive. Checked arithmetic: absurd venue values give `None`, never a panic.
    pub fn spread_ratio(&self) -> Option<Decimal> {
        let bid = self.bid.filter(|p| *p > Decimal::ZERO)?;
        let ask = self.ask.filter(|p| *p > Decimal::ZERO)?;
        let mid = mid_of(&bid, &ask)?;
        ask.checked_sub(bid)?.checked_div(mid)
    }
}

/// `*d > 0`, from the sign bit and the mantissa (every price of every quote is tested, and a
/// `Decimal` comparison first aligns the scales).
#[inline]
pub fn is_positive(d: &Decimal) -> bool {
    d.is_sign_positive() && !d.is_zero()
}

/// `(a + b) / 2` without overflow: halves first, so two values near `Decimal::MAX` still have
/// a mid. `None` only when the result cannot be represented.
///
/// Every quote's price goes through here, so the usual case halves the sum's integer mantissa
/// (or takes five times it one decimal place further) instead of a `Decimal` division: the
/// same value, exactly.
#[inline]
fn mid_of(a: &Decimal, b: &Decimal) -> Option<Decimal> {
    // Bid and ask of one market share its tick, so their scales are equal as a rule: the sum is
    // then the sum of the mantissas (below 2^97, no overflow in an i128) at that scale, exactly
    // what `checked_add` gives when it fits, without its scale alignment.
    if a.scale() == b.scale() && a.is_sign_positive() && b.is_sign_positive() {
        let (m, scale) = (a.mantissa() + b.mantissa(), a.scale());
        let half = if m % 2 == 0 {
            Decimal::try_from_i128_with_scale(m / 2, scale)
        } else {
            Decimal::try_from_i128_with_scale(m * 5, scale + 1)
        };
        if let Ok(h) = half {
            return Some(h);
        }
    }
    if let Some(sum) = a.checked_add(*b) {
        let (m, scale) = (sum.mantissa(), sum.scale());
        let half = if m % 2 == 0 {
            Decimal::try_from_i128_with_scale(m / 2, scale).ok()
        } else {
            m.checked_mul(5).and_then(|m5| Decimal::try_from_i128_with_scale(m5, scale + 1).ok())
        };
        if let Some(h) = half.or_else(|| sum.checked_div(Decimal::TWO)) {
            return Some(h);
        }
    }
    (a.checked_div(Decimal::TWO)?).checked_add(b.checked_div(Decimal::TWO)?)
}

/// Candle width. The names are the exchange-neutral `1m`, `5m`, `1h`, ... (venues that spell
/// them differently translate in their client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Interval {
    /// One minute.
    #[serde(rename = "1m")]
    M1,
    /// Three minutes.
    #[serde(rename = "3m")]
    M3,
    /// Five minutes.
    #[serde(rename = "5m")]
    M5,
    /// Fifteen minutes.
    #[serde(rename = "15m")]
    M15,
    /// Thirty minutes.
    #[serde(rename = "30m")]
    M30,
    /// One hour.
    #[serde(rename = "1h")]
    H1,
    /// Four hours.
    #[serde(rename = "4h")]
    H4,
    /// One day.
    #[serde(rename = "1d")]
    D1,
}

impl Interval {
    /// Every interval, shortest first.
    pub const ALL: [Interval; 8] = [
        Interval::M1,
        Interval::M3,
        Interval::M5,
        Interval::M15,
        Interval::M30,
        Interval::H1,
        Interval::H4,
        Interval::D1,
    ];

    /// The neutral name (`1m`, `1h`, ...), which is also Binance's.
    pub const fn as_str(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M3 => "3m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::M30 => "30m",
            Interval::H1 => "1h",
            Interval::H4 => "4h",
            Interval::D1 => "1d",
        }
    }

    /// The width as a duration.
    pub const fn duration(self) -> Duration {
        let mins = match self {
            Interval::M1 => 1,
            Interval::M3 => 3,
            Interval::M5 => 5,
            Interval::M15 => 15,
            Interval::M30 => 30,
            Interval::H1 => 60,
            Interval::H4 => 240,
            Interval::D1 => 1440,
        };
        Duration::from_secs(mins * 60)
    }

    /// The width in milliseconds.
    pub const fn millis(self) -> i64 {
        self.duration().as_millis() as i64
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Interval::ALL.into_iter().find(|i| i.as_str() == s).ok_or_else(|| ValueError {
            what: "candle interval",
            value: s.to_owned(),
            reason: "expected one of 1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d",
        })
    }
}

/// One OHLCV candle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Start of the candle.
    pub open_time: Timestamp,
    /// Opening price.
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
    /// Closing price.
    pub close: Decimal,
    /// Volume in the base asset.
    pub volume: Decimal,
    /// Volume in the quote asset, when the source has it.
    pub quote_volume: Option<Decimal>,
}

impl Candle {
    /// True when the prices are consistent: `low <= open, close <= high`, all positive, volume
    /// not negative. Parsers use it to reject corrupt rows.
    pub fn is_consistent(&self) -> bool {
        self.low > Decimal::ZERO
            && self.low <= self.high
            && (self.low..=self.high).contains(&self.open)
            && (self.low..=self.high).contains(&self.close)
            && self.volume >= Decimal::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn quote(bid: Option<Decimal>, ask: Option<Decimal>, last: Option<Decimal>) -> Quote {
        Quote {
            symbol: "BTC/USDT".parse().unwrap(),
            bid,
            ask,
            last,
            quote_volume_24h: None,
            exchange_ts: None,
            received_at: Timestamp::EPOCH,
        }
    }

    #[test]
    fn price_prefers_mid_then_last() {
        assert_eq!(quote(Some(dec!(99)), Some(dec!(101)), Some(dec!(7))).price(), Some(dec!(100)));
        assert_eq!(quote(None, Some(dec!(101)), Some(dec!(7))).price(), Some(dec!(7)));
        assert_eq!(quote(None, Some(dec!(101)), None).price(), Some(dec!(101)));
        assert_eq!(quote(None, None, None).price(), None);
    }

    #[test]
    fn absurd_or_zero_venue_values_never_panic() {
        let max = Decimal::MAX;
        let big = Decimal::from(6) * Decimal::from(10u64.pow(14)) * Decimal::from(10u64.pow(14));
        // (big + big) overflowed and panicked before; halving first gives the mid.
        assert_eq!(quote(Some(big), Some(big), None).price(), Some(big));
        assert_eq!(quote(Some(big), Some(big), None).spread_ratio(), Some(Decimal::ZERO));
        let _ = quote(Some(max), Some(max), None).price();
        // A negative bid is no bid.
        assert_eq!(quote(Some(Decimal::MIN), Some(max), None).spread_ratio(), None);
        let tiny = Decimal::new(1, 28);
        assert!(quote(Some(tiny), Some(max), None).spread_ratio().is_some_and(|r| r <= Decimal::TWO));
        // Zero means "no price".
        assert_eq!(quote(Some(dec!(0)), Some(dec!(0)), Some(dec!(0))).price(), None);
        assert_eq!(quote(Some(dec!(0)), Some(dec!(5)), Some(dec!(0))).price(), Some(dec!(5)));
        assert_eq!(quote(Some(dec!(0)), Some(dec!(5)), None).spread_ratio(), None);
    }

    /// The mid built from the mantissa is the value a `Decimal` division gives.
    #[test]
    fn mid_is_the_exact_half_of_the_sum() {
        let values = [
            dec!(0.000001),
            dec!(0.00002401),
            dec!(1),
            dec!(1.5),
            dec!(64999.99),
            dec!(65000.01),
            dec!(3),
            dec!(0.1234567890123456789012345678),
            Decimal::new(1, 28),
            Decimal::MAX / Decimal::from(4),
        ];
        for a in values {
            for b in values {
                let expected = (a / Decimal::TWO) + (b / Decimal::TWO);
                let mid = mid_of(&a, &b).unwrap();
                // Within one unit of the last place the result can hold (28 significant digits).
                let unit = Decimal::new(1, mid.scale().max(expected.scale()));
                assert!((mid - expected).abs() <= unit, "{a} {b}: {mid} vs {expected}");
                if let Some(exact) = a.checked_add(b).and_then(|s| s.checked_div(Decimal::TWO)) {
                    assert_eq!(mid, exact, "{a} {b}");
                }
            }
        }
        assert_eq!(mid_of(&dec!(1), &dec!(2)).unwrap().to_string(), "1.5");
        assert_eq!(mid_of(&dec!(99), &dec!(101)).unwrap().to_string(), "100");
    }

    #[test]
    fn the_same_scale_shortcut_gives_the_digits_of_the_general_path() {
        // The general path: the Decimal sum, then its half (or five times it one place further).
        // Where the sum does not fit its scale `checked_add` rounds it; the shortcut keeps the
        // exact half there, so only sums that fit are compared digit for digit.
        let general = |a: Decimal, b: Decimal| {
            let sum = a.checked_add(b).filter(|s| s.scale() == a.scale())?;
            let (m, scale) = (sum.mantissa(), sum.scale());
            if m % 2 == 0 {
                Decimal::try_from_i128_with_scale(m / 2, scale).ok()
            } else {
                Decimal::try_from_i128_with_scale(m * 5, scale + 1).ok()
            }
        };
        let max_mantissa = Decimal::MAX.mantissa();
        for scale in [0, 2, 8, 27, 28] {
            for (ma, mb) in
                [(1, 2), (99, 101), (0, 0), (7, 7), (max_mantissa / 2, max_mantissa / 2), (max_mantissa, 1)]
            {
                let (a, b) =
                    (Decimal::from_i128_with_scale(ma, scale), Decimal::from_i128_with_scale(mb, scale));
                let (mid, expected) = (mid_of(&a, &b), general(a, b));
                if let Some(e) = expected {
                    assert_eq!(mid.map(|m| m.to_string()), Some(e.to_string()), "{a} {b}");
                }
                assert!(mid.is_some(), "{a} {b} has a mid");
            }
        }
    }

    #[test]
    fn is_positive_agrees_with_the_comparison() {
        let neg_zero = Decimal::from_parts(0, 0, 0, true, 3);
        for d in
            [dec!(0), dec!(0.000), neg_zero, dec!(-0.001), dec!(0.001), Decimal::MAX, Decimal::MIN, dec!(7)]
        {
            assert_eq!(is_positive(&d), d > Decimal::ZERO, "{d:?}");
        }
    }

    #[test]
    fn spread_ratio_is_relative_to_mid() {
        assert_eq!(quote(Some(dec!(99)), Some(dec!(101)), None).spread_ratio(), Some(dec!(0.02)));
        assert_eq!(quote(Some(dec!(99)), None, None).spread_ratio(), None);
    }

    #[test]
    fn intervals_parse_and_print() {
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>().unwrap(), i);
        }
        assert_eq!(Interval::H1.millis(), 3_600_000);
        let err = "2m".parse::<Interval>().unwrap_err().to_string();
        assert!(err.contains("\"2m\"") && err.contains("1m, 3m"), "{err}");
    }

    #[test]
    fn candle_consistency() {
        let c = Candle {
            open_time: Timestamp::EPOCH,
            open: dec!(10),
            high: dec!(12),
            low: dec!(9),
            close: dec!(11),
            volume: dec!(1),
            quote_volume: None,
        };
        assert!(c.is_consistent());
        assert!(!Candle { high: dec!(10.5), ..c.clone() }.is_consistent());
        assert!(!Candle { low: dec!(0), ..c }.is_consistent());
    }
}
