//! What a venue can do and what it costs: bulk endpoints, request weights, the rate budget.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The request weight of each operation, in the venue's own units (Binance: weight per
/// request against a per-minute budget). The market-data scheduler plans with these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointWeights {
    /// Book ticker (bid/ask) for one symbol.
    pub book_ticker_single: u32,
    /// Book ticker for every symbol, when the venue has it.
    pub book_ticker_all: u32,
    /// 24h ticker for one symbol.
    pub ticker_24h_single: u32,
    /// 24h ticker for every symbol.
    pub ticker_24h_all: u32,
    /// Candles for one symbol.
    pub klines: u32,
    /// Create an order.
    pub create_order: u32,
    /// Cancel an order.
    pub cancel_order: u32,
    /// Query an order.
    pub fetch_order: u32,
    /// Open orders of one symbol.
    pub open_orders_single: u32,
    /// Account balances.
    pub account: u32,
    /// Market list.
    pub exchange_info: u32,
}

/// The venue's request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateBudget {
    /// Weight units allowed per window.
    pub weight_per_window: NonZeroU32,
    /// Length of the weight window.
    pub window: Duration,
    /// Orders allowed per order window, if the venue limits it separately.
    pub orders_per_window: Option<NonZeroU32>,
    /// Length of the order window.
    pub order_window: Duration,
}

/// What a venue offers. Returned by [`crate::Exchange::capabilities`]; cheap to copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Venue name for logs and events (`binance`, `mexc`, `sim`).
    pub venue: String,
    /// True when all book tickers can be fetched in one request.
    pub bulk_book_ticker: bool,
    /// True when tickers for an explicit list of symbols can be fetched in one request.
    pub ticker_list: bool,
    /// Request weights per endpoint.
    pub weights: EndpointWeights,
    /// Request budget.
    pub rate: RateBudget,
    /// Largest `limit` a single klines request accepts.
    pub max_klines: u32,
    /// How long after a request's timestamp the venue may still accept (and later show) an
    /// order: `recvWindow` plus the venue's backend timeout. A "not found" for an order is proof
    /// of absence only for a lookup sent after this window (see [`crate::resolve_by_lookup`]).
    pub acceptance_window: Duration,
}
