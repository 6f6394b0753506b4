//! The poll scheduler: [`Feed`] (start-up, cycles, the run loop) and [`FeedHandle`] (what other
//! crates hold: the store, the updates, hot marks).

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use exchange::{Capabilities, Exchange, ExchangeError, OhlcvRequest};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use supervisor::Heartbeat;
use telemetry::{Event, EventSink, Tier};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use trading_core::{is_positive, Clock, Quote, Symbol, Timestamp};

use crate::budget::{Pause, WeightBudget};
use crate::health::{HealthWindow, Millis};
use crate::store::{CandleSet, CycleUpdate, SnapshotStore, UpdateReceiver};
use crate::tiers::TierState;
use crate::{CostModel, Feasibility, FeedConfig, FeedError, PollMode};

/// Entries of LISTINGS_SKIPPED named in the event (the count is always complete).
const LISTED_NAMES: usize = 20;
/// Largest list request for 24h statistics (Binance's cheapest 24hr list is 1..=20 symbols).
const STATS_CHUNK: usize = 20;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A zero or negative price is no price (idle or halted market): removed, never passed on.
/// Returns `None` when nothing priced is left.
pub(crate) fn sanitize(mut q: Quote) -> Option<Quote> {
    sanitize_in_place(&mut q).then_some(q)
}

/// [`sanitize`] without moving the quote: false when nothing priced is left.
fn sanitize_in_place(q: &mut Quote) -> bool {
    // Only a value that must go is written: rewriting the ones that stay, piece by piece, made
    // the price read right after wait on those writes (a store-forwarding stall per quote).
    for price in [&mut q.bid, &mut q.ask, &mut q.last] {
        if price.is_some_and(|p| !is_positive(&p)) {
            *price = None;
        }
    }
    if q.quote_volume_24h.is_some_and(|v| !v.is_zero() && v.is_sign_negative()) {
        q.quote_volume_24h = None;
    }
    q.bid.is_some() || q.ask.is_some() || q.last.is_some()
}

/// A cycle's fresh quotes so far, with each one's table index (its rank in symbol order).
///
/// Two parallel vectors rather than one of pairs: a single bulk answer (the usual cycle) becomes
/// the cycle's quotes without moving any of its quotes, and a quote is large.
#[derive(Debug, Default)]
struct Fresh {
    index: Vec<usize>,
    quotes: Vec<Quote>,
}

impl Fresh {
    /// Adds an answer's kept quotes and their table indices (`index.len() == quotes.len()`).
    fn append(&mut self, mut index: Vec<usize>, mut quotes: Vec<Quote>) {
        if self.quotes.is_empty() {
            (self.index, self.quotes) = (index, quotes);
        } else {
            self.index.append(&mut index);
            self.quotes.append(&mut quotes);
        }
    }

    /// The quotes ordered by table index. A venue answers in its own order, and a quote is
    /// large: this sorts small (index, position) pairs and moves each quote once, instead of
    /// moving quotes through a sort.
    fn in_symbol_order(self) -> Vec<Quote> {
        if self.index.is_sorted() {
            return self.quotes;
        }
        let mut order: Vec<(usize, usize)> =
            self.index.iter().enumerate().map(|(pos, i)| (*i, pos)).collect();
        order.sort_unstable();
        let mut slots: Vec<Option<Quote>> = self.quotes.into_iter().map(Some).collect();
        order.iter().filter_map(|&(_, pos)| slots.get_mut(pos).and_then(Option::take)).collect()
    }
}

#[derive(Debug, Clone)]
enum Cmd {
    Mark { symbol: Symbol, reason: String, until: Option<Timestamp> },
    Unmark { symbol: Symbol, reason: String },
}

/// What another crate holds to read the feed's output and to mark symbols hot. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FeedHandle {
    store: SnapshotStore,
    updates: watch::Receiver<Arc<CycleUpdate>>,
    commands: Arc<Mutex<Vec<Cmd>>>,
    clock: Arc<dyn Clock>,
}

impl FeedHandle {
    /// The snapshot store (latest quote per symbol with its age, candles).
    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }

    /// A new receiver of cycle updates (starts after the latest one).
    pub fn updates(&self) -> UpdateReceiver {
        UpdateReceiver::new(self.updates.clone())
    }

    /// Marks `symbol` hot for `reason` (`"open order"`, `"held position"`, `"recent drop"`) for
    /// `hold`, or until [`FeedHandle::unmark`] when `None`. Takes effect at the next cycle.
    pub fn mark_hot(&self, symbol: &Symbol, reason: &str, hold: Option<Duration>) {
        let until = hold.map(|h| self.clock.now() + h);
        self.commands.lock().push(Cmd::Mark { symbol: symbol.clone(), reason: reason.to_owned(), until });
    }

    /// Clears a hot mark set by [`FeedHandle::mark_hot`].
    pub fn unmark(&self, symbol: &Symbol, reason: &str) {
        self.commands.lock().push(Cmd::Unmark { symbol: symbol.clone(), reason: reason.to_owned() });
    }
}

/// What one cycle did (returned by [`Feed::run_cycle`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Cycle number, from 1.
    pub seq: u64,
    /// How long it took.
    pub duration: Duration,
    /// True when it took longer than `MD_POLL_MS` (an MD_POLL_OVERRUN was emitted).
    pub overrun: bool,
    /// Symbols asked for.
    pub symbols: u32,
    /// Requests sent.
    pub requests: u32,
    /// Weight those requests cost (as planned from the venue's weights).
    pub weight: u32,
    /// Requests that failed (any error).
    pub errors: u32,
    /// Rate-limit (429) and ban (418) answers.
    pub rate_limited: u32,
    /// Requests not sent because the venue pause was in force.
    pub not_sent: u32,
    /// Quotes without any usable price (zero or missing), not passed on.
    pub no_price: u32,
    /// Quotes stored.
    pub quotes: u32,
}

/// Totals of the cycles of a run (returned by [`Feed::run`]; the start-up probe is not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedSummary {
    /// Cycles completed.
    pub cycles: u64,
    /// Cycles longer than their interval.
    pub overruns: u64,
    /// Cycle duration percentiles and maximum (ms).
    pub cycle_p50_ms: u64,
    /// 99th percentile.
    pub cycle_p99_ms: u64,
    /// Maximum.
    pub cycle_max_ms: u64,
    /// Requests sent.
    pub requests: u64,
    /// Weight spent.
    pub weight: u64,
    /// Failed requests.
    pub errors: u64,
    /// 429 and 418 answers.
    pub rate_limited: u64,
    /// Quotes without a price.
    pub no_price: u64,
    /// Quotes stored.
    pub quotes: u64,
    /// Symbols on the skip list at the end.
    pub skipped: u32,
    /// Symbols degraded at the end.
    pub degraded: u32,
}

#[derive(Debug, Clone)]
struct Degraded {
    since: Timestamp,
    next_try: Timestamp,
}

#[derive(Debug, Clone, Default)]
struct SymState {
    tiers: TierState,
    last_polled: Option<Timestamp>,
    skipped: bool,
    strikes: u32,
    degraded: Option<Degraded>,
}

/// The watchlist's per-symbol state, sorted by symbol: a binary search finds a symbol, and its
/// index (its rank in symbol order) names it without a clone or a hash.
#[derive(Debug, Default)]
struct SymbolTable {
    entries: Vec<(Symbol, SymState)>,
}

impl SymbolTable {
    /// A table of `sorted` (sorted, without duplicates).
    fn new(sorted: &[Symbol]) -> Self {
        SymbolTable { entries: sorted.iter().map(|s| (s.clone(), SymState::default())).collect() }
    }

    fn index_of(&self, symbol: &Symbol) -> Option<usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(symbol)).ok()
    }

    fn get(&self, symbol: &Symbol) -> Option<&SymState> {
        self.index_of(symbol).map(|i| &self.entries[i].1)
    }

    fn get_mut(&mut self, symbol: &Symbol) -> Option<&mut SymState> {
        self.index_of(symbol).map(|i| &mut self.entries[i].1)
    }

    fn iter(&self) -> impl Iterator<Item = (&Symbol, &SymState)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&Symbol, &mut SymState)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    fn values(&self) -> impl Iterator<Item = &SymState> {
        self.entries.iter().map(|(_, v)| v)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Bulk,
    List(Vec<Symbol>),
    Single(Symbol),
}

impl Req {
    fn symbols(&self) -> &[Symbol] {
        match self {
            Req::Bulk => &[],
            Req::List(v) => v,
            Req::Single(s) => std::slice::from_ref(s),
        }
    }
}

enum Outcome {
    NotSent,
    Sent { latency: Duration, result: Result<Vec<Quote>, ExchangeError> },
}

#[derive(Debug, Clone, Copy)]
struct Weights {
    bulk: u32,
    list: u32,
    single: u32,
    klines: u32,
    exchange_info: u32,
}

impl Weights {
    fn of(caps: &Capabilities) -> Self {
        let w = &caps.weights;
        Weights {
            bulk: w.book_ticker_all,
            // A list request never costs more than the all-symbols book ticker on the venues we
            // know (Binance: bookTicker with `symbols` = 4); plan with that upper bound.
            list: w.book_ticker_all.max(w.book_ticker_single),
            single: w.book_ticker_single.max(w.ticker_24h_single),
            klines: w.klines,
            exchange_info: w.exchange_info,
        }
    }

    fn of_req(&self, req: &Req) -> u32 {
        match req {
            Req::Bulk => self.bulk,
            Req::List(_) => self.list,
            Req::Single(_) => self.single,
        }
    }
}

/// The market-data feed over one venue. See the crate docs for the whole picture.
pub struct Feed {
    exchange: Arc<dyn Exchange>,
    config: FeedConfig,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EventSink>,
    heartbeat: Option<Heartbeat>,
    caps: Capabilities,
    weights: Weights,
    mode: PollMode,
    watchlist: Vec<Symbol>,
    symbols: SymbolTable,
    /// The table index of each quote of the latest answer, by position: a venue answers in the
    /// same order every cycle, so a quote finds its state with one comparison.
    arrival: Vec<usize>,
    names: HashMap<String, Symbol>,
    pause: Arc<Pause>,
    budget: Arc<WeightBudget>,
    aux_budget: Option<Arc<WeightBudget>>,
    store: SnapshotStore,
    updates: watch::Sender<Arc<CycleUpdate>>,
    commands: Arc<Mutex<Vec<Cmd>>>,
    health: HealthWindow,
    health_started: Instant,
    cycles: Millis,
    summary: FeedSummary,
    seq: u64,
    feasibility: Option<Feasibility>,
    volumes: Arc<Mutex<HashMap<Symbol, Decimal>>>,
    /// The skip list as the statistics side sees it.
    skip_list: Arc<Mutex<HashSet<Symbol>>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("venue", &self.caps.venue)
            .field("mode", &self.mode)
            .field("symbols", &self.symbols.len())
            .field("cycles", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Feed {
    /// A feed of `watchlist` on `exchange`. Validates `config`; nothing is sent before
    /// [`Feed::start`] (or [`Feed::run`], which starts it).
    ///
    /// # Errors
    /// [`FeedError::Config`] for an invalid setting; [`FeedError::EmptyWatchlist`].
    pub fn new(
        exchange: Arc<dyn Exchange>,
        config: FeedConfig,
        watchlist: Vec<Symbol>,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn EventSink>,
    ) -> Result<Feed, FeedError> {
        config.validate()?;
        let mut watchlist = watchlist;
        watchlist.sort();
        watchlist.dedup();
        if watchlist.is_empty() {
            return Err(FeedError::EmptyWatchlist("the watchlist is empty".into()));
        }
        let caps = exchange.capabilities();
        let weights = Weights::of(&caps);
        let venue_per_window = u64::from(caps.rate.weight_per_window.get());
        let feed = venue_per_window * u64::from(config.weight_share_pct) / 100;
        let aux_on =
            config.aux_share_pct > 0 && (!config.stats_every.is_zero() || !config.candles_every.is_zero());
        let aux = if aux_on { feed * u64::from(config.aux_share_pct) / 100 } else { 0 };
        let pause = Arc::new(Pause::default());
        let largest = weights.bulk.max(weights.list).max(weights.single).max(weights.exchange_info);
        let budget = Arc::new(WeightBudget::new(feed - aux, caps.rate.window, largest, pause.clone()));
        let aux_budget = aux_on.then(|| {
            Arc::new(WeightBudget::new(
                aux,
                caps.rate.window,
                weights.list.max(weights.klines),
                pause.clone(),
            ))
        });
        let (updates, _) = watch::channel(Arc::new(CycleUpdate::default()));
        let symbols = SymbolTable::new(&watchlist);
        let store = SnapshotStore::new(&watchlist);
        Ok(Feed {
            exchange,
            config,
            clock,
            sink,
            heartbeat: None,
            caps,
            weights,
            mode: PollMode::Auto,
            watchlist,
            symbols,
            arrival: Vec::new(),
            names: HashMap::new(),
            pause,
            budget,
            aux_budget,
            store,
            updates,
            commands: Arc::default(),
            health: HealthWindow::new(),
            health_started: Instant::now(),
            cycles: Millis::new(),
            summary: FeedSummary::default(),
            seq: 0,
            feasibility: None,
            volumes: Arc::default(),
            skip_list: Arc::default(),
        })
    }

    /// Beats `heartbeat` once per cycle (and while waiting out a venue pause).
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    /// The handle other crates read from and mark symbols hot through.
    pub fn handle(&self) -> FeedHandle {
        FeedHandle {
            store: self.store.clone(),
            updates: self.updates.subscribe(),
            commands: self.commands.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The polling mode in use (resolved from `Auto` by [`Feed::start`]).
    pub fn mode(&self) -> PollMode {
        self.mode
    }

    /// The start-up verdict, once [`Feed::start`] ran.
    pub fn feasibility(&self) -> Option<&Feasibility> {
        self.feasibility.as_ref()
    }

    /// Symbols on the permanent skip list, sorted.
    pub fn skipped(&self) -> Vec<Symbol> {
        self.symbols.iter().filter(|(_, s)| s.skipped).map(|(k, _)| k.clone()).collect()
    }

    /// Symbols currently degraded, sorted.
    pub fn degraded(&self) -> Vec<Symbol> {
        self.symbols.iter().filter(|(_, s)| s.degraded.is_some()).map(|(k, _)| k.clone()).collect()
    }

    /// The tier of `symbol`.
    pub fn tier(&self, symbol: &Symbol) -> Option<Tier> {
        self.symbols.get(symbol).map(|s| s.tiers.tier)
    }

    fn skip(&mut self, symbol: &Symbol, reason: String) {
        if let Some(st) = self.symbols.get_mut(symbol) {
            if !st.skipped {
                st.skipped = true;
                st.degraded = None;
                self.skip_list.lock().insert(symbol.clone());
                tracing::warn!(%symbol, %reason, "market data: symbol skipped");
                self.sink.emit(Event::SymbolSkipped { symbol: symbol.clone(), reason });
            }
        }
    }

    fn active_count(&self) -> usize {
        self.symbols.values().filter(|s| !s.skipped).count()
    }

    /// Start-up: loads the market list (unlisted or non-trading watchlist symbols go on the
    /// skip list), resolves the mode, sends one probe request and runs the feasibility check
    /// (one FEED_FEASIBILITY event, and a warning log line when the interval cannot be met).
    ///
    /// # Errors
    /// The market list could not be loaded; no watchlist symbol is listed; a forced mode the
    /// venue cannot serve.
    pub async fn start(&mut self) -> Result<&Feasibility, FeedError> {
        let _ = self.budget.acquire(self.weights.exchange_info).await;
        let list = self
            .exchange
            .load_markets()
            .await
            .map_err(|source| FeedError::Startup { operation: "load_markets", source })?;
        if !list.skipped.is_empty() {
            self.sink.emit(Event::ListingsSkipped {
                source: "load_markets".into(),
                count: u32::try_from(list.skipped.len()).unwrap_or(u32::MAX),
                entries: list
                    .skipped
                    .iter()
                    .take(LISTED_NAMES)
                    .map(|e| format!("{}: {}", e.venue_name, e.reason))
                    .collect(),
            });
        }
        let mut status = HashMap::new();
        for m in &list.markets {
            self.names.insert(m.venue_id.clone(), m.symbol.clone());
            self.names.insert(m.symbol.to_string(), m.symbol.clone());
            status.insert(m.symbol.clone(), (m.is_trading(), format!("{:?}", m.status)));
        }
        for symbol in self.watchlist.clone() {
            match status.get(&symbol) {
                None => self.skip(&symbol, format!("not listed by {}", self.caps.venue)),
                Some((false, st)) => self.skip(&symbol, format!("market status {st}, not trading")),
                Some((true, _)) => {}
            }
        }
        if self.active_count() == 0 {
            return Err(FeedError::EmptyWatchlist(format!(
                "none of the {} watchlist symbols is trading on {}",
                self.watchlist.len(),
                self.caps.venue
            )));
        }
        self.mode = self.resolve_mode()?;
        let first: Vec<Symbol> = self
            .symbols
            .iter()
            .filter(|(_, s)| !s.skipped)
            .map(|(k, _)| k.clone())
            .take(self.config.batch_size)
            .collect();
        let probe = match self.mode {
            PollMode::Bulk | PollMode::Auto => Req::Bulk,
            PollMode::List => Req::List(first),
            PollMode::PerSymbol => Req::Single(first[0].clone()),
        };
        let weight = self.weights.of_req(&probe);
        let _ = self.budget.acquire(weight).await;
        let t0 = Instant::now();
        let probe_result = self.call(&probe).await;
        let latency = t0.elapsed();
        self.health.requests += 1;
        self.health.weight += u64::from(weight);
        self.health.latency.record(latency);
        match probe_result {
            Ok(quotes) => {
                self.health.succeeded += 1;
                let now = self.clock.now();
                for q in quotes {
                    if self.symbols.get(&q.symbol).is_some_and(|s| !s.skipped) {
                        if let Some(q) = sanitize(q) {
                            self.store.put_quote(&q, now, Tier::Warm);
                        }
                    }
                }
            }
            Err(e) => {
                if let Some(wait) = e.retry_after(self.clock.now()) {
                    // A 429 or 418 to the probe silences the feed like any other answer would.
                    self.pause.extend_to(Instant::now() + wait);
                }
                tracing::warn!(error = %e, "market data: start-up probe failed; feasibility uses its duration");
            }
        }
        let model = self.cost_model(latency);
        let verdict = model.assess();
        self.sink.emit(verdict.event());
        if verdict.feasible {
            tracing::info!(
                mode = self.mode.as_str(),
                symbols = verdict.symbols,
                achievable_ms = millis(verdict.achievable),
                "market data: the {} ms interval can be met",
                millis(verdict.target)
            );
        } else {
            tracing::warn!(
                "market data: the {} ms interval cannot be met for {} symbols in {} mode; achievable {} ms ({} weight/cycle, {} weight/min for the feed, probe {} ms): {}",
                millis(verdict.target),
                verdict.symbols,
                self.mode.as_str(),
                millis(verdict.achievable),
                verdict.weight_per_cycle,
                verdict.feed_budget_per_min,
                millis(verdict.probe_latency),
                verdict.advice
            );
        }
        self.health_started = Instant::now();
        Ok(self.feasibility.insert(verdict))
    }

    fn resolve_mode(&self) -> Result<PollMode, FeedError> {
        let caps = &self.caps;
        let unsupported = |why: &str| {
            FeedError::Config(crate::ConfigError::new("MD_MODE", self.config.mode.as_str(), why.to_owned()))
        };
        Ok(match self.config.mode {
            PollMode::Auto if caps.bulk_book_ticker => PollMode::Bulk,
            PollMode::Auto if caps.ticker_list => PollMode::List,
            PollMode::Auto => PollMode::PerSymbol,
            PollMode::Bulk if !caps.bulk_book_ticker => {
                return Err(unsupported(
                    "this venue has no all-symbols book ticker; use auto, list or per_symbol",
                ))
            }
            PollMode::List if !caps.ticker_list => {
                return Err(unsupported("this venue has no list ticker request; use auto or per_symbol"))
            }
            other => other,
        })
    }

    /// The cost model of the current watchlist and mode, with `latency` as the probe latency.
    pub fn cost_model(&self, latency: Duration) -> CostModel {
        let window_ms = u64::try_from(self.caps.rate.window.as_millis()).unwrap_or(60_000).max(1);
        let per_min = |w: f64| w.round() as u64;
        CostModel {
            mode: self.mode,
            symbols: u32::try_from(self.active_count()).unwrap_or(u32::MAX),
            target: self.config.poll,
            bulk_weight: self.caps.bulk_book_ticker.then_some(self.weights.bulk),
            list_weight: self.weights.list,
            single_weight: self.weights.single,
            feed_budget_per_min: per_min(self.budget.per_minute()),
            venue_budget_per_min: u64::from(self.caps.rate.weight_per_window.get()) * 60_000 / window_ms,
            probe_latency: latency,
            max_concurrency: self.config.max_concurrency,
            batch_size: self.config.batch_size,
            batch_interval: self.config.batch_interval,
        }
    }

    async fn call(&self, req: &Req) -> Result<Vec<Quote>, ExchangeError> {
        call(self.exchange.as_ref(), req, self.config.request_timeout).await
    }

    fn apply_commands(&mut self) {
        let commands = std::mem::take(&mut *self.commands.lock());
        for c in commands {
            match c {
                Cmd::Mark { symbol, reason, until } => {
                    if let Some(st) = self.symbols.get_mut(&symbol) {
                        st.tiers.mark(&reason, until);
                    }
                }
                Cmd::Unmark { symbol, reason } => {
                    if let Some(st) = self.symbols.get_mut(&symbol) {
                        st.tiers.unmark(&reason);
                    }
                }
            }
        }
        let volumes = std::mem::take(&mut *self.volumes.lock());
        for (symbol, v) in volumes {
            if let Some(st) = self.symbols.get_mut(&symbol) {
                st.tiers.observe_volume(v);
            }
        }
    }

    /// Applies the tier rules (TIER_CHANGED for each change) and plans the cycle's requests:
    /// one pass over the symbol table, which at 2000 symbols no longer fits in cache.
    fn plan(&mut self, now: Timestamp) -> Vec<Vec<Req>> {
        let half = self.config.poll / 2;
        // One bulk request asks for everything: no list of names to build.
        let bulk = matches!(self.mode, PollMode::Bulk | PollMode::Auto);
        let mut due = Vec::new();
        let mut any_due = false;
        let mut changes = Vec::new();
        for (i, (symbol, st)) in self.symbols.iter_mut().enumerate() {
            if st.skipped {
                continue;
            }
            let (tier, rule) = st.tiers.rule(now, &self.config);
            if tier != st.tiers.tier {
                changes.push(Event::TierChanged {
                    symbol: symbol.clone(),
                    from: st.tiers.tier,
                    to: tier,
                    reason: st.tiers.describe(rule, &self.config),
                });
                st.tiers.tier = tier;
                self.store.set_tier_at(i, tier);
            }
            if let Some(d) = &st.degraded {
                if now < d.next_try {
                    continue;
                }
            }
            let interval = self.config.tier_interval(st.tiers.tier);
            let is_due = st.last_polled.is_none_or(|t| now.saturating_since(t) + half >= interval);
            if is_due || self.mode == PollMode::Bulk {
                st.last_polled = Some(now);
                any_due = true;
                if !bulk {
                    due.push(symbol.clone());
                }
            }
        }
        for e in changes {
            self.sink.emit(e);
        }
        if !any_due {
            return Vec::new();
        }
        match self.mode {
            PollMode::Bulk | PollMode::Auto => vec![vec![Req::Bulk]],
            PollMode::List => {
                due.chunks(self.config.batch_size).map(|c| vec![Req::List(c.to_vec())]).collect()
            }
            PollMode::PerSymbol => due
                .chunks(self.config.batch_size)
                .map(|c| c.iter().cloned().map(Req::Single).collect())
                .collect(),
        }
    }

    /// Runs one cycle now: plans the due requests, sends them in batches within the weight
    /// budget and the concurrency limit, stores the quotes, handles bad symbols, failures and
    /// rate limits, emits MD_POLL_OVERRUN when the cycle took longer than `MD_POLL_MS`,
    /// publishes the update, beats the heartbeat and emits MD_HEALTH when due.
    pub async fn run_cycle(&mut self) -> CycleReport {
        let start = Instant::now();
        let now = self.clock.now();
        self.apply_commands();
        let batches = self.plan(now);
        let mut report = CycleReport { seq: self.seq + 1, ..CycleReport::default() };
        let mut fresh = Fresh::default();
        let mut slowest: Option<(Duration, Option<Symbol>)> = None;
        let mut unreleased: VecDeque<(Instant, Vec<Req>)> = batches
            .into_iter()
            .enumerate()
            .map(|(i, b)| (start + self.config.batch_interval * u32::try_from(i).unwrap_or(u32::MAX), b))
            .collect();
        let mut pending: VecDeque<Req> = VecDeque::new();
        let mut inflight: JoinSet<(Req, u32, Outcome)> = JoinSet::new();
        let mut stop_sending = false;
        loop {
            while unreleased.front().is_some_and(|(at, _)| *at <= Instant::now()) {
                if let Some((_, batch)) = unreleased.pop_front() {
                    pending.extend(batch);
                }
            }
            if stop_sending {
                report.not_sent += u32::try_from(pending.len()).unwrap_or(u32::MAX);
                report.not_sent +=
                    u32::try_from(unreleased.iter().map(|(_, b)| b.len()).sum::<usize>()).unwrap_or(u32::MAX);
                pending.clear();
                unreleased.clear();
            }
            while inflight.len() < self.config.max_concurrency {
                let Some(req) = pending.pop_front() else { break };
                let weight = self.weights.of_req(&req);
                let exchange = self.exchange.clone();
                let budget = self.budget.clone();
                let timeout = self.config.request_timeout;
                inflight.spawn(async move {
                    if budget.acquire(weight).await.is_err() {
                        return (req, weight, Outcome::NotSent);
                    }
                    let t0 = Instant::now();
                    let result = call(exchange.as_ref(), &req, timeout).await;
                    (req, weight, Outcome::Sent { latency: t0.elapsed(), result })
                });
            }
            if inflight.is_empty() && pending.is_empty() && unreleased.is_empty() {
                break;
            }
            let next_release = unreleased.front().map(|(at, _)| *at);
            tokio::select! {
                joined = inflight.join_next(), if !inflight.is_empty() => {
                    let Some(Ok((req, weight, outcome))) = joined else { continue };
                    match outcome {
                        Outcome::NotSent => report.not_sent += 1,
                        Outcome::Sent { latency, result } => {
                            if slowest.as_ref().is_none_or(|(d, _)| latency > *d) {
                                let sym = match &req { Req::Single(s) => Some(s.clone()), _ => None };
                                slowest = Some((latency, sym));
                            }
                            let follow = self.settle(req, weight, latency, result, &mut report, &mut fresh);
                            if report.rate_limited > 0 {
                                stop_sending = true;
                            }
                            for r in follow.into_iter().rev() {
                                pending.push_front(r);
                            }
                        }
                    }
                }
                () = sleep_until_opt(next_release) => {}
            }
        }
        let duration = start.elapsed();
        report.duration = duration;
        report.overrun = duration > self.config.poll;
        self.finish_cycle(&mut report, slowest, fresh);
        report
    }

    /// Books one answer; returns follow-up requests (the halves of a split batch).
    fn settle(
        &mut self,
        req: Req,
        weight: u32,
        latency: Duration,
        result: Result<Vec<Quote>, ExchangeError>,
        report: &mut CycleReport,
        fresh: &mut Fresh,
    ) -> Vec<Req> {
        report.requests += 1;
        report.weight += weight;
        report.symbols += match &req {
            Req::Bulk => u32::try_from(self.active_count()).unwrap_or(u32::MAX),
            other => u32::try_from(other.symbols().len()).unwrap_or(u32::MAX),
        };
        self.health.requests += 1;
        self.health.weight += u64::from(weight);
        self.health.latency.record(latency);
        let now = self.clock.now();
        match result {
            Ok(mut quotes) => {
                self.health.succeeded += 1;
                let slow = latency > self.config.slow_after;
                // The answer's vector becomes the cycle's: kept quotes are compacted to its
                // front in place (nothing moves while every quote is kept).
                let mut index = Vec::with_capacity(quotes.len());
                for pos in 0..quotes.len() {
                    let Some(q) = quotes.get_mut(pos) else { break };
                    let Some(i) = self.locate(pos, &q.symbol) else { continue };
                    let st = &mut self.symbols.entries[i].1;
                    if st.skipped {
                        continue;
                    }
                    if sanitize_in_place(q) {
                        if let Some(p) = q.price() {
                            st.tiers.observe_price(p, now, &self.config);
                        }
                        self.store.put_quote_at(i, q, now, st.tiers.tier);
                        if index.len() != pos {
                            quotes.swap(index.len(), pos);
                        }
                        index.push(i);
                        report.quotes += 1;
                    } else {
                        report.no_price += 1;
                    }
                }
                quotes.truncate(index.len());
                fresh.append(index, quotes);
                for symbol in req.symbols() {
                    if slow {
                        let reason = format!(
                            "slow answer: {} ms > MD_SLOW_MS {} ms",
                            millis(latency),
                            millis(self.config.slow_after)
                        );
                        self.strike(symbol, reason, now);
                    } else {
                        self.healthy(symbol, now);
                    }
                }
                Vec::new()
            }
            Err(e) => {
                report.errors += 1;
                self.bad_answer(req, e, now, report)
            }
        }
    }

    /// The table index of `symbol`, the quote at `pos` of an answer: the index the quote at
    /// that position had last time when it is the same symbol, else a search (remembered).
    fn locate(&mut self, pos: usize, symbol: &Symbol) -> Option<usize> {
        if let Some(&i) = self.arrival.get(pos) {
            if self.symbols.entries.get(i).is_some_and(|(k, _)| k == symbol) {
                return Some(i);
            }
        }
        let i = self.symbols.index_of(symbol)?;
        if pos < self.arrival.len() {
            self.arrival[pos] = i;
        } else if pos == self.arrival.len() {
            self.arrival.push(i);
        }
        Some(i)
    }

    fn bad_answer(
        &mut self,
        req: Req,
        e: ExchangeError,
        now: Timestamp,
        report: &mut CycleReport,
    ) -> Vec<Req> {
        match e {
            ExchangeError::RateLimited { retry_after } => {
                report.rate_limited += 1;
                self.pause.extend_to(Instant::now() + retry_after);
                tracing::warn!(
                    retry_after_ms = millis(retry_after),
                    "market data: rate limited, pausing the feed"
                );
                Vec::new()
            }
            ExchangeError::Banned { until } => {
                report.rate_limited += 1;
                let wait = until.saturating_since(self.clock.now());
                self.pause.extend_to(Instant::now() + wait);
                tracing::error!(until = %until.to_rfc3339(), "market data: banned by the venue, pausing the feed");
                Vec::new()
            }
            ExchangeError::BadSymbol { symbol: name, message } => match req {
                Req::Single(s) => {
                    self.skip(&s, format!("bad symbol: {message}"));
                    Vec::new()
                }
                Req::List(list) => {
                    let named = self.names.get(&name).filter(|s| list.contains(s)).cloned();
                    match (named, list.len()) {
                        (Some(bad), _) => {
                            self.skip(&bad, format!("bad symbol: {message}"));
                            let rest: Vec<Symbol> = list.into_iter().filter(|s| *s != bad).collect();
                            if rest.is_empty() {
                                Vec::new()
                            } else {
                                vec![Req::List(rest)]
                            }
                        }
                        (None, 1) => {
                            self.skip(&list[0], format!("bad symbol: {message}"));
                            Vec::new()
                        }
                        (None, _) => {
                            // The venue did not say which one: split and ask again.
                            let mut left = list;
                            let right = left.split_off(left.len() / 2);
                            vec![Req::List(left), Req::List(right)]
                        }
                    }
                }
                Req::Bulk => {
                    tracing::warn!(venue_said = %name, %message, "market data: bulk request refused for a bad symbol");
                    Vec::new()
                }
            },
            other => {
                let reason = other.to_string();
                for symbol in req.symbols().to_vec() {
                    self.strike(&symbol, reason.clone(), now);
                }
                if req == Req::Bulk {
                    tracing::warn!(error = %reason, "market data: bulk request failed");
                }
                Vec::new()
            }
        }
    }

    fn strike(&mut self, symbol: &Symbol, reason: String, now: Timestamp) {
        let Some(st) = self.symbols.get_mut(symbol) else { return };
        st.strikes += 1;
        if st.strikes < self.config.degrade_after {
            return;
        }
        let doublings = (st.strikes - self.config.degrade_after).min(20);
        let backoff = (self.config.backoff_base * 2u32.pow(doublings)).min(self.config.backoff_max);
        let since = st.degraded.as_ref().map_or(now, |d| d.since);
        st.degraded = Some(Degraded { since, next_try: now + backoff });
        self.sink.emit(Event::SymbolDegraded {
            symbol: symbol.clone(),
            reason,
            consecutive_failures: st.strikes,
            backoff_ms: millis(backoff),
        });
    }

    fn healthy(&mut self, symbol: &Symbol, now: Timestamp) {
        let Some(st) = self.symbols.get_mut(symbol) else { return };
        st.strikes = 0;
        if let Some(d) = st.degraded.take() {
            self.sink.emit(Event::SymbolRecovered {
                symbol: symbol.clone(),
                degraded_for_ms: millis(now.saturating_since(d.since)),
            });
        }
    }

    fn finish_cycle(
        &mut self,
        report: &mut CycleReport,
        slowest: Option<(Duration, Option<Symbol>)>,
        fresh: Fresh,
    ) {
        self.seq += 1;
        self.cycles.record(report.duration);
        self.health.cycles.record(report.duration);
        let s = &mut self.summary;
        s.cycles += 1;
        s.overruns += u64::from(report.overrun);
        s.requests += u64::from(report.requests);
        s.weight += u64::from(report.weight);
        s.errors += u64::from(report.errors);
        s.rate_limited += u64::from(report.rate_limited);
        s.no_price += u64::from(report.no_price);
        s.quotes += u64::from(report.quotes);
        if report.overrun {
            let (slowest_ms, slowest_symbol) = match slowest {
                Some((d, sym)) => (Some(millis(d)), sym),
                None => (None, None),
            };
            self.sink.emit(Event::MdPollOverrun {
                cycle_ms: millis(report.duration),
                target_ms: millis(self.config.poll),
                symbols: report.symbols,
                requests: report.requests,
                slowest_symbol,
                slowest_ms,
                weight: report.weight,
            });
        }
        self.updates.send_replace(Arc::new(CycleUpdate {
            seq: self.seq,
            at: self.clock.now(),
            quotes: fresh.in_symbol_order(),
        }));
        if let Some(h) = &self.heartbeat {
            h.beat();
        }
        if self.health_started.elapsed() >= self.config.health_every {
            self.emit_health();
        }
    }

    fn emit_health(&mut self) {
        let now = self.clock.now();
        let stale = self
            .symbols
            .iter()
            .filter(|(_, s)| !s.skipped)
            .filter(|(k, _)| self.store.age(k, now).is_none_or(|age| age > self.config.stale_after))
            .count();
        let count = |f: fn(&SymState) -> bool| {
            u32::try_from(self.symbols.values().filter(|s| f(s)).count()).unwrap_or(u32::MAX)
        };
        let h = &self.health;
        self.sink.emit(Event::MdHealth {
            requests: h.requests,
            success_rate: h.success_rate(),
            latency_p50_ms: h.latency.quantile(0.5),
            latency_p95_ms: h.latency.quantile(0.95),
            latency_p99_ms: h.latency.quantile(0.99),
            stale_symbols: u32::try_from(stale).unwrap_or(u32::MAX),
            skipped_symbols: count(|s| s.skipped),
            degraded_symbols: count(|s| s.degraded.is_some()),
            weight_used: h.weight,
            cycles: h.cycles.count(),
            cycle_p50_ms: h.cycles.quantile(0.5),
            cycle_p95_ms: h.cycles.quantile(0.95),
            cycle_p99_ms: h.cycles.quantile(0.99),
            cycle_max_ms: h.cycles.max(),
        });
        self.health.reset();
        self.health_started = Instant::now();
    }

    /// Runs the feed until `stop` resolves: starts it if [`Feed::start`] has not run, then one
    /// cycle per `MD_POLL_MS`; on stop, the health window in progress is reported (MD_HEALTH). A cycle longer than the interval is reported and the next one
    /// starts as soon as it ends, with the interval counted from there: missed ticks are not
    /// made up, so cycles never pile up (and a weight-limited cycle wastes no budget idling). While the venue pause (429 /
    /// 418) is in force no cycle starts and no request is sent; the heartbeat keeps beating.
    /// The 24h statistics and candle cache run beside it on their own budget share.
    ///
    /// # Errors
    /// Start-up errors (see [`Feed::start`]).
    pub async fn run(mut self, stop: impl Future<Output = ()>) -> Result<FeedSummary, FeedError> {
        if self.feasibility.is_none() {
            self.start().await?;
        }
        let aux = self.spawn_aux();
        tokio::pin!(stop);
        let poll = self.config.poll;
        let mut next = Instant::now();
        'outer: loop {
            tokio::select! {
                biased;
                () = &mut stop => break,
                () = tokio::time::sleep_until(next) => {}
            }
            while let Some(until) = self.pause.until() {
                let wake = until.min(Instant::now() + poll);
                tokio::select! {
                    biased;
                    () = &mut stop => break 'outer,
                    () = tokio::time::sleep_until(wake) => {}
                }
                if let Some(h) = &self.heartbeat {
                    h.beat();
                }
                next = Instant::now();
            }
            tokio::select! {
                biased;
                () = &mut stop => break,
                _ = self.run_cycle() => {}
            }
            next = (next + poll).max(Instant::now());
        }
        if let Some(aux) = aux {
            aux.abort();
        }
        // The window in progress is reported too: a session shorter than MD_HEALTH_S, or the
        // last minute of any session, would otherwise leave no health figures.
        if self.health.requests > 0 || self.health.cycles.count() > 0 {
            self.emit_health();
        }
        // Stopped on request: the task ended normally (TASK_ENDED `returned`), it was not lost.
        if let Some(h) = &self.heartbeat {
            h.ended(supervisor::TaskEnd::Returned, Some("stopped on request".to_owned()));
        }
        Ok(self.summary())
    }

    /// Totals so far.
    pub fn summary(&self) -> FeedSummary {
        let mut s = self.summary.clone();
        s.cycle_p50_ms = self.cycles.quantile(0.5);
        s.cycle_p99_ms = self.cycles.quantile(0.99);
        s.cycle_max_ms = self.cycles.max();
        s.skipped = u32::try_from(self.skipped().len()).unwrap_or(u32::MAX);
        s.degraded = u32::try_from(self.degraded().len()).unwrap_or(u32::MAX);
        s
    }

    fn spawn_aux(&self) -> Option<tokio::task::JoinHandle<()>> {
        let budget = self.aux_budget.clone()?;
        let aux = Aux {
            exchange: self.exchange.clone(),
            budget,
            pause: self.pause.clone(),
            clock: self.clock.clone(),
            store: self.store.clone(),
            volumes: self.volumes.clone(),
            skip_list: self.skip_list.clone(),
            config: self.config.clone(),
            weights: self.weights,
            symbols: self.symbols.iter().filter(|(_, s)| !s.skipped).map(|(k, _)| k.clone()).collect(),
        };
        Some(tokio::spawn(aux.run()))
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn call(exchange: &dyn Exchange, req: &Req, timeout: Duration) -> Result<Vec<Quote>, ExchangeError> {
    let fut = async {
        match req {
            Req::Bulk => exchange.fetch_tickers(None).await,
            Req::List(list) => exchange.fetch_tickers(Some(list)).await,
            Req::Single(s) => exchange.fetch_ticker(s).await.map(|q| vec![q]),
        }
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or(Err(ExchangeError::Timeout {
        operation: "fetch_tickers",
        after: timeout,
        client_order_id: None,
    }))
}

/// The low-cadence side of the feed: 24h statistics (quote volume) and the candle cache, on
/// their own share of the budget. Tiers decide how often each symbol's are refreshed.
struct Aux {
    exchange: Arc<dyn Exchange>,
    budget: Arc<WeightBudget>,
    pause: Arc<Pause>,
    clock: Arc<dyn Clock>,
    store: SnapshotStore,
    volumes: Arc<Mutex<HashMap<Symbol, Decimal>>>,
    skip_list: Arc<Mutex<HashSet<Symbol>>>,
    config: FeedConfig,
    weights: Weights,
    symbols: Vec<Symbol>,
}

impl Aux {
    async fn run(self) {
        let mut stats_at: HashMap<Symbol, Timestamp> = HashMap::new();
        let mut candles_at: HashMap<Symbol, Timestamp> = HashMap::new();
        let mut gone: HashSet<Symbol> = HashSet::new();
        let tick = self.config.poll.max(Duration::from_secs(1));
        // A fixed grid from the start, as the feed's cycles: both wake at the same instants
        // (one wake-up of the runtime, not two) instead of this one drifting by its requests.
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Some(until) = self.pause.until() {
                tokio::time::sleep_until(until).await;
            }
            gone.extend(self.skip_list.lock().iter().cloned());
            let now = self.clock.now();
            let tier = |s: &Symbol| self.store.tier(s).unwrap_or(Tier::Warm);
            let due = |at: &HashMap<Symbol, Timestamp>, s: &Symbol, every: Duration| {
                !every.is_zero()
                    && at
                        .get(s)
                        .is_none_or(|t| now.saturating_since(*t) >= FeedConfig::aux_interval(every, tier(s)))
            };
            let stats: Vec<Symbol> = self
                .symbols
                .iter()
                .filter(|s| !gone.contains(*s) && due(&stats_at, s, self.config.stats_every))
                .cloned()
                .collect();
            for chunk in stats.chunks(STATS_CHUNK) {
                if self.budget.acquire(self.weights.list).await.is_err() {
                    break;
                }
                match self.exchange.fetch_tickers(Some(chunk)).await {
                    Ok(quotes) => {
                        let mut volumes = self.volumes.lock();
                        for q in quotes {
                            if let Some(v) = q.quote_volume_24h.filter(|v| *v >= Decimal::ZERO) {
                                self.store.put_volume(&q.symbol, v);
                                volumes.insert(q.symbol.clone(), v);
                            }
                        }
                    }
                    Err(e) => self.failed(&e, chunk, &mut gone),
                }
                for s in chunk {
                    stats_at.insert(s.clone(), now);
                }
            }
            let candles: Vec<Symbol> = self
                .symbols
                .iter()
                .filter(|s| !gone.contains(*s) && due(&candles_at, s, self.config.candles_every))
                .cloned()
                .collect();
            for symbol in candles {
                if self.budget.acquire(self.weights.klines).await.is_err() {
                    break;
                }
                let request = OhlcvRequest {
                    symbol: symbol.clone(),
                    interval: self.config.candle_interval,
                    since: None,
                    limit: self.config.candle_limit,
                };
                match self.exchange.fetch_ohlcv(&request).await {
                    Ok(candles) => {
                        let set = CandleSet {
                            interval: self.config.candle_interval,
                            candles: Arc::new(candles),
                            fetched_at: self.clock.now(),
                        };
                        self.store.put_candles(symbol.clone(), set);
                    }
                    Err(e) => self.failed(&e, std::slice::from_ref(&symbol), &mut gone),
                }
                candles_at.insert(symbol, now);
            }
        }
    }

    fn failed(&self, e: &ExchangeError, symbols: &[Symbol], gone: &mut HashSet<Symbol>) {
        match e {
            ExchangeError::RateLimited { retry_after } => self.pause.extend_to(Instant::now() + *retry_after),
            ExchangeError::Banned { until } => {
                self.pause.extend_to(Instant::now() + until.saturating_since(self.clock.now()));
            }
            ExchangeError::BadSymbol { .. } if symbols.len() == 1 => {
                // The quote loop puts it on the skip list; stop buying its statistics.
                gone.extend(symbols.iter().cloned());
            }
            other => tracing::debug!(error = %other, "market data: statistics or candles request failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn quote(bid: Decimal, ask: Decimal, last: Option<Decimal>) -> Quote {
        Quote {
            symbol: "BTC/USDT".parse().unwrap_or_else(|_| unreachable!()),
            bid: Some(bid),
            ask: Some(ask),
            last,
            quote_volume_24h: None,
            exchange_ts: None,
            received_at: Timestamp::EPOCH,
        }
    }

    #[test]
    fn fresh_quotes_come_out_in_table_order_across_answers() {
        let q =
            |i: usize| Quote { quote_volume_24h: Some(Decimal::from(i)), ..quote(dec!(1), dec!(2), None) };
        let mut one = Fresh::default();
        one.append(vec![0, 2, 5], vec![q(0), q(2), q(5)]);
        assert_eq!(one.in_symbol_order(), vec![q(0), q(2), q(5)]);
        let mut two = Fresh::default();
        two.append(vec![4, 1], vec![q(4), q(1)]);
        two.append(vec![3, 0], vec![q(3), q(0)]);
        assert_eq!(two.in_symbol_order(), vec![q(0), q(1), q(3), q(4)]);
    }

    #[test]
    fn zero_prices_are_no_price() {
        assert_eq!(sanitize(quote(dec!(0), dec!(0), None)), None);
        assert_eq!(sanitize(quote(dec!(0), dec!(0), Some(dec!(0)))), None);
        let one_side = sanitize(quote(dec!(0), dec!(101), None)).unwrap_or_else(|| unreachable!());
        assert_eq!((one_side.bid, one_side.ask, one_side.price()), (None, Some(dec!(101)), Some(dec!(101))));
        let q = sanitize(quote(dec!(100), dec!(102), Some(dec!(0)))).unwrap_or_else(|| unreachable!());
        assert_eq!((q.last, q.price()), (None, Some(dec!(101))));
    }
}
