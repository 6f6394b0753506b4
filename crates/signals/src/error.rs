//! The one error type of the crate.

use rust_decimal::Decimal;
use trading_core::Symbol;

/// Everything that can be wrong with the input of this crate.
///
/// Configuration errors name the setting, the value and the allowed range; per-tick errors name
/// the symbol handle and the offending value. No variant is retryable: each is bad input that the
/// caller must fix or drop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// A setting is outside its allowed range.
    #[error("setting {setting} = {value} is invalid: allowed {allowed}")]
    InvalidSetting {
        /// The setting's name as in the design (`DROP_TRIGGER_VALUE`, ...).
        setting: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// A price cannot be evaluated (not positive, too large, or too many decimal places).
    #[error("{what} {value} is invalid: {reason}")]
    InvalidPrice {
        /// Which price (`"tick price"`, `"entry price"`, ...).
        what: &'static str,
        /// The price as given.
        value: Decimal,
        /// What is allowed.
        reason: &'static str,
    },
    /// A symbol handle that this engine did not hand out.
    #[error("symbol id {0} was not registered with this engine")]
    UnknownSymbolId(u32),
    /// More symbols than a `u32` handle can address.
    #[error("cannot register more than {} symbols", u32::MAX)]
    TooManySymbols,
    /// A symbol registered twice.
    #[error("symbol {0} is already registered")]
    DuplicateSymbol(Symbol),
    /// A candle is inconsistent (`low > high`, a non-positive price, negative volume).
    #[error("candle {index} is inconsistent: {reason}")]
    InvalidCandle {
        /// Its position in the slice.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Fewer candles than an indicator needs.
    #[error("ATR({period}) needs at least {period} candles, got {got}")]
    NotEnoughCandles {
        /// The indicator period.
        period: usize,
        /// How many were given.
        got: usize,
    },
}

impl SignalError {
    pub(crate) fn setting(setting: &'static str, value: impl ToString, allowed: &'static str) -> Self {
        SignalError::InvalidSetting { setting, value: value.to_string(), allowed }
    }
}
