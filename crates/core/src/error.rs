//! Error types of the vocabulary: malformed symbols, invalid values, market-rule violations.

use rust_decimal::Decimal;

/// A symbol or venue id that could not be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    /// The text is not of the form `BASE/QUOTE`.
    #[error("symbol {input:?} is malformed: {reason} (expected BASE/QUOTE, e.g. BTC/USDT)")]
    Malformed {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An asset code is empty, too long, or has characters other than `A-Z`, `0-9`.
    #[error("asset code {asset:?} in symbol {input:?} is invalid: {reason}")]
    InvalidAsset {
        /// The whole symbol text.
        input: String,
        /// The offending asset code.
        asset: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The venue id is not in the venue's market list.
    #[error("venue id {0:?} is not a known market")]
    UnknownVenueId(String),
    /// Two markets map to the same unified symbol or venue id.
    #[error("market list has {0:?} twice")]
    Duplicate(String),
}

/// A value that violates its type's invariant (an empty client order id, a zero tick size, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct ValueError {
    /// Which value (e.g. `"client order id"`).
    pub what: &'static str,
    /// The value as given.
    pub value: String,
    /// What is allowed.
    pub reason: &'static str,
}

/// Why an order does not satisfy a market's rules. Each variant carries the numbers involved so
/// the caller can report them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// The market is not open for trading.
    #[error("market {symbol} is not trading (status {status})")]
    MarketClosed {
        /// The market.
        symbol: String,
        /// Its status as the venue reports it.
        status: String,
    },
    /// The price is zero or negative.
    #[error("price {0} is not positive")]
    NonPositivePrice(Decimal),
    /// The quantity is zero or negative.
    #[error("quantity {0} is not positive")]
    NonPositiveQuantity(Decimal),
    /// The price is not a multiple of the tick size.
    #[error("price {price} is not on the tick grid {tick_size}")]
    PriceOffTick {
        /// The price.
        price: Decimal,
        /// The market's tick size.
        tick_size: Decimal,
    },
    /// The price is outside the market's price band.
    #[error("price {price} is outside [{min}, {max}]")]
    PriceOutOfRange {
        /// The price.
        price: Decimal,
        /// Lowest allowed price.
        min: Decimal,
        /// Highest allowed price (zero = none).
        max: Decimal,
    },
    /// The quantity is not a multiple of the step size.
    #[error("quantity {qty} is not on the step grid {step_size}")]
    QtyOffStep {
        /// The quantity.
        qty: Decimal,
        /// The market's step size.
        step_size: Decimal,
    },
    /// The quantity is below the minimum quantity (after rounding down to the step).
    #[error("quantity {qty} is below the minimum {min_qty}")]
    BelowMinQty {
        /// The quantity.
        qty: Decimal,
        /// The market's minimum quantity.
        min_qty: Decimal,
    },
    /// The quantity is above the maximum quantity.
    #[error("quantity {qty} is above the maximum {max_qty}")]
    AboveMaxQty {
        /// The quantity.
        qty: Decimal,
        /// The market's maximum quantity.
        max_qty: Decimal,
    },
    /// `price * quantity` is below the minimum notional.
    #[error("notional {notional} is below the minimum {min_notional}")]
    BelowMinNotional {
        /// `price * quantity`.
        notional: Decimal,
        /// The market's minimum notional.
        min_notional: Decimal,
    },
    /// `price * quantity` is above the maximum notional.
    #[error("notional {notional} is above the maximum {max_notional}")]
    AboveMaxNotional {
        /// `price * quantity`.
        notional: Decimal,
        /// The market's maximum notional.
        max_notional: Decimal,
    },
}
