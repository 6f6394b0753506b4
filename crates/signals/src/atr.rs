//! Average True Range with Wilder's smoothing, in `Decimal`.
//!
//! True range: `max(high - low, |high - prev close|, |low - prev close|)`, and `high - low` for
//! the first candle. ATR: the simple mean of the first `period` true ranges, then
//! `atr = (atr_prev * (period - 1) + tr) / period` (Wilder's RMA). This matches the
//! `AverageTrueRange` of the `ta` library and StockCharts' worked example
//! (`test_data/cs-atr.csv`).

use rust_decimal::Decimal;
use trading_core::Candle;

use crate::SignalError;

/// Decimal places kept for ATR values (the smoothing divides; 28 significant digits are
/// carried, the result is rounded to this).
const ATR_DP: u32 = 12;

/// ATR for every candle: `None` for the first `period - 1` (warm-up), then Wilder's ATR.
///
/// Errors: `period` is 0 ([`SignalError::InvalidSetting`] for `GUARD_ATR_PERIOD`), fewer candles
/// than `period`, or an inconsistent candle.
pub fn atr(candles: &[Candle], period: usize) -> Result<Vec<Option<Decimal>>, SignalError> {
    if period == 0 {
        return Err(SignalError::setting("GUARD_ATR_PERIOD", period, "1..=500 candles"));
    }
    if candles.len() < period {
        return Err(SignalError::NotEnoughCandles { period, got: candles.len() });
    }
    let n = Decimal::from(period);
    let mut out = Vec::with_capacity(candles.len());
    let mut prev_close: Option<Decimal> = None;
    let mut sum = Decimal::ZERO;
    let mut current: Option<Decimal> = None;
    for (i, c) in candles.iter().enumerate() {
        if c.low <= Decimal::ZERO || c.high < c.low || c.close < c.low || c.close > c.high {
            return Err(SignalError::InvalidCandle { index: i, reason: "needs 0 < low <= close <= high" });
        }
        let tr = match prev_close {
            None => c.high - c.low,
            Some(pc) => (c.high - c.low).max((c.high - pc).abs()).max((c.low - pc).abs()),
        };
        prev_close = Some(c.close);
        current = match current {
            Some(a) => Some(((a * (n - Decimal::ONE) + tr) / n).round_dp(ATR_DP)),
            None => {
                sum += tr;
                (i + 1 == period).then(|| (sum / n).round_dp(ATR_DP))
            }
        };
        out.push(current);
    }
    Ok(out)
}

/// ATR of the last candle as a percent of its close (`atr / close * 100`), the volatility
/// guard's measure.
pub fn atr_pct(candles: &[Candle], period: usize) -> Result<Decimal, SignalError> {
    let series = atr(candles, period)?;
    match (series.last().copied().flatten(), candles.last()) {
        (Some(a), Some(c)) => Ok((a / c.close * Decimal::ONE_HUNDRED).round_dp(6)),
        _ => Err(SignalError::NotEnoughCandles { period, got: candles.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use trading_core::Timestamp;

    fn candle(high: Decimal, low: Decimal, close: Decimal) -> Candle {
        Candle {
            open_time: Timestamp::EPOCH,
            open: close,
            high,
            low,
            close,
            volume: Decimal::ZERO,
            quote_volume: None,
        }
    }

    #[test]
    fn wilder_smoothing_on_a_small_series() {
        let cs = [
            candle(dec!(10), dec!(8), dec!(9)),   // tr 2
            candle(dec!(11), dec!(9), dec!(10)),  // tr 2
            candle(dec!(14), dec!(10), dec!(13)), // tr 4 (14 - 10)
            candle(dec!(13), dec!(7), dec!(8)),   // tr 6
        ];
        let a = atr(&cs, 2).unwrap();
        assert_eq!(a, vec![None, Some(dec!(2)), Some(dec!(3)), Some(dec!(4.5))]);
        assert_eq!(atr_pct(&cs, 2).unwrap(), dec!(56.25));
    }

    #[test]
    fn gap_uses_previous_close() {
        let cs = [candle(dec!(10), dec!(9), dec!(10)), candle(dec!(7), dec!(6), dec!(6.5))];
        assert_eq!(atr(&cs, 1).unwrap(), vec![Some(dec!(1)), Some(dec!(4))]);
    }

    #[test]
    fn bad_input_is_named() {
        assert!(matches!(atr(&[], 0), Err(SignalError::InvalidSetting { setting: "GUARD_ATR_PERIOD", .. })));
        assert_eq!(
            atr(&[candle(dec!(1), dec!(1), dec!(1))], 2),
            Err(SignalError::NotEnoughCandles { period: 2, got: 1 })
        );
        let bad = [candle(dec!(1), dec!(1), dec!(1)), candle(dec!(1), dec!(2), dec!(1.5))];
        assert!(matches!(atr(&bad, 1), Err(SignalError::InvalidCandle { index: 1, .. })));
    }
}
