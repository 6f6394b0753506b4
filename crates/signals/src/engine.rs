//! The engine: per-symbol trigger state, guard composition and the decision funnel.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use trading_core::{Candle, Quote, Symbol, Timestamp};

use crate::config::{GuardConfig, TriggerConfig, TriggerMode};
use crate::fixed::{from_px, to_px, PRICE_RANGE};
use crate::guards::{self, GuardBlock, GuardKind, MissingInput};
use crate::window::{BucketClock, OpenRing, Step, TriggerState};
use crate::{atr, SignalError};

/// A handle for a registered symbol: an index, so a tick costs no hashing or string compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SymbolId(u32);

impl SymbolId {
    /// The index (registration order, from 0).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// One market-data observation for a symbol. Only `ts` and `price` feed the trigger; the
/// optional fields feed the spread and volume guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// When it was observed (from the `Clock`, or the exchange's timestamp).
    pub ts: Timestamp,
    /// The price the trigger looks at.
    pub price: Decimal,
    /// Best bid, for the spread guard.
    pub bid: Option<Decimal>,
    /// Best ask, for the spread guard.
    pub ask: Option<Decimal>,
    /// 24 h traded volume in the quote asset, for the volume guard.
    pub quote_volume_24h: Option<Decimal>,
}

impl Tick {
    /// A price-only tick.
    pub fn new(ts: Timestamp, price: Decimal) -> Self {
        Tick { ts, price, bid: None, ask: None, quote_volume_24h: None }
    }

    /// From a quote: its [`Quote::price`] at its receive time; `None` when it has no usable
    /// price (missing, zero or negative: an idle or halted market is never a 100 % drop).
    pub fn from_quote(quote: &Quote) -> Option<Self> {
        Some(Tick {
            ts: quote.received_at,
            price: quote.price().filter(trading_core::is_positive)?,
            bid: quote.bid,
            ask: quote.ask,
            quote_volume_24h: quote.quote_volume_24h,
        })
    }
}

/// Where the guards read a tick's book and volume: a [`Tick`], or the [`Quote`] it would be
/// made from.
pub(crate) trait GuardInputs {
    fn bid(&self) -> Option<Decimal>;
    fn ask(&self) -> Option<Decimal>;
    fn quote_volume_24h(&self) -> Option<Decimal>;
}

impl GuardInputs for Tick {
    fn bid(&self) -> Option<Decimal> {
        self.bid
    }
    fn ask(&self) -> Option<Decimal> {
        self.ask
    }
    fn quote_volume_24h(&self) -> Option<Decimal> {
        self.quote_volume_24h
    }
}

impl GuardInputs for Quote {
    fn bid(&self) -> Option<Decimal> {
        self.bid
    }
    fn ask(&self) -> Option<Decimal> {
        self.ask
    }
    fn quote_volume_24h(&self) -> Option<Decimal> {
        self.quote_volume_24h
    }
}

/// A drop that met the trigger condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trigger {
    /// The symbol.
    pub symbol: SymbolId,
    /// The tick's timestamp.
    pub ts: Timestamp,
    /// The mode that measured it.
    pub mode: TriggerMode,
    /// The reference price the drop is measured from.
    pub reference: Decimal,
    /// The tick's price.
    pub price: Decimal,
    /// `(1 - price / reference) * 100`, rounded to 4 decimal places.
    pub drop_pct: Decimal,
}

/// Where a tick stands against its reference: what a report needs to explain a session without
/// trades ("the deepest drop was 1.2 % against a 1.5 % threshold").
///
/// Held as the exact fixed-point prices of the hot path; the `Decimal` views are computed only
/// when asked for, so carrying it costs a tick nothing. Serialized as `reference`, `price` and
/// `drop_pct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropLevel {
    reference: i128,
    price: i128,
}

impl DropLevel {
    /// The reference price of the trigger mode at this tick.
    pub fn reference(&self) -> Decimal {
        from_px(self.reference)
    }

    /// The tick's price.
    pub fn price(&self) -> Decimal {
        from_px(self.price)
    }

    /// `price / reference`, rounded to 6 decimal places (`0.985` = 1.5 % below the reference).
    pub fn ratio(&self) -> Decimal {
        (self.price() / self.reference()).round_dp(6).normalize()
    }

    /// `(1 - price / reference) * 100`, rounded to 4 decimal places; negative when the price is
    /// above the reference (mode 2's window open).
    pub fn drop_pct(&self) -> Decimal {
        ((Decimal::ONE - self.price() / self.reference()) * Decimal::ONE_HUNDRED).round_dp(4).normalize()
    }
}

impl Serialize for DropLevel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("DropLevel", 3)?;
        st.serialize_field("reference", &self.reference())?;
        st.serialize_field("price", &self.price())?;
        st.serialize_field("drop_pct", &self.drop_pct())?;
        st.end()
    }
}

/// The decision for one tick: the record the bot logs and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// `price / reference > DROP_TRIGGER_VALUE`: no drop. Carries the current drop from the
    /// reference.
    NotTriggered(DropLevel),
    /// At or below the threshold, but this drop already fired (the symbol re-arms when a tick is
    /// above the threshold by the re-arm margin).
    AlreadyFired(DropLevel),
    /// A drop that a guard blocked; it stays armed and is evaluated again on the next tick.
    Blocked {
        /// The drop that would have fired.
        candidate: Trigger,
        /// The first guard that said no.
        by: GuardBlock,
    },
    /// A drop that passed every guard: act on it.
    Fired(Trigger),
    /// Older than the symbol's latest tick: ignored, the window is unchanged.
    OutOfOrder,
    /// A quote with no usable price (zero or missing bid/ask/last: an idle or halted market):
    /// never evaluated as a price, counted in [`Funnel::no_price`].
    NoPrice,
}

impl Decision {
    /// The tick's standing against its reference, for the decisions that measured one.
    pub fn level(&self) -> Option<DropLevel> {
        match self {
            Decision::NotTriggered(l) | Decision::AlreadyFired(l) => Some(*l),
            _ => None,
        }
    }
}

/// Counts of decisions, so the bot can report a funnel: evaluated = not triggered + already
/// fired + blocked + fired; out-of-order ticks and quotes without a price are counted apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    /// Ticks evaluated against the trigger.
    pub evaluated: u64,
    /// No drop.
    pub not_triggered: u64,
    /// Below the threshold but already fired for this drop.
    pub already_fired: u64,
    /// Drops blocked, per guard in [`GuardKind::ALL`] order (serialized as a map by guard name).
    #[serde(serialize_with = "blocked_by_name")]
    pub blocked: [u64; GuardKind::COUNT],
    /// Of `blocked`, the blocks for missing input (the guard could not measure), per guard.
    #[serde(serialize_with = "blocked_by_name")]
    pub blocked_missing_input: [u64; GuardKind::COUNT],
    /// Triggers.
    pub fired: u64,
    /// Ticks ignored as out of order.
    pub out_of_order: u64,
    /// Quotes without a usable price (zero or missing), never evaluated.
    pub no_price: u64,
}

impl Funnel {
    /// Drops blocked by `guard`.
    pub fn blocked_by(&self, guard: GuardKind) -> u64 {
        self.blocked[guard.index()]
    }

    /// Drops blocked by any guard.
    pub fn blocked_total(&self) -> u64 {
        self.blocked.iter().sum()
    }
}

fn blocked_by_name<S: serde::Serializer>(blocked: &[u64; GuardKind::COUNT], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(GuardKind::COUNT))?;
    for (guard, count) in GuardKind::ALL.iter().zip(blocked) {
        map.serialize_entry(guard.as_str(), count)?;
    }
    map.end()
}

/// The deepest drop a symbol reached in the session: the tick with the lowest
/// `price / reference` (compared to 10^-9), the first one on a tie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeepestDrop {
    /// The symbol.
    pub symbol: SymbolId,
    /// When it was seen.
    pub ts: Timestamp,
    /// The reference, the price and the drop at that tick.
    #[serde(flatten)]
    pub level: DropLevel,
}

/// A symbol's deepest tick so far: `nano = floor(price * 10^9 / reference)`.
#[derive(Debug, Clone, Copy)]
struct Deepest {
    nano: i128,
    level: DropLevel,
    ts: i64,
}

const NANO: i128 = 1_000_000_000;

/// Guard inputs per symbol that are not on the hot path.
#[derive(Debug, Clone, Default)]
struct SymbolGuards {
    blacklisted: bool,
    last_event: Option<Timestamp>,
    atr_pct: Option<Decimal>,
}

/// The crash guard's window over the reference symbol's prices.
#[derive(Debug, Clone)]
struct CrashWindow {
    id: Option<SymbolId>,
    clock: BucketClock,
    opens: OpenRing,
    last: Option<i128>,
    last_ts: i64,
    window_ms: i64,
}

/// The decisions of one market-data cycle ([`SignalEngine::on_cycle`]), in symbol-id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cycle {
    /// One decision per quote of a registered symbol, ordered by [`SymbolId`] (quotes of one
    /// symbol in their given order), whatever order the quotes arrived in.
    pub decisions: Vec<(SymbolId, Decision)>,
    /// Quotes that could not be evaluated (a price beyond the fixed-point range), by symbol.
    pub rejected: Vec<(SymbolId, SignalError)>,
    /// Quotes of symbols that are not registered, in the given order.
    pub unknown: Vec<Symbol>,
}

/// Drop triggers for many symbols, with guards and a decision funnel. Pure: time comes in with
/// each tick, nothing is read or written outside the engine.
#[derive(Debug, Clone)]
pub struct SignalEngine {
    trigger: TriggerConfig,
    mode: TriggerMode,
    ratio_num: i128,
    guards: GuardConfig,
    symbols: Vec<Symbol>,
    ids: HashMap<Symbol, SymbolId>,
    /// The handle of each quote of the latest cycle, by position: a feed delivers its cycles in
    /// the same order, so [`SignalEngine::on_cycle`] finds a handle with one comparison.
    arrival: Vec<SymbolId>,
    states: Vec<TriggerState>,
    deepest: Vec<Option<Deepest>>,
    guard_state: Vec<SymbolGuards>,
    crash: Option<CrashWindow>,
    /// Index of the crash guard's reference symbol (`u32::MAX` when none): one integer
    /// comparison per tick instead of looking into `crash`.
    crash_id: u32,
    funnel: Funnel,
}

impl SignalEngine {
    /// An engine with no symbols.
    pub fn new(trigger: TriggerConfig, guards: GuardConfig) -> Self {
        let crash = guards.market_crash.as_ref().map(|g| {
            let ms = i64::from(g.window_min) * 60_000;
            let res = ((ms + 1023) / 1024).max(1_000);
            CrashWindow {
                id: None,
                clock: BucketClock::new(res, (ms + res - 1) / res),
                opens: OpenRing::default(),
                last: None,
                last_ts: i64::MIN,
                window_ms: ms,
            }
        });
        SignalEngine {
            mode: trigger.mode(),
            ratio_num: trigger.ratio_num(),
            trigger,
            guards,
            symbols: Vec::new(),
            ids: HashMap::new(),
            arrival: Vec::new(),
            states: Vec::new(),
            deepest: Vec::new(),
            guard_state: Vec::new(),
            crash,
            crash_id: u32::MAX,
            funnel: Funnel::default(),
        }
    }

    /// Registers a symbol and returns its handle. A symbol on the configured blacklist starts
    /// blacklisted; the crash guard's reference symbol is tracked from its registration on.
    pub fn register(&mut self, symbol: Symbol) -> Result<SymbolId, SignalError> {
        if self.ids.contains_key(&symbol) {
            return Err(SignalError::DuplicateSymbol(symbol));
        }
        let id = SymbolId(u32::try_from(self.symbols.len()).map_err(|_| SignalError::TooManySymbols)?);
        let blacklisted = self.guards.blacklist.contains(&symbol);
        if let (Some(crash), Some(g)) = (self.crash.as_mut(), self.guards.market_crash.as_ref()) {
            if g.symbol == symbol {
                crash.id = Some(id);
                self.crash_id = id.0;
            }
        }
        self.ids.insert(symbol.clone(), id);
        self.symbols.push(symbol);
        self.states.push(TriggerState::new(&self.trigger));
        self.deepest.push(None);
        self.guard_state.push(SymbolGuards { blacklisted, ..SymbolGuards::default() });
        Ok(id)
    }

    /// The symbol behind a handle.
    pub fn symbol(&self, id: SymbolId) -> Option<&Symbol> {
        self.symbols.get(id.index())
    }

    /// The handle of a registered symbol (a hash lookup; no iteration, so no order dependence).
    pub fn id_of(&self, symbol: &Symbol) -> Option<SymbolId> {
        self.ids.get(symbol).copied()
    }

    /// The handle of `symbol`, the quote at `pos` of a cycle: the handle of last cycle's quote
    /// at that position when it is the same symbol, else [`SignalEngine::id_of`] (remembered).
    fn id_at(&mut self, pos: usize, symbol: &Symbol) -> Option<SymbolId> {
        if let Some(&id) = self.arrival.get(pos) {
            if self.symbols.get(id.index()) == Some(symbol) {
                return Some(id);
            }
        }
        let id = self.id_of(symbol)?;
        if pos < self.arrival.len() {
            self.arrival[pos] = id;
        } else if pos == self.arrival.len() {
            self.arrival.push(id);
        }
        Some(id)
    }

    /// The trigger configuration.
    pub fn trigger_config(&self) -> &TriggerConfig {
        &self.trigger
    }

    /// The decision counts so far.
    pub fn funnel(&self) -> &Funnel {
        &self.funnel
    }

    /// The deepest drop the symbol reached so far (`None` before its first evaluated tick).
    pub fn deepest_drop(&self, id: SymbolId) -> Option<DeepestDrop> {
        let d = (*self.deepest.get(id.index())?)?;
        Some(DeepestDrop { symbol: id, ts: Timestamp::from_millis(d.ts), level: d.level })
    }

    /// The `limit` deepest drops of the session over all symbols, deepest first (ties by
    /// symbol id): the "why did nothing trade" table of a report.
    pub fn deepest_drops(&self, limit: usize) -> Vec<DeepestDrop> {
        let mut all: Vec<(i128, u32, Deepest)> = self
            .deepest
            .iter()
            .enumerate()
            .filter_map(|(i, d)| Some((d.as_ref()?.nano, u32::try_from(i).ok()?, (*d)?)))
            .collect();
        all.sort_by_key(|(nano, id, _)| (*nano, *id));
        all.into_iter()
            .take(limit)
            .map(|(_, id, d)| DeepestDrop {
                symbol: SymbolId(id),
                ts: Timestamp::from_millis(d.ts),
                level: d.level,
            })
            .collect()
    }

    /// Puts a symbol on or off the blacklist at run time. Applies whatever guards were
    /// configured at construction (the blacklist is always checked).
    pub fn set_blacklisted(&mut self, id: SymbolId, listed: bool) -> Result<(), SignalError> {
        self.guard_mut(id)?.blacklisted = listed;
        Ok(())
    }

    /// Records that a position in the symbol was exited at `ts` (starts its cooldown).
    pub fn record_exit(&mut self, id: SymbolId, ts: Timestamp) -> Result<(), SignalError> {
        self.guard_mut(id)?.last_event = Some(ts);
        Ok(())
    }

    /// Recomputes the symbol's ATR % from its latest candles (for the volatility guard) and
    /// returns it. A no-op returning `Ok(None)` when the volatility guard is off.
    pub fn update_candles(
        &mut self,
        id: SymbolId,
        candles: &[Candle],
    ) -> Result<Option<Decimal>, SignalError> {
        let Some(period) = self.guards.volatility.as_ref().map(|v| v.period) else {
            return Ok(None);
        };
        let pct = atr::atr_pct(candles, period)?;
        self.guard_mut(id)?.atr_pct = Some(pct);
        Ok(Some(pct))
    }

    /// Entries currently held in a symbol's ring buffers and their bound.
    pub fn window_len(&self, id: SymbolId) -> Option<(usize, usize)> {
        self.states.get(id.index()).map(TriggerState::buffer_len)
    }

    fn guard_mut(&mut self, id: SymbolId) -> Result<&mut SymbolGuards, SignalError> {
        self.guard_state.get_mut(id.index()).ok_or(SignalError::UnknownSymbolId(id.0))
    }

    /// Evaluates one market-data cycle: every quote of the cycle at once, with a result that
    /// does not depend on the order the quotes arrive in.
    ///
    /// The crash guard's reference symbol (e.g. `BTC/USDT`) is applied first, so every
    /// candidate of the cycle is checked against the reference's state of this cycle, not
    /// "whichever quote came first". Quotes are then evaluated in [`SymbolId`] order (a stable
    /// sort keeps two quotes of one symbol in their given order). A quote without a usable
    /// price is [`Decision::NoPrice`]; a quote of an unregistered symbol is listed in
    /// [`Cycle::unknown`]; a price beyond the fixed-point range in [`Cycle::rejected`].
    pub fn on_cycle<'q>(&mut self, quotes: impl IntoIterator<Item = &'q Quote>) -> Cycle {
        let mut cycle = Cycle::default();
        // (handle, position) pairs: small to sort, and a cycle arrives sorted as a rule (the
        // feed delivers symbol order), so the sort is usually a check.
        let quotes: Vec<&Quote> = quotes.into_iter().collect();
        let mut batch: Vec<(SymbolId, usize)> = Vec::with_capacity(quotes.len());
        for (pos, q) in quotes.iter().enumerate() {
            match self.id_at(pos, &q.symbol) {
                Some(id) => batch.push((id, pos)),
                None => cycle.unknown.push(q.symbol.clone()),
            }
        }
        if !batch.is_sorted_by_key(|(id, _)| *id) {
            batch.sort_by_key(|(id, _)| *id);
        }
        // A quote with its usable price, as `Tick::from_quote` takes it.
        let priced = |pos: usize| {
            quotes.get(pos).and_then(|q| Some((*q, q.price().filter(trading_core::is_positive)?)))
        };
        if self.crash_id != u32::MAX {
            for &(id, pos) in &batch {
                if id.0 == self.crash_id {
                    if let Some((q, px)) = priced(pos).and_then(|(q, p)| Some((q, to_px(p)?))) {
                        self.track_crash(id, q.received_at.as_millis(), px);
                    }
                }
            }
        }
        cycle.decisions.reserve(batch.len());
        for (id, pos) in batch {
            let result = match priced(pos) {
                Some((q, price)) => self.evaluate(id, q.received_at, price, q),
                None => self.no_price(id),
            };
            match result {
                Ok(d) => cycle.decisions.push((id, d)),
                Err(e) => cycle.rejected.push((id, e)),
            }
        }
        cycle
    }

    /// Evaluates one quote: [`Decision::NoPrice`] (counted in [`Funnel::no_price`]) when it has
    /// no usable price (zero or missing), else [`SignalEngine::on_tick`] with
    /// [`Tick::from_quote`]. Prefer [`SignalEngine::on_cycle`] for a whole cycle.
    pub fn on_quote(&mut self, id: SymbolId, quote: &Quote) -> Result<Decision, SignalError> {
        match Tick::from_quote(quote) {
            Some(t) => self.on_tick(id, &t),
            None => self.no_price(id),
        }
    }

    fn no_price(&mut self, id: SymbolId) -> Result<Decision, SignalError> {
        if id.index() >= self.states.len() {
            return Err(SignalError::UnknownSymbolId(id.0));
        }
        self.funnel.no_price += 1;
        Ok(Decision::NoPrice)
    }

    /// Evaluates one tick: updates the symbol's window, decides, counts the decision.
    ///
    /// A tick of the crash guard's reference symbol updates the guard's window; fed tick by
    /// tick, a candidate sees the reference as of the ticks fed before it, so a cycle's result
    /// would depend on arrival order: feed whole cycles with [`SignalEngine::on_cycle`].
    ///
    /// Errors (nothing is counted or changed): an unknown handle, or a price that is not
    /// positive, is `>= 10^10`, or has more than 18 significant decimal places.
    #[inline(always)] // lets the caller's match see the decision in registers (no copy-out)
    pub fn on_tick(&mut self, id: SymbolId, tick: &Tick) -> Result<Decision, SignalError> {
        self.evaluate(id, tick.ts, tick.price, tick)
    }

    /// [`SignalEngine::on_tick`] for a tick given as its time, its price and where the guards
    /// read their inputs: a [`Tick`], or in [`SignalEngine::on_cycle`] the quote itself, so no
    /// tick is built for the quotes no guard looks at (a tick built by one function and read by
    /// the next cost a store-forwarding stall per quote).
    #[inline(always)]
    fn evaluate(
        &mut self,
        id: SymbolId,
        at: Timestamp,
        price: Decimal,
        inputs: &impl GuardInputs,
    ) -> Result<Decision, SignalError> {
        let Some(px) = to_px(price) else {
            return Err(SignalError::InvalidPrice { what: "tick price", value: price, reason: PRICE_RANGE });
        };
        let state = self.states.get_mut(id.index()).ok_or(SignalError::UnknownSymbolId(id.0))?;
        let ts = at.as_millis();
        let step = state.step(self.ratio_num, ts, px);
        if id.0 == self.crash_id {
            self.track_crash(id, ts, px);
        }
        let reference = match step {
            Step::OutOfOrder => {
                self.funnel.out_of_order += 1;
                return Ok(Decision::OutOfOrder);
            }
            Step::Above { reference } | Step::AlreadyFired { reference } | Step::Candidate { reference } => {
                reference
            }
        };
        let level = DropLevel { reference, price: px };
        if let Some(slot) = self.deepest.get_mut(id.index()) {
            track_deepest(slot, level, ts);
        }
        // every arm returns its own `Ok(..)`: a small decision is then built in place,
        // without copying a whole `Decision` through a join point (a store-forwarding stall)
        let f = &mut self.funnel;
        match step {
            Step::Above { .. } => {
                f.not_triggered += 1;
                f.evaluated += 1;
                Ok(Decision::NotTriggered(level))
            }
            Step::AlreadyFired { .. } => {
                f.already_fired += 1;
                f.evaluated += 1;
                Ok(Decision::AlreadyFired(level))
            }
            Step::Candidate { reference } => {
                f.evaluated += 1;
                Ok(self.candidate(id, at, inputs, px, reference))
            }
            Step::OutOfOrder => Ok(Decision::OutOfOrder),
        }
    }

    /// Feeds a tick of the crash guard's reference symbol into its window.
    #[inline(never)]
    fn track_crash(&mut self, id: SymbolId, ts: i64, px: i128) {
        if let Some(crash) = self.crash.as_mut().filter(|c| c.id == Some(id)) {
            if let Some(k) = crash.clock.locate(ts) {
                crash.opens.push(k, px, crash.clock.oldest(k));
                crash.last = Some(px);
                crash.last_ts = ts;
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn candidate(
        &mut self,
        id: SymbolId,
        at: Timestamp,
        inputs: &impl GuardInputs,
        px: i128,
        reference: i128,
    ) -> Decision {
        let reference_d = from_px(reference);
        let price = from_px(px);
        let drop_pct = ((Decimal::ONE - price / reference_d) * Decimal::ONE_HUNDRED).round_dp(4);
        let trigger =
            Trigger { symbol: id, ts: at, mode: self.mode, reference: reference_d, price, drop_pct };
        // the blacklist always applies, whatever guards were configured at construction
        if let Err(by) = self.check_guards(id, at, inputs, drop_pct) {
            self.funnel.blocked[by.guard.index()] += 1;
            if by.is_missing_input() {
                self.funnel.blocked_missing_input[by.guard.index()] += 1;
            }
            return Decision::Blocked { candidate: trigger, by };
        }
        if let Some(state) = self.states.get_mut(id.index()) {
            state.fired(px);
        }
        if let Some(g) = self.guard_state.get_mut(id.index()) {
            g.last_event = Some(at);
        }
        self.funnel.fired += 1;
        Decision::Fired(trigger)
    }

    fn check_guards(
        &self,
        id: SymbolId,
        at: Timestamp,
        inputs: &impl GuardInputs,
        drop_pct: Decimal,
    ) -> Result<(), GuardBlock> {
        let g = &self.guards;
        let s = self.guard_state.get(id.index()).cloned().unwrap_or_default();
        guards::check_blacklist(s.blacklisted)?;
        if let Some(cd) = g.cooldown {
            guards::check_cooldown(s.last_event.map(|t| at.millis_since(t)), cd)?;
        }
        if let (Some(cfg), Some(w)) = (g.market_crash.as_ref(), self.crash.as_ref()) {
            let missing = |input| Err(GuardBlock::missing(GuardKind::MarketCrash, -cfg.max_drop_pct, input));
            let change = match (w.id, w.last, w.opens.open()) {
                (None, _, _) => return missing(MissingInput::ReferenceNotRegistered),
                (Some(_), Some(last), Some(open)) => {
                    // a reference price older than the window says nothing about the market now
                    if at.as_millis().saturating_sub(w.last_ts) > w.window_ms {
                        return missing(MissingInput::ReferenceStale);
                    }
                    ((from_px(last) / from_px(open) - Decimal::ONE) * Decimal::ONE_HUNDRED).round_dp(4)
                }
                (Some(_), _, _) => return missing(MissingInput::ReferenceNoPrice),
            };
            guards::check_market_crash(Some(change), cfg.max_drop_pct)?;
        }
        if let Some(v) = g.volatility.as_ref() {
            guards::check_volatility(s.atr_pct, v.max_atr_pct)?;
        }
        if let Some(max) = g.max_spread_pct {
            guards::check_spread(guards::spread_pct(inputs.bid(), inputs.ask()), max)?;
        }
        if let Some(min) = g.min_quote_volume_24h {
            guards::check_quote_volume(inputs.quote_volume_24h(), min)?;
        }
        if let Some(max) = g.falling_knife_max_drop_pct {
            guards::check_falling_knife(drop_pct, max)?;
        }
        Ok(())
    }
}

/// Keeps the deepest tick: `price * 10^9 < reference * nano` (exact integers: prices are below
/// 10^28 units, so both products stay below 10^37), so a tick costs two multiplications and the
/// division runs only for a new deepest tick.
#[inline(always)]
fn track_deepest(slot: &mut Option<Deepest>, level: DropLevel, ts: i64) {
    let deeper = match slot {
        Some(d) => level.price * NANO < level.reference * d.nano,
        None => true,
    };
    if deeper {
        *slot = Some(Deepest { nano: (level.price * NANO).div_euclid(level.reference), level, ts });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn engine(mode: TriggerMode, guards: GuardConfig) -> (SignalEngine, SymbolId) {
        let mut e = SignalEngine::new(TriggerConfig::new(dec!(0.98), mode, 1).unwrap(), guards);
        let id = e.register("ETH/USDT".parse().unwrap()).unwrap();
        (e, id)
    }

    fn t(s: i64, p: Decimal) -> Tick {
        Tick::new(Timestamp::from_millis(s * 1_000), p)
    }

    #[test]
    fn candidate_carries_reference_price_and_drop() {
        let (mut e, id) = engine(TriggerMode::WindowHigh, GuardConfig::none());
        assert!(matches!(e.on_tick(id, &t(0, dec!(100))).unwrap(), Decision::NotTriggered(_)));
        let Decision::Fired(tr) = e.on_tick(id, &t(1, dec!(97.5))).unwrap() else { panic!("no trigger") };
        assert_eq!(
            (tr.reference, tr.price, tr.drop_pct, tr.mode),
            (dec!(100), dec!(97.5), dec!(2.5), TriggerMode::WindowHigh)
        );
        assert!(matches!(e.on_tick(id, &t(2, dec!(97))).unwrap(), Decision::AlreadyFired(_)));
        assert_eq!(e.on_tick(id, &t(1, dec!(50))).unwrap(), Decision::OutOfOrder);
        let f = e.funnel();
        assert_eq!((f.evaluated, f.not_triggered, f.fired, f.already_fired, f.out_of_order), (3, 1, 1, 1, 1));
    }

    #[test]
    fn ticks_from_quotes_and_handles() {
        let (e, id) = engine(TriggerMode::WindowHigh, GuardConfig::none());
        let mut q = Quote {
            symbol: "ETH/USDT".parse().unwrap(),
            bid: Some(dec!(99)),
            ask: Some(dec!(101)),
            last: Some(dec!(7)),
            quote_volume_24h: Some(dec!(5)),
            exchange_ts: None,
            received_at: Timestamp::from_millis(42),
        };
        let tick = Tick::from_quote(&q).unwrap();
        assert_eq!(
            (tick.ts, tick.price, tick.quote_volume_24h),
            (Timestamp::from_millis(42), dec!(100), Some(dec!(5)))
        );
        q.bid = None;
        q.ask = None;
        q.last = None;
        assert_eq!(Tick::from_quote(&q), None);
        assert_eq!(e.id_of(&"ETH/USDT".parse().unwrap()), Some(id));
        assert_eq!(e.id_of(&"BTC/USDT".parse().unwrap()), None);
        assert_eq!(e.symbol(id).map(|s| s.as_str()), Some("ETH/USDT"));
        assert_eq!(id.index(), 0);
    }

    #[test]
    fn bad_input_is_an_error_and_not_counted() {
        let (mut e, id) = engine(TriggerMode::WindowHigh, GuardConfig::none());
        let err = e.on_tick(id, &t(0, dec!(0))).unwrap_err();
        assert!(err.to_string().contains("tick price 0"), "{err}");
        assert_eq!(e.on_tick(SymbolId(9), &t(0, dec!(1))), Err(SignalError::UnknownSymbolId(9)));
        assert_eq!(e.funnel(), &Funnel::default());
        let dup = e.register("ETH/USDT".parse().unwrap()).unwrap_err();
        assert!(matches!(dup, SignalError::DuplicateSymbol(_)));
    }

    #[test]
    fn blocked_drop_stays_armed_and_fires_when_guard_clears() {
        let guards = GuardConfig::none().max_spread_pct(dec!(1)).unwrap();
        let (mut e, id) = engine(TriggerMode::WindowHigh, guards);
        let wide = |s, p| Tick { bid: Some(dec!(90)), ask: Some(dec!(100)), ..t(s, p) };
        let narrow = |s, p| Tick { bid: Some(dec!(96.9)), ask: Some(dec!(97.1)), ..t(s, p) };
        assert!(matches!(e.on_tick(id, &wide(0, dec!(100))).unwrap(), Decision::NotTriggered(_)));
        match e.on_tick(id, &wide(1, dec!(97))).unwrap() {
            Decision::Blocked { by, .. } => {
                assert_eq!(
                    (by.guard, by.value, by.threshold),
                    (GuardKind::Spread, Some(dec!(10.526316)), dec!(1))
                );
            }
            other => panic!("expected a spread block, got {other:?}"),
        }
        assert!(matches!(e.on_tick(id, &narrow(2, dec!(97))).unwrap(), Decision::Fired(_)));
        assert_eq!(e.funnel().blocked_by(GuardKind::Spread), 1);
        assert_eq!(e.funnel().blocked_total(), 1);
        let json = serde_json::to_value(e.funnel()).unwrap();
        assert_eq!(json["blocked"]["spread"], 1);
        assert_eq!(json["blocked"]["cooldown"], 0);
        assert_eq!(json["fired"], 1);
    }
}
