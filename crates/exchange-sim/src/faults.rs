//! Fault injection: scripted one-shot faults for tests and seeded random fault profiles.

use std::collections::VecDeque;
use std::str::FromStr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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
    /// Profile name (`none`, `light`, `heavy`, `chaos`, or `custom`).
    pub name: String,
    /// Extra latency of every answer: uniform in `latency_min..=latency_max`.
    pub latency_min: Duration,
    /// Upper end of the latency range.
    pub latency_max: Duration,
    /// Probability of a very slow answer (`Fault::Latency(timeout_delay)`), which clients see as
    /// a timeout.
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
}

impl FaultState {
    pub(crate) fn new(profile: FaultProfile, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0xFA17);
        FaultState { scripted: VecDeque::new(), profile, rng }
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
        let random = if pick(p.p_timeout) {
            Some(Fault::Latency(p.timeout_delay))
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
    fn profile_names_parse() {
        for name in ["none", "light", "heavy", "chaos"] {
            assert_eq!(name.parse::<FaultProfile>().unwrap().name, name);
        }
        assert!(matches!("wild".parse::<FaultProfile>(), Err(SimError::UnknownProfile(n)) if n == "wild"));
        assert!(FaultProfile::none().is_none() && !FaultProfile::light().is_none());
    }
}
