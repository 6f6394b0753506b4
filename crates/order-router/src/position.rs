//! Positions: what filled buys put into the account and sells took out, with cost and PnL in
//! the quote currency, fees included. Pure: no IO.

use rust_decimal::Decimal;
use trading_core::{Symbol, Timestamp};

/// One held position (one per market).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The market.
    pub symbol: Symbol,
    /// Base quantity the account really received and still holds: filled minus fees taken in
    /// the base asset, minus what sells took.
    pub quantity: Decimal,
    /// Part of `quantity` held by open sell orders.
    pub locked: Decimal,
    /// Quote spent on what is still held, fees included.
    pub cost: Decimal,
    /// Average fill price of the buys (before fees).
    pub entry_price: Decimal,
    /// Fees paid on the buys, valued in the quote asset.
    pub fees_quote: Decimal,
    /// When the first buy filled.
    pub opened_at: Timestamp,
    /// Realised PnL of the sells so far (fees included).
    pub realised_pnl: Decimal,
}

impl Position {
    /// What a new sell may still take: `quantity - locked`.
    pub fn sellable(&self) -> Decimal {
        (self.quantity - self.locked).max(Decimal::ZERO)
    }

    /// Unrealised PnL at `mark`: the market value of what is held minus its cost (quote fees of
    /// the buys included; the fee of a future sell is not).
    pub fn unrealised_pnl(&self, mark: Decimal) -> Decimal {
        self.quantity * mark - self.cost
    }
}

/// What a settled buy adds: `filled - fee_base` units for `quote + fee_quote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuyExecution {
    /// Base filled.
    pub filled: Decimal,
    /// Quote spent (before fees).
    pub quote: Decimal,
    /// Fee in the quote asset.
    pub fee_quote: Decimal,
    /// Fee in the base asset.
    pub fee_base: Decimal,
    /// When.
    pub at: Timestamp,
}

/// Adds a settled buy to `position` (or opens one).
pub fn apply_buy(position: Option<Position>, symbol: &Symbol, buy: BuyExecution) -> Position {
    let received = buy.filled - buy.fee_base;
    let avg = if buy.filled > Decimal::ZERO { buy.quote / buy.filled } else { Decimal::ZERO };
    let fee_value = buy.fee_quote + buy.fee_base * avg;
    match position {
        None => Position {
            symbol: symbol.clone(),
            quantity: received,
            locked: Decimal::ZERO,
            cost: buy.quote + buy.fee_quote,
            entry_price: avg,
            fees_quote: fee_value,
            opened_at: buy.at,
            realised_pnl: Decimal::ZERO,
        },
        Some(mut p) => {
            let old_units = if p.entry_price > Decimal::ZERO { p.quantity } else { Decimal::ZERO };
            let units = old_units + buy.filled;
            if units > Decimal::ZERO {
                p.entry_price = (p.entry_price * old_units + buy.quote) / units;
            }
            p.quantity += received;
            p.cost += buy.quote + buy.fee_quote;
            p.fees_quote += fee_value;
            p
        }
    }
}

/// What a settled sell took out: `sold` units (filled plus a base fee) for `proceeds` quote
/// (net of a quote fee).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SellResult {
    /// Base units that left the position.
    pub sold: Decimal,
    /// The cost of those units (leaves the committed budget).
    pub cost: Decimal,
    /// Quote received, net of fees.
    pub proceeds: Decimal,
    /// `proceeds - cost`.
    pub pnl: Decimal,
}

/// Takes a settled sell out of `position`; the cost leaves in proportion to the units sold.
pub fn apply_sell(
    position: &mut Position,
    filled: Decimal,
    quote: Decimal,
    fee_quote: Decimal,
    fee_base: Decimal,
) -> SellResult {
    let sold = (filled + fee_base).min(position.quantity);
    // The cost share is rounded to 10 decimals so that budget sums stay exact (Decimal keeps 28
    // significant digits; a recurring quotient would make `free + reserved + committed` drift).
    let cost = if position.quantity > Decimal::ZERO && sold < position.quantity {
        (position.cost * sold / position.quantity).round_dp(10).min(position.cost)
    } else {
        position.cost
    };
    let proceeds = quote - fee_quote;
    position.quantity -= sold;
    position.cost -= cost;
    let pnl = proceeds - cost;
    position.realised_pnl += pnl;
    SellResult { sold, cost, proceeds, pnl }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn base_fee_reduces_the_sellable_quantity_and_pnl_includes_fees() {
        let s: Symbol = "ABC/USDT".parse().unwrap();
        let buy = BuyExecution {
            filled: dec!(10),
            quote: dec!(100),
            fee_quote: dec!(0),
            fee_base: dec!(0.01),
            at: Timestamp::from_millis(5),
        };
        let mut p = apply_buy(None, &s, buy);
        assert_eq!(
            (p.quantity, p.cost, p.entry_price, p.fees_quote),
            (dec!(9.99), dec!(100), dec!(10), dec!(0.1))
        );
        assert_eq!(p.unrealised_pnl(dec!(11)), dec!(9.89));
        p.locked = dec!(5);
        assert_eq!(p.sellable(), dec!(4.99));
        let r = apply_sell(&mut p, dec!(9.99), dec!(109.89), dec!(0.10989), dec!(0));
        assert_eq!(r.cost, dec!(100));
        assert_eq!(r.pnl, dec!(109.78011) - dec!(100));
        assert_eq!(p.quantity, dec!(0));
    }
}
