//! `SimConfig`: everything that shapes a simulated venue.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use trading_core::{Clock, SystemClock};

use crate::{FaultProfile, ReplaySource, SimError};

/// API key the simulator accepts unless configured otherwise (test default, not a secret).
pub const DEFAULT_API_KEY: &str = "sim-api-key-0000000000000000000000000000000000000000000000000000";
/// API secret the simulator verifies signatures with unless configured otherwise (test default).
pub const DEFAULT_API_SECRET: &str = "sim-api-secret-00000000000000000000000000000000000000000000000000";

/// Configuration of a [`crate::SimExchange`] / [`crate::SimServer`].
///
/// `Default` is a usable paper-trading venue: 130 USDT markets, seed 42, real time, no faults,
/// 0.1 % fees, 10 000 USDT, the `DEFAULT_*` credentials, `127.0.0.1:0`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of synthetic markets (1..=20 000). Ignored in replay mode (one market per file).
    pub symbols: usize,
    /// Seed of every random choice: same seed (and same clock readings) = same prices and fills.
    pub seed: u64,
    /// Time source. With [`trading_core::ManualClock`] the market moves only when the clock does.
    pub clock: Arc<dyn Clock>,
    /// Random, seeded faults.
    pub faults: FaultProfile,
    /// API key signed requests must carry in `X-MBX-APIKEY`.
    pub api_key: String,
    /// HMAC-SHA256 secret of signed requests.
    pub api_secret: String,
    /// Address the HTTP server binds (port 0 = pick a free one).
    pub addr: SocketAddr,
    /// Fee of orders that take liquidity, as a fraction (0.001 = 0.1 %).
    pub taker_fee: Decimal,
    /// Fee of resting orders when they fill, as a fraction.
    pub maker_fee: Decimal,
    /// Extra slippage of market orders in basis points, on top of walking the simulated book.
    pub slippage_bps: Decimal,
    /// Fixed extra latency of every answer (the CLI's `--latency-ms`), added to the profile's.
    pub latency: Duration,
    /// Starting balances by asset.
    pub initial_balances: BTreeMap<String, Decimal>,
    /// Request-weight budget per minute (Binance: 6000); exceeding it gives 429, continuing 418.
    pub weight_limit_per_minute: u32,
    /// Simulation step: the market moves once per step of simulated time.
    pub tick_interval: Duration,
    /// One-minute candles kept per symbol (history before the session start included): what
    /// klines of 1, 3 and 5 minutes answer from the path (older ones are synthesised). The 24h
    /// ticker and klines of 15 minutes and wider read the last day's quarter-hour buckets, kept
    /// besides (97 per symbol), so a market's memory stays small and flat over any session.
    pub history_minutes: u32,
    /// Average number of sharp drops (1-10 %, partly recovered) per symbol and simulated hour.
    pub drops_per_hour: f64,
    /// Time control: when set, every market-data call advances simulated time by this much, so
    /// a consumer that polls in a loop replays a long session in seconds.
    pub pull_step: Option<Duration>,
    /// Replay mode: when non-empty, prices come from these OHLCV files instead of the random
    /// model, one market per file.
    pub replay: Vec<ReplaySource>,
    /// The venue's acceptance window: how long after a request's timestamp an order may still
    /// be accepted and show up (Binance: `recvWindow` 5 s + backend timeout 10 s = 15 s). Order
    /// resolution treats "not found" as proof of absence only after it. Short in tests.
    pub acceptance_window: Duration,
    /// Late visibility: an accepted order answers "Order does not exist." (`-2013`) to queries
    /// for this long after it was created, as Binance does for seconds after accepting an
    /// order. Zero (the default) shows orders at once. Must not exceed `acceptance_window`.
    pub order_visibility_delay: Duration,
    /// The API dialect served over HTTP: Binance spot v3 (default) or MEXC spot v3.
    pub dialect: Dialect,
    /// Extra listings (venue names) that exchangeInfo shows but the bot's symbol vocabulary
    /// cannot represent, e.g. `币安人生USDT` as on Binance's spot testnet. They trade nowhere;
    /// they exist to test that clients skip them.
    pub unrepresentable_listings: Vec<String>,
    /// Compress answers with gzip for clients that send `Accept-Encoding: gzip`, as Binance
    /// does (default on).
    pub gzip: bool,
    /// Transfer-time model of a real network: when set, every HTTP answer is delayed by its
    /// body size (after compression) divided by this many bytes per second, on top of the
    /// latency. `None` (default): loopback speed.
    pub bandwidth_bytes_per_sec: Option<u64>,
}

/// The REST dialect the simulator speaks over HTTP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// Binance spot REST v3: `X-MBX-APIKEY`, `X-MBX-USED-WEIGHT-1M`, `-1121`/`-2013`/... codes,
    /// `newOrderRespType` answers with status and fills.
    #[default]
    Binance,
    /// MEXC spot v3: `X-MEXC-APIKEY`, no used-weight header, MEXC error codes (`10007` bad
    /// symbol, `700002` bad signature, `700003` timestamp, `700004` missing parameter, `10072`
    /// bad key), time in force in the order type (`IMMEDIATE_OR_CANCEL`, `FILL_OR_KILL`),
    /// `PARTIALLY_CANCELED`, and a create-order answer without status or filled quantity.
    Mexc,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            symbols: 130,
            seed: 42,
            clock: Arc::new(SystemClock),
            faults: FaultProfile::none(),
            api_key: DEFAULT_API_KEY.to_owned(),
            api_secret: DEFAULT_API_SECRET.to_owned(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            taker_fee: Decimal::new(1, 3),
            maker_fee: Decimal::new(1, 3),
            slippage_bps: Decimal::ZERO,
            latency: Duration::ZERO,
            initial_balances: BTreeMap::from([("USDT".to_owned(), Decimal::from(10_000))]),
            weight_limit_per_minute: 6000,
            tick_interval: Duration::from_secs(1),
            history_minutes: 120,
            drops_per_hour: 0.3,
            pull_step: None,
            replay: Vec::new(),
            acceptance_window: Duration::from_secs(15),
            order_visibility_delay: Duration::ZERO,
            dialect: Dialect::Binance,
            unrepresentable_listings: Vec::new(),
            gzip: true,
            bandwidth_bytes_per_sec: None,
        }
    }
}

impl SimConfig {
    /// Largest supported number of synthetic symbols.
    pub const MAX_SYMBOLS: usize = 20_000;

    /// Checks every value; the error names the setting and what is allowed.
    pub fn validate(&self) -> Result<(), SimError> {
        let err = |field, value: String, reason| Err(SimError::Config { field, value, reason });
        if self.replay.is_empty() && !(1..=Self::MAX_SYMBOLS).contains(&self.symbols) {
            return err("symbols", self.symbols.to_string(), "must be 1..=20000");
        }
        for (field, fee) in [("taker_fee", self.taker_fee), ("maker_fee", self.maker_fee)] {
            if fee < Decimal::ZERO || fee >= Decimal::ONE {
                return err(field, fee.to_string(), "must be a fraction in [0, 1)");
            }
        }
        if self.slippage_bps < Decimal::ZERO || self.slippage_bps > Decimal::from(1000) {
            return err("slippage_bps", self.slippage_bps.to_string(), "must be 0..=1000");
        }
        if self.tick_interval < Duration::from_millis(1) || self.tick_interval > Duration::from_secs(60) {
            return err("tick_interval", format!("{:?}", self.tick_interval), "must be 1 ms ..= 60 s");
        }
        if self.history_minutes == 0 || self.history_minutes > 100_000 {
            return err("history_minutes", self.history_minutes.to_string(), "must be 1..=100000");
        }
        if self.weight_limit_per_minute == 0 {
            return err("weight_limit_per_minute", "0".into(), "must be positive");
        }
        if self.acceptance_window.is_zero() || self.acceptance_window > Duration::from_secs(120) {
            return err(
                "acceptance_window",
                format!("{:?}", self.acceptance_window),
                "must be 1 ms ..= 120 s",
            );
        }
        if self.faults.order_visibility_delay > self.acceptance_window {
            return err(
                "faults.order_visibility_delay",
                format!("{:?}", self.faults.order_visibility_delay),
                "must not exceed acceptance_window (an order must show up within the window)",
            );
        }
        if self.order_visibility_delay > self.acceptance_window {
            return err(
                "order_visibility_delay",
                format!("{:?}", self.order_visibility_delay),
                "must not exceed acceptance_window (an order must show up within the window)",
            );
        }
        if self.bandwidth_bytes_per_sec == Some(0) {
            return err("bandwidth_bytes_per_sec", "0".into(), "must be positive (or unset)");
        }
        if !(0.0..=60.0).contains(&self.drops_per_hour) {
            return err("drops_per_hour", self.drops_per_hour.to_string(), "must be 0..=60");
        }
        if self.api_key.is_empty() || self.api_secret.is_empty() {
            return err("api_key/api_secret", String::new(), "must not be empty");
        }
        for (asset, amount) in &self.initial_balances {
            if *amount < Decimal::ZERO {
                return err("initial_balances", format!("{asset}={amount}"), "must not be negative");
            }
        }
        let p = &self.faults;
        for (field, prob) in [
            ("faults.p_timeout", p.p_timeout),
            ("faults.p_late_report", p.p_late_report),
            ("faults.p_rate_limited", p.p_rate_limited),
            ("faults.p_server_error", p.p_server_error),
            ("faults.p_malformed", p.p_malformed),
            ("faults.p_partial_then_cancel", p.p_partial_then_cancel),
        ] {
            if !(0.0..=1.0).contains(&prob) {
                return err(field, prob.to_string(), "must be a probability in [0, 1]");
            }
        }
        if p.latency_min > p.latency_max {
            return err("faults.latency_min", format!("{:?}", p.latency_min), "must not exceed latency_max");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_values_are_named() {
        assert!(SimConfig::default().validate().is_ok());
        let bad = SimConfig { symbols: 0, ..SimConfig::default() };
        assert!(matches!(bad.validate(), Err(SimError::Config { field: "symbols", .. })));
        let bad = SimConfig { order_visibility_delay: Duration::from_secs(20), ..SimConfig::default() };
        assert!(matches!(bad.validate(), Err(SimError::Config { field: "order_visibility_delay", .. })));
        let bad = SimConfig { taker_fee: Decimal::ONE, ..SimConfig::default() };
        assert!(matches!(bad.validate(), Err(SimError::Config { field: "taker_fee", .. })));
        let mut faults = FaultProfile::none();
        faults.p_malformed = 1.5;
        let bad = SimConfig { faults, ..SimConfig::default() };
        assert!(matches!(bad.validate(), Err(SimError::Config { field: "faults.p_malformed", .. })));
    }
}
