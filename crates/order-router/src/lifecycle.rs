//! The order lifecycle: the router's states, the record of one intent's order, and the pure
//! merge of a venue answer into it (a later state never goes back).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use trading_core::{ClientOrderId, Order, OrderId, OrderStatus, Timestamp};

use crate::{OrderIntent, PlannedOrder};

/// Where an intent's order stands, as far as the venue has proven it.
///
/// ```text
/// Submitted --answer--> Acknowledged -> PartiallyFilled -> Filled | Canceled | Expired
///     |                      \________________________________/^
///     +--timeout/5xx/dropped--> OutcomeUnknown --lookup: found--^
///     |                                       \--lookup: absent after the window--> Absent
///     +--refused--> Rejected          (ORDER_FLOW_ENABLED=false: NotSent, nothing sent)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OrderState {
    /// The intent row is in the ledger and the request is (being) sent; no answer yet. After a
    /// crash this means the same as `OutcomeUnknown`.
    Submitted,
    /// The request timed out, failed with 5xx or its future was dropped: the order may exist.
    /// Keeps its reservation until a lookup proves what happened; never resent.
    OutcomeUnknown,
    /// The venue has the order, nothing filled.
    Acknowledged,
    /// Some quantity filled, the rest still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled (by us at the deadline or by the venue), possibly after partial fills.
    Canceled,
    /// Refused by the venue (nothing was created).
    Rejected,
    /// Expired by its time in force, possibly after partial fills.
    Expired,
    /// Proven never created: lookups after the venue's acceptance window found nothing.
    Absent,
    /// `ORDER_FLOW_ENABLED` was false: decided and logged, nothing sent.
    NotSent,
}

impl OrderState {
    /// True when nothing can change any more.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled
                | OrderState::Canceled
                | OrderState::Rejected
                | OrderState::Expired
                | OrderState::Absent
                | OrderState::NotSent
        )
    }

    /// True while the venue's answer to the request is missing.
    pub const fn is_unresolved(self) -> bool {
        matches!(self, OrderState::Submitted | OrderState::OutcomeUnknown)
    }

    /// Order of progress: a state of lower rank never replaces one of higher rank.
    const fn rank(self) -> u8 {
        match self {
            OrderState::Submitted | OrderState::OutcomeUnknown => 0,
            OrderState::Acknowledged => 1,
            OrderState::PartiallyFilled => 2,
            _ => 3,
        }
    }

    /// The router state for a venue status.
    pub const fn from_venue(status: OrderStatus) -> OrderState {
        match status {
            OrderStatus::New => OrderState::Acknowledged,
            OrderStatus::PartiallyFilled => OrderState::PartiallyFilled,
            OrderStatus::Filled => OrderState::Filled,
            OrderStatus::Canceled | OrderStatus::PartiallyCanceled => OrderState::Canceled,
            OrderStatus::Rejected => OrderState::Rejected,
            OrderStatus::Expired => OrderState::Expired,
        }
    }

    /// The ledger's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderState::Submitted => "submitted",
            OrderState::OutcomeUnknown => "outcome_unknown",
            OrderState::Acknowledged => "acknowledged",
            OrderState::PartiallyFilled => "partially_filled",
            OrderState::Filled => "filled",
            OrderState::Canceled => "canceled",
            OrderState::Rejected => "rejected",
            OrderState::Expired => "expired",
            OrderState::Absent => "absent",
            OrderState::NotSent => "not_sent",
        }
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use OrderState::*;
        [
            Submitted,
            OutcomeUnknown,
            Acknowledged,
            PartiallyFilled,
            Filled,
            Canceled,
            Rejected,
            Expired,
            Absent,
            NotSent,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| format!("unknown order state {s:?}"))
    }
}

/// One intent and its (at most one) order: everything the router knows, as the ledger stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// The intent as received.
    pub intent: OrderIntent,
    /// What it became after validation and rounding.
    pub plan: PlannedOrder,
    /// The one client order id (derived from the intent id).
    pub client_order_id: ClientOrderId,
    /// Lifecycle state.
    pub state: OrderState,
    /// The venue's id, once an answer named it.
    pub order_id: Option<OrderId>,
    /// Base quantity filled (never decreases).
    pub filled_quantity: Decimal,
    /// Quote amount of the fills (never decreases).
    pub cumulative_quote: Decimal,
    /// Fees paid in the quote asset (known once settled).
    pub fee_quote: Decimal,
    /// Fees paid in the base asset (reduce what a buy received).
    pub fee_base: Decimal,
    /// True when fees were estimated because the venue could not list the fills.
    pub fees_estimated: bool,
    /// When the intent was accepted.
    pub created_at: Timestamp,
    /// When the request was sent (the acceptance window counts from here).
    pub sent_at: Option<Timestamp>,
    /// Last change.
    pub updated_at: Timestamp,
    /// True once a cancel was requested (at the deadline).
    pub cancel_requested: bool,
    /// True once a terminal order's fills, fees, budget and position are accounted.
    pub settled: bool,
    /// Last reason or error, in words.
    pub note: String,
}

impl OrderRecord {
    /// True when the router still has work with this record (not terminal, or not settled).
    pub fn is_active(&self) -> bool {
        !self.state.is_terminal() || !self.settled
    }
}

/// What a venue answer means for a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// Newer than what we know: take it.
    Advance {
        /// The new state.
        state: OrderState,
        /// Filled quantity now.
        filled_quantity: Decimal,
        /// Quote amount now.
        cumulative_quote: Decimal,
    },
    /// Same as what we know.
    Same,
    /// Older than what we know (a late answer, a stale replica): ignored.
    Stale,
}

/// Merges a venue answer into what the record knows. Pure.
///
/// Filled quantity never decreases, a state never moves to a lower rank, and a terminal state
/// never changes: so a late REST answer can never resurrect an order that is already filled,
/// and a cancel answer that arrives after a fill cannot undo the fill.
pub fn merge(state: OrderState, filled: Decimal, quote: Decimal, venue: &Order) -> Merge {
    let next = OrderState::from_venue(venue.status);
    if venue.filled_quantity < filled || next.rank() < state.rank() {
        return Merge::Stale;
    }
    if state.is_terminal() {
        return if next == state && venue.filled_quantity == filled { Merge::Same } else { Merge::Stale };
    }
    if next == state && venue.filled_quantity == filled && venue.cumulative_quote == quote {
        return Merge::Same;
    }
    Merge::Advance {
        state: next,
        filled_quantity: venue.filled_quantity,
        cumulative_quote: venue.cumulative_quote.max(quote),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use trading_core::{OrderType, Side};

    fn venue(status: OrderStatus, filled: Decimal) -> Order {
        Order {
            id: OrderId("1".into()),
            client_order_id: ClientOrderId::new("dr-x").unwrap(),
            symbol: "ABC/USDT".parse().unwrap(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            status,
            price: Some(dec!(10)),
            quantity: dec!(2),
            filled_quantity: filled,
            cumulative_quote: filled * dec!(10),
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        }
    }

    #[track_caller]
    fn check(state: OrderState, filled: Decimal, answer: Order, expected: Option<OrderState>) {
        let got = match merge(state, filled, filled * dec!(10), &answer) {
            Merge::Advance { state, .. } => Some(state),
            Merge::Same => Some(state),
            Merge::Stale => None,
        };
        assert_eq!(got, expected, "{state} + {}", answer.status);
    }

    #[test]
    fn later_states_never_go_back() {
        use OrderState as S;
        use OrderStatus as V;
        check(S::Submitted, dec!(0), venue(V::New, dec!(0)), Some(S::Acknowledged));
        check(S::OutcomeUnknown, dec!(0), venue(V::Filled, dec!(2)), Some(S::Filled));
        check(S::Acknowledged, dec!(0), venue(V::PartiallyFilled, dec!(1)), Some(S::PartiallyFilled));
        // Stale: a NEW after a partial fill, fewer fills than known, anything after terminal.
        check(S::PartiallyFilled, dec!(1), venue(V::New, dec!(0)), None);
        check(S::PartiallyFilled, dec!(1), venue(V::PartiallyFilled, dec!(0.5)), None);
        check(S::Filled, dec!(2), venue(V::PartiallyFilled, dec!(1)), None);
        check(S::Filled, dec!(2), venue(V::Canceled, dec!(2)), None);
        check(S::Canceled, dec!(1), venue(V::Filled, dec!(2)), None);
        // Fill after a cancel request: the venue's truth (filled) wins over our wish.
        check(S::PartiallyFilled, dec!(1), venue(V::Filled, dec!(2)), Some(S::Filled));
        check(S::PartiallyFilled, dec!(1), venue(V::PartiallyCanceled, dec!(1)), Some(S::Canceled));
        check(S::Filled, dec!(2), venue(V::Filled, dec!(2)), Some(S::Filled));
    }

    #[test]
    fn state_names_round_trip() {
        for s in ["submitted", "outcome_unknown", "filled", "not_sent", "absent"] {
            assert_eq!(s.parse::<OrderState>().unwrap().as_str(), s);
        }
        assert!("nope".parse::<OrderState>().is_err());
    }
}
