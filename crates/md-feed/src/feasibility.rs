//! The start-up feasibility check: can this configuration meet its interval?
//!
//! Pure arithmetic over the cost model (`docs/md-feed.md`): a cycle of `R` requests costing `W`
//! weight cannot repeat faster than `W / (feed budget per minute)` minutes, nor faster than the
//! request latency allows with `MD_MAX_CONCURRENCY` in flight and batches spaced by
//! `MD_BATCH_INTERVAL_MS`. The achievable interval is the larger of the two, computed, not
//! guessed; when it is longer than the target the advice names the change that would meet it.

use std::time::Duration;

use telemetry::Event;

use crate::PollMode;

/// The inputs of the check (all from the venue's capabilities, the settings and the probe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostModel {
    /// The mode the feed will poll in (never `Auto`).
    pub mode: PollMode,
    /// Symbols to poll each cycle.
    pub symbols: u32,
    /// The configured cycle interval.
    pub target: Duration,
    /// Weight of one all-symbols request, when the venue has one.
    pub bulk_weight: Option<u32>,
    /// Weight of one list request (used in list mode).
    pub list_weight: u32,
    /// Weight of one single-symbol request.
    pub single_weight: u32,
    /// Weight per minute the feed's quote polling may spend.
    pub feed_budget_per_min: u64,
    /// The venue's whole budget per minute.
    pub venue_budget_per_min: u64,
    /// Latency of the start-up probe.
    pub probe_latency: Duration,
    /// `MD_MAX_CONCURRENCY`.
    pub max_concurrency: usize,
    /// `MD_BATCH_SIZE`.
    pub batch_size: usize,
    /// `MD_BATCH_INTERVAL_MS`.
    pub batch_interval: Duration,
}

/// The verdict of the check (also the FEED_FEASIBILITY event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feasibility {
    /// True when the target interval can be met.
    pub feasible: bool,
    /// The mode checked.
    pub mode: PollMode,
    /// Symbols per cycle.
    pub symbols: u32,
    /// The configured interval.
    pub target: Duration,
    /// The shortest interval this configuration can meet.
    pub achievable: Duration,
    /// The part of it the weight budget imposes.
    pub weight_limited: Duration,
    /// The part of it latency and concurrency impose.
    pub latency_limited: Duration,
    /// Requests per cycle.
    pub requests_per_cycle: u32,
    /// Weight per cycle.
    pub weight_per_cycle: u32,
    /// The feed's budget per minute.
    pub feed_budget_per_min: u64,
    /// The venue's budget per minute.
    pub venue_budget_per_min: u64,
    /// The probe's latency.
    pub probe_latency: Duration,
    /// The change that would meet the target (empty when feasible).
    pub advice: String,
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl CostModel {
    /// Requests and weight of one cycle.
    pub fn cycle_cost(&self) -> (u32, u32) {
        let n = self.symbols;
        match self.mode {
            PollMode::Bulk | PollMode::Auto => (1, self.bulk_weight.unwrap_or(self.list_weight)),
            PollMode::List => {
                let r = u32::try_from(ceil_div(u64::from(n), self.batch_size as u64)).unwrap_or(u32::MAX);
                (r, r.saturating_mul(self.list_weight))
            }
            PollMode::PerSymbol => (n, n.saturating_mul(self.single_weight)),
        }
    }

    /// Time the weight budget needs for `weight`.
    fn weight_time(&self, weight: u32) -> Duration {
        Duration::from_millis(ceil_div(u64::from(weight) * 60_000, self.feed_budget_per_min))
    }

    /// Time latency and concurrency need for one cycle.
    fn latency_time(&self, requests: u32) -> Duration {
        let latency = millis(self.probe_latency);
        let rounds = ceil_div(u64::from(requests), self.max_concurrency as u64);
        let batches = match self.mode {
            PollMode::Bulk | PollMode::Auto => 1,
            PollMode::List => u64::from(requests),
            PollMode::PerSymbol => ceil_div(u64::from(requests), self.batch_size as u64),
        };
        let spaced = batches.saturating_sub(1) * millis(self.batch_interval) + latency;
        Duration::from_millis((rounds * latency).max(spaced))
    }

    /// Runs the check.
    pub fn assess(&self) -> Feasibility {
        let (requests, weight) = self.cycle_cost();
        let weight_limited = self.weight_time(weight);
        let latency_limited = self.latency_time(requests);
        let achievable = weight_limited.max(latency_limited);
        let feasible = achievable <= self.target;
        let advice =
            if feasible { String::new() } else { self.advice(weight, weight_limited, latency_limited) };
        Feasibility {
            feasible,
            mode: self.mode,
            symbols: self.symbols,
            target: self.target,
            achievable,
            weight_limited,
            latency_limited,
            requests_per_cycle: requests,
            weight_per_cycle: weight,
            feed_budget_per_min: self.feed_budget_per_min,
            venue_budget_per_min: self.venue_budget_per_min,
            probe_latency: self.probe_latency,
            advice,
        }
    }

    fn advice(&self, weight: u32, weight_limited: Duration, latency_limited: Duration) -> String {
        let mut parts = Vec::new();
        let target_ms = millis(self.target);
        if let (Some(bulk), false) = (self.bulk_weight, matches!(self.mode, PollMode::Bulk | PollMode::Auto))
        {
            let bulk_ms = millis(self.weight_time(bulk)).max(millis(self.probe_latency));
            parts.push(format!(
                "bulk endpoint: {bulk} weight/cycle for all {} symbols (MD_MODE=bulk), meets {bulk_ms} ms",
                self.symbols
            ));
        }
        if weight_limited > self.target {
            let per_symbol = match self.mode {
                PollMode::PerSymbol => self.single_weight,
                _ => self.list_weight,
            };
            let fits = self.feed_budget_per_min * target_ms / 60_000;
            let max_symbols = match self.mode {
                PollMode::PerSymbol => fits / u64::from(per_symbol.max(1)),
                PollMode::List => fits / u64::from(per_symbol.max(1)) * self.batch_size as u64,
                _ => u64::from(self.symbols),
            };
            parts.push(format!(
                "weight-limited: {weight} weight/cycle with {} weight/min for the feed allows one cycle every {} ms; \
                 set MD_POLL_MS >= {}, or watch at most {max_symbols} symbols, or poll quiet symbols in the cold tier",
                self.feed_budget_per_min,
                millis(weight_limited),
                millis(weight_limited.max(latency_limited)),
            ));
        }
        if latency_limited > self.target {
            let (requests, _) = self.cycle_cost();
            let latency = millis(self.probe_latency).max(1);
            let rounds = (target_ms / latency).max(1);
            let needed = ceil_div(u64::from(requests), rounds);
            parts.push(format!(
                "latency-limited: {requests} requests at {latency} ms need MD_MAX_CONCURRENCY >= {needed} \
                 (and MD_BATCH_INTERVAL_MS small enough) to fit {target_ms} ms"
            ));
        }
        parts.join("; ")
    }
}

impl Feasibility {
    /// The FEED_FEASIBILITY event.
    pub fn event(&self) -> Event {
        Event::FeedFeasibility {
            feasible: self.feasible,
            mode: self.mode.as_str().to_owned(),
            symbols: self.symbols,
            target_ms: millis(self.target),
            achievable_ms: millis(self.achievable),
            weight_per_cycle: self.weight_per_cycle,
            weight_budget_per_min: u32::try_from(self.venue_budget_per_min).unwrap_or(u32::MAX),
            probe_latency_ms: millis(self.probe_latency),
            advice: self.advice.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance spot weights and budget; the feed gets the whole budget so the numbers match the
    /// cost model in the design (130 x 2 weight at 6000/min = 2.6 s).
    fn binance(mode: PollMode, symbols: u32) -> CostModel {
        CostModel {
            mode,
            symbols,
            target: Duration::from_millis(1500),
            bulk_weight: Some(4),
            list_weight: 4,
            single_weight: 2,
            feed_budget_per_min: 6000,
            venue_budget_per_min: 6000,
            probe_latency: Duration::from_millis(100),
            max_concurrency: 8,
            batch_size: 20,
            batch_interval: Duration::ZERO,
        }
    }

    #[test]
    fn per_symbol_130_on_binance_weights_cannot_meet_1500_ms() {
        let f = binance(PollMode::PerSymbol, 130).assess();
        assert!(!f.feasible);
        assert_eq!((f.requests_per_cycle, f.weight_per_cycle), (130, 260));
        assert_eq!(f.weight_limited, Duration::from_millis(2600));
        assert_eq!(f.achievable, Duration::from_millis(2600));
        assert!(f.advice.contains("bulk endpoint: 4 weight/cycle"), "{}", f.advice);
        assert!(f.advice.contains("MD_POLL_MS >= 2600"), "{}", f.advice);
        assert!(f.advice.contains("at most 75 symbols"), "{}", f.advice);
        let Event::FeedFeasibility { feasible, achievable_ms, weight_budget_per_min, .. } = f.event() else {
            unreachable!()
        };
        assert_eq!((feasible, achievable_ms, weight_budget_per_min), (false, 2600, 6000));
    }

    #[test]
    fn bulk_meets_the_interval_at_every_size() {
        for n in [130, 500, 2000] {
            let f = binance(PollMode::Bulk, n).assess();
            assert!(f.feasible, "{n}");
            assert_eq!((f.weight_per_cycle, f.achievable), (4, Duration::from_millis(100)));
            assert!(f.advice.is_empty());
        }
    }

    #[test]
    fn latency_limit_names_the_concurrency_needed() {
        let mut m = binance(PollMode::PerSymbol, 60);
        m.max_concurrency = 1; // 60 requests one after another at 100 ms = 6 s
        let f = m.assess();
        assert_eq!(f.latency_limited, Duration::from_secs(6));
        assert!(f.advice.contains("MD_MAX_CONCURRENCY >= 4"), "{}", f.advice); // 15 rounds of 100 ms fit 1500 ms
    }

    #[test]
    fn list_mode_costs_one_request_per_batch() {
        let f = binance(PollMode::List, 130).assess();
        assert_eq!((f.requests_per_cycle, f.weight_per_cycle), (7, 28));
        assert!(f.feasible);
    }
}
