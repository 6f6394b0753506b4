//! `OrderRouter`: intents in, orders out; tracking, settlement and the budget, with every step
//! written to the ledger and announced as a typed event.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use exchange::{Capabilities, Exchange, ExchangeError, FillQuery, OrderResolution};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use telemetry::{Event, EventSink, ExitReason};
use trading_core::{
    ClientOrderId, Clock, Fill, MarketRules, Order, OrderRef, OrderRequest, OrderType, Side, Symbol,
    TimeInForce,
};

use crate::ledger::Change;
use crate::position::{apply_buy, apply_sell, BuyExecution};
use crate::{
    merge, plan_order, Ledger, Merge, OrderIntent, OrderRecord, OrderState, Position, PricePolicy,
    RejectReason, RouterConfig, RouterError, RouterState,
};

/// What became of a submitted intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// Refused before anything was reserved or sent (`INTENT_REJECTED` was emitted).
    Rejected(RejectReason),
    /// `ORDER_FLOW_ENABLED` is false: validated, reserved, written, released; nothing sent.
    NotSent {
        /// The id the order would have had.
        client_order_id: ClientOrderId,
    },
    /// The request was sent; `state` is what the first answer proved (possibly
    /// [`OrderState::OutcomeUnknown`]). Tracking continues with [`OrderRouter::poll_once`].
    Sent {
        /// The order's client order id.
        client_order_id: ClientOrderId,
        /// Its state after the venue's answer.
        state: OrderState,
    },
}

impl Submission {
    /// The client order id, when the intent got one.
    pub fn client_order_id(&self) -> Option<&ClientOrderId> {
        match self {
            Submission::Rejected(_) => None,
            Submission::NotSent { client_order_id } | Submission::Sent { client_order_id, .. } => {
                Some(client_order_id)
            }
        }
    }
}

/// A named point inside the order flow where a test can stop the process (a testing aid for
/// crash-restart tests, not a setting): the hook installed with
/// [`OrderRouter::with_failpoint_hook`] is called with it, synchronously, and may block or end
/// the process so that a kill lands exactly there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailPoint {
    /// The intent row is committed to the ledger; its create-order request has not left.
    AfterIntentPersisted,
    /// The venue answered the create-order request (or it failed); nothing of the answer is in
    /// the ledger yet.
    AfterCreateSent,
    /// A newly filled quantity was learned from the venue; the ledger does not have it yet.
    BeforeFillCommitted,
    /// A terminal order with fills is being settled (fees, fill rows, position); the ledger
    /// does not have the settlement yet.
    BeforeSettlementCommitted,
}

impl FailPoint {
    /// Every point, in flow order.
    pub const ALL: [FailPoint; 4] = [
        FailPoint::AfterIntentPersisted,
        FailPoint::AfterCreateSent,
        FailPoint::BeforeFillCommitted,
        FailPoint::BeforeSettlementCommitted,
    ];

    /// The point's name in snake case (`after_intent_persisted`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailPoint::AfterIntentPersisted => "after_intent_persisted",
            FailPoint::AfterCreateSent => "after_create_sent",
            FailPoint::BeforeFillCommitted => "before_fill_committed",
            FailPoint::BeforeSettlementCommitted => "before_settlement_committed",
        }
    }
}

impl std::fmt::Display for FailPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The callback behind [`FailPoint`]s (see [`OrderRouter::with_failpoint_hook`]).
pub type FailpointHook = Arc<dyn Fn(FailPoint) + Send + Sync>;

/// The polling cadence that keeps order tracking within `share` of the venue's request-weight
/// budget: `open` lookups of `fetch_order` weight per round, clamped to `[min, max]`. Pure.
pub fn tracking_interval(
    caps: &Capabilities,
    open: usize,
    share: Decimal,
    min: Duration,
    max: Duration,
) -> Duration {
    let per_round =
        u64::from(caps.weights.fetch_order.max(1)) * u64::try_from(open.max(1)).unwrap_or(u64::MAX);
    let allowed = Decimal::from(caps.rate.weight_per_window.get()) * share;
    let window_ms = Decimal::from(u64::try_from(caps.rate.window.as_millis()).unwrap_or(u64::MAX));
    let ms = if allowed > Decimal::ZERO { window_ms * Decimal::from(per_round) / allowed } else { window_ms };
    let ms = u64::try_from(ms.ceil().mantissa()).ok().filter(|_| ms.scale() == 0).unwrap_or(u64::MAX);
    Duration::from_millis(ms).clamp(min, max)
}

/// One finding of [`OrderRouter::reconcile`] (also emitted as `RECONCILED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `order_filled_while_down`, `order_ended_while_down`, `order_settled_on_start`,
    /// `order_unknown_to_venue`,
    /// `unknown_open_order`, `fill_recovered`, `foreign_fill`, `fills_unavailable`,
    /// `balance_drift`, `unresolved`.
    pub kind: &'static str,
    /// The market, when it concerns one.
    pub symbol: Option<Symbol>,
    /// The order, when it concerns one.
    pub client_order_id: Option<ClientOrderId>,
    /// What was corrected or found, in words.
    pub detail: String,
    /// True when it makes the router refuse new intents.
    pub blocks_trading: bool,
}

/// The result of [`OrderRouter::reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// What was found and corrected.
    pub findings: Vec<Finding>,
    /// Why the router fails closed, or `None` when it trades.
    pub blocked: Option<String>,
}

/// A light copy of the router's state for a strategy loop ([`OrderRouter::view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterView {
    /// The quote budget.
    pub budget: crate::Budget,
    /// Held positions, by market.
    pub positions: BTreeMap<Symbol, Position>,
    /// Markets with a sell order not yet settled.
    pub selling: std::collections::BTreeSet<Symbol>,
}

/// The budget's figures, the number of held positions and of orders being tracked
/// ([`OrderRouter::figures`]): what a status line, a gauge or a loop deciding whether a tracking
/// round is due reads every cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterFigures {
    /// Free quote budget.
    pub free: Decimal,
    /// Reserved for intents in flight.
    pub reserved: Decimal,
    /// Committed in held positions.
    pub committed: Decimal,
    /// Realised profit and loss so far.
    pub realised_pnl: Decimal,
    /// Held positions.
    pub open_positions: usize,
    /// Orders not yet settled: while there are none, [`OrderRouter::poll_once`] has nothing to
    /// do.
    pub active_orders: usize,
}

/// The order router. See the crate docs for the flow; all methods take `&self` (state behind
/// a mutex that is never held across an `.await`).
pub struct OrderRouter {
    config: RouterConfig,
    venue: Arc<dyn Exchange>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EventSink>,
    ledger: Ledger,
    state: Mutex<RouterState>,
    markets: Mutex<BTreeMap<Symbol, MarketRules>>,
    blocked: Mutex<Option<String>>,
    failpoint: Option<FailpointHook>,
}

impl std::fmt::Debug for OrderRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderRouter")
            .field("config", &self.config)
            .field("blocked", &*self.blocked.lock())
            .field("failpoint_hook", &self.failpoint.is_some())
            .finish()
    }
}

/// Errors of `create_order` that prove nothing was placed; every other error leaves the
/// outcome unknown (an unreadable answer included: the order may exist).
fn proves_not_placed(e: &ExchangeError) -> bool {
    matches!(
        e,
        ExchangeError::Rejected { .. }
            | ExchangeError::RateLimited { .. }
            | ExchangeError::Banned { .. }
            | ExchangeError::BadSymbol { .. }
            | ExchangeError::Auth(_)
            | ExchangeError::InvalidRequest(_)
    )
}

impl OrderRouter {
    /// Opens the router on `ledger`: validates `config`, loads the ledger's state (or starts a
    /// fresh one with `config.budget_total`) and checks the budget invariant. The router refuses
    /// intents until [`OrderRouter::reconcile`] has run.
    pub fn open(
        config: RouterConfig,
        venue: Arc<dyn Exchange>,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn EventSink>,
        ledger: Ledger,
    ) -> Result<OrderRouter, RouterError> {
        config.validate()?;
        let state = match ledger.load()? {
            Some(s) => s,
            None => {
                let s = RouterState::new(config.budget_total);
                ledger.write(&Change { budget: Some(&s.budget), ..Change::default() })?;
                s
            }
        };
        state.budget.check().map_err(RouterError::Invariant)?;
        Ok(OrderRouter {
            config,
            venue,
            clock,
            sink,
            ledger,
            state: Mutex::new(state),
            markets: Mutex::new(BTreeMap::new()),
            blocked: Mutex::new(Some("reconciliation with the venue has not run yet".into())),
            failpoint: None,
        })
    }

    /// Installs a testing aid: `hook` is called at each [`FailPoint`] the flow passes, so a
    /// crash-restart test can kill the process exactly there. Without a hook a point costs one
    /// branch. Not a setting: production code never installs one.
    #[must_use]
    pub fn with_failpoint_hook(mut self, hook: FailpointHook) -> Self {
        self.failpoint = Some(hook);
        self
    }

    fn failpoint(&self, point: FailPoint) {
        if let Some(hook) = &self.failpoint {
            hook(point);
        }
    }

    /// The settings.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// A copy of the whole state (budget, orders, positions).
    pub fn state(&self) -> RouterState {
        self.state.lock().clone()
    }

    /// What a strategy loop needs each cycle, without copying every order record: the budget,
    /// the positions, and the markets with a sell order still active.
    pub fn view(&self) -> RouterView {
        let st = self.state.lock();
        RouterView {
            budget: st.budget.clone(),
            positions: st.positions.clone(),
            selling: st
                .active_orders()
                .filter(|o| o.intent.side == Side::Sell)
                .map(|o| o.intent.symbol.clone())
                .collect(),
        }
    }

    /// The budget's figures and the number of positions, without copying the positions as
    /// [`OrderRouter::view`] does.
    pub fn figures(&self) -> RouterFigures {
        let st = self.state.lock();
        RouterFigures {
            free: st.budget.free(),
            reserved: st.budget.reserved(),
            committed: st.budget.committed(),
            realised_pnl: st.budget.realised_pnl(),
            open_positions: st.positions.len(),
            active_orders: st.active_orders().count(),
        }
    }

    /// The ledger (read access for reports and tests).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Why the router refuses new intents, or `None`.
    pub fn blocked_reason(&self) -> Option<String> {
        self.blocked.lock().clone()
    }

    /// Replaces the market rules (call after `load_markets`; reconciliation does it on start).
    pub fn set_markets(&self, markets: impl IntoIterator<Item = MarketRules>) {
        let mut m = self.markets.lock();
        m.clear();
        m.extend(markets.into_iter().map(|r| (r.symbol.clone(), r)));
    }

    /// The pause before the next tracking round, given the open orders (see [`tracking_interval`]).
    pub fn poll_interval(&self) -> Duration {
        let open = self.state.lock().active_orders().count();
        tracking_interval(
            &self.venue.capabilities(),
            open,
            self.config.tracking_weight_share,
            self.config.min_poll_interval,
            self.config.max_poll_interval,
        )
    }

    /// Hands events to the sink; a failing (even panicking) sink never interrupts order handling.
    fn emit(&self, events: Vec<Event>) {
        for e in events {
            let sink = &self.sink;
            if catch_unwind(AssertUnwindSafe(|| sink.emit(e))).is_err() {
                tracing::warn!("event sink panicked; event dropped, order handling continues");
            }
        }
    }

    fn block(&self, reason: String) {
        let mut b = self.blocked.lock();
        if b.is_none() {
            *b = Some(reason);
        }
    }

    /// Checks the budget invariant; a break makes the router fail closed.
    fn check(&self, st: &RouterState) -> Result<(), RouterError> {
        if let Err(e) = st.budget.check() {
            self.block(format!("budget invariant broken: {e}"));
            self.emit(vec![Event::Reconciled {
                kind: "unresolved".into(),
                symbol: None,
                client_order_id: None,
                detail: format!("budget invariant broken: {e}"),
                blocks_trading: true,
            }]);
            return Err(RouterError::Invariant(e));
        }
        Ok(())
    }

    /// A ledger write after the venue acted: the in-memory state is the truth now; a failed
    /// write makes the router fail closed (reconciliation on restart recovers from the venue).
    fn persist(&self, change: &Change<'_>) -> Result<(), RouterError> {
        self.ledger.write(change).inspect_err(|e| self.block(format!("ledger write failed: {e}")))
    }

    fn reject(&self, intent: &OrderIntent, reason: RejectReason) -> Submission {
        self.emit(vec![Event::IntentRejected {
            intent_id: intent.id.to_string(),
            symbol: intent.symbol.clone(),
            side: intent.side,
            reason: reason.to_string(),
            budget_block: reason.is_budget_block(),
        }]);
        Submission::Rejected(reason)
    }

    fn budget_event(
        &self,
        st: &RouterState,
        kind: BudgetStep,
        intent: &str,
        amount: Decimal,
        reason: &str,
    ) -> Event {
        let (free, reserved, committed) = (st.budget.free(), st.budget.reserved(), st.budget.committed());
        let total = Some(st.budget.total());
        let intent_id = intent.to_owned();
        match kind {
            BudgetStep::Reserved => {
                Event::BudgetReserved { intent_id, amount, free, reserved, committed, total }
            }
            BudgetStep::Committed => {
                Event::BudgetCommitted { intent_id, amount, free, reserved, committed, total }
            }
            BudgetStep::Released => Event::BudgetReleased {
                intent_id,
                amount,
                reason: reason.to_owned(),
                free,
                reserved,
                committed,
                total,
            },
        }
    }

    /// Validates, reserves, writes the intent to the ledger and sends its one order.
    ///
    /// Order of steps: switches and fail-closed state -> duplicate id -> deadline -> market
    /// rules and quote -> position limit -> rounding and rule checks -> budget reservation ->
    /// **ledger commit of the intent row with its client order id** -> request. If the ledger
    /// write fails, nothing is sent and the reservation is undone. The request's answer (or its
    /// unknown outcome) is recorded before this returns.
    pub async fn submit(&self, intent: OrderIntent) -> Result<Submission, RouterError> {
        let now = self.clock.now();
        if let Some(reason) = self.blocked_reason() {
            return Ok(self.reject(&intent, RejectReason::FailClosed(reason)));
        }
        if !self.config.global_trading {
            return Ok(self.reject(&intent, RejectReason::GlobalTradingOff));
        }
        if self.state.lock().knows_intent(&intent.id) {
            return Ok(self.reject(&intent, RejectReason::DuplicateIntent));
        }
        if intent.deadline <= now {
            return Ok(self.reject(&intent, RejectReason::DeadlinePassed { deadline: intent.deadline, now }));
        }
        let Some(rules) = self.markets.lock().get(&intent.symbol).cloned() else {
            return Ok(self.reject(&intent, RejectReason::UnknownMarket));
        };
        let quote = match intent.price {
            PricePolicy::Limit(_) => None,
            PricePolicy::Market | PricePolicy::BestWithOffset(_) => {
                match self.venue.fetch_ticker(&intent.symbol).await {
                    Ok(q) => Some(q),
                    Err(e) => return Ok(self.reject(&intent, RejectReason::NoQuote(e.to_string()))),
                }
            }
        };
        // A sell never asks for more than the account really holds (fees taken in the base
        // asset, dust): the ledger's position is capped by the venue's free balance.
        let account_free = match intent.side {
            Side::Buy => None,
            Side::Sell => match self.venue.fetch_balances().await {
                Ok(b) => Some(
                    b.iter().filter(|b| b.asset == intent.symbol.base()).map(|b| b.free).sum::<Decimal>(),
                ),
                Err(e) => return Ok(self.reject(&intent, RejectReason::BalanceUnavailable(e.to_string()))),
            },
        };
        let cid = intent.id.client_order_id(&self.config.client_id_prefix)?;
        let flow = self.config.order_flow_enabled;
        let record = {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            if st.knows_intent(&intent.id) {
                drop(guard);
                return Ok(self.reject(&intent, RejectReason::DuplicateIntent));
            }
            if intent.side == Side::Buy {
                let used = st.position_slots_used();
                let max = self.config.max_concurrent_positions;
                if used >= max && !st.positions.contains_key(&intent.symbol) {
                    drop(guard);
                    return Ok(self.reject(&intent, RejectReason::MaxPositions { open: used, max }));
                }
            }
            let mut sellable = st.positions.get(&intent.symbol).map_or(Decimal::ZERO, Position::sellable);
            if let Some(free) = account_free {
                sellable = sellable.min(free);
            }
            let plan = match plan_order(&intent, &rules, quote.as_ref(), sellable, &self.config) {
                Ok(p) => p,
                Err(r) => {
                    drop(guard);
                    return Ok(self.reject(&intent, r));
                }
            };
            if intent.side == Side::Buy {
                if let Err(r) = st.budget.reserve(&intent.id, plan.reserve) {
                    drop(guard);
                    return Ok(self.reject(&intent, r));
                }
            } else if let Some(p) = st.positions.get_mut(&intent.symbol) {
                p.locked += plan.quantity;
            }
            let mut events = vec![Event::IntentCreated {
                intent_id: intent.id.to_string(),
                symbol: intent.symbol.clone(),
                side: intent.side,
                price: plan.reference_price,
                quantity: plan.quantity,
                notional: plan.notional(),
            }];
            // Only a buy reserves quote; a sell's zero "reservation" would never be released.
            if intent.side == Side::Buy {
                events.push(self.budget_event(
                    st,
                    BudgetStep::Reserved,
                    intent.id.as_str(),
                    plan.reserve,
                    "",
                ));
            }
            let mut record = OrderRecord {
                intent: intent.clone(),
                plan: plan.clone(),
                client_order_id: cid.clone(),
                state: if flow { OrderState::Submitted } else { OrderState::NotSent },
                order_id: None,
                filled_quantity: Decimal::ZERO,
                cumulative_quote: Decimal::ZERO,
                fee_quote: Decimal::ZERO,
                fee_base: Decimal::ZERO,
                fees_estimated: false,
                created_at: now,
                sent_at: flow.then_some(now),
                updated_at: now,
                cancel_requested: false,
                settled: !flow,
                note: String::new(),
            };
            if !flow {
                record.note = "ORDER_FLOW_ENABLED=false: decided, nothing sent".into();
                let released = st.budget.release(&intent.id);
                if let Some(p) = st.positions.get_mut(&intent.symbol) {
                    if intent.side == Side::Sell {
                        p.locked -= plan.quantity;
                    }
                }
                if intent.side == Side::Buy {
                    events.push(self.budget_event(
                        st,
                        BudgetStep::Released,
                        intent.id.as_str(),
                        released,
                        "order flow disabled",
                    ));
                }
            }
            st.insert(record.clone());
            let pos = st.positions.get(&intent.symbol);
            let change = Change {
                new_intent: Some(&record),
                positions: if intent.side == Side::Sell {
                    vec![(intent.symbol.clone(), pos)]
                } else {
                    Vec::new()
                },
                budget: Some(&st.budget),
                ..Change::default()
            };
            if let Err(e) = self.ledger.write(&change) {
                // Write-ahead failed: undo everything, send nothing.
                st.remove(&cid);
                if flow {
                    st.budget.release(&intent.id);
                    if let Some(p) = st.positions.get_mut(&intent.symbol) {
                        if intent.side == Side::Sell {
                            p.locked -= plan.quantity;
                        }
                    }
                }
                return Err(e);
            }
            self.check(st)?;
            self.emit(events);
            record
        };
        if !flow {
            return Ok(Submission::NotSent { client_order_id: cid });
        }
        let plan = &record.plan;
        let request = match plan.order_type {
            OrderType::Limit => OrderRequest::limit(
                intent.symbol.clone(),
                intent.side,
                plan.quantity,
                plan.price.unwrap_or(plan.reference_price),
                TimeInForce::Gtc,
                cid.clone(),
            ),
            _ => OrderRequest::market(intent.symbol.clone(), intent.side, plan.quantity, cid.clone()),
        };
        self.failpoint(FailPoint::AfterIntentPersisted);
        self.emit(vec![Event::OrderSubmitted {
            client_order_id: cid.clone(),
            symbol: intent.symbol.clone(),
            side: intent.side,
            order_type: request.order_type,
            price: request.price,
            quantity: request.quantity,
        }]);
        let answer = self.venue.create_order(&request).await;
        self.failpoint(FailPoint::AfterCreateSent);
        match answer {
            Ok(order) => {
                self.apply(&cid, &order)?;
            }
            Err(e) if proves_not_placed(&e) => {
                self.end_unplaced(&cid, OrderState::Rejected, e.to_string())?;
            }
            Err(e) => self.mark_unknown(&cid, &e)?,
        }
        self.settle_if_due(&cid).await?;
        let state = self.state.lock().orders.get(&cid).map_or(OrderState::OutcomeUnknown, |r| r.state);
        Ok(Submission::Sent { client_order_id: cid, state })
    }

    fn mark_unknown(&self, cid: &ClientOrderId, e: &ExchangeError) -> Result<(), RouterError> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(rec) = st.orders.get_mut(cid) else { return Ok(()) };
        if rec.state != OrderState::Submitted {
            return Ok(());
        }
        rec.state = OrderState::OutcomeUnknown;
        rec.note = e.to_string();
        rec.updated_at = self.clock.now();
        let event = Event::OrderOutcomeUnknown {
            client_order_id: cid.clone(),
            symbol: rec.intent.symbol.clone(),
            error: e.to_string(),
        };
        let rec = &*rec;
        self.persist(&Change { orders: vec![rec], budget: Some(&st.budget), ..Change::default() })?;
        self.emit(vec![event]);
        Ok(())
    }

    fn end_unplaced(&self, cid: &ClientOrderId, state: OrderState, note: String) -> Result<(), RouterError> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(rec) = st.orders.get_mut(cid) else { return Ok(()) };
        if !rec.state.is_unresolved() {
            return Ok(());
        }
        rec.state = state;
        rec.note = note.clone();
        rec.updated_at = self.clock.now();
        let event = Event::OrderFailed {
            client_order_id: cid.clone(),
            symbol: rec.intent.symbol.clone(),
            error: note,
        };
        let rec = &*rec;
        self.persist(&Change { orders: vec![rec], budget: Some(&st.budget), ..Change::default() })?;
        self.emit(vec![event]);
        Ok(())
    }

    /// Merges a venue answer into the record: commits the newly filled quote of a buy, records
    /// the new state, ignores stale answers. Returns true when the record changed.
    fn apply(&self, cid: &ClientOrderId, order: &Order) -> Result<bool, RouterError> {
        let now = self.clock.now();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(rec) = st.orders.get_mut(cid) else { return Ok(false) };
        if order.client_order_id != *cid || order.symbol != rec.intent.symbol {
            tracing::warn!(%cid, answered = %order.client_order_id, "venue answered for another order; ignored");
            return Ok(false);
        }
        let (state, filled, quote) = match merge(rec.state, rec.filled_quantity, rec.cumulative_quote, order)
        {
            Merge::Advance { state, filled_quantity, cumulative_quote } => {
                (state, filled_quantity, cumulative_quote)
            }
            Merge::Same => return Ok(false),
            Merge::Stale => {
                tracing::debug!(%cid, status = %order.status, "stale answer ignored");
                return Ok(false);
            }
        };
        let delta = quote - rec.cumulative_quote;
        let newly_filled = filled > rec.filled_quantity;
        rec.state = state;
        rec.filled_quantity = filled;
        rec.cumulative_quote = quote;
        rec.order_id = Some(order.id.clone());
        rec.updated_at = now;
        let side = rec.intent.side;
        let intent_id = rec.intent.id.clone();
        let mut events = vec![Event::OrderUpdate {
            client_order_id: cid.clone(),
            order_id: Some(order.id.clone()),
            symbol: order.symbol.clone(),
            status: order.status,
            filled_quantity: filled,
        }];
        if side == Side::Buy && delta > Decimal::ZERO {
            st.budget.commit(&intent_id, delta);
            events.push(self.budget_event(st, BudgetStep::Committed, intent_id.as_str(), delta, ""));
        }
        if newly_filled {
            self.failpoint(FailPoint::BeforeFillCommitted);
        }
        let rec = &st.orders[cid];
        self.persist(&Change { orders: vec![rec], budget: Some(&st.budget), ..Change::default() })?;
        self.check(st)?;
        self.emit(events);
        Ok(true)
    }

    async fn settle_if_due(&self, cid: &ClientOrderId) -> Result<(), RouterError> {
        let due = self.state.lock().orders.get(cid).is_some_and(|r| r.state.is_terminal() && !r.settled);
        if due {
            self.settle(cid).await?;
        }
        Ok(())
    }

    /// Accounts a terminal order: reads its fills (fees and fee assets), commits quote fees,
    /// releases what is left of the reservation, opens/extends or reduces/closes the position.
    async fn settle(&self, cid: &ClientOrderId) -> Result<(), RouterError> {
        let Some(rec) = self.state.lock().orders.get(cid).cloned() else { return Ok(()) };
        if rec.settled || !rec.state.is_terminal() {
            return Ok(());
        }
        let symbol = rec.intent.symbol.clone();
        let mut fills: Vec<Fill> = Vec::new();
        let mut fills_ok = rec.filled_quantity.is_zero();
        if let (false, Some(order_id)) = (rec.filled_quantity.is_zero(), rec.order_id.clone()) {
            let query = FillQuery {
                symbol: symbol.clone(),
                since: None,
                order_id: Some(order_id.clone()),
                limit: 1000,
            };
            match self.venue.fetch_fills(&query).await {
                Ok(list) => {
                    fills = list.into_iter().filter(|f| f.order_id == order_id).collect();
                    fills_ok = fills.iter().map(|f| f.quantity).sum::<Decimal>() == rec.filled_quantity;
                }
                // A transient failure is retried in the next round (within the window); an
                // estimate would leave the budget and the account's balance apart.
                Err(e)
                    if read_may_succeed_later(&e)
                        && self.clock.now() < rec.updated_at + self.config.fills_retry_window =>
                {
                    tracing::info!(%cid, error = %e, "fills unavailable; settlement retried next round");
                    return Ok(());
                }
                Err(e) => tracing::warn!(%cid, error = %e, "fills unavailable; fees estimated"),
            }
        }
        let (base, quote_asset) = (symbol.base().to_owned(), symbol.quote().to_owned());
        let (fee_quote, fee_base, estimated) = if fills_ok {
            let sum =
                |asset: &str| fills.iter().filter(|f| f.fee_asset == asset).map(|f| f.fee).sum::<Decimal>();
            (sum(&quote_asset), sum(&base), false)
        } else {
            let rate = self.config.assumed_fee_rate;
            match rec.intent.side {
                Side::Buy => (
                    Decimal::ZERO,
                    (rec.filled_quantity * rate)
                        .round_dp_with_strategy(8, rust_decimal::RoundingStrategy::AwayFromZero),
                    true,
                ),
                Side::Sell => (rec.cumulative_quote * rate, Decimal::ZERO, true),
            }
        };
        let now = self.clock.now();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(r) = st.orders.get_mut(cid) else { return Ok(()) };
        if r.settled {
            return Ok(());
        }
        r.fee_quote = fee_quote;
        r.fee_base = fee_base;
        r.fees_estimated = estimated;
        r.updated_at = now;
        st.mark_settled(cid);
        let r = st.orders[cid].clone();
        let id = r.intent.id.as_str().to_owned();
        let filled = r.filled_quantity;
        let avg = if filled > Decimal::ZERO { r.cumulative_quote / filled } else { Decimal::ZERO };
        let mut events = Vec::new();
        if filled > Decimal::ZERO {
            let (fee, fee_asset) = if fee_base > Decimal::ZERO {
                (fee_base, base.clone())
            } else {
                (fee_quote, quote_asset.clone())
            };
            events.push(Event::OrderFilled {
                client_order_id: cid.clone(),
                order_id: r.order_id.clone(),
                symbol: symbol.clone(),
                side: r.intent.side,
                quantity: filled,
                avg_price: avg,
                fee_quote: fee_quote + fee_base * avg,
                fee,
                fee_asset,
            });
        }
        if matches!(r.state, OrderState::Canceled | OrderState::Expired) {
            events.push(Event::OrderCanceled {
                client_order_id: cid.clone(),
                order_id: r.order_id.clone(),
                symbol: symbol.clone(),
                requested_quantity: r.plan.quantity,
                filled_quantity: filled,
                reason: if r.cancel_requested { "deadline".into() } else { format!("venue: {}", r.state) },
            });
        }
        match r.intent.side {
            Side::Buy => {
                if fee_quote > Decimal::ZERO {
                    st.budget.commit(&r.intent.id, fee_quote);
                    events.push(self.budget_event(st, BudgetStep::Committed, &id, fee_quote, ""));
                }
                let released = st.budget.release(&r.intent.id);
                events.push(self.budget_event(
                    st,
                    BudgetStep::Released,
                    &id,
                    released,
                    &format!("order {}", r.state),
                ));
                if filled > Decimal::ZERO {
                    let exec =
                        BuyExecution { filled, quote: r.cumulative_quote, fee_quote, fee_base, at: now };
                    let p = apply_buy(st.positions.remove(&symbol), &symbol, exec);
                    events.push(Event::PositionOpened {
                        symbol: symbol.clone(),
                        quantity: p.quantity,
                        entry_price: p.entry_price,
                        cost: p.cost,
                    });
                    st.positions.insert(symbol.clone(), p);
                }
            }
            Side::Sell => {
                let mut closed: Option<(Decimal, Decimal, Decimal, u64)> = None; // sold, entry, pnl, held
                if let Some(p) = st.positions.get_mut(&symbol) {
                    p.locked = (p.locked - r.plan.quantity).max(Decimal::ZERO);
                    if filled > Decimal::ZERO {
                        let entry = p.entry_price;
                        let res = apply_sell(p, filled, r.cumulative_quote, fee_quote, fee_base);
                        let held_ms = u64::try_from(now.millis_since(p.opened_at)).unwrap_or(0);
                        st.budget.close(res.cost, res.proceeds);
                        events.push(self.budget_event(
                            st,
                            BudgetStep::Released,
                            &id,
                            res.cost,
                            "position closed",
                        ));
                        closed = Some((res.sold, entry, res.pnl, held_ms));
                    }
                }
                // What no order can sell any more (below the step or the minimum quantity) is
                // dust: the position closes and the dust's cost is written off as realised loss,
                // reported in the same POSITION_CLOSED as the sell (or in its own, when no sell
                // filled now), so the events' PnL adds up to the budget's.
                let unsellable =
                    self.markets.lock().get(&symbol).map_or(Decimal::ZERO, |m| m.min_qty.max(m.step_size));
                let dust = st
                    .positions
                    .get(&symbol)
                    .filter(|p| {
                        p.locked.is_zero() && (p.quantity <= Decimal::ZERO || p.quantity < unsellable)
                    })
                    .map(|p| {
                        (
                            p.cost,
                            p.quantity,
                            p.entry_price,
                            u64::try_from(now.millis_since(p.opened_at)).unwrap_or(0),
                        )
                    });
                if let Some((cost, quantity, entry, held_ms)) = dust {
                    if cost > Decimal::ZERO {
                        st.budget.close(cost, Decimal::ZERO);
                        events.push(self.budget_event(
                            st,
                            BudgetStep::Released,
                            &id,
                            cost,
                            "dust written off",
                        ));
                        closed = Some(match closed {
                            Some((sold, entry, pnl, held)) => (sold, entry, pnl - cost, held),
                            None => (quantity.max(Decimal::ZERO), entry, -cost, held_ms),
                        });
                    }
                    st.positions.remove(&symbol);
                }
                if let Some((sold, entry, pnl, held_ms)) = closed {
                    let remaining = st.positions.get(&symbol).map_or(Decimal::ZERO, |p| p.quantity);
                    events.push(Event::PositionClosed {
                        symbol: symbol.clone(),
                        quantity: sold,
                        entry_price: entry,
                        exit_price: avg,
                        pnl,
                        reason: r.intent.exit_reason.unwrap_or(ExitReason::Manual),
                        held_ms,
                        remaining,
                    });
                }
            }
        }
        if filled > Decimal::ZERO {
            self.failpoint(FailPoint::BeforeSettlementCommitted);
        }
        let fill_rows: Vec<(Fill, Option<ClientOrderId>)> =
            fills.into_iter().map(|f| (f, Some(cid.clone()))).collect();
        let rec = &st.orders[cid];
        let pos = st.positions.get(&symbol);
        self.persist(&Change {
            orders: vec![rec],
            positions: vec![(symbol.clone(), pos)],
            fills: fill_rows,
            budget: Some(&st.budget),
            ..Change::default()
        })?;
        self.check(st)?;
        self.emit(events);
        Ok(())
    }

    /// One tracking round over every active order: unresolved outcomes are looked up by client
    /// order id (the venue's acceptance window bounds the retries), open orders are polled with
    /// `fetch_order` and canceled at their deadline, terminal orders are settled. Returns how
    /// many orders are still active.
    pub async fn poll_once(&self) -> Result<usize, RouterError> {
        let work: Vec<OrderRecord> = self.state.lock().active_orders().cloned().collect();
        for rec in work {
            self.track(&rec).await?;
        }
        Ok(self.state.lock().active_orders().count())
    }

    async fn track(&self, rec: &OrderRecord) -> Result<(), RouterError> {
        let cid = &rec.client_order_id;
        let symbol = &rec.intent.symbol;
        if rec.state.is_terminal() {
            return self.settle(cid).await;
        }
        if rec.state.is_unresolved() {
            let sent_at = rec.sent_at.unwrap_or(rec.created_at);
            match self.venue.resolve_order(symbol, cid, sent_at).await {
                Ok(OrderResolution::Found(order)) => {
                    self.apply(cid, &order)?;
                }
                Ok(OrderResolution::Absent) => {
                    self.end_unplaced(
                        cid,
                        OrderState::Absent,
                        "venue never created it (absent after the acceptance window)".into(),
                    )?;
                }
                Err(e) => tracing::info!(%cid, error = %e, "outcome still unknown; reservation kept"),
            }
            return self.settle_if_due(cid).await;
        }
        let by_client = OrderRef::Client(cid.clone());
        if self.clock.now() >= rec.intent.deadline {
            if !rec.cancel_requested {
                let mut guard = self.state.lock();
                let st = &mut *guard;
                if let Some(r) = st.orders.get_mut(cid) {
                    r.cancel_requested = true;
                    r.updated_at = self.clock.now();
                    let r = &*r;
                    self.persist(&Change { orders: vec![r], budget: Some(&st.budget), ..Change::default() })?;
                }
            }
            match self.venue.cancel_order(symbol, &by_client).await {
                Ok(order) => {
                    self.apply(cid, &order)?;
                }
                Err(ExchangeError::OrderNotFound(_)) => {
                    // Already ended (filled, canceled by the venue): learn how.
                    if let Ok(order) = self.venue.fetch_order(symbol, &by_client).await {
                        self.apply(cid, &order)?;
                    }
                }
                Err(e) => tracing::info!(%cid, error = %e, "cancel failed; retried next round"),
            }
        } else {
            match self.venue.fetch_order(symbol, &by_client).await {
                Ok(order) => {
                    self.apply(cid, &order)?;
                }
                Err(e) => tracing::debug!(%cid, error = %e, "lookup failed; retried next round"),
            }
        }
        self.settle_if_due(cid).await
    }

    /// Polls until no order is active or `limit` (on the router's clock) has passed, pausing
    /// [`OrderRouter::poll_interval`] between rounds. Returns true when everything settled.
    pub async fn track_until_settled(&self, limit: Duration) -> Result<bool, RouterError> {
        let stop = self.clock.now() + limit;
        loop {
            if self.poll_once().await? == 0 {
                return Ok(true);
            }
            if self.clock.now() >= stop {
                return Ok(false);
            }
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    /// Reloads the market rules and closes every position on a market that stopped trading
    /// (delisted, status `BREAK`, or gone from the list): no order can sell it there any more,
    /// so its cost is written off as a realised loss (`POSITION_CLOSED` with reason `DELISTED`,
    /// `BUDGET_RELEASED`, and a `RECONCILED` finding `market_delisted` naming the quantity left
    /// on the account). A position with an order still active waits until it settles (a later
    /// call closes it). Returns the markets closed; a venue that cannot list its markets now
    /// closes nothing.
    pub async fn close_delisted(&self) -> Result<Vec<Symbol>, RouterError> {
        let list = match self.venue.load_markets().await {
            Ok(list) => list,
            Err(e) => {
                tracing::info!(error = %e, "market rules unavailable; delisting check skipped");
                return Ok(Vec::new());
            }
        };
        self.set_markets(list.markets);
        let now = self.clock.now();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let busy: std::collections::BTreeSet<Symbol> =
            st.active_orders().map(|o| o.intent.symbol.clone()).collect();
        let gone: Vec<Symbol> = {
            let markets = self.markets.lock();
            st.positions
                .keys()
                .filter(|s| !busy.contains(*s) && markets.get(*s).is_none_or(|m| !m.is_trading()))
                .cloned()
                .collect()
        };
        let mut events = Vec::new();
        for symbol in &gone {
            let Some(p) = st.positions.remove(symbol) else { continue };
            let pnl = st.budget.close(p.cost, Decimal::ZERO);
            let id = format!("delisted:{symbol}");
            events.push(self.budget_event(st, BudgetStep::Released, &id, p.cost, "market delisted"));
            events.push(Event::PositionClosed {
                symbol: symbol.clone(),
                quantity: p.quantity,
                entry_price: p.entry_price,
                exit_price: Decimal::ZERO,
                pnl,
                reason: ExitReason::Delisted,
                held_ms: u64::try_from(now.millis_since(p.opened_at)).unwrap_or(0),
                remaining: Decimal::ZERO,
            });
            events.push(Event::Reconciled {
                kind: "market_delisted".into(),
                symbol: Some(symbol.clone()),
                client_order_id: None,
                detail: format!(
                    "{symbol} stopped trading: {} {} stay on the account, cost {} written off",
                    p.quantity,
                    symbol.base(),
                    p.cost
                ),
                blocks_trading: false,
            });
        }
        if !gone.is_empty() {
            let positions = gone.iter().map(|s| (s.clone(), None)).collect();
            self.persist(&Change { positions, budget: Some(&st.budget), ..Change::default() })?;
            self.check(st)?;
        }
        drop(guard);
        self.emit(events);
        Ok(gone)
    }

    /// Reconciles the ledger with the venue (call on start, before any intent):
    /// market rules; every active ledger order by client id (unknown outcomes resolved with the
    /// acceptance window); open orders carrying the router's prefix; fills since the last known
    /// one per market; balances against positions. Emits `RECONCILED` for each finding. When a
    /// difference remains that it cannot explain, the router keeps refusing intents and
    /// [`ReconcileReport::blocked`] says why; otherwise it starts trading.
    pub async fn reconcile(&self) -> Result<ReconcileReport, RouterError> {
        let mut findings: Vec<Finding> = Vec::new();
        match retry_read(|| self.venue.load_markets()).await {
            Ok(list) => self.set_markets(list.markets),
            Err(e) => findings.push(Finding {
                kind: "unresolved",
                symbol: None,
                client_order_id: None,
                detail: format!("market rules unavailable: {e}"),
                blocks_trading: true,
            }),
        }
        // 1. Every active ledger order, by client order id.
        let active: Vec<OrderRecord> = self.state.lock().active_orders().cloned().collect();
        for rec in &active {
            let cid = &rec.client_order_id;
            let before = (rec.state, rec.filled_quantity);
            if rec.state.is_terminal() {
                // Ended before the stop, its settlement (fees, fills, position) never committed.
                self.settle(cid).await?;
                findings.push(Finding {
                    kind: "order_settled_on_start",
                    symbol: Some(rec.intent.symbol.clone()),
                    client_order_id: Some(cid.clone()),
                    detail: format!(
                        "ended {} with {} filled before the stop, settled now",
                        rec.state, rec.filled_quantity
                    ),
                    blocks_trading: false,
                });
                continue;
            }
            let sent_at = rec.sent_at.unwrap_or(rec.created_at);
            match self.venue.resolve_order(&rec.intent.symbol, cid, sent_at).await {
                Ok(OrderResolution::Found(order)) => {
                    self.apply(cid, &order)?;
                    self.settle_if_due(cid).await?;
                    let now = self.state.lock().orders.get(cid).map(|r| (r.state, r.filled_quantity));
                    if let Some((state, filled)) = now.filter(|n| *n != before) {
                        let kind = if filled > before.1 {
                            "order_filled_while_down"
                        } else {
                            "order_ended_while_down"
                        };
                        findings.push(Finding {
                            kind,
                            symbol: Some(rec.intent.symbol.clone()),
                            client_order_id: Some(cid.clone()),
                            detail: format!(
                                "ledger said {} with {} filled; venue says {state} with {filled} filled",
                                before.0, before.1
                            ),
                            blocks_trading: false,
                        });
                    }
                }
                Ok(OrderResolution::Absent) if rec.state.is_unresolved() => {
                    self.end_unplaced(
                        cid,
                        OrderState::Absent,
                        "venue never created it (found on start)".into(),
                    )?;
                    self.settle_if_due(cid).await?;
                    findings.push(Finding {
                        kind: "order_unknown_to_venue",
                        symbol: Some(rec.intent.symbol.clone()),
                        client_order_id: Some(cid.clone()),
                        detail: "sent before the stop, never created; reservation released".into(),
                        blocks_trading: false,
                    });
                }
                Ok(OrderResolution::Absent) => findings.push(Finding {
                    kind: "unresolved",
                    symbol: Some(rec.intent.symbol.clone()),
                    client_order_id: Some(cid.clone()),
                    detail: format!("ledger says {} but the venue does not know the order", rec.state),
                    blocks_trading: true,
                }),
                Err(e) => findings.push(Finding {
                    kind: "unresolved",
                    symbol: Some(rec.intent.symbol.clone()),
                    client_order_id: Some(cid.clone()),
                    detail: format!("outcome still unknown: {e}"),
                    blocks_trading: true,
                }),
            }
        }
        // 2. Open orders on the venue that carry our prefix.
        let prefix = format!("{}-", self.config.client_id_prefix);
        match retry_read(|| self.venue.fetch_open_orders(None)).await {
            Ok(open) => {
                for o in open.orders.iter().filter(|o| o.client_order_id.as_str().starts_with(&prefix)) {
                    let known = self.state.lock().orders.get(&o.client_order_id).map(|r| r.state);
                    let problem = match known {
                        None => Some("open on the venue, unknown to the ledger".to_owned()),
                        Some(s) if s.is_terminal() => Some(format!("open on the venue, {s} in the ledger")),
                        Some(_) => None,
                    };
                    if let Some(detail) = problem {
                        findings.push(Finding {
                            kind: "unknown_open_order",
                            symbol: Some(o.symbol.clone()),
                            client_order_id: Some(o.client_order_id.clone()),
                            detail,
                            blocks_trading: true,
                        });
                    }
                }
            }
            Err(e) => findings.push(Finding {
                kind: "unresolved",
                symbol: None,
                client_order_id: None,
                detail: format!("open orders unavailable: {e}"),
                blocks_trading: true,
            }),
        }
        // 3. Fills since the last known one, per market the ledger traded.
        let symbols: std::collections::BTreeSet<Symbol> = self
            .state
            .lock()
            .orders
            .values()
            .filter(|r| r.filled_quantity > Decimal::ZERO)
            .map(|r| r.intent.symbol.clone())
            .collect();
        for symbol in symbols {
            self.reconcile_fills(&symbol, &mut findings).await?;
        }
        // 4. Balances against positions.
        match retry_read(|| self.venue.fetch_balances()).await {
            Ok(balances) => self.reconcile_balances(&balances, &mut findings)?,
            Err(e) => findings.push(Finding {
                kind: "unresolved",
                symbol: None,
                client_order_id: None,
                detail: format!("balances unavailable: {e}"),
                blocks_trading: true,
            }),
        }
        let blocking: Vec<String> =
            findings.iter().filter(|f| f.blocks_trading).map(|f| f.detail.clone()).collect();
        let blocked = (!blocking.is_empty()).then(|| format!("reconciliation: {}", blocking.join("; ")));
        *self.blocked.lock() = blocked.clone();
        self.emit(
            findings
                .iter()
                .map(|f| Event::Reconciled {
                    kind: f.kind.into(),
                    symbol: f.symbol.clone(),
                    client_order_id: f.client_order_id.clone(),
                    detail: f.detail.clone(),
                    blocks_trading: f.blocks_trading,
                })
                .collect(),
        );
        Ok(ReconcileReport { findings, blocked })
    }

    async fn reconcile_fills(&self, symbol: &Symbol, findings: &mut Vec<Finding>) -> Result<(), RouterError> {
        let known = self.ledger.fills(symbol)?;
        let since = known.iter().map(|f| f.ts).max().or_else(|| {
            self.state
                .lock()
                .orders
                .values()
                .filter(|r| &r.intent.symbol == symbol)
                .filter_map(|r| r.sent_at)
                .min()
        });
        let query = FillQuery { symbol: symbol.clone(), since, order_id: None, limit: 1000 };
        let fills = match retry_read(|| self.venue.fetch_fills(&query)).await {
            Ok(f) => f,
            Err(e) => {
                findings.push(Finding {
                    kind: "fills_unavailable",
                    symbol: Some(symbol.clone()),
                    client_order_id: None,
                    detail: format!("cannot list fills ({e}); order states were checked by lookup"),
                    blocks_trading: false,
                });
                return Ok(());
            }
        };
        let known_ids: std::collections::BTreeSet<&str> = known.iter().map(|f| f.trade_id.as_str()).collect();
        let mut new_rows = Vec::new();
        for f in fills.into_iter().filter(|f| !known_ids.contains(f.trade_id.as_str())) {
            let owner = self
                .state
                .lock()
                .orders
                .values()
                .find(|r| r.order_id.as_ref() == Some(&f.order_id) && &r.intent.symbol == symbol)
                .map(|r| r.client_order_id.clone());
            findings.push(Finding {
                kind: if owner.is_some() { "fill_recovered" } else { "foreign_fill" },
                symbol: Some(symbol.clone()),
                client_order_id: owner.clone(),
                detail: format!(
                    "trade {} of order {}: {} {} at {} (fee {} {})",
                    f.trade_id, f.order_id, f.side, f.quantity, f.price, f.fee, f.fee_asset
                ),
                blocks_trading: false,
            });
            if owner.is_some() {
                new_rows.push((f, owner));
            }
        }
        if !new_rows.is_empty() {
            self.persist(&Change { fills: new_rows, ..Change::default() })?;
        }
        Ok(())
    }

    fn reconcile_balances(
        &self,
        balances: &[trading_core::Balance],
        findings: &mut Vec<Finding>,
    ) -> Result<(), RouterError> {
        let held =
            |asset: &str| balances.iter().filter(|b| b.asset == asset).map(|b| b.total()).sum::<Decimal>();
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let symbols: Vec<Symbol> = st.positions.keys().cloned().collect();
        for symbol in symbols {
            let Some(p) = st.positions.get_mut(&symbol) else { continue };
            let venue = held(symbol.base());
            if venue >= p.quantity {
                continue;
            }
            let short = p.quantity - venue;
            let tolerable = short <= p.quantity * self.config.balance_drift_tolerance;
            let detail = format!("ledger holds {} {}, the account {}", p.quantity, symbol.base(), venue);
            if tolerable {
                p.quantity = venue;
                p.locked = p.locked.min(venue);
                let p = &*p;
                self.persist(&Change { positions: vec![(symbol.clone(), Some(p))], ..Change::default() })?;
                findings.push(Finding {
                    kind: "balance_drift",
                    symbol: Some(symbol.clone()),
                    client_order_id: None,
                    detail: format!("{detail}; sellable corrected to the account's"),
                    blocks_trading: false,
                });
            } else {
                findings.push(Finding {
                    kind: "balance_drift",
                    symbol: Some(symbol.clone()),
                    client_order_id: None,
                    detail: format!("{detail}; beyond the tolerance, not corrected"),
                    blocks_trading: true,
                });
            }
        }
        let quote = held(&self.config.quote_asset);
        if quote < st.budget.free() {
            findings.push(Finding {
                kind: "balance_drift",
                symbol: None,
                client_order_id: None,
                detail: format!(
                    "the account holds {quote} {}, less than the free budget {}: buys beyond it will be refused by the venue",
                    self.config.quote_asset,
                    st.budget.free()
                ),
                blocks_trading: false,
            });
        }
        Ok(())
    }
}

/// True when a READ that failed with `e` may succeed if repeated: the transient errors, and an
/// unreadable (garbled, truncated) answer, which for a read proves nothing about the venue.
fn read_may_succeed_later(e: &ExchangeError) -> bool {
    e.is_retryable() || matches!(e, ExchangeError::InvalidResponse { .. })
}

/// How often reconciliation tries a read that fails transiently (timeout, 5xx, rate limit)
/// before it records the failure: one lost answer must not make the router fail closed for a
/// whole session.
const RECONCILE_READ_ATTEMPTS: u32 = 5;

/// Runs `read` until it succeeds, fails for good, or [`RECONCILE_READ_ATTEMPTS`] transient
/// failures happened, pausing 0.5 s, 1 s, 2 s, ... between attempts (the venue's
/// `retry_after` when it names a longer one).
async fn retry_read<T, F, Fut>(mut read: F) -> Result<T, ExchangeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ExchangeError>>,
{
    let mut attempt: u32 = 1;
    loop {
        match read().await {
            Err(e) if read_may_succeed_later(&e) && attempt < RECONCILE_READ_ATTEMPTS => {
                let mut pause = Duration::from_millis(500u64 << attempt.min(6));
                if let ExchangeError::RateLimited { retry_after } = &e {
                    pause = pause.max(*retry_after);
                }
                tracing::info!(error = %e, attempt, "reconciliation read failed; retrying");
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum BudgetStep {
    Reserved,
    Committed,
    Released,
}

#[cfg(test)]
mod tests {
    use super::*;
    use exchange::{EndpointWeights, RateBudget};
    use std::num::NonZeroU32;

    fn caps(weight_per_minute: u32, fetch_order: u32) -> Capabilities {
        Capabilities {
            venue: "t".into(),
            bulk_book_ticker: true,
            ticker_list: true,
            weights: EndpointWeights {
                book_ticker_single: 2,
                book_ticker_all: 4,
                ticker_24h_single: 2,
                ticker_24h_all: 80,
                klines: 2,
                create_order: 1,
                cancel_order: 1,
                fetch_order,
                open_orders_single: 6,
                account: 20,
                exchange_info: 20,
            },
            rate: RateBudget {
                weight_per_window: NonZeroU32::new(weight_per_minute).unwrap(),
                window: Duration::from_secs(60),
                orders_per_window: None,
                order_window: Duration::from_secs(10),
            },
            max_klines: 1000,
            acceptance_window: Duration::from_secs(15),
        }
    }

    #[test]
    fn tracking_cadence_stays_within_the_weight_share() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(10));
        let share = Decimal::new(1, 1);
        // 6000/min, 10 % = 600 weight/min; 1 order of weight 4 -> 150 rounds/min -> 400 ms -> min.
        assert_eq!(tracking_interval(&caps(6000, 4), 1, share, min, max), min);
        // 20 orders -> 80 weight per round -> 7.5 rounds/min -> 8 s.
        assert_eq!(tracking_interval(&caps(6000, 4), 20, share, min, max), Duration::from_secs(8));
        // A small budget hits the ceiling.
        assert_eq!(tracking_interval(&caps(100, 4), 20, share, min, max), max);
    }
}
