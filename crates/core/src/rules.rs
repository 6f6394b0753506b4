//! `MarketRules`: a market's trading constraints and the Decimal rounding that satisfies them.
//!
//! Rounding is always towards safety: a buy price goes down to the tick, a quantity goes down to
//! the step, so an order built from a budget or a balance never needs more than it has.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::{RuleViolation, Side, Symbol, SymbolFilter, ValueError};

/// Trading status of a market, as exchangeInfo reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MarketStatus {
    /// Open for trading.
    Trading,
    /// Trading halted.
    Halt,
    /// Trading suspended (Binance `BREAK`; also used for delisted markets).
    Break,
    /// Before the market opens.
    PreTrading,
    /// After the market closes.
    PostTrading,
    /// End of day.
    EndOfDay,
    /// Auction in progress.
    AuctionMatch,
    /// A status this version does not know; treated as not trading.
    #[serde(other)]
    Unknown,
}

impl MarketStatus {
    /// The venue spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            MarketStatus::Trading => "TRADING",
            MarketStatus::Halt => "HALT",
            MarketStatus::Break => "BREAK",
            MarketStatus::PreTrading => "PRE_TRADING",
            MarketStatus::PostTrading => "POST_TRADING",
            MarketStatus::EndOfDay => "END_OF_DAY",
            MarketStatus::AuctionMatch => "AUCTION_MATCH",
            MarketStatus::Unknown => "UNKNOWN",
        }
    }
}

/// The constraints one market puts on orders. A zero value means "no such rule" (as in
/// Binance's filters, where `tickSize: "0"` disables the price grid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketRules {
    /// Unified symbol.
    pub symbol: Symbol,
    /// The venue's id for the market (`BTCUSDT`).
    pub venue_id: String,
    /// Trading status.
    pub status: MarketStatus,
    /// Price grid.
    pub tick_size: Decimal,
    /// Lowest allowed price.
    pub min_price: Decimal,
    /// Highest allowed price.
    pub max_price: Decimal,
    /// Quantity grid.
    pub step_size: Decimal,
    /// Smallest quantity.
    pub min_qty: Decimal,
    /// Largest quantity.
    pub max_qty: Decimal,
    /// Smallest `price * quantity`.
    pub min_notional: Decimal,
    /// Largest `price * quantity`.
    pub max_notional: Decimal,
}

/// Builder for [`MarketRules`]; every rule starts disabled (zero) and the status `Trading`.
#[derive(Debug, Clone)]
pub struct MarketRulesBuilder {
    rules: MarketRules,
}

macro_rules! setter {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(mut self, value: Decimal) -> Self {
            self.rules.$name = value;
            self
        }
    };
}

impl MarketRulesBuilder {
    setter!(tick_size, "Sets the price grid.");
    setter!(min_price, "Sets the lowest allowed price.");
    setter!(max_price, "Sets the highest allowed price.");
    setter!(step_size, "Sets the quantity grid.");
    setter!(min_qty, "Sets the smallest quantity.");
    setter!(max_qty, "Sets the largest quantity.");
    setter!(min_notional, "Sets the smallest notional.");
    setter!(max_notional, "Sets the largest notional.");

    /// Sets the trading status.
    pub fn status(mut self, status: MarketStatus) -> Self {
        self.rules.status = status;
        self
    }

    /// Checks that no value is negative and returns the rules.
    pub fn build(self) -> Result<MarketRules, ValueError> {
        let r = &self.rules;
        for (what, v) in [
            ("tick size", r.tick_size),
            ("min price", r.min_price),
            ("max price", r.max_price),
            ("step size", r.step_size),
            ("min qty", r.min_qty),
            ("max qty", r.max_qty),
            ("min notional", r.min_notional),
            ("max notional", r.max_notional),
        ] {
            if v.is_sign_negative() && !v.is_zero() {
                return Err(ValueError { what, value: v.to_string(), reason: "must not be negative" });
            }
        }
        Ok(self.rules)
    }
}

// Rounding uses checked arithmetic: values come from venues and users, and an absurd one must
// give an absurd-but-safe answer (zero, which every check then refuses), never a panic.
fn floor_to(value: Decimal, grid: Decimal) -> Decimal {
    if grid.is_zero() {
        return value;
    }
    value.checked_div(grid).and_then(|n| n.floor().checked_mul(grid)).unwrap_or(Decimal::ZERO)
}

fn ceil_to(value: Decimal, grid: Decimal) -> Decimal {
    if grid.is_zero() {
        return value;
    }
    value.checked_div(grid).and_then(|n| n.ceil().checked_mul(grid)).unwrap_or(Decimal::ZERO)
}

fn on_grid(value: Decimal, grid: Decimal) -> bool {
    grid.is_zero() || value.checked_rem(grid).is_some_and(|r| r.is_zero())
}

impl MarketRules {
    /// Starts a builder with every rule disabled and the status `Trading`.
    pub fn builder(symbol: Symbol, venue_id: impl Into<String>) -> MarketRulesBuilder {
        MarketRulesBuilder {
            rules: MarketRules {
                symbol,
                venue_id: venue_id.into(),
                status: MarketStatus::Trading,
                tick_size: Decimal::ZERO,
                min_price: Decimal::ZERO,
                max_price: Decimal::ZERO,
                step_size: Decimal::ZERO,
                min_qty: Decimal::ZERO,
                max_qty: Decimal::ZERO,
                min_notional: Decimal::ZERO,
                max_notional: Decimal::ZERO,
            },
        }
    }

    /// Builds rules from an exchangeInfo symbol's filters (`PRICE_FILTER`, `LOT_SIZE`,
    /// `MIN_NOTIONAL`, `NOTIONAL`; other filters are ignored). When both `MIN_NOTIONAL` and
    /// `NOTIONAL` are present, the stricter minimum wins.
    pub fn from_filters(
        symbol: Symbol,
        venue_id: impl Into<String>,
        status: MarketStatus,
        filters: &[SymbolFilter],
    ) -> Result<MarketRules, ValueError> {
        let mut b = MarketRules::builder(symbol, venue_id).status(status);
        for f in filters {
            match *f {
                SymbolFilter::PriceFilter { min_price, max_price, tick_size } => {
                    b = b.min_price(min_price).max_price(max_price).tick_size(tick_size);
                }
                SymbolFilter::LotSize { min_qty, max_qty, step_size } => {
                    b = b.min_qty(min_qty).max_qty(max_qty).step_size(step_size);
                }
                SymbolFilter::MinNotional { min_notional, .. } => {
                    let stricter = b.rules.min_notional.max(min_notional);
                    b = b.min_notional(stricter);
                }
                SymbolFilter::Notional { min_notional, max_notional, .. } => {
                    let stricter = b.rules.min_notional.max(min_notional);
                    b = b.min_notional(stricter).max_notional(max_notional);
                }
                SymbolFilter::MarketLotSize { .. } | SymbolFilter::Other => {}
            }
        }
        b.build()
    }

    /// True when the market accepts orders.
    pub fn is_trading(&self) -> bool {
        self.status == MarketStatus::Trading
    }

    /// Rounds a price down to the tick grid (for buys: never pay more than intended).
    pub fn floor_price(&self, price: Decimal) -> Decimal {
        floor_to(price, self.tick_size)
    }

    /// Rounds a price up to the tick grid (for sells: never sell for less than intended).
    pub fn ceil_price(&self, price: Decimal) -> Decimal {
        ceil_to(price, self.tick_size)
    }

    /// Rounds a price to the tick grid in the direction that is safe for `side`.
    pub fn round_price(&self, side: Side, price: Decimal) -> Decimal {
        match side {
            Side::Buy => self.floor_price(price),
            Side::Sell => self.ceil_price(price),
        }
    }

    /// Rounds a quantity down to the step grid: the result never exceeds `qty`, so rounding a
    /// balance never asks for more than is held.
    pub fn floor_qty(&self, qty: Decimal) -> Decimal {
        floor_to(qty, self.step_size)
    }

    /// Checks an order (price = the limit price, or the expected price for market orders)
    /// against every rule, in the order a venue checks them.
    pub fn check(&self, price: Decimal, qty: Decimal) -> Result<(), RuleViolation> {
        if !self.is_trading() {
            return Err(RuleViolation::MarketClosed {
                symbol: self.symbol.to_string(),
                status: self.status.as_str().to_owned(),
            });
        }
        if price <= Decimal::ZERO {
            return Err(RuleViolation::NonPositivePrice(price));
        }
        if qty <= Decimal::ZERO {
            return Err(RuleViolation::NonPositiveQuantity(qty));
        }
        let above_max = |v: Decimal, max: Decimal| !max.is_zero() && v > max;
        if price < self.min_price || above_max(price, self.max_price) {
            return Err(RuleViolation::PriceOutOfRange { price, min: self.min_price, max: self.max_price });
        }
        if !on_grid(price, self.tick_size) {
            return Err(RuleViolation::PriceOffTick { price, tick_size: self.tick_size });
        }
        if qty < self.min_qty {
            return Err(RuleViolation::BelowMinQty { qty, min_qty: self.min_qty });
        }
        if above_max(qty, self.max_qty) {
            return Err(RuleViolation::AboveMaxQty { qty, max_qty: self.max_qty });
        }
        if !on_grid(qty, self.step_size) {
            return Err(RuleViolation::QtyOffStep { qty, step_size: self.step_size });
        }
        let Some(notional) = price.checked_mul(qty) else {
            return Err(RuleViolation::AboveMaxNotional {
                notional: Decimal::MAX,
                max_notional: self.max_notional,
            });
        };
        if notional < self.min_notional {
            return Err(RuleViolation::BelowMinNotional { notional, min_notional: self.min_notional });
        }
        if above_max(notional, self.max_notional) {
            return Err(RuleViolation::AboveMaxNotional { notional, max_notional: self.max_notional });
        }
        Ok(())
    }

    /// The limit buy that spends at most `budget` (quote asset) at about `price`: the price is
    /// rounded down to the tick, the quantity is `budget / price` rounded down to the step and
    /// capped at the maximum quantity and notional, and the result is checked against every rule.
    ///
    /// Guarantees on `Ok((p, q))`: `p * q <= budget`, `p <= price`, and `check(p, q)` passes.
    pub fn buy_order_for_budget(
        &self,
        budget: Decimal,
        price: Decimal,
    ) -> Result<(Decimal, Decimal), RuleViolation> {
        let p = self.floor_price(price);
        if p <= Decimal::ZERO {
            return Err(RuleViolation::NonPositivePrice(p));
        }
        let mut spend = budget;
        if !self.max_notional.is_zero() {
            spend = spend.min(self.max_notional);
        }
        let mut q = self.floor_qty(spend.checked_div(p).unwrap_or(Decimal::ZERO));
        if !self.max_qty.is_zero() && q > self.max_qty {
            q = self.floor_qty(self.max_qty);
        }
        if q <= Decimal::ZERO {
            // The budget does not buy even one step.
            return Err(RuleViolation::BelowMinQty { qty: q, min_qty: self.min_qty.max(self.step_size) });
        }
        self.check(p, q)?;
        Ok((p, q))
    }

    /// The quantity to sell out of a `held` balance: rounded down to the step (never more than
    /// held), checked against the rules at `price`.
    pub fn sell_qty_for_balance(&self, held: Decimal, price: Decimal) -> Result<Decimal, RuleViolation> {
        let mut q = self.floor_qty(held);
        if !self.max_qty.is_zero() && q > self.max_qty {
            q = self.floor_qty(self.max_qty);
        }
        self.check(self.ceil_price(price), q)?;
        Ok(q)
    }

    /// Formats a quantity with no more decimals than the step size allows (what venues accept).
    pub fn format_qty(&self, qty: Decimal) -> String {
        format_on_grid(qty, self.step_size)
    }

    /// Formats a price with no more decimals than the tick size allows.
    pub fn format_price(&self, price: Decimal) -> String {
        format_on_grid(price, self.tick_size)
    }
}

fn format_on_grid(value: Decimal, grid: Decimal) -> String {
    if grid.is_zero() {
        return value.normalize().to_string();
    }
    let dp = grid.normalize().scale();
    let mut v = value.round_dp_with_strategy(dp, RoundingStrategy::ToZero);
    v.rescale(dp);
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn btc_usdt() -> MarketRules {
        // Binance's BTCUSDT filters (ccxt markets fixture).
        MarketRules::builder("BTC/USDT".parse().unwrap(), "BTCUSDT")
            .tick_size(dec!(0.01))
            .min_price(dec!(0.01))
            .max_price(dec!(1000000))
            .step_size(dec!(0.00001))
            .min_qty(dec!(0.00001))
            .max_qty(dec!(9000))
            .min_notional(dec!(5))
            .max_notional(dec!(9000000))
            .build()
            .unwrap()
    }

    #[track_caller]
    fn check(price: Decimal, qty: Decimal, expected: Result<(), RuleViolation>) {
        assert_eq!(btc_usdt().check(price, qty), expected, "price {price} qty {qty}");
    }

    #[test]
    fn check_reports_each_violation() {
        check(dec!(64000.01), dec!(0.001), Ok(()));
        check(
            dec!(64000.015),
            dec!(0.001),
            Err(RuleViolation::PriceOffTick { price: dec!(64000.015), tick_size: dec!(0.01) }),
        );
        check(
            dec!(64000),
            dec!(0.0010005),
            Err(RuleViolation::QtyOffStep { qty: dec!(0.0010005), step_size: dec!(0.00001) }),
        );
        check(
            dec!(64000),
            dec!(0.00007),
            Err(RuleViolation::BelowMinNotional { notional: dec!(4.48), min_notional: dec!(5) }),
        );
        check(
            dec!(64000),
            dec!(9001),
            Err(RuleViolation::AboveMaxQty { qty: dec!(9001), max_qty: dec!(9000) }),
        );
        check(dec!(0), dec!(1), Err(RuleViolation::NonPositivePrice(dec!(0))));
        check(dec!(1), dec!(-1), Err(RuleViolation::NonPositiveQuantity(dec!(-1))));
        check(
            dec!(2000000),
            dec!(1),
            Err(RuleViolation::PriceOutOfRange { price: dec!(2000000), min: dec!(0.01), max: dec!(1000000) }),
        );
    }

    #[test]
    fn closed_market_rejects_everything() {
        let mut r = btc_usdt();
        r.status = MarketStatus::Break;
        assert!(matches!(r.check(dec!(64000), dec!(1)), Err(RuleViolation::MarketClosed { .. })));
    }

    #[test]
    fn buy_for_budget_rounds_down_and_stays_within_budget() {
        let (p, q) = btc_usdt().buy_order_for_budget(dec!(100), dec!(64123.456)).unwrap();
        assert_eq!(p, dec!(64123.45));
        assert_eq!(q, dec!(0.00155));
        assert!(p * q <= dec!(100));
    }

    #[test]
    fn buy_for_tiny_budget_is_rejected_not_rounded_up() {
        let err = btc_usdt().buy_order_for_budget(dec!(4), dec!(64000)).unwrap_err();
        assert_eq!(err, RuleViolation::BelowMinNotional { notional: dec!(3.84), min_notional: dec!(5) });
        let err = btc_usdt().buy_order_for_budget(dec!(0.1), dec!(64000)).unwrap_err();
        assert!(matches!(err, RuleViolation::BelowMinQty { .. }), "{err:?}");
    }

    #[test]
    fn sell_never_exceeds_balance() {
        assert_eq!(btc_usdt().sell_qty_for_balance(dec!(0.123456789), dec!(64000)).unwrap(), dec!(0.12345));
    }

    #[test]
    fn zero_rules_are_disabled() {
        let r = MarketRules::builder("A/B".parse().unwrap(), "AB").build().unwrap();
        assert_eq!(r.floor_price(dec!(1.23456)), dec!(1.23456));
        assert!(r.check(dec!(1.23456), dec!(0.000001)).is_ok());
    }

    #[test]
    fn negative_rule_values_are_refused() {
        let err = MarketRules::builder("A/B".parse().unwrap(), "AB").tick_size(dec!(-1)).build().unwrap_err();
        assert_eq!(err.what, "tick size");
    }

    #[test]
    fn formats_to_grid_precision() {
        let r = btc_usdt();
        assert_eq!(r.format_qty(dec!(0.00155000)), "0.00155");
        assert_eq!(r.format_price(dec!(64123.4)), "64123.40");
        assert_eq!(r.format_price(dec!(64123.459)), "64123.45");
    }

    fn grid() -> impl Strategy<Value = Decimal> {
        (1i64..=9, 0u32..=8).prop_map(|(m, scale)| Decimal::new(m, scale))
    }

    fn amount() -> impl Strategy<Value = Decimal> {
        (1i64..=10_000_000_000, 0u32..=8).prop_map(|(m, scale)| Decimal::new(m, scale))
    }

    proptest! {
        #[test]
        fn rounded_price_is_on_tick_and_never_above(tick in grid(), price in amount()) {
            let r = MarketRules::builder("A/B".parse().unwrap(), "AB").tick_size(tick).build().unwrap();
            let down = r.floor_price(price);
            let up = r.ceil_price(price);
            prop_assert!((down % tick).is_zero());
            prop_assert!((up % tick).is_zero());
            prop_assert!(down <= price && price <= up);
            prop_assert!(price - down < tick && up - price < tick);
        }

        #[test]
        fn rounded_qty_is_on_step_and_never_above(step in grid(), qty in amount()) {
            let r = MarketRules::builder("A/B".parse().unwrap(), "AB").step_size(step).build().unwrap();
            let q = r.floor_qty(qty);
            prop_assert!((q % step).is_zero());
            prop_assert!(q <= qty && qty - q < step);
        }

        #[test]
        fn budget_orders_are_valid_and_affordable(
            tick in grid(), step in grid(), min_notional in 0i64..=20,
            budget in amount(), price in amount(),
        ) {
            let r = MarketRules::builder("A/B".parse().unwrap(), "AB")
                .tick_size(tick).step_size(step).min_qty(step)
                .min_notional(Decimal::from(min_notional)).build().unwrap();
            match r.buy_order_for_budget(budget, price) {
                Ok((p, q)) => {
                    prop_assert!(p * q <= budget);
                    prop_assert!(p <= price);
                    prop_assert!(r.check(p, q).is_ok());
                    prop_assert!(p * q >= r.min_notional);
                }
                // A refusal must be a real one: nothing valid fits the budget at that price.
                Err(_) => {
                    let p = r.floor_price(price);
                    let q = r.floor_qty(budget.checked_div(p).unwrap_or(Decimal::ZERO));
                    prop_assert!(p.is_zero() || q.is_zero() || p * q < r.min_notional || r.check(p, q).is_err());
                }
            }
        }
    }
}

#[cfg(test)]
mod extreme_tests {
    use super::*;

    #[test]
    fn absurd_values_never_panic() {
        let r = MarketRules::builder("A/B".parse().unwrap(), "AB")
            .tick_size(Decimal::new(1, 28))
            .step_size(Decimal::new(1, 28))
            .build()
            .unwrap();
        let _ = r.floor_price(Decimal::MAX);
        let _ = r.ceil_price(Decimal::MAX);
        let _ = r.check(Decimal::MAX, Decimal::MAX);
        let _ = r.buy_order_for_budget(Decimal::MAX, Decimal::new(1, 28));
        assert!(r.check(Decimal::MAX, Decimal::MAX).is_err());
    }
}
