//! The simulated market: a universe of symbols with realistic parameters and a seeded
//! jump-diffusion price path per symbol (or a replayed OHLCV path), stepped on simulated time.
//!
//! Internally prices are integer counts of the symbol's tick (`u32`) and the random walk runs
//! on `f64` log prices; every conversion to a price rounds to the tick explicitly and every
//! reported price is a [`Decimal`] built from the integer tick count. Quantities and volumes are
//! kept exact the same way: book quantities and traded volumes are integer counts of the
//! symbol's step (rounded down when the model generates them), quote volumes integer counts of
//! `step * tick / 4` (volume times the candle's `o + h + l + c`), so every reported quantity
//! and volume is an exact [`Decimal`] and nothing is converted back from a float.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rust_decimal::{Decimal, RoundingStrategy};
use trading_core::{Interval, MarketRules, Symbol, Timestamp};

use crate::replay::{load_ohlcv, ReplayPath};
use crate::{SimConfig, SimError};

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// Minutes in a day (the window of the 24 h statistics).
const DAY_MIN: i64 = 1440;
/// Minutes in one bucket of the 24 h history.
const QUARTER_MIN: i64 = 15;
const MAX_TICKS: f64 = 1_000_000_000.0;

/// Well-known markets first (approximate price levels), so a default universe looks familiar.
const KNOWN: &[(&str, f64)] = &[
    ("BTC", 65_000.0),
    ("ETH", 3_400.0),
    ("BNB", 580.0),
    ("SOL", 150.0),
    ("XRP", 0.52),
    ("DOGE", 0.15),
    ("ADA", 0.45),
    ("TRX", 0.12),
    ("AVAX", 35.0),
    ("SHIB", 0.000_024),
    ("DOT", 7.0),
    ("LINK", 15.0),
    ("BCH", 450.0),
    ("NEAR", 6.0),
    ("LTC", 80.0),
    ("UNI", 8.0),
    ("PEPE", 0.000_012),
    ("ICP", 12.0),
    ("ETC", 27.0),
    ("APT", 9.0),
    ("FIL", 5.5),
    ("ATOM", 8.5),
    ("ARB", 1.1),
    ("OP", 2.3),
    ("XLM", 0.11),
    ("INJ", 25.0),
    ("HBAR", 0.09),
    ("VET", 0.03),
    ("SUI", 1.0),
    ("AAVE", 95.0),
];

/// Static description of one market.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) symbol: Symbol,
    pub(crate) venue_id: String,
    pub(crate) rules: MarketRules,
    pub(crate) tick: Decimal,
    pub(crate) step: Decimal,
    tick_f: f64,
    step_f: f64,
    /// Volatility per sqrt(second) of the log price.
    sigma: f64,
    spread_ticks: u32,
    /// Mean top-of-book quantity (base asset).
    depth: f64,
    /// Mean traded base volume per second.
    volume_per_s: f64,
    /// Sharp drops per second.
    drop_rate: f64,
}

/// Top of book at one moment, in Decimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Top {
    pub(crate) bid: Decimal,
    pub(crate) bid_qty: Decimal,
    pub(crate) ask: Decimal,
    pub(crate) ask_qty: Decimal,
    pub(crate) last: Decimal,
    pub(crate) last_qty: Decimal,
    pub(crate) ts: Timestamp,
}

/// One aggregated candle with everything a Binance kline row carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kline {
    pub(crate) open_time: i64,
    pub(crate) close_time: i64,
    pub(crate) open: Decimal,
    pub(crate) high: Decimal,
    pub(crate) low: Decimal,
    pub(crate) close: Decimal,
    pub(crate) volume: Decimal,
    pub(crate) quote_volume: Decimal,
    pub(crate) trades: u64,
    pub(crate) taker_buy_volume: Decimal,
    pub(crate) taker_buy_quote_volume: Decimal,
}

/// Rolling 24 h statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stats24h {
    pub(crate) open: Decimal,
    pub(crate) high: Decimal,
    pub(crate) low: Decimal,
    pub(crate) last: Decimal,
    pub(crate) volume: Decimal,
    pub(crate) quote_volume: Decimal,
    pub(crate) open_time: i64,
    pub(crate) close_time: i64,
    pub(crate) first_id: i64,
    pub(crate) last_id: i64,
    pub(crate) count: u64,
}

#[derive(Debug, Clone, Copy)]
struct MinuteCandle {
    minute: i64,
    o: u32,
    h: u32,
    l: u32,
    c: u32,
    /// Traded base volume, in steps.
    volume: u64,
    trades: u32,
}

impl MinuteCandle {
    fn new(minute: i64, price: u32) -> Self {
        MinuteCandle { minute, o: price, h: price, l: price, c: price, volume: 0, trades: 0 }
    }

    /// Quote volume in units of `step * tick / 4`: volume times the typical price `(o+h+l+c)/4`.
    fn quote_units(&self) -> u128 {
        u128::from(self.volume) * u128::from(sum_ohlc(self))
    }

    fn update(&mut self, price: u32) {
        self.h = self.h.max(price);
        self.l = self.l.min(price);
        self.c = price;
    }

    fn span(&self) -> Span {
        Span {
            minute: self.minute,
            o: self.o,
            h: self.h,
            l: self.l,
            c: self.c,
            volume: self.volume,
            trades: u64::from(self.trades),
            quote: self.quote_units(),
        }
    }
}

/// Consecutive one-minute candles folded together: a quarter-hour bucket of the 24 h history,
/// or a row being aggregated for a klines answer.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// First minute of the span.
    minute: i64,
    o: u32,
    h: u32,
    l: u32,
    c: u32,
    /// Traded base volume, in steps.
    volume: u64,
    trades: u64,
    /// Quote volume units (`step * tick / 4` each), summed per minute.
    quote: u128,
}

impl Span {
    /// Adds the span that follows this one.
    fn absorb(&mut self, next: &Span) {
        self.h = self.h.max(next.h);
        self.l = self.l.min(next.l);
        self.c = next.c;
        self.volume = self.volume.saturating_add(next.volume);
        self.trades = self.trades.saturating_add(next.trades);
        self.quote = self.quote.saturating_add(next.quote);
    }
}

/// The first minute of the quarter hour that holds `minute`.
fn quarter_of(minute: i64) -> i64 {
    minute - minute.rem_euclid(QUARTER_MIN)
}

#[derive(Debug, Clone)]
enum Driver {
    /// Jump diffusion: permanent log price `x` with mean reversion to `anchor`, plus a transient
    /// component from drops/pumps that decays (the partial recovery).
    Walk {
        x: f64,
        anchor: f64,
        transient: f64,
        decay: f64,
        /// `(dt, decay^dt)` of the latest step: the steps of a session share one `dt`, so the
        /// power is taken once per jump, not once per step.
        decay_dt: (f64, f64),
    },
    Replay(Box<ReplayPath>),
}

#[derive(Debug, Clone)]
struct State {
    driver: Driver,
    rng: StepRng,
    mid: u32,
    /// The draws the top-of-book and last-trade quantities come from: the latest step's
    /// uniform draw and traded base volume (`None` before the first step). The quantities are
    /// worked out when a book is read ([`State::quantities`]), not at every step of every
    /// market.
    book_draw: Option<(f64, f64)>,
    last_at_ask: bool,
    /// The latest completed one-minute candles (at most `history_minutes`).
    candles: VecDeque<MinuteCandle>,
    /// Every completed minute of the 24 h window folded into quarter-hour buckets, oldest
    /// first: the 24 h statistics and klines of 15 minutes and wider read these, so a day of
    /// history costs 97 buckets per market instead of 1440 candles.
    quarters: VecDeque<Span>,
    /// Sum of the buckets' quote volume units (kept as buckets are added and dropped).
    quarters_qv: u128,
    current: MinuteCandle,
    trade_seq: i64,
    listed: bool,
}

/// The whole simulated market.
#[derive(Debug, Clone)]
pub(crate) struct Market {
    specs: Vec<Spec>,
    states: Vec<State>,
    by_venue_id: BTreeMap<String, usize>,
    by_symbol: BTreeMap<Symbol, usize>,
    /// Market indices in symbol order (the values of `by_symbol`, kept as a list).
    symbol_order: Vec<usize>,
    /// Time of the last step (ms).
    now: i64,
    step_ms: i64,
    history_cap: usize,
    seed: u64,
}

/// The generator of one market's steps: 16 bytes (a ChaCha generator with its block buffer
/// is over 300, and every market steps every simulated second), seeded from the market's own
/// ChaCha stream so markets stay independent and a seed gives the same session everywhere.
type StepRng = rand_pcg::Pcg64Mcg;

fn ln_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    let u: f64 = rng.random();
    (lo.ln() + u * (hi.ln() - lo.ln())).exp()
}

fn pow10(exp: i32) -> Decimal {
    if exp >= 0 {
        Decimal::from(10u64.pow(exp.unsigned_abs().min(18)))
    } else {
        Decimal::new(1, exp.unsigned_abs().min(28))
    }
}

fn known_or_synthetic_name(i: usize) -> String {
    if let Some((name, _)) = KNOWN.get(i) {
        return (*name).to_owned();
    }
    const C: &[u8] = b"BCDFGHJKLMNPRSTVWZ";
    const V: &[u8] = b"AEIOU";
    let syl = |k: usize| {
        let k = k % (C.len() * V.len());
        [C[k / V.len()] as char, V[k % V.len()] as char]
    };
    let n = C.len() * V.len();
    let j = i - KNOWN.len();
    let mut name: String = syl(j).iter().chain(syl(j / n).iter()).collect();
    if j >= n * n {
        name.extend(syl(j / (n * n)));
    }
    if KNOWN.iter().any(|(k, _)| *k == name) {
        name.push('X');
    }
    name
}

impl Spec {
    fn new(
        symbol: Symbol,
        venue_id: String,
        price: f64,
        rng: &mut ChaCha8Rng,
        known: bool,
    ) -> Result<Spec, SimError> {
        let mag = price.log10().floor() as i32;
        let tick_scale = (5 - mag).clamp(0, 8);
        let tick = pow10(-tick_scale);
        let step = pow10(-(mag + 1).clamp(-8, 8));
        let tick_f = 10f64.powi(-tick_scale);
        let step_f = 10f64.powi(-(mag + 1).clamp(-8, 8));
        let daily_quote_volume = if known { ln_uniform(rng, 5e7, 2e9) } else { ln_uniform(rng, 2e5, 3e8) };
        let daily_vol = if known { ln_uniform(rng, 0.02, 0.05) } else { ln_uniform(rng, 0.03, 0.12) };
        let spread_bps = if known { ln_uniform(rng, 0.5, 5.0) } else { ln_uniform(rng, 2.0, 40.0) };
        let spread_ticks = ((price * spread_bps / 1e4) / tick_f).round().clamp(1.0, 10_000.0) as u32;
        let depth_quote = daily_quote_volume / 86_400.0 * ln_uniform(rng, 3.0, 60.0);
        let rules = MarketRules::builder(symbol.clone(), venue_id.clone())
            .tick_size(tick)
            .min_price(tick)
            .max_price(tick * Decimal::from(1_000_000_000u64))
            .step_size(step)
            .min_qty(step)
            .max_qty(Decimal::from(90_000_000u64).max(step))
            .min_notional(Decimal::from(5))
            .max_notional(Decimal::from(9_000_000u64))
            .build()?;
        Ok(Spec {
            symbol,
            venue_id,
            rules,
            tick,
            step,
            tick_f,
            step_f,
            sigma: daily_vol / 86_400f64.sqrt(),
            spread_ticks,
            depth: depth_quote / price,
            volume_per_s: daily_quote_volume / price / 86_400.0,
            drop_rate: 0.0,
        })
    }

    fn ticks(&self, price: f64) -> u32 {
        round_ticks(price / self.tick_f)
    }

    pub(crate) fn price(&self, ticks: u32) -> Decimal {
        times_power_of_ten(u64::from(ticks), self.tick)
    }

    /// A generated base quantity in whole steps, rounded down, at least one step (book and
    /// trade sizes).
    fn qty_steps(&self, q: f64) -> u64 {
        self.volume_steps(q).max(1)
    }

    /// A generated base volume in whole steps, rounded down; 0 for a model value that is not a
    /// positive finite number, at most 10^15 steps.
    fn volume_steps(&self, v: f64) -> u64 {
        // `as` truncates, which is the floor of a positive value, without a libm call (the
        // baseline x86-64 target has no rounding instruction; every market runs this each step)
        let steps = v / self.step_f;
        if steps >= 1.0 && steps.is_finite() {
            steps.min(1e15) as u64
        } else {
            0
        }
    }

    /// `steps` steps of base quantity, exactly.
    fn qty(&self, steps: u64) -> Decimal {
        times_power_of_ten(steps, self.step)
    }

    /// Quote volume units (`step * tick / 4` each) as an exact amount, rounded down to 8
    /// decimals. The sums stay far below 2^96 (10^15 steps * 4 * 10^9 ticks per candle).
    ///
    /// Integer arithmetic (this runs for every quote): `step * tick / 4` is `25 * 10^-k`, so the
    /// amount is `units * 25` at scale `k`, cut to 8 decimals.
    fn quote_amount(&self, units: u128) -> Decimal {
        let units = i128::try_from(units).unwrap_or(i128::MAX).min(MAX_QUOTE_UNITS);
        // 10^-k = step * tick / 100; a step above 1 (10^n, scale 0) lowers k by n.
        let mut k = i64::from(self.step.scale()) + i64::from(self.tick.scale()) + 2;
        if self.step.scale() == 0 {
            k -= i64::from(self.step.mantissa().max(1).ilog10());
        }
        let mut m = units.saturating_mul(25);
        if k > 8 {
            m /= 10i128.pow(u32::try_from(k - 8).unwrap_or(0).min(38));
            k = 8;
        }
        while k < 0 {
            m = m.saturating_mul(10);
            k += 1;
        }
        let scale = u32::try_from(k).unwrap_or(0);
        Decimal::try_from_i128_with_scale(m.min(MAX_QUOTE_UNITS), scale).unwrap_or(Decimal::MAX)
    }
}

/// `t.round().clamp(1.0, MAX_TICKS) as u32` (a NaN is 0), without the libm `round` call the
/// baseline x86-64 target makes: every market runs this at every step. For `1 <= t < 2^52`,
/// `t - trunc(t)` is exact, so comparing it with one half is exactly rounding half away from
/// zero.
#[inline]
fn round_ticks(t: f64) -> u32 {
    if t.is_nan() {
        0
    } else if t < 1.0 {
        1
    } else if t >= MAX_TICKS {
        MAX_TICKS as u32
    } else {
        let whole = t as u32;
        if t - f64::from(whole) >= 0.5 {
            whole + 1
        } else {
            whole
        }
    }
}

/// `units * unit` for a power of ten `unit` (a tick or a step): the same `Decimal` as the
/// product (scale of `unit`), built without a multiplication.
fn times_power_of_ten(units: u64, unit: Decimal) -> Decimal {
    if unit.mantissa() == 1 {
        if let Ok(d) = Decimal::try_from_i128_with_scale(i128::from(units), unit.scale()) {
            return d;
        }
    }
    Decimal::from(units).checked_mul(unit).unwrap_or(Decimal::MAX)
}

/// Largest quote-volume unit count a `Decimal` holds (its 96-bit mantissa).
const MAX_QUOTE_UNITS: i128 = (1 << 96) - 1;

fn sum_ohlc(c: &MinuteCandle) -> u64 {
    u64::from(c.o) + u64::from(c.h) + u64::from(c.l) + u64::from(c.c)
}

impl Market {
    pub(crate) fn new(config: &SimConfig, start: Timestamp) -> Result<Market, SimError> {
        let step_ms = i64::try_from(config.tick_interval.as_millis()).unwrap_or(1000).max(1);
        let history_cap = config.history_minutes as usize;
        let history_ms = i64::from(config.history_minutes) * MINUTE;
        let mut specs = Vec::new();
        let mut states = Vec::new();
        let mk_rng = |stream: u64| {
            let mut r = ChaCha8Rng::seed_from_u64(config.seed);
            r.set_stream(stream);
            r
        };
        if config.replay.is_empty() {
            for i in 0..config.symbols {
                let mut spec_rng = mk_rng(2 * i as u64 + 1);
                let base = known_or_synthetic_name(i);
                let known = i < KNOWN.len();
                let price = match KNOWN.get(i) {
                    Some((_, p)) => *p * ln_uniform(&mut spec_rng, 0.9, 1.1),
                    None => ln_uniform(&mut spec_rng, 1e-4, 2e3),
                };
                let symbol = Symbol::new(&base, "USDT")?;
                let mut spec = Spec::new(symbol, format!("{base}USDT"), price, &mut spec_rng, known)?;
                spec.drop_rate = config.drops_per_hour / 3600.0;
                let driver = Driver::Walk {
                    x: price.ln(),
                    anchor: price.ln(),
                    transient: 0.0,
                    decay: 1.0,
                    decay_dt: (0.0, 1.0),
                };
                let state =
                    State::new(driver, StepRng::from_rng(&mut mk_rng(2 * i as u64 + 2)), &spec, price);
                specs.push(spec);
                states.push(state);
            }
        } else {
            for (i, src) in config.replay.iter().enumerate() {
                let candles = load_ohlcv(&src.path)?;
                let path = ReplayPath::new(&candles, start, history_ms).map_err(|(line, reason)| {
                    SimError::ReplayParse { path: src.path.clone(), line, reason }
                })?;
                let mut spec_rng = mk_rng(2 * i as u64 + 1);
                let price = path.first_price().max(1e-12);
                let venue_id = format!("{}{}", src.symbol.base(), src.symbol.quote());
                let spec = Spec::new(src.symbol.clone(), venue_id, price, &mut spec_rng, false)?;
                let state = State::new(
                    Driver::Replay(Box::new(path)),
                    StepRng::from_rng(&mut mk_rng(2 * i as u64 + 2)),
                    &spec,
                    price,
                );
                specs.push(spec);
                states.push(state);
            }
        }
        let mut by_venue_id = BTreeMap::new();
        let mut by_symbol = BTreeMap::new();
        for (i, s) in specs.iter().enumerate() {
            if by_venue_id.insert(s.venue_id.clone(), i).is_some() {
                return Err(SimError::Config {
                    field: "replay",
                    value: s.venue_id.clone(),
                    reason: "each replayed symbol must be listed once",
                });
            }
            by_symbol.insert(s.symbol.clone(), i);
        }
        let start_ms = start.as_millis();
        let symbol_order = by_symbol.values().copied().collect();
        let mut market = Market {
            specs,
            states,
            by_venue_id,
            by_symbol,
            symbol_order,
            now: start_ms,
            step_ms,
            history_cap,
            seed: config.seed,
        };
        market.build_history(start_ms);
        Ok(market)
    }

    /// Generates the history before `start`: the 24 h window in quarter-hour buckets, the last
    /// `history_cap` minutes (from a quarter-hour boundary) as one-minute candles; then sets
    /// the live state at the end of them.
    fn build_history(&mut self, start: i64) {
        let start_minute = start.div_euclid(MINUTE);
        let minutes_from = quarter_of(start_minute - self.history_cap as i64);
        let quarters_from = quarter_of(start_minute - DAY_MIN).min(minutes_from);
        let cap = self.history_cap;
        for (spec, st) in self.specs.iter().zip(self.states.iter_mut()) {
            st.candles.clear();
            st.quarters.clear();
            st.quarters_qv = 0;
            for quarter in (quarters_from..minutes_from).step_by(QUARTER_MIN as usize) {
                let span = st.generate(spec, quarter, QUARTER_MIN);
                st.fold_into_quarters(span);
            }
            for minute in minutes_from..start_minute {
                let s = st.generate(spec, minute, 1);
                let trades = u32::try_from(s.trades).unwrap_or(u32::MAX);
                st.complete_minute(
                    MinuteCandle { minute, o: s.o, h: s.h, l: s.l, c: s.c, volume: s.volume, trades },
                    cap,
                );
            }
            st.trim_quarters(start_minute);
            st.current = MinuteCandle::new(start_minute, st.mid);
        }
        self.now = start;
    }

    pub(crate) fn len(&self) -> usize {
        self.specs.len()
    }

    pub(crate) fn spec(&self, i: usize) -> &Spec {
        &self.specs[i]
    }

    pub(crate) fn specs(&self) -> &[Spec] {
        &self.specs
    }

    pub(crate) fn is_listed(&self, i: usize) -> bool {
        self.states.get(i).is_some_and(|s| s.listed)
    }

    pub(crate) fn set_listed(&mut self, i: usize, listed: bool) {
        if let Some(s) = self.states.get_mut(i) {
            s.listed = listed;
        }
    }

    /// Market index of a venue id (`BTCUSDT`), listed or not.
    pub(crate) fn index(&self, venue_id: &str) -> Option<usize> {
        self.by_venue_id.get(venue_id).copied()
    }

    /// Market index of a unified symbol.
    pub(crate) fn index_of(&self, symbol: &Symbol) -> Option<usize> {
        self.by_symbol.get(symbol).copied()
    }

    /// Market indices in symbol order (a bulk answer in this order lets a client that wants
    /// symbol order skip its sort).
    pub(crate) fn indices_in_symbol_order(&self) -> impl Iterator<Item = usize> + '_ {
        self.symbol_order.iter().copied()
    }

    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now)
    }

    /// Steps every market up to `t` (no-op if `t` is not after the last step). After each step
    /// `on_step` sees the new top of book of every market in `watched` (markets with resting
    /// orders), in index order.
    pub(crate) fn advance_to(
        &mut self,
        t: Timestamp,
        watched: &BTreeSet<usize>,
        on_step: &mut dyn FnMut(usize, &Spec, &Top),
    ) {
        let target = t.as_millis();
        while self.now + self.step_ms <= target {
            self.now += self.step_ms;
            self.step_all();
            for &i in watched {
                let top = self.top(i);
                on_step(i, &self.specs[i], &top);
            }
        }
    }

    /// Runs exactly one step of every market (for benchmarks of the stepping cost).
    pub(crate) fn step_once(&mut self) {
        self.now += self.step_ms;
        self.step_all();
    }

    fn step_all(&mut self) {
        let now = self.now;
        let dt_s = self.step_ms as f64 / 1000.0;
        let minute = now.div_euclid(MINUTE);
        let cap = self.history_cap;
        for (spec, st) in self.specs.iter().zip(self.states.iter_mut()) {
            let vol_rate = match &st.driver {
                Driver::Walk { .. } => {
                    st.walk(spec, dt_s);
                    spec.volume_per_s
                }
                Driver::Replay(p) => {
                    st.mid = spec.ticks(p.price_at(now));
                    p.volume_rate_at(now) * 1000.0
                }
            };
            let u: f64 = st.rng.random();
            st.last_at_ask = u < 0.5;
            let traded = vol_rate * dt_s * (0.4 + 1.2 * u);
            st.book_draw = Some((u, traded));
            let last = st.last_ticks(spec);
            if minute != st.current.minute {
                let done = std::mem::replace(&mut st.current, MinuteCandle::new(minute, last));
                st.complete_minute(done, cap);
                st.trim_quarters(minute);
            }
            st.current.update(last);
            st.current.volume = st.current.volume.saturating_add(spec.volume_steps(traded));
            let trades = 1 + (u * 4.0) as u32;
            st.current.trades += trades;
            st.trade_seq += i64::from(trades);
        }
    }

    /// Top of book of market `i` now.
    pub(crate) fn top(&self, i: usize) -> Top {
        let (spec, st) = (&self.specs[i], &self.states[i]);
        let (bid, ask) = st.book(spec);
        let (bid_qty, ask_qty, last_qty) = st.quantities(spec);
        Top {
            bid: spec.price(bid),
            bid_qty: spec.qty(bid_qty),
            ask: spec.price(ask),
            ask_qty: spec.qty(ask_qty),
            last: spec.price(st.last_ticks(spec)),
            last_qty: spec.qty(last_qty),
            ts: Timestamp::from_millis(self.now),
        }
    }

    /// Bid, ask and last price of market `i` now (a quote's prices, without the quantities of
    /// [`Market::top`]).
    pub(crate) fn prices(&self, i: usize) -> (Decimal, Decimal, Decimal) {
        let (spec, st) = (&self.specs[i], &self.states[i]);
        let (bid, ask) = st.book(spec);
        (spec.price(bid), spec.price(ask), spec.price(st.last_ticks(spec)))
    }

    /// Moves market `i` so that its mid price is `price` (rounded to the tick); the random walk
    /// continues from there. A control for tests and scripted scenarios.
    pub(crate) fn set_mid(&mut self, i: usize, price: Decimal) {
        let (spec, st) = (&self.specs[i], &mut self.states[i]);
        let p = rust_decimal::prelude::ToPrimitive::to_f64(&price).unwrap_or(1.0).max(spec.tick_f);
        if let Driver::Walk { x, transient, .. } = &mut st.driver {
            *x = p.ln();
            *transient = 0.0;
        }
        st.mid = spec.ticks(p);
        let last = st.last_ticks(spec);
        st.current.update(last);
    }

    /// Quote volume of the last 24 h of market `i` (the same figure as [`Market::stats_24h`]),
    /// cheap enough for every quote: a running total of the buckets plus the current minute.
    pub(crate) fn quote_volume_24h(&self, i: usize) -> Decimal {
        let (spec, st) = (&self.specs[i], &self.states[i]);
        spec.quote_amount(st.quarters_qv.saturating_add(st.current.quote_units()))
    }

    /// Rolling 24 h statistics of market `i`. The window starts at the quarter hour that holds
    /// `now - 24 h` (so it covers 24 h to 24 h 15 min; Binance's own window is not exact
    /// either) and ends with the current minute.
    pub(crate) fn stats_24h(&self, i: usize) -> Stats24h {
        let (spec, st) = (&self.specs[i], &self.states[i]);
        let window = st.quarters.iter().copied().chain(std::iter::once(st.current.span()));
        let (mut open, mut high, mut low) = (None, 0u32, u32::MAX);
        let (mut volume, mut quote, mut count) = (0u64, 0u128, 0u64);
        for c in window {
            open.get_or_insert(c.o);
            high = high.max(c.h);
            low = low.min(c.l);
            volume = volume.saturating_add(c.volume);
            quote = quote.saturating_add(c.quote);
            count = count.saturating_add(c.trades);
        }
        let last = st.last_ticks(spec);
        Stats24h {
            open: spec.price(open.unwrap_or(last)),
            high: spec.price(high.max(last)),
            low: spec.price(low.min(last)),
            last: spec.price(last),
            volume: spec.qty(volume),
            quote_volume: spec.quote_amount(quote),
            open_time: self.now - DAY,
            close_time: self.now,
            first_id: st.trade_seq - count as i64 + 1,
            last_id: st.trade_seq,
            count,
        }
    }

    /// Candles of market `i`, oldest first, Binance semantics: with `start` the first `limit`
    /// candles opening at or after it, else the last `limit` (up to `end`). The candle in
    /// progress is included. Candles older than the kept one-minute history are synthesised by
    /// a seeded walk backwards from the oldest kept open, so a 1000-candle request of any
    /// interval is answered.
    pub(crate) fn klines(
        &self,
        i: usize,
        interval: Interval,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
    ) -> Vec<Kline> {
        let (spec, st) = (&self.specs[i], &self.states[i]);
        let width = interval.millis();
        let bucket = |minute: i64| {
            let t = minute * MINUTE;
            t - t.rem_euclid(width)
        };
        // Intervals of whole quarter hours read the buckets older than the first quarter the
        // minute candles cover completely; shorter ones read the minute candles only.
        let coarse = width % (QUARTER_MIN * MINUTE) == 0;
        let split =
            st.candles.front().map_or(st.current.minute, |c| c.minute + (-c.minute).rem_euclid(QUARTER_MIN));
        let spans = st
            .quarters
            .iter()
            .filter(|q| coarse && q.minute < split)
            .copied()
            .chain(st.candles.iter().filter(|c| !coarse || c.minute >= split).map(MinuteCandle::span))
            .chain(std::iter::once(st.current.span()));
        let mut agg: Vec<(i64, Span)> = Vec::new();
        for c in spans {
            let b = bucket(c.minute);
            match agg.last_mut() {
                Some((t, a)) if *t == b => a.absorb(&c),
                _ => agg.push((b, c)),
            }
        }
        let end = end.unwrap_or(i64::MAX);
        let oldest = agg.first().map(|(t, _)| *t).unwrap_or(self.now);
        let in_range = agg.iter().filter(|(t, _)| start.is_none_or(|s| *t >= s) && *t <= end).count();
        let want_older = match start {
            Some(s) if s < oldest => (oldest.saturating_sub(s) / width).min(limit as i64) as usize,
            Some(_) => 0,
            None => limit.saturating_sub(in_range),
        };
        let mut out: Vec<Kline> = Vec::new();
        if want_older > 0 {
            let mut synth = self.synthesize_before(
                i,
                interval,
                oldest,
                agg.first().map_or(st.mid, |a| a.1.o),
                want_older,
            );
            synth.reverse();
            out.extend(synth);
        }
        out.extend(agg.iter().map(|(t, c)| {
            self.kline_row(spec, *t, width, (c.o, c.h, c.l, c.c), c.volume, c.quote, c.trades)
        }));
        out.retain(|k| start.is_none_or(|s| k.open_time >= s) && k.open_time <= end);
        if start.is_some() {
            out.truncate(limit);
        } else if out.len() > limit {
            out.drain(..out.len() - limit);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn kline_row(
        &self,
        spec: &Spec,
        t: i64,
        width: i64,
        ohlc: (u32, u32, u32, u32),
        volume: u64,
        quote: u128,
        trades: u64,
    ) -> Kline {
        let volume_d = spec.qty(volume);
        let quote_d = spec.quote_amount(quote);
        let half =
            |d: Decimal, dp: u32| (d / Decimal::TWO).round_dp_with_strategy(dp, RoundingStrategy::ToZero);
        Kline {
            open_time: t,
            close_time: t + width - 1,
            open: spec.price(ohlc.0),
            high: spec.price(ohlc.1),
            low: spec.price(ohlc.2),
            close: spec.price(ohlc.3),
            taker_buy_volume: half(volume_d, spec.step.scale()),
            taker_buy_quote_volume: half(quote_d, 8),
            volume: volume_d,
            quote_volume: quote_d,
            trades,
        }
    }

    /// `n` candles of `interval` before `oldest` (newest first), walking back from `anchor`.
    fn synthesize_before(
        &self,
        i: usize,
        interval: Interval,
        oldest: i64,
        anchor: u32,
        n: usize,
    ) -> Vec<Kline> {
        let spec = &self.specs[i];
        let width = interval.millis();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (width as u64).rotate_left(17));
        rng.set_stream(0x5EED_0000_0000 + i as u64);
        let sd = spec.sigma * (width as f64 / 1000.0).sqrt();
        let mut close = f64::from(anchor) * spec.tick_f;
        let mut out = Vec::with_capacity(n);
        for k in 1..=n as i64 {
            let z: f64 = rng.sample(StandardNormal);
            let open = close * (-sd * z).exp();
            let w: f64 = rng.sample(StandardNormal);
            let wick = (w.abs() * sd * 0.5).exp();
            let (o, c) = (spec.ticks(open), spec.ticks(close));
            let h = spec.ticks(open.max(close) * wick).max(o.max(c));
            let l = spec.ticks(open.min(close) / wick).min(o.min(c));
            let volume = spec.volume_per_s * width as f64 / 1000.0 * rng.random_range(0.3..1.7);
            let trades = (volume / spec.depth * 50.0).clamp(1.0, 1e9) as u64;
            let volume = spec.volume_steps(volume);
            // the typical price of a synthesized candle: (open + close) / 2 = 2 (o + c) / 4
            let quote = u128::from(volume) * 2 * (u128::from(o) + u128::from(c));
            out.push(self.kline_row(spec, oldest - k * width, width, (o, h, l, c), volume, quote, trades));
            close = open;
        }
        out
    }
}

impl State {
    fn new(driver: Driver, rng: StepRng, spec: &Spec, price: f64) -> State {
        let mid = spec.ticks(price);
        State {
            driver,
            rng,
            mid,
            book_draw: None,
            last_at_ask: true,
            candles: VecDeque::new(),
            quarters: VecDeque::new(),
            quarters_qv: 0,
            current: MinuteCandle::new(0, mid),
            trade_seq: 0,
            listed: true,
        }
    }

    /// One generated span of history of `width` minutes from `minute`, moving the path over it.
    fn generate(&mut self, spec: &Spec, minute: i64, width: i64) -> Span {
        let t0 = minute * MINUTE;
        let span_ms = width * MINUTE;
        let secs = (span_ms / 1000) as f64;
        let open = self.mid;
        let (close, wick) = match &mut self.driver {
            Driver::Walk { .. } => {
                self.walk(spec, secs);
                let z: f64 = self.rng.sample(StandardNormal);
                (self.mid, (z.abs() * spec.sigma * secs.sqrt() * 0.5).exp())
            }
            Driver::Replay(p) => {
                self.mid = spec.ticks(p.price_at(t0 + span_ms - 1));
                (self.mid, 1.0)
            }
        };
        let (mut h, mut l) = (open.max(close), open.min(close));
        if let Driver::Replay(p) = &self.driver {
            for k in 0..6 {
                let m = spec.ticks(p.price_at(t0 + k * span_ms / 6));
                h = h.max(m);
                l = l.min(m);
            }
        }
        let h = ((f64::from(h) * wick).round().min(MAX_TICKS) as u32).max(h);
        let l = ((f64::from(l) / wick).round().max(1.0) as u32).min(l);
        let volume = spec.volume_steps(match &self.driver {
            Driver::Walk { .. } => spec.volume_per_s * secs * self.rng.random_range(0.3..1.7),
            Driver::Replay(p) => p.volume_rate_at(t0) * span_ms as f64,
        });
        let trades = u64::from(self.rng.random_range(5..200u32)) * width.unsigned_abs();
        self.trade_seq = self.trade_seq.saturating_add(i64::try_from(trades).unwrap_or(i64::MAX));
        let candle = MinuteCandle { minute, o: open, h, l, c: close, volume, trades: 0 };
        Span { trades, ..candle.span() }
    }

    /// Keeps a completed minute: in the minute candles (at most `cap`) and in its bucket.
    fn complete_minute(&mut self, done: MinuteCandle, cap: usize) {
        self.fold_into_quarters(done.span());
        self.candles.push_back(done);
        while self.candles.len() > cap {
            self.candles.pop_front();
        }
    }

    /// Adds a completed span (a minute, or a generated quarter hour) to its bucket.
    fn fold_into_quarters(&mut self, span: Span) {
        self.quarters_qv = self.quarters_qv.saturating_add(span.quote);
        let quarter = quarter_of(span.minute);
        match self.quarters.back_mut() {
            Some(b) if b.minute == quarter => b.absorb(&span),
            _ => self.quarters.push_back(Span { minute: quarter, ..span }),
        }
    }

    /// Drops the buckets that end before the 24 h window of minute `now_minute` begins.
    fn trim_quarters(&mut self, now_minute: i64) {
        let oldest = quarter_of(now_minute - DAY_MIN);
        while self.quarters.front().is_some_and(|b| b.minute < oldest) {
            if let Some(b) = self.quarters.pop_front() {
                self.quarters_qv = self.quarters_qv.saturating_sub(b.quote);
            }
        }
    }

    /// One step of the jump diffusion over `dt` seconds.
    fn walk(&mut self, spec: &Spec, dt: f64) {
        let Driver::Walk { x, anchor, transient, decay, decay_dt } = &mut self.driver else { return };
        let z: f64 = self.rng.sample(StandardNormal);
        let u: f64 = self.rng.random();
        // Mean reversion towards the anchor over ~6 h keeps long sessions in a sane range.
        *x += spec.sigma * dt.sqrt() * z - (*x - *anchor) * dt / 21_600.0;
        if decay_dt.0 != dt {
            *decay_dt = (dt, decay.powf(dt));
        }
        *transient *= decay_dt.1;
        let p_drop = spec.drop_rate * dt;
        if u < p_drop + p_drop * 0.5 {
            let drop = u < p_drop;
            let size: f64 =
                if drop { self.rng.random_range(0.01..0.10) } else { self.rng.random_range(0.005..0.04) };
            let jump = if drop { (1.0 - size).ln() } else { (1.0 + size).ln() };
            let recovered: f64 = self.rng.random_range(0.3..0.8);
            let half_life_s: f64 = self.rng.random_range(120.0..1200.0);
            *x += jump * (1.0 - recovered);
            *transient += jump * recovered;
            *decay = 0.5f64.powf(1.0 / half_life_s);
            *decay_dt = (dt, decay.powf(dt));
        }
        self.mid = spec.ticks((*x + *transient).exp());
    }

    /// Top-of-book bid and ask quantities and the last trade's quantity, in steps.
    fn quantities(&self, spec: &Spec) -> (u64, u64, u64) {
        match self.book_draw {
            Some((u, traded)) => (
                spec.qty_steps(spec.depth * (0.2 + 1.6 * u)),
                spec.qty_steps(spec.depth * (1.8 - 1.6 * u)),
                spec.qty_steps(traded / 4.0),
            ),
            None => (spec.qty_steps(spec.depth), spec.qty_steps(spec.depth), 1),
        }
    }

    /// (bid, ask) in ticks around the mid.
    fn book(&self, spec: &Spec) -> (u32, u32) {
        let half = spec.spread_ticks / 2;
        let bid = self.mid.saturating_sub(half).max(1);
        (bid, bid.saturating_add(spec.spread_ticks))
    }

    fn last_ticks(&self, spec: &Spec) -> u32 {
        let (bid, ask) = self.book(spec);
        if self.last_at_ask {
            ask
        } else {
            bid
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_ticks_is_round_then_clamp() {
        let reference = |t: f64| t.round().clamp(1.0, MAX_TICKS) as u32;
        let mut cases = vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -3.0,
            0.0,
            0.49,
            0.5,
            0.99,
            1.0,
            1.49999,
            1.5,
            2.5,
            0.49999999999999994,
            1.4999999999999998,
            4503599627370495.5,
            MAX_TICKS - 0.5,
            MAX_TICKS - 0.51,
            MAX_TICKS,
            MAX_TICKS + 0.5,
            1e300,
        ];
        let mut x = 0.731_f64;
        for _ in 0..100_000 {
            x = (x * 1.000_173).rem_euclid(2e9) + 0.25;
            cases.extend([x, x.floor() + 0.5, x.floor() + 0.5 - f64::EPSILON * x]);
        }
        for t in cases {
            assert_eq!(round_ticks(t), reference(t), "{t:e}");
        }
    }

    #[test]
    fn volume_steps_floor_positive_finite_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let base =
            Spec::new(Symbol::new("BTC", "USDT").unwrap(), "BTCUSDT".into(), 100.0, &mut rng, false).unwrap();
        for step_f in [1e-8, 0.001, 1.0, 10.0] {
            let s = Spec { step_f, ..base.clone() };
            for v in [f64::NAN, f64::INFINITY, -1.0, 0.0, 0.5 * step_f, step_f, 2.7 * step_f, 1e30] {
                let q = v / step_f;
                let reference =
                    if q.floor().is_finite() && q.floor() > 0.0 { q.floor().min(1e15) as u64 } else { 0 };
                assert_eq!(s.volume_steps(v), reference, "{v:e} / {step_f:e}");
            }
        }
    }

    use super::*;
    use std::time::Duration;

    fn market(symbols: usize, seed: u64) -> Market {
        let cfg = SimConfig { symbols, seed, history_minutes: 120, ..SimConfig::default() };
        Market::new(&cfg, Timestamp::from_millis(1_700_000_000_000)).unwrap()
    }

    fn path(m: &mut Market, steps: usize) -> Vec<Top> {
        (0..steps)
            .map(|_| {
                m.step_once();
                m.top(3)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_path_different_seed_different_path() {
        let a = path(&mut market(5, 1), 500);
        assert_eq!(a, path(&mut market(5, 1), 500));
        assert_ne!(a, path(&mut market(5, 2), 500));
        // A market's path does not depend on how many other markets exist.
        assert_eq!(a, path(&mut market(40, 1), 500));
    }

    #[test]
    fn quotes_respect_tick_step_and_spread() {
        let mut m = market(200, 9);
        m.step_once();
        for i in 0..m.len() {
            let (spec, top) = (m.spec(i), m.top(i));
            assert!(top.bid < top.ask, "{} {top:?}", spec.venue_id);
            assert!(top.bid > Decimal::ZERO);
            for p in [top.bid, top.ask, top.last] {
                assert!((p % spec.tick).is_zero(), "{} price {p} tick {}", spec.venue_id, spec.tick);
            }
            for q in [top.bid_qty, top.ask_qty] {
                assert!((q % spec.step).is_zero() && q > Decimal::ZERO);
            }
            assert!(
                spec.rules.check(top.ask, spec.rules.min_qty * Decimal::from(1_000_000)).is_ok()
                    || top.ask * spec.rules.min_qty < Decimal::from(5)
            );
        }
        let names: BTreeSet<_> = m.specs().iter().map(|s| s.venue_id.clone()).collect();
        assert_eq!(names.len(), 200);
    }

    #[test]
    fn five_thousand_markets_have_unique_names_and_valid_rules() {
        let cfg = SimConfig { symbols: 5000, history_minutes: 2, ..SimConfig::default() };
        let mut m = Market::new(&cfg, Timestamp::from_millis(0)).unwrap();
        m.step_once();
        let names: BTreeSet<_> = m.specs().iter().map(|s| s.venue_id.clone()).collect();
        assert_eq!(names.len(), 5000);
        for i in 0..m.len() {
            let (spec, top) = (m.spec(i), m.top(i));
            let qty = spec.rules.floor_qty(Decimal::from(20) / top.ask).max(spec.step);
            assert!(
                spec.rules.check(top.ask, qty).is_ok(),
                "{}: {:?}",
                spec.venue_id,
                spec.rules.check(top.ask, qty)
            );
        }
    }

    /// Prices, quantities and quote volumes built from integers are the `Decimal` products they
    /// replaced, for every tick and step size of a large universe.
    #[test]
    fn integer_built_amounts_equal_the_decimal_products() {
        let cfg = SimConfig { symbols: 400, history_minutes: 1, ..SimConfig::default() };
        let m = Market::new(&cfg, Timestamp::from_millis(0)).unwrap();
        for spec in m.specs() {
            for n in [0u64, 1, 7, 123_456, 999_999_999] {
                assert_eq!(spec.price(n as u32), Decimal::from(n) * spec.tick, "{}", spec.venue_id);
                assert_eq!(spec.qty(n), Decimal::from(n) * spec.step, "{}", spec.venue_id);
            }
            for units in [0u128, 1, 3, 4, 1_234_567, 98_765_432_123_456_789] {
                let expected = (Decimal::from(units as u64) * spec.step * spec.tick / Decimal::from(4))
                    .round_dp_with_strategy(8, RoundingStrategy::ToZero);
                assert_eq!(spec.quote_amount(units), expected, "{} units {units}", spec.venue_id);
            }
        }
    }

    #[test]
    fn cached_quote_volume_equals_the_24h_statistics() {
        let mut m = market(3, 8);
        for _ in 0..150 {
            m.step_once();
            assert_eq!(m.quote_volume_24h(2), m.stats_24h(2).quote_volume);
        }
    }

    #[test]
    fn drops_of_one_to_ten_percent_happen_several_times_per_hour() {
        let cfg = SimConfig {
            symbols: 30,
            seed: 5,
            history_minutes: 10,
            drops_per_hour: 0.3,
            ..SimConfig::default()
        };
        let mut m = Market::new(&cfg, Timestamp::from_millis(0)).unwrap();
        let mut drops = 0;
        let mut window: Vec<VecDeque<Decimal>> = vec![VecDeque::new(); m.len()];
        let mut armed = vec![true; m.len()];
        for _ in 0..3600 {
            m.step_once();
            for (i, w) in window.iter_mut().enumerate() {
                let p = m.top(i).bid;
                w.push_back(p);
                if w.len() > 120 {
                    w.pop_front();
                }
                let high = w.iter().max().copied().unwrap_or(p);
                let dropped = p / high <= Decimal::new(985, 3);
                if dropped && armed[i] {
                    drops += 1;
                }
                armed[i] = !dropped;
            }
        }
        // 30 symbols * 0.3 jumps/h plus diffusion: a drop-buyer sees several 1.5 % drops.
        assert!(drops >= 3, "only {drops} drops in one simulated hour");
    }

    #[test]
    fn klines_answer_1000_candles_of_any_interval_and_align() {
        let m = market(3, 4);
        for interval in [Interval::M1, Interval::M5, Interval::H1, Interval::D1] {
            let k = m.klines(0, interval, None, None, 1000);
            assert_eq!(k.len(), 1000, "{interval}");
            for pair in k.windows(2) {
                assert_eq!(pair[1].open_time - pair[0].open_time, interval.millis(), "{interval}");
            }
            assert!(k.iter().all(|c| c.low <= c.open.min(c.close) && c.high >= c.open.max(c.close)));
            assert_eq!(k[999].open_time % interval.millis(), 0);
        }
        let recent = m.klines(0, Interval::M1, None, None, 5);
        let from = m.klines(0, Interval::M1, Some(recent[0].open_time), None, 2);
        assert_eq!(from, recent[..2].to_vec());
    }

    /// Volumes are exact: the 24 h volume is the sum of the 15-minute candles' volumes over the
    /// window to the last digit (they read the same buckets), every volume and book quantity is
    /// a whole number of steps, the quote volume is the sum of the candles' quote volumes within
    /// their rounding to 8 decimals, and the one-minute candles cover the kept minutes.
    #[test]
    fn volumes_and_quantities_are_exact_step_multiples() {
        let mut m = market(4, 11);
        for _ in 0..200 {
            m.step_once();
        }
        for i in 0..m.len() {
            let (spec, top, stats) = (m.spec(i).clone(), m.top(i), m.stats_24h(i));
            let first = m.states[i].candles.front().map(|c| c.minute * MINUTE).unwrap();
            let minutes = m.klines(i, Interval::M1, Some(first), None, 1000);
            assert_eq!(minutes.len(), m.states[i].candles.len() + 1);
            let window = quarter_of((m.now - DAY).div_euclid(MINUTE)) * MINUTE;
            let klines = m.klines(i, Interval::M15, Some(window), None, 1000);
            assert_eq!(klines.len(), 97, "{}", spec.venue_id);
            let volume: Decimal = klines.iter().map(|k| k.volume).sum();
            assert_eq!(stats.volume, volume, "{}", spec.venue_id);
            let quote: Decimal = klines.iter().map(|k| k.quote_volume).sum();
            let slack = Decimal::new(klines.len() as i64, 8);
            assert!(
                (stats.quote_volume - quote).abs() <= slack,
                "{} {} vs {quote}",
                spec.venue_id,
                stats.quote_volume
            );
            assert!(stats.volume > Decimal::ZERO && stats.quote_volume > Decimal::ZERO);
            let last_quarter: Decimal =
                minutes.iter().filter(|k| k.open_time >= klines[96].open_time).map(|k| k.volume).sum();
            assert_eq!(klines[96].volume, last_quarter, "the buckets agree with the minute candles");
            for q in [stats.volume, top.bid_qty, top.ask_qty, top.last_qty] {
                assert!((q % spec.step).is_zero(), "{} {q} step {}", spec.venue_id, spec.step);
            }
        }
    }

    /// Memory stays flat however long a session runs: the minute candles stop at
    /// `history_minutes`, the buckets at the 97 quarter hours of the 24 h window, and the
    /// window keeps starting at the quarter hour of `now - 24 h`.
    #[test]
    fn history_stays_bounded_over_two_days() {
        let cfg = SimConfig {
            symbols: 2,
            seed: 6,
            history_minutes: 30,
            tick_interval: Duration::from_secs(60),
            ..SimConfig::default()
        };
        let mut m = Market::new(&cfg, Timestamp::from_millis(1_700_000_000_000)).unwrap();
        for step in 0..2 * 1440 {
            m.step_once();
            let st = &m.states[1];
            assert!(st.candles.len() <= 30, "step {step}: {} minute candles", st.candles.len());
            assert!(st.quarters.len() <= 97, "step {step}: {} buckets", st.quarters.len());
            let from = quarter_of((m.now - DAY).div_euclid(MINUTE));
            assert_eq!(st.quarters.front().map(|q| q.minute), Some(from), "step {step}");
            let qv: u128 = st.quarters.iter().map(|q| q.quote).sum();
            assert_eq!(st.quarters_qv, qv, "step {step}: the running total is the sum");
        }
        let h1 = m.klines(1, Interval::H1, None, None, 24);
        assert_eq!(h1.len(), 24);
        assert!(h1.iter().all(|k| k.volume > Decimal::ZERO && k.low <= k.high));
    }

    #[test]
    fn stats_cover_the_last_day() {
        let mut m = market(2, 3);
        m.advance_to(m.now() + Duration::from_secs(90), &BTreeSet::new(), &mut |_, _, _| {});
        let s = m.stats_24h(1);
        assert!(s.low <= s.last && s.last <= s.high && s.volume > Decimal::ZERO);
        assert_eq!(s.close_time - s.open_time, DAY);
        assert_eq!(s.last_id - s.first_id + 1, s.count as i64);
    }
}
