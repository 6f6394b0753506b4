//! Exact fixed-point prices for the hot path.
//!
//! A [`Decimal`] is a 96-bit mantissa with a per-value scale, so comparing two of them with
//! different scales rescales one first. The trigger compares every tick, so prices are
//! converted once on entry to an `i128` count of 10^-18 units. The conversion is exact: a price
//! with at most [`SCALE`] decimal places is `mantissa * 10^(18 - scale)`, an integer; a price
//! with more decimal places is accepted only when the extra digits are zeros. Prices must lie in
//! `(0, 10^10)`, so a fixed-point value is below `10^28 < 2^96` and converts back to a
//! `Decimal` without loss, and `value * 10^6` (the trigger comparison) is far below `i128::MAX`.

use rust_decimal::Decimal;

/// Decimal places of the fixed-point representation.
pub(crate) const SCALE: u32 = 18;

/// Largest accepted price (exclusive) in fixed-point units: 10^10 * 10^18.
const MAX_PX: i128 = 10_i128.pow(28);

const POW10: [i128; 19] = {
    let mut t = [1_i128; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// 10^0 ..= 10^18 as `u64` (for the fast path).
const POW10_U64: [u64; 19] = {
    let mut t = [1_u64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// 10^0 ..= 10^28 (Decimal scales go up to 28).
const POW10_WIDE: [i128; 29] = {
    let mut t = [1_i128; 29];
    let mut i = 1;
    while i < 29 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Why a price cannot be represented.
pub(crate) const PRICE_RANGE: &str =
    "a positive price below 10^10 with at most 18 significant decimal places";

/// `price` as fixed-point units, or `None` when outside [`PRICE_RANGE`].
#[inline]
pub(crate) fn to_px(price: Decimal) -> Option<i128> {
    let m = price.mantissa();
    let scale = price.scale();
    // Fast path for every realistic price: a positive mantissa below 2^64 with at most 18
    // decimals. One 64 x 64 -> 128-bit multiply (no overflow: < 2^64 * 10^18 < 2^124); the
    // bound `px < 10^28` is the same test as `m < 10^(10 + scale)` below.
    if let (Ok(lo @ 1..), true) = (u64::try_from(m), scale <= SCALE) {
        let px = u128::from(lo) * u128::from(POW10_U64[(SCALE - scale) as usize]);
        return (px < MAX_PX as u128).then_some(px as i128);
    }
    if m <= 0 {
        return None;
    }
    if scale <= SCALE {
        // px < 10^28  <=>  m < 10^(10 + scale); checked first, so the product cannot overflow
        if m >= POW10_WIDE[10 + scale as usize] {
            return None;
        }
        Some(m * POW10[(SCALE - scale) as usize])
    } else {
        let div = POW10_WIDE[(scale - SCALE) as usize];
        if m % div != 0 {
            return None;
        }
        let px = m / div;
        (px < MAX_PX).then_some(px)
    }
}

/// Fixed-point units back to a normalized `Decimal` (exact for every value `to_px` produced).
///
/// For `0 < px < 10^28` (every value `to_px` produces) the units are split into whole units and
/// 10^-18 parts, both below 2^64, and the trailing zeros are stripped in `u64` arithmetic:
/// `Decimal::normalize` divides the 96-bit mantissa by 10 once per zero, up to 18 times, and
/// this runs for every trigger candidate. Same mantissa and scale as `normalize`.
pub(crate) fn from_px(px: i128) -> Decimal {
    const UNIT: u64 = POW10_U64[SCALE as usize];
    if px <= 0 || px >= MAX_PX {
        return Decimal::try_from_i128_with_scale(px, SCALE).map(|d| d.normalize()).unwrap_or(Decimal::MAX);
    }
    let (whole, mut frac) = match u64::try_from(px) {
        Ok(small) => (small / UNIT, small % UNIT),
        // px < 10^28: the quotient is below 10^10
        Err(_) => ((px / POW10[SCALE as usize]) as u64, (px % POW10[SCALE as usize]) as u64),
    };
    if frac == 0 {
        return Decimal::from(whole);
    }
    let mut scale = SCALE;
    while frac % 10 == 0 {
        frac /= 10;
        scale -= 1;
    }
    // whole < 10^10 and frac < 10^scale: the mantissa is below 10^28 < 2^96
    let mantissa = i128::from(whole) * POW10[scale as usize] + i128::from(frac);
    Decimal::try_from_i128_with_scale(mantissa, scale).unwrap_or(Decimal::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[track_caller]
    fn check(price: Decimal, expected: Option<i128>) {
        assert_eq!(to_px(price), expected, "{price}");
        if let Some(px) = expected {
            assert_eq!(from_px(px), price.normalize());
        }
    }

    #[test]
    fn conversion_is_exact_or_refused() {
        check(dec!(1), Some(POW10[18]));
        check(dec!(0.00000812), Some(8_120_000_000_000));
        check(dec!(46319.5), Some(46_319_500_000_000_000_000_000));
        check(dec!(0.000000000000000001), Some(1));
        check(dec!(9999999999.999999999999999999), Some(MAX_PX - 1));
        check(dec!(10000000000), None);
        check(dec!(0), None);
        check(dec!(-1), None);
        // 19 decimals: refused unless the 19th digit is a zero
        check(dec!(0.0000000000000000001), None);
        check(Decimal::from_i128_with_scale(10, 19), Some(1));
    }

    /// The normalized `Decimal` of `px`, the slow way `from_px` avoids.
    fn normalized(px: i128) -> Decimal {
        Decimal::try_from_i128_with_scale(px, SCALE).map(|d| d.normalize()).unwrap_or(Decimal::MAX)
    }

    #[track_caller]
    fn same_digits(px: i128) {
        let (fast, slow) = (from_px(px), normalized(px));
        assert_eq!((fast.mantissa(), fast.scale()), (slow.mantissa(), slow.scale()), "{px}");
    }

    #[test]
    fn from_px_gives_the_digits_of_normalize() {
        for px in
            [1, 10, POW10[18], POW10[18] + 1, 46_319_500_000_000_000_000_000, MAX_PX - 1, 8_120_000_000_000]
        {
            same_digits(px);
        }
        // around 2^64, where the split changes, and every count of trailing zeros
        for px in [(1_i128 << 64) - 1, 1 << 64, (1 << 64) + 1, 18_446_744_073_000_000_000] {
            same_digits(px);
        }
        for p in &POW10_WIDE[..28] {
            same_digits(*p);
            same_digits(7 * p);
        }
        // outside the range to_px produces: the general path
        for px in [0, -5, MAX_PX, i128::MAX] {
            same_digits(px);
        }
    }

    proptest::proptest! {
        /// `from_px` gives `normalize`'s mantissa and scale (a price printed in an event reads
        /// the same) for any units, with any number of trailing zeros.
        #[test]
        fn from_px_matches_normalize(m in 1_i128..MAX_PX, zeros in 0_u32..28) {
            let px = (m / POW10_WIDE[zeros as usize]).max(1) * POW10_WIDE[zeros as usize];
            let (fast, slow) = (from_px(px), normalized(px));
            proptest::prop_assert_eq!((fast.mantissa(), fast.scale()), (slow.mantissa(), slow.scale()));
        }

        /// The fast path (mantissa below 2^64) and the general path agree on every mantissa
        /// and scale, including the 10^28 bound and mantissas just past 2^64.
        #[test]
        fn fast_path_matches_general_path(m in -(1_i128 << 70)..(1_i128 << 70), scale in 0_u32..=28) {
            let price = Decimal::from_i128_with_scale(m, scale);
            let general = if m <= 0 {
                None
            } else if scale <= SCALE {
                (m < POW10_WIDE[10 + scale as usize]).then(|| m * POW10[(SCALE - scale) as usize])
            } else {
                let div = POW10_WIDE[(scale - SCALE) as usize];
                (m % div == 0 && m / div < MAX_PX).then(|| m / div)
            };
            proptest::prop_assert_eq!(to_px(price), general);
        }
    }

    #[test]
    fn order_is_preserved_across_scales() {
        let a = to_px(dec!(1.10)).unwrap();
        let b = to_px(dec!(1.1)).unwrap();
        let c = to_px(dec!(1.099999)).unwrap();
        assert_eq!(a, b);
        assert!(c < a);
    }
}
