//! Intents (what the strategy wants) and their validation into an order the venue accepts.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use telemetry::ExitReason;
use trading_core::{ClientOrderId, MarketRules, OrderType, Quote, RuleViolation, Side, Symbol, Timestamp};

use crate::{RouterConfig, RouterError};

/// The id of an intent: chosen by the caller (the strategy), unique for the ledger's lifetime,
/// and the stem of the intent's one client order id (so the id survives restarts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IntentId(String);

impl IntentId {
    /// Longest id: prefix (7) + `-` + id (28) fits Binance's 36 characters.
    pub const MAX_LEN: usize = 28;

    /// Validates an id: 1-28 characters of `A-Z a-z 0-9 _ -`.
    pub fn new(id: impl Into<String>) -> Result<Self, RouterError> {
        let id = id.into();
        let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if id.is_empty() || id.len() > Self::MAX_LEN || !id.bytes().all(ok) {
            return Err(RouterError::InvalidIntentId(id));
        }
        Ok(IntentId(id))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The intent's client order id: `<prefix>-<id>`. Deterministic, so a restarted router
    /// looks for exactly the id it may have sent; the router sends an intent under this id at
    /// most once and never under another one.
    pub fn client_order_id(&self, prefix: &str) -> Result<ClientOrderId, RouterError> {
        ClientOrderId::new(format!("{prefix}-{}", self.0))
            .map_err(|_| RouterError::InvalidIntentId(self.0.clone()))
    }
}

impl TryFrom<String> for IntentId {
    type Error = RouterError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        IntentId::new(s)
    }
}

impl From<IntentId> for String {
    fn from(id: IntentId) -> String {
        id.0
    }
}

impl fmt::Display for IntentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How big the order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sizing {
    /// Spend (buy) or receive (sell) about this quote amount; for buys fees are included.
    Quote(Decimal),
    /// This base quantity (rounded down to the step).
    Base(Decimal),
    /// Sell everything the position holds that is sellable (sells only).
    WholePosition,
}

/// Which price the order gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricePolicy {
    /// A market order (sized at the current best ask / bid).
    Market,
    /// A limit order at this price (rounded to the tick in the safe direction: buys down, sells up).
    Limit(Decimal),
    /// A limit order at the best ask (buys) or best bid (sells) moved by this fraction:
    /// `ask * (1 + offset)` for buys, `bid * (1 - offset)` for sells (positive = marketable).
    BestWithOffset(Decimal),
}

/// What the strategy wants done. The router turns it into at most one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIntent {
    /// Unique id (see [`IntentId`]).
    pub id: IntentId,
    /// The market.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// How big.
    pub sizing: Sizing,
    /// At which price.
    pub price: PricePolicy,
    /// Why, in words (the signal that produced it).
    pub reason: String,
    /// The exit rule behind a sell (reported with the closed position).
    pub exit_reason: Option<ExitReason>,
    /// When an order still open is canceled.
    pub deadline: Timestamp,
}

/// The order an intent became: rounded to the market's rules and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedOrder {
    /// Market or limit.
    pub order_type: OrderType,
    /// Limit price (`None` for market orders).
    pub price: Option<Decimal>,
    /// Base quantity.
    pub quantity: Decimal,
    /// The price the checks used (the limit, or the best ask/bid for market orders).
    pub reference_price: Decimal,
    /// Quote amount reserved for it (buys: notional plus fee and slippage reserve; sells: 0).
    pub reserve: Decimal,
}

impl PlannedOrder {
    /// `reference_price * quantity`.
    pub fn notional(&self) -> Decimal {
        self.reference_price * self.quantity
    }
}

/// Why an intent was refused before any order was sent. Its `Display` is the reason written in
/// the `INTENT_REJECTED` event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// `GLOBAL_TRADING` is off.
    #[error("GLOBAL_TRADING is off")]
    GlobalTradingOff,
    /// The router fails closed until a difference with the venue is explained.
    #[error("router fails closed: {0}")]
    FailClosed(String),
    /// An intent with this id was already handled (never executed twice).
    #[error("intent id already used")]
    DuplicateIntent,
    /// The deadline has already passed.
    #[error("deadline {deadline} already passed (now {now})")]
    DeadlinePassed {
        /// The intent's deadline.
        deadline: Timestamp,
        /// The router's time.
        now: Timestamp,
    },
    /// The venue does not list the market.
    #[error("market not listed by the venue")]
    UnknownMarket,
    /// The market's quote asset is not the budget's.
    #[error("quote asset {found} is not the budget's {budget}")]
    WrongQuoteAsset {
        /// The market's quote asset.
        found: String,
        /// The budget's.
        budget: String,
    },
    /// No usable quote to size or price the order.
    #[error("no usable quote: {0}")]
    NoQuote(String),
    /// The sizing does not fit the side or is not positive.
    #[error("invalid sizing: {0}")]
    InvalidSizing(&'static str),
    /// A buy asks for more than `POSITION_SIZE_USDT`.
    #[error("{requested} exceeds POSITION_SIZE_USDT {max}")]
    AboveMaxSize {
        /// Quote amount the intent would reserve.
        requested: Decimal,
        /// The setting.
        max: Decimal,
    },
    /// `MAX_CONCURRENT_POSITIONS` reached.
    #[error("MAX_CONCURRENT_POSITIONS reached ({open} open or in flight, max {max})")]
    MaxPositions {
        /// Open positions plus buys in flight.
        open: u32,
        /// The setting.
        max: u32,
    },
    /// Not enough free budget.
    #[error("insufficient budget: needs {needed}, free {free}")]
    InsufficientBudget {
        /// Quote amount to reserve.
        needed: Decimal,
        /// Free budget.
        free: Decimal,
    },
    /// A sell of more than the position can sell.
    #[error("sell of {requested} exceeds the sellable {sellable}")]
    ExceedsHoldings {
        /// Requested base quantity.
        requested: Decimal,
        /// Sellable base quantity (received minus base fees, minus open sells).
        sellable: Decimal,
    },
    /// No position to sell.
    #[error("no position to sell")]
    NoPosition,
    /// The account's balance could not be read before a sell.
    #[error("balance unavailable: {0}")]
    BalanceUnavailable(String),
    /// The order breaks a market rule after rounding (tick, step, min qty, min notional, ...).
    #[error("market rules: {0}")]
    Rules(#[from] RuleViolation),
}

impl RejectReason {
    /// True for blocks by budget or limits (the report's funnel counts them apart from rule
    /// rejections).
    pub fn is_budget_block(&self) -> bool {
        matches!(
            self,
            RejectReason::AboveMaxSize { .. }
                | RejectReason::MaxPositions { .. }
                | RejectReason::InsufficientBudget { .. }
                | RejectReason::GlobalTradingOff
        )
    }
}

/// Validates an intent against the market's rules and rounds it (pure; no IO).
///
/// `quote` is needed for market orders and best-bid/ask pricing; `sellable` is what the
/// position can sell (sells only). Buys reserve notional plus fee (plus slippage for market
/// orders) and never more than the intent's quote amount or `POSITION_SIZE_USDT`.
pub fn plan_order(
    intent: &OrderIntent,
    rules: &MarketRules,
    quote: Option<&Quote>,
    sellable: Decimal,
    config: &RouterConfig,
) -> Result<PlannedOrder, RejectReason> {
    if rules.symbol.quote() != config.quote_asset {
        return Err(RejectReason::WrongQuoteAsset {
            found: rules.symbol.quote().to_owned(),
            budget: config.quote_asset.clone(),
        });
    }
    let side = intent.side;
    let best = |q: Option<&Quote>| -> Result<Decimal, RejectReason> {
        let q = q.ok_or_else(|| RejectReason::NoQuote("none fetched".into()))?;
        let p = match side {
            Side::Buy => q.ask,
            Side::Sell => q.bid,
        };
        p.filter(|p| *p > Decimal::ZERO).ok_or_else(|| RejectReason::NoQuote(format!("no {side} side price")))
    };
    let (order_type, reference) = match intent.price {
        PricePolicy::Market => (OrderType::Market, best(quote)?),
        PricePolicy::Limit(p) => (OrderType::Limit, rules.round_price(side, p)),
        PricePolicy::BestWithOffset(offset) => {
            let b = best(quote)?;
            let raw = match side {
                Side::Buy => b * (Decimal::ONE + offset),
                Side::Sell => b * (Decimal::ONE - offset),
            };
            (OrderType::Limit, rules.round_price(side, raw))
        }
    };
    if reference <= Decimal::ZERO {
        return Err(RuleViolation::NonPositivePrice(reference).into());
    }
    let price = (order_type == OrderType::Limit).then_some(reference);
    match side {
        Side::Buy => {
            let factor = Decimal::ONE
                + config.fee_reserve_rate
                + if order_type == OrderType::Market {
                    config.market_slippage_reserve
                } else {
                    Decimal::ZERO
                };
            let quantity = match intent.sizing {
                Sizing::Quote(amount) => {
                    if amount <= Decimal::ZERO {
                        return Err(RejectReason::InvalidSizing("quote amount must be positive"));
                    }
                    if amount > config.position_size_usdt {
                        return Err(RejectReason::AboveMaxSize {
                            requested: amount,
                            max: config.position_size_usdt,
                        });
                    }
                    let (_, q) = rules.buy_order_for_budget(amount / factor, reference)?;
                    q
                }
                Sizing::Base(q) => {
                    let q = rules.floor_qty(q);
                    rules.check(reference, q)?;
                    q
                }
                Sizing::WholePosition => {
                    return Err(RejectReason::InvalidSizing("a buy cannot size by position"))
                }
            };
            let reserve = reference * quantity * factor;
            if reserve > config.position_size_usdt {
                return Err(RejectReason::AboveMaxSize {
                    requested: reserve,
                    max: config.position_size_usdt,
                });
            }
            Ok(PlannedOrder { order_type, price, quantity, reference_price: reference, reserve })
        }
        Side::Sell => {
            if sellable <= Decimal::ZERO {
                return Err(RejectReason::NoPosition);
            }
            let wanted = match intent.sizing {
                Sizing::Quote(amount) if amount > Decimal::ZERO => rules.floor_qty(amount / reference),
                Sizing::Base(q) if q > Decimal::ZERO => rules.floor_qty(q),
                Sizing::WholePosition => rules.floor_qty(sellable),
                _ => return Err(RejectReason::InvalidSizing("sell size must be positive")),
            };
            if wanted > sellable {
                return Err(RejectReason::ExceedsHoldings { requested: wanted, sellable });
            }
            let quantity = rules.sell_qty_for_balance(wanted, reference)?;
            Ok(PlannedOrder {
                order_type,
                price,
                quantity,
                reference_price: reference,
                reserve: Decimal::ZERO,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn rules() -> MarketRules {
        MarketRules::builder("ABC/USDT".parse().unwrap(), "ABCUSDT")
            .tick_size(dec!(0.01))
            .step_size(dec!(0.001))
            .min_qty(dec!(0.001))
            .min_notional(dec!(5))
            .build()
            .unwrap()
    }

    fn intent(side: Side, sizing: Sizing, price: PricePolicy) -> OrderIntent {
        OrderIntent {
            id: IntentId::new("i1").unwrap(),
            symbol: "ABC/USDT".parse().unwrap(),
            side,
            sizing,
            price,
            reason: "test".into(),
            exit_reason: None,
            deadline: Timestamp::from_millis(1_000),
        }
    }

    fn quote() -> Quote {
        Quote {
            symbol: "ABC/USDT".parse().unwrap(),
            bid: Some(dec!(9.99)),
            ask: Some(dec!(10.01)),
            last: Some(dec!(10)),
            quote_volume_24h: None,
            exchange_ts: None,
            received_at: Timestamp::EPOCH,
        }
    }

    #[track_caller]
    fn check(i: OrderIntent, sellable: Decimal, expected: Result<(Option<Decimal>, Decimal), RejectReason>) {
        let got = plan_order(&i, &rules(), Some(&quote()), sellable, &RouterConfig::new())
            .map(|p| (p.price, p.quantity));
        assert_eq!(got, expected);
    }

    #[test]
    fn rounding_and_rejections() {
        // 50 USDT at 10.019 -> price floored to 10.01, qty floor(50/1.001/10.01, 0.001).
        check(
            intent(Side::Buy, Sizing::Quote(dec!(50)), PricePolicy::Limit(dec!(10.019))),
            dec!(0),
            Ok((Some(dec!(10.01)), dec!(4.990))),
        );
        // Market buy sized at the ask with fee + slippage reserve.
        check(
            intent(Side::Buy, Sizing::Quote(dec!(50)), PricePolicy::Market),
            dec!(0),
            Ok((None, dec!(4.940))),
        );
        // Below min notional.
        check(
            intent(Side::Buy, Sizing::Quote(dec!(4)), PricePolicy::Limit(dec!(10))),
            dec!(0),
            Err(RejectReason::Rules(RuleViolation::BelowMinNotional {
                notional: dec!(3.990),
                min_notional: dec!(5),
            })),
        );
        check(
            intent(Side::Buy, Sizing::Quote(dec!(500)), PricePolicy::Limit(dec!(10))),
            dec!(0),
            Err(RejectReason::AboveMaxSize { requested: dec!(500), max: dec!(100) }),
        );
        // Sells: the whole position, rounded down to the step; more than held is refused.
        check(
            intent(Side::Sell, Sizing::WholePosition, PricePolicy::BestWithOffset(dec!(0))),
            dec!(4.9851),
            Ok((Some(dec!(9.99)), dec!(4.985))),
        );
        check(
            intent(Side::Sell, Sizing::Base(dec!(6)), PricePolicy::Market),
            dec!(4.985),
            Err(RejectReason::ExceedsHoldings { requested: dec!(6), sellable: dec!(4.985) }),
        );
        check(
            intent(Side::Sell, Sizing::Base(dec!(1)), PricePolicy::Market),
            dec!(0),
            Err(RejectReason::NoPosition),
        );
        check(
            intent(Side::Buy, Sizing::WholePosition, PricePolicy::Market),
            dec!(0),
            Err(RejectReason::InvalidSizing("a buy cannot size by position")),
        );
    }

    #[test]
    fn intent_ids_make_deterministic_client_ids() {
        let id = IntentId::new("drop-ABC-17").unwrap();
        assert_eq!(id.client_order_id("dr").unwrap().as_str(), "dr-drop-ABC-17");
        assert_eq!(id.client_order_id("dr").unwrap(), id.client_order_id("dr").unwrap());
        assert!(IntentId::new("").is_err());
        assert!(IntentId::new("has space").is_err());
        assert!(IntentId::new("x".repeat(29)).is_err());
        assert!(IntentId::new("x".repeat(28)).unwrap().client_order_id("abcdefg").is_ok());
    }
}
