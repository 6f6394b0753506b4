//! Fault injection: scripted one-shot faults for tests and seeded random fault profiles.

use std::collections::VecDeque;
use std::str::FromStr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use trading_core::Timestamp;

use crate::SimError;

/// The REST endpoint a request or an in-process call belongs to; [`ScriptedFault`]s target one
/// (or [`Endpoint::Any`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// Matches every endpoint.
    Any,
    /// `GET /api/v3/ping`.
    Ping,
    /// `GET /api/v3/time` (in-process: `server_time`).
    Time,
    /// `GET /api/v3/exchangeInfo` (in-process: `load_markets`).
    ExchangeInfo,
    /// `GET /api/v3/ticker/price`.
    TickerPrice,
    /// `GET /api/v3/ticker/bookTicker` (in-process: `fetch_tickers`).
    BookTicker,
    /// `GET /api/v3/ticker/24hr`.
    Ticker24h,
    /// `GET /api/v3/klines` (in-process: `fetch_ohlcv`).
    Klines,
    /// `POST /api/v3/order` (in-process: `create_order`).
    CreateOrder,
    /// `POST /api/v3/order/test` (in-process: `test_order`): validation only, places nothing.
    TestOrder,
    /// `GET /api/v3/order` (in-process: `fetch_order`).
    QueryOrder,
    /// `DELETE /api/v3/order` (in-process: `cancel_order`).
    CancelOrder,
    /// `GET /api/v3/openOrders` (in-process: `fetch_open_orders`).
    OpenOrders,
    /// `GET /api/v3/account` (in-process: `fetch_balances`).
    Account,
    /// `GET /api/v3/myTrades` (in-process: `fetch_fills`).
    MyTrades,
}

impl Endpoint {
    /// True when a fault aimed at `self` applies to a request for `actual`.
    pub fn matches(self, actual: Endpoint) -> bool {
        self == Endpoint::Any || self == actual
    }

    /// True for the order-placing endpoint (whose outcome can become unknown).
    pub(crate) fn is_order_entry(self) -> bool {
        self == Endpoint::CreateOrder
    }
}

/// One kind of misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally, after the delay.
    Latency(Duration),
    /// Process the request (e.g. create the order), then delay the answer: a client that times
    /// out first must treat the outcome as unknown.
    AcceptThenDelay(Duration),
    /// HTTP 429 with `Retry-After` (seconds) and `{"code":-1003,...}`.
    RateLimited {
        /// The `Retry-After` value.
        retry_after: Duration,
    },
    /// HTTP 418 (IP ban) with `Retry-After`.
    Banned {
        /// The `Retry-After` value.
        retry_after: Duration,
    },
    /// HTTP 503 with Binance's internal-error body (`-1001`); nothing is processed.
    ServerError,
    /// HTTP 200 with a truncated, unparsable JSON body; nothing is processed.
    MalformedBody,
    /// HTTP 429 with `{"code":-1015,"msg":"Too many new orders; ..."}` and no `Retry-After`:
    /// the account's new-order count limit (10 s window); nothing is processed.
    TooManyOrders,
    /// HTTP 403 with an HTML body and no code: the web application firewall refused the
    /// request; nothing is processed.
    Firewall,
    /// No answer in time. Over HTTP the answer comes after the delay (a client with a shorter
    /// timeout gives up first); in-process the call fails with `ExchangeError::Timeout` after
    /// the delay. With `processed` the request was carried out before the answer was lost (an
    /// order may exist: its outcome is unknown to the caller); without, nothing was processed.
    Timeout {
        /// How long the caller waits before it gives up.
        delay: Duration,
        /// The request was processed before the answer was lost.
        processed: bool,
    },
}

/// A deterministic fault for tests: the next `times` requests to `endpoint` get `fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptedFault {
    /// Which requests it hits.
    pub endpoint: Endpoint,
    /// What happens to them.
    pub fault: Fault,
    /// How many requests it hits before it is used up.
    pub times: u32,
}

/// Random faults, drawn per request from a RNG seeded with the simulator's seed, so a session
/// with the same seed and the same request sequence sees the same faults. Probabilities are per
/// request (statistical knobs, hence `f64`).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultProfile {
    /// Profile name (`none`, `mild`, `light`, `heavy`, `storm`, `chaos`, or `custom`).
    pub name: String,
    /// Extra latency of every answer: uniform in `latency_min..=latency_max`.
    pub latency_min: Duration,
    /// Upper end of the latency range.
    pub latency_max: Duration,
    /// Probability of a timeout ([`Fault::Timeout`]): for order entry half of them are processed
    /// before the answer is lost (unknown outcome), half are not processed at all.
    pub p_timeout: f64,
    /// Delay of a "timeout" answer.
    pub timeout_delay: Duration,
    /// Probability that an order is accepted but reported late (`Fault::AcceptThenDelay`).
    pub p_late_report: f64,
    /// How late.
    pub late_report_delay: Duration,
    /// Probability of a spurious 429.
    pub p_rate_limited: f64,
    /// Probability of a 5xx.
    pub p_server_error: f64,
    /// Probability of a malformed body.
    pub p_malformed: f64,
    /// Probability that a marketable limit order fills only partly and the venue expires the rest
    /// (partial fill then cancel).
    pub p_partial_then_cancel: f64,
    /// Number of symbols delisted at start (chosen by the seed): requests for them answer
    /// `-1121 Invalid symbol.`, and exchangeInfo lists them with status `BREAK`.
    pub delisted_symbols: usize,
    /// Late visibility: accepted orders answer "Order does not exist." (`-2013`) to lookups for
    /// this long (the larger of this and `SimConfig::order_visibility_delay` applies).
    pub order_visibility_delay: Duration,
    /// Number of markets delisted DURING the session, each at a seeded time within
    /// `delist_within` of the venue's start. A market where the account holds the base asset
    /// or an open order is preferred (the hard case), else one chosen by the seed; never the
    /// first market (the reference). At that moment its open orders are canceled by the venue,
    /// exchangeInfo shows it as `BREAK`, market data and new orders answer `-1121`; lookups of
    /// its orders and trades keep working.
    pub delist_mid_session: usize,
    /// The window in which mid-session delistings happen.
    pub delist_within: Duration,
}

impl FaultProfile {
    /// No faults at all.
    pub fn none() -> Self {
        FaultProfile {
            name: "none".into(),
            latency_min: Duration::ZERO,
            latency_max: Duration::ZERO,
            p_timeout: 0.0,
            timeout_delay: Duration::from_secs(30),
            p_late_report: 0.0,
            late_report_delay: Duration::from_secs(15),
            p_rate_limited: 0.0,
            p_server_error: 0.0,
            p_malformed: 0.0,
            p_partial_then_cancel: 0.0,
            delisted_symbols: 0,
            order_visibility_delay: Duration::ZERO,
            delist_mid_session: 0,
            delist_within: Duration::from_secs(3600),
        }
    }

    /// A normal day's hiccups: little latency, one request in a few hundred fails (timeouts,
    /// 5xx, 429, a garbled body), a few partial fills, orders invisible for a moment after
    /// acceptance, no delisting. `SIM_FAULTS=mild`.
    pub fn mild() -> Self {
        FaultProfile {
            name: "mild".into(),
            latency_min: Duration::from_millis(5),
            latency_max: Duration::from_millis(50),
            p_timeout: 0.002,
            timeout_delay: Duration::from_secs(10),
            p_late_report: 0.002,
            late_report_delay: Duration::from_secs(2),
            p_rate_limited: 0.001,
            p_server_error: 0.002,
            p_malformed: 0.0005,
            p_partial_then_cancel: 0.02,
            order_visibility_delay: Duration::from_millis(500),
            ..FaultProfile::none()
        }
    }

    /// The storm of the reliability issue: timeouts 5 %, 5xx 2 %, 429 1 %, malformed bodies
    /// 1 % (per request), bad symbols (two markets delisted at start answer `-1121`), orders
    /// invisible for 3 s after acceptance, partial fills then cancels (20 % of marketable
    /// orders), late order reports, and one market delisted mid-session (within the first
    /// 90 minutes). `SIM_FAULTS=storm`.
    pub fn storm() -> Self {
        FaultProfile {
            name: "storm".into(),
            latency_min: Duration::from_millis(10),
            latency_max: Duration::from_millis(200),
            p_timeout: 0.05,
            timeout_delay: Duration::from_secs(10),
            p_late_report: 0.02,
            late_report_delay: Duration::from_secs(5),
            p_rate_limited: 0.01,
            p_server_error: 0.02,
            p_malformed: 0.01,
            p_partial_then_cancel: 0.2,
            delisted_symbols: 2,
            order_visibility_delay: Duration::from_secs(3),
            delist_mid_session: 1,
            delist_within: Duration::from_secs(90 * 60),
        }
    }

    /// A well-behaved venue on a normal day: small latency, rare hiccups.
    pub fn light() -> Self {
        FaultProfile {
            name: "light".into(),
            latency_min: Duration::from_millis(5),
            latency_max: Duration::from_millis(40),
            p_timeout: 0.001,
            p_late_report: 0.005,
            p_rate_limited: 0.001,
            p_server_error: 0.002,
            p_malformed: 0.001,
            p_partial_then_cancel: 0.02,
            delisted_symbols: 1,
            ..FaultProfile::none()
        }
    }

    /// A bad day: frequent errors, slow answers, several delisted symbols.
    pub fn heavy() -> Self {
        FaultProfile {
            name: "heavy".into(),
            latency_min: Duration::from_millis(20),
            latency_max: Duration::from_millis(300),
            p_timeout: 0.01,
            p_late_report: 0.05,
            p_rate_limited: 0.01,
            p_server_error: 0.02,
            p_malformed: 0.01,
            p_partial_then_cancel: 0.1,
            delisted_symbols: 3,
            ..FaultProfile::none()
        }
    }

    /// Worst case for robustness testing: one request in four misbehaves.
    pub fn chaos() -> Self {
        FaultProfile {
            name: "chaos".into(),
            latency_min: Duration::from_millis(50),
            latency_max: Duration::from_millis(1000),
            p_timeout: 0.05,
            timeout_delay: Duration::from_secs(10),
            p_late_report: 0.2,
            late_report_delay: Duration::from_secs(5),
            p_rate_limited: 0.05,
            p_server_error: 0.05,
            p_malformed: 0.05,
            p_partial_then_cancel: 0.3,
            delisted_symbols: 5,
            ..FaultProfile::none()
        }
    }

    /// True when the profile never injects anything.
    pub fn is_none(&self) -> bool {
        self.latency_max.is_zero()
            && self.p_timeout <= 0.0
            && self.p_late_report <= 0.0
            && self.p_rate_limited <= 0.0
            && self.p_server_error <= 0.0
            && self.p_malformed <= 0.0
            && self.p_partial_then_cancel <= 0.0
            && self.delisted_symbols == 0
            && self.order_visibility_delay.is_zero()
            && self.delist_mid_session == 0
    }
}

impl Default for FaultProfile {
    fn default() -> Self {
        FaultProfile::none()
    }
}

impl FromStr for FaultProfile {
    type Err = SimError;
    fn from_str(s: &str) -> Result<Self, SimError> {
        match s {
            "none" => Ok(FaultProfile::none()),
            "mild" => Ok(FaultProfile::mild()),
            "storm" => Ok(FaultProfile::storm()),
            "light" => Ok(FaultProfile::light()),
            "heavy" => Ok(FaultProfile::heavy()),
            "chaos" => Ok(FaultProfile::chaos()),
            other => Err(SimError::UnknownProfile(other.to_owned())),
        }
    }
}

/// Scripted queue plus the seeded RNG of the random profile.
#[derive(Debug)]
pub(crate) struct FaultState {
    scripted: VecDeque<ScriptedFault>,
    profile: FaultProfile,
    rng: ChaCha8Rng,
    /// When the profile's mid-session delistings are due (ascending), with a seeded draw each
    /// for the market choice.
    delistings: VecDeque<(Timestamp, u64)>,
}

/// What the fault layer decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Decision {
    /// Delay before processing.
    pub(crate) pre_delay: Duration,
    /// Delay after processing, before answering.
    pub(crate) post_delay: Duration,
    /// A fault that replaces the answer (429/418/5xx/malformed).
    pub(crate) replace: Option<Fault>,
    /// For marketable limit orders: fill partly and expire the rest.
    pub(crate) partial_then_cancel: bool,
    /// In-process: after the delays the call fails with a timeout (the answer was lost).
    pub(crate) timeout: bool,
}

impl FaultState {
    pub(crate) fn new(profile: FaultProfile, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0xFA17);
        FaultState { scripted: VecDeque::new(), profile, rng, delistings: VecDeque::new() }
    }

    /// Schedules the profile's mid-session delistings at seeded times after `start` (on their
    /// own RNG stream, so the per-request fault sequence does not change).
    pub(crate) fn schedule_delistings(&mut self, seed: u64, start: Timestamp) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0xDE15);
        let window = u64::try_from(self.profile.delist_within.as_millis()).unwrap_or(u64::MAX).max(2);
        let mut due: Vec<(Timestamp, u64)> = (0..self.profile.delist_mid_session)
            .map(|_| {
                let at = rng.random_range(window / 10..window);
                (start + Duration::from_millis(at), rng.random())
            })
            .collect();
        due.sort_unstable();
        self.delistings = due.into();
    }

    /// Takes the delistings due at `now`: for each, a seeded draw for the market choice.
    pub(crate) fn due_delistings(&mut self, now: Timestamp) -> Vec<u64> {
        let mut out = Vec::new();
        while self.delistings.front().is_some_and(|(at, _)| *at <= now) {
            out.extend(self.delistings.pop_front().map(|(_, draw)| draw));
        }
        out
    }

    pub(crate) fn inject(&mut self, fault: ScriptedFault) {
        if fault.times > 0 {
            self.scripted.push_back(fault);
        }
    }

    /// Takes the first scripted fault aimed at `endpoint`, if any.
    fn take_scripted(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let pos = self.scripted.iter().position(|f| f.endpoint.matches(endpoint))?;
        let entry = self.scripted.get_mut(pos)?;
        let fault = entry.fault;
        entry.times -= 1;
        if entry.times == 0 {
            self.scripted.remove(pos);
        }
        Some(fault)
    }

    /// Decides the fate of one request.
    pub(crate) fn decide(&mut self, endpoint: Endpoint) -> Decision {
        let mut d = Decision::default();
        let scripted = self.take_scripted(endpoint);
        if self.profile.is_none() {
            apply(&mut d, scripted);
            return d;
        }
        let p = &self.profile;
        let (lo, hi) = (p.latency_min.as_micros() as u64, p.latency_max.as_micros() as u64);
        let jitter = if hi > lo { self.rng.random_range(lo..=hi) } else { lo };
        d.pre_delay = Duration::from_micros(jitter);
        // One uniform draw per request keeps the fault sequence stable when probabilities change
        // slightly; the kinds occupy consecutive slices of [0, 1).
        let u: f64 = self.rng.random();
        let partial: f64 = self.rng.random();
        d.partial_then_cancel = partial < p.p_partial_then_cancel;
        let mut edge = 0.0;
        let mut pick = |prob: f64| {
            let hit = u >= edge && u < edge + prob;
            edge += prob;
            hit
        };
        // Half of the timeouts of order entry lose the answer after processing (unknown outcome).
        let processed = endpoint.is_order_entry() && u < p.p_timeout / 2.0;
        let random = if pick(p.p_timeout) {
            Some(Fault::Timeout { delay: p.timeout_delay, processed })
        } else if pick(if endpoint.is_order_entry() { p.p_late_report } else { 0.0 }) {
            Some(Fault::AcceptThenDelay(p.late_report_delay))
        } else if pick(p.p_rate_limited) {
            Some(Fault::RateLimited { retry_after: Duration::from_secs(1) })
        } else if pick(p.p_server_error) {
            Some(Fault::ServerError)
        } else if pick(p.p_malformed) {
            Some(Fault::MalformedBody)
        } else {
            None
        };
        apply(&mut d, scripted.or(random));
        d
    }
}

fn apply(d: &mut Decision, fault: Option<Fault>) {
    match fault {
        None => {}
        Some(Fault::Latency(delay)) => d.pre_delay += delay,
        Some(Fault::AcceptThenDelay(delay)) => d.post_delay += delay,
        Some(Fault::Timeout { delay, processed }) => {
            d.timeout = true;
            if processed {
                d.post_delay += delay;
            } else {
                d.pre_delay += delay;
            }
        }
        Some(other) => d.replace = Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_faults_hit_their_endpoint_the_given_number_of_times() {
        let mut s = FaultState::new(FaultProfile::none(), 1);
        s.inject(ScriptedFault { endpoint: Endpoint::Klines, fault: Fault::ServerError, times: 2 });
        assert_eq!(s.decide(Endpoint::Ping).replace, None);
        assert_eq!(s.decide(Endpoint::Klines).replace, Some(Fault::ServerError));
        assert_eq!(s.decide(Endpoint::Klines).replace, Some(Fault::ServerError));
        assert_eq!(s.decide(Endpoint::Klines).replace, None);
        s.inject(ScriptedFault {
            endpoint: Endpoint::Any,
            fault: Fault::AcceptThenDelay(Duration::from_millis(7)),
            times: 1,
        });
        assert_eq!(s.decide(Endpoint::Time).post_delay, Duration::from_millis(7));
        assert_eq!(s.decide(Endpoint::Time), Decision::default());
    }

    #[test]
    fn random_profile_is_reproducible_by_seed_and_hits_at_roughly_its_rate() {
        let run = |seed| {
            let mut s = FaultState::new(FaultProfile::chaos(), seed);
            (0..2000).map(|_| s.decide(Endpoint::CreateOrder)).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let errors = a.iter().filter(|d| d.replace == Some(Fault::ServerError)).count();
        // p = 0.05 over 2000 draws: expect ~100.
        assert!((50..150).contains(&errors), "{errors}");
        assert!(a.iter().all(|d| d.pre_delay >= Duration::from_millis(50)));
    }

    #[test]
    fn mid_session_delistings_fall_due_once_inside_their_window() {
        let mut s = FaultState::new(FaultProfile::storm(), 5);
        let start = Timestamp::from_millis(1_000_000);
        s.schedule_delistings(5, start);
        assert!(s.due_delistings(start).is_empty(), "not at the start");
        let end = start + FaultProfile::storm().delist_within;
        assert_eq!(s.due_delistings(end).len(), 1);
        assert!(s.due_delistings(end + Duration::from_secs(3600)).is_empty(), "once");
        let mut none = FaultState::new(FaultProfile::heavy(), 5);
        none.schedule_delistings(5, start);
        assert!(none.due_delistings(end).is_empty());
    }

    #[test]
    fn profile_names_parse() {
        for name in ["none", "mild", "light", "heavy", "storm", "chaos"] {
            assert_eq!(name.parse::<FaultProfile>().unwrap().name, name);
        }
        assert!(matches!("wild".parse::<FaultProfile>(), Err(SimError::UnknownProfile(n)) if n == "wild"));
        assert!(FaultProfile::none().is_none() && !FaultProfile::light().is_none());
        assert!(!FaultProfile::mild().is_none() && !FaultProfile::storm().is_none());
    }

    #[test]
    fn storm_hits_its_rates_and_half_of_its_order_timeouts_are_processed() {
        let mut s = FaultState::new(FaultProfile::storm(), 3);
        let n = 20_000;
        let d: Vec<Decision> = (0..n).map(|_| s.decide(Endpoint::CreateOrder)).collect();
        let share = |f: &dyn Fn(&Decision) -> bool| d.iter().filter(|x| f(x)).count() as f64 / n as f64;
        let near = |got: f64, want: f64| (got - want).abs() < want * 0.25;
        let timeouts = share(&|x| x.timeout);
        assert!(near(timeouts, 0.05), "timeouts {timeouts}");
        let processed = share(&|x| x.timeout && x.post_delay >= Duration::from_secs(10));
        assert!(near(processed, 0.025), "processed timeouts {processed}");
        let server = share(&|x| x.replace == Some(Fault::ServerError));
        assert!(near(server, 0.02), "5xx {server}");
        let limited = share(&|x| matches!(x.replace, Some(Fault::RateLimited { .. })));
        assert!(near(limited, 0.01), "429 {limited}");
        let malformed = share(&|x| x.replace == Some(Fault::MalformedBody));
        assert!(near(malformed, 0.01), "malformed {malformed}");
        // Reads are never "processed" timeouts: nothing to lose but the answer.
        let mut s = FaultState::new(FaultProfile::storm(), 3);
        assert!((0..5000)
            .map(|_| s.decide(Endpoint::QueryOrder))
            .all(|x| !x.timeout || x.post_delay.is_zero()));
    }
}
