//! The budget: quote currency split into free, reserved (per intent) and committed (spent on
//! fills, fees included). Pure: no IO.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{IntentId, RejectReason};

/// The router's quote budget. Invariant after every step:
/// `free + reserved + committed == total`, with `reserved` the sum of the open reservations
/// and every reservation and `committed` non-negative ([`Budget::check`]).
///
/// `total` starts at the configured budget and moves only by realised PnL when a position is
/// (partly) closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    total: Decimal,
    free: Decimal,
    committed: Decimal,
    realised_pnl: Decimal,
    reservations: BTreeMap<IntentId, Decimal>,
}

impl Budget {
    /// A budget of `total`, all free.
    pub fn new(total: Decimal) -> Self {
        Budget {
            total,
            free: total,
            committed: Decimal::ZERO,
            realised_pnl: Decimal::ZERO,
            reservations: BTreeMap::new(),
        }
    }

    /// Rebuilds a budget from its stored parts (the ledger). Call [`Budget::check`] after.
    pub fn from_parts(
        total: Decimal,
        free: Decimal,
        committed: Decimal,
        realised_pnl: Decimal,
        reservations: BTreeMap<IntentId, Decimal>,
    ) -> Self {
        Budget { total, free, committed, realised_pnl, reservations }
    }

    /// Everything the router may have at stake.
    pub fn total(&self) -> Decimal {
        self.total
    }

    /// Not reserved and not committed.
    pub fn free(&self) -> Decimal {
        self.free
    }

    /// Sum of the open reservations.
    pub fn reserved(&self) -> Decimal {
        self.reservations.values().copied().sum()
    }

    /// Spent on fills (fees included) and not yet returned by a sell.
    pub fn committed(&self) -> Decimal {
        self.committed
    }

    /// Realised profit and loss so far (fees included).
    pub fn realised_pnl(&self) -> Decimal {
        self.realised_pnl
    }

    /// The open reservation of one intent (zero when none).
    pub fn reservation(&self, intent: &IntentId) -> Decimal {
        self.reservations.get(intent).copied().unwrap_or(Decimal::ZERO)
    }

    /// The open reservations by intent.
    pub fn reservations(&self) -> &BTreeMap<IntentId, Decimal> {
        &self.reservations
    }

    /// Reserves `amount` for `intent` out of the free budget.
    pub fn reserve(&mut self, intent: &IntentId, amount: Decimal) -> Result<(), RejectReason> {
        if amount > self.free {
            return Err(RejectReason::InsufficientBudget { needed: amount, free: self.free });
        }
        self.free -= amount;
        *self.reservations.entry(intent.clone()).or_insert(Decimal::ZERO) += amount;
        Ok(())
    }

    /// Commits `amount` spent by `intent` (a fill's quote amount, or a fee in the quote asset):
    /// taken from the intent's reservation first; what exceeds it (slippage) comes out of the
    /// free budget, so the invariant holds even when the venue spent more than planned.
    pub fn commit(&mut self, intent: &IntentId, amount: Decimal) {
        if amount <= Decimal::ZERO {
            return;
        }
        let held = self.reservation(intent);
        let from_reservation = held.min(amount);
        if let Some(r) = self.reservations.get_mut(intent) {
            *r -= from_reservation;
        }
        self.free -= amount - from_reservation;
        self.committed += amount;
    }

    /// Releases what is left of `intent`'s reservation to free and returns it.
    pub fn release(&mut self, intent: &IntentId) -> Decimal {
        let left = self.reservations.remove(intent).unwrap_or(Decimal::ZERO);
        self.free += left;
        left
    }

    /// A sell closed (part of) a position that cost `cost`: that cost leaves `committed`,
    /// `proceeds` (net of fees) become free, and the difference is realised PnL.
    pub fn close(&mut self, cost: Decimal, proceeds: Decimal) -> Decimal {
        let pnl = proceeds - cost;
        self.committed -= cost;
        self.free += proceeds;
        self.total += pnl;
        self.realised_pnl += pnl;
        pnl
    }

    /// Checks `free + reserved + committed == total` and that nothing negative is held.
    pub fn check(&self) -> Result<(), String> {
        let reserved = self.reserved();
        if self.free + reserved + self.committed != self.total {
            return Err(format!(
                "free {} + reserved {} + committed {} != total {}",
                self.free, reserved, self.committed, self.total
            ));
        }
        if let Some((id, r)) = self.reservations.iter().find(|(_, r)| **r < Decimal::ZERO) {
            return Err(format!("reservation of {id} is negative ({r})"));
        }
        if self.committed < Decimal::ZERO {
            return Err(format!("committed is negative ({})", self.committed));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn reserve_commit_release_close_keep_the_invariant() {
        let a = IntentId::new("a").unwrap();
        let mut b = Budget::new(dec!(100));
        b.reserve(&a, dec!(30)).unwrap();
        assert_eq!((b.free(), b.reserved()), (dec!(70), dec!(30)));
        assert!(matches!(b.reserve(&a, dec!(71)), Err(RejectReason::InsufficientBudget { .. })));
        b.commit(&a, dec!(20));
        b.commit(&a, dec!(0.02)); // fee in quote
        assert_eq!((b.reserved(), b.committed()), (dec!(9.98), dec!(20.02)));
        assert_eq!(b.release(&a), dec!(9.98));
        b.check().unwrap();
        // Slippage beyond the reservation comes out of free.
        let c = IntentId::new("c").unwrap();
        b.reserve(&c, dec!(10)).unwrap();
        b.commit(&c, dec!(12));
        assert_eq!(b.release(&c), dec!(0));
        b.check().unwrap();
        assert_eq!(b.committed(), dec!(32.02));
        // Selling at a loss: total shrinks by the PnL.
        assert_eq!(b.close(dec!(32.02), dec!(30)), dec!(-2.02));
        assert_eq!((b.total(), b.free(), b.committed()), (dec!(97.98), dec!(97.98), dec!(0)));
        b.check().unwrap();
    }
}
