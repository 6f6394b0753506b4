//! `RouterState`: everything the router knows, in memory; the ledger stores exactly this.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use trading_core::{ClientOrderId, Side, Symbol};

use crate::{Budget, IntentId, OrderRecord, Position};

/// The router's whole state: the budget, every intent's order record and the positions.
/// Loading the ledger gives a value equal to the live one ([`crate::Ledger::load`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterState {
    /// The quote budget.
    pub budget: Budget,
    /// Every intent the ledger knows, by client order id.
    pub orders: BTreeMap<ClientOrderId, OrderRecord>,
    /// Held positions, by market.
    pub positions: BTreeMap<Symbol, Position>,
    /// Index: intent id -> client order id.
    pub(crate) intents: BTreeMap<IntentId, ClientOrderId>,
    /// Index: the orders not yet settled (a record leaves it only when settled).
    pub(crate) active: std::collections::BTreeSet<ClientOrderId>,
}

impl RouterState {
    /// A fresh state with `total` budget.
    pub fn new(total: Decimal) -> Self {
        RouterState {
            budget: Budget::new(total),
            orders: BTreeMap::new(),
            positions: BTreeMap::new(),
            intents: BTreeMap::new(),
            active: std::collections::BTreeSet::new(),
        }
    }

    pub(crate) fn insert(&mut self, record: OrderRecord) {
        self.intents.insert(record.intent.id.clone(), record.client_order_id.clone());
        if record.is_active() {
            self.active.insert(record.client_order_id.clone());
        }
        self.orders.insert(record.client_order_id.clone(), record);
    }

    pub(crate) fn remove(&mut self, cid: &ClientOrderId) -> Option<OrderRecord> {
        let r = self.orders.remove(cid)?;
        self.intents.remove(&r.intent.id);
        self.active.remove(cid);
        Some(r)
    }

    /// True when an intent with this id was ever accepted.
    pub fn knows_intent(&self, id: &IntentId) -> bool {
        self.intents.contains_key(id)
    }

    /// Orders the router still has to track or settle.
    pub fn active_orders(&self) -> impl Iterator<Item = &OrderRecord> {
        self.active.iter().filter_map(|cid| self.orders.get(cid))
    }

    /// Marks a record settled (it leaves the active index).
    pub(crate) fn mark_settled(&mut self, cid: &ClientOrderId) {
        if let Some(r) = self.orders.get_mut(cid) {
            r.settled = true;
        }
        self.active.remove(cid);
    }

    /// Open positions plus buys in flight (what `MAX_CONCURRENT_POSITIONS` limits).
    pub fn position_slots_used(&self) -> u32 {
        let held = self.positions.values().filter(|p| p.quantity > Decimal::ZERO).count();
        let buying = self
            .active_orders()
            .filter(|r| r.intent.side == Side::Buy && !self.positions.contains_key(&r.intent.symbol))
            .map(|r| &r.intent.symbol)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        u32::try_from(held + buying).unwrap_or(u32::MAX)
    }

    /// Unrealised PnL of every position at the given marks (positions without a mark count 0).
    pub fn unrealised_pnl(&self, marks: &BTreeMap<Symbol, Decimal>) -> Decimal {
        self.positions.values().filter_map(|p| marks.get(&p.symbol).map(|m| p.unrealised_pnl(*m))).sum()
    }
}
