//! `trading-core`: the vocabulary every other crate of the workspace speaks.
//!
//! Nothing here does IO. The types are small, validated at construction and carry money as
//! [`rust_decimal::Decimal`], never as floating point:
//!
//! - [`Symbol`]: a validated `BASE/QUOTE` pair; [`SymbolMap`] converts between it and a venue's
//!   id (`BTCUSDT`) using the venue's market list, not string guessing.
//! - [`Quote`], [`Candle`], [`Interval`]: market data.
//! - [`OrderRequest`], [`Order`], [`OrderStatus`], [`Fill`], [`Balance`]: the order lifecycle.
//! - [`MarketRules`]: tick size, step size, minimum quantity and notional, with Decimal rounding
//!   helpers that never round a quantity up past what a budget or balance allows.
//! - [`Clock`]: the one seam through which time is read ([`SystemClock`], [`ManualClock`]).
//!
//! ```
//! use rust_decimal::Decimal;
//! use trading_core::{MarketRules, MarketStatus, Symbol};
//!
//! let symbol: Symbol = "BTC/USDT".parse()?;
//! let rules = MarketRules::builder(symbol.clone(), "BTCUSDT")
//!     .tick_size(Decimal::new(1, 2))      // 0.01
//!     .step_size(Decimal::new(1, 5))      // 0.00001
//!     .min_notional(Decimal::new(5, 0))   // 5 USDT
//!     .build()?;
//! // Spend at most 100 USDT at 64 123.456 USDT: price goes down to the tick, quantity down to
//! // the step, and the notional never exceeds the budget.
//! let (price, qty) = rules.buy_order_for_budget(Decimal::new(100, 0), Decimal::new(64_123_456, 3))?;
//! assert_eq!(price, Decimal::new(6_412_345, 2));
//! assert!(price * qty <= Decimal::new(100, 0));
//! assert_eq!(rules.status, MarketStatus::Trading);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod clock;
mod error;
mod filters;
mod market_data;
mod order;
mod rules;
mod symbol;
mod time;

#[cfg(feature = "tokio")]
pub use clock::TokioClock;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{RuleViolation, SymbolError, ValueError};
pub use filters::SymbolFilter;
pub use market_data::{is_positive, Candle, Interval, Quote};
pub use order::{
    Balance, ClientOrderId, Fill, Order, OrderId, OrderRef, OrderRequest, OrderStatus, OrderType, Side,
    TimeInForce,
};
pub use rules::{MarketRules, MarketRulesBuilder, MarketStatus};
pub use symbol::{Symbol, SymbolMap};
pub use time::Timestamp;
