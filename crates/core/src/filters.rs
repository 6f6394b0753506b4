//! `SymbolFilter`: the exchangeInfo filter objects (Binance format, also used by MEXC) from
//! which [`crate::MarketRules`] are built.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One entry of a symbol's `filters` array in an exchangeInfo response, tagged by `filterType`.
///
/// Only the filters that constrain a spot order's price, quantity and notional are modelled;
/// every other filter type parses as [`SymbolFilter::Other`] so that a venue adding a filter
/// never breaks market loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "filterType", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SymbolFilter {
    /// Price band and tick size. A zero value disables that rule.
    #[serde(rename_all = "camelCase")]
    PriceFilter {
        /// Lowest allowed price.
        min_price: Decimal,
        /// Highest allowed price.
        max_price: Decimal,
        /// Price grid.
        tick_size: Decimal,
    },
    /// Quantity band and step size for all orders.
    #[serde(rename_all = "camelCase")]
    LotSize {
        /// Smallest quantity.
        min_qty: Decimal,
        /// Largest quantity.
        max_qty: Decimal,
        /// Quantity grid.
        step_size: Decimal,
    },
    /// Quantity band and step for market orders.
    #[serde(rename_all = "camelCase")]
    MarketLotSize {
        /// Smallest quantity.
        min_qty: Decimal,
        /// Largest quantity.
        max_qty: Decimal,
        /// Quantity grid (zero = use LOT_SIZE's).
        step_size: Decimal,
    },
    /// Legacy minimum notional.
    #[serde(rename_all = "camelCase")]
    MinNotional {
        /// Smallest `price * quantity`.
        min_notional: Decimal,
        /// Whether market orders are checked too.
        #[serde(default)]
        apply_to_market: bool,
    },
    /// Minimum and maximum notional.
    #[serde(rename_all = "camelCase")]
    Notional {
        /// Smallest `price * quantity`.
        min_notional: Decimal,
        /// Largest `price * quantity`.
        max_notional: Decimal,
        /// Whether market orders are checked against the minimum.
        #[serde(default)]
        apply_min_to_market: bool,
    },
    /// Any filter type not modelled above.
    #[serde(other)]
    Other,
}
