//! Settings: every value the bot runs with, merged from defaults, a TOML file, the environment
//! and command-line flags (each later source wins), validated before anything starts, with the
//! source of every value kept for the session's `config.toml`.
//!
//! Names: a setting is `MD_POLL_MS` in the environment and on the command line
//! (`--set MD_POLL_MS=1500`), and `md_poll_ms` in the TOML file. Secrets (API keys) are not
//! settings: they come from the environment only ([`crate::Credentials`]) and are never written.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::SettingsError;

/// Which venue the bot trades on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VenueKind {
    /// The embedded simulated venue, in-process, on simulated time (the default).
    Sim,
    /// The simulator's HTTP server on 127.0.0.1, reached through the real REST client, in real
    /// time.
    SimHttp,
    /// Binance spot.
    Binance,
    /// Binance's spot testnet.
    BinanceTestnet,
    /// MEXC spot v3.
    Mexc,
}

impl VenueKind {
    /// True for venues where real money (or a real account) is at stake: keys are required and
    /// order flow is off unless enabled explicitly.
    pub fn is_real(self) -> bool {
        matches!(self, VenueKind::Binance | VenueKind::BinanceTestnet | VenueKind::Mexc)
    }

    /// The setting's text.
    pub fn as_str(self) -> &'static str {
        match self {
            VenueKind::Sim => "sim",
            VenueKind::SimHttp => "sim-http",
            VenueKind::Binance => "binance",
            VenueKind::BinanceTestnet => "binance-testnet",
            VenueKind::Mexc => "mexc",
        }
    }
}

/// The simulated venue's fault profile (`SIM_FAULTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultProfile {
    /// No injected faults.
    None,
    /// A normal day's hiccups (`exchange_sim::FaultProfile::mild`): little latency, rare
    /// timeouts, 5xx, 429 and garbled bodies, a few partial fills, orders invisible for 0.5 s.
    Mild,
    /// The storm (`exchange_sim::FaultProfile::storm`): timeouts 5 %, 5xx 2 %, 429 1 %,
    /// malformed bodies 1 %, delisted symbols, orders invisible for 3 s after acceptance,
    /// partial fills then cancels, and one market delisted mid-session.
    Storm,
}

/// How the market-data feed polls (`MD_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedMode {
    /// The bulk endpoint when the venue has one, otherwise per-symbol requests.
    Auto,
    /// One request for every quote.
    Bulk,
    /// Per-symbol requests in batches.
    PerSymbol,
}

/// What the watchdog does about a late heartbeat (`HEARTBEAT_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeartbeatMode {
    /// Report only.
    Warn,
    /// Report and shut down in order.
    Enforce,
}

/// Every setting, as merged and type-checked. [`Settings::load`] also validates ranges and
/// cross-field rules, so a `Settings` value that exists is one the bot can run with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    // ----- venue and session -----
    /// `VENUE`: `sim` (default), `sim-http`, `binance`, `binance-testnet`, `mexc`.
    pub venue: VenueKind,
    /// `BASE_URL`: any Binance-compatible endpoint instead of the venue's own.
    pub base_url: Option<String>,
    /// `SESSION_DIR`: where session directories are created.
    pub session_dir: PathBuf,
    /// `STATE_DB`: the order ledger. Default: inside the session directory for a fresh
    /// simulated venue, `state/<venue>.sqlite` otherwise (so a restart continues).
    pub state_db: Option<PathBuf>,
    /// `LOG_RETENTION_SESSIONS`: session directories kept (older ones are removed at start).
    pub log_retention_sessions: u32,
    /// `SESSION_DURATION_MIN`: how long the session runs, in (simulated) minutes; 0 = until
    /// stopped (live venues only).
    pub session_duration_min: u64,
    /// `WATCHLIST`: symbols to trade (`BTC/USDT,ETH/USDT`); empty = every trading USDT market.
    #[serde(deserialize_with = "list")]
    pub watchlist: Vec<String>,
    /// `REALTIME`: run the in-process simulated venue in real time instead of simulated time.
    pub realtime: bool,
    /// `METRICS_ADDR`: serve Prometheus metrics here (e.g. `127.0.0.1:9898`); unset = off.
    pub metrics_addr: Option<SocketAddr>,

    // ----- simulated venue -----
    /// `SIM_SYMBOLS`: markets the simulator lists (BTC/USDT first).
    pub sim_symbols: u32,
    /// `SIM_SEED`: the simulated market's seed (same seed and settings: same session).
    pub sim_seed: u64,
    /// `SIM_EPOCH_MS`: the simulated session's start time (ms since 1970), fixed so that a
    /// session's timestamps are reproducible.
    pub sim_epoch_ms: i64,
    /// `SIM_LATENCY_MS`: latency the simulator adds to every request.
    pub sim_latency_ms: u64,
    /// `SIM_FAULTS`: `none`, `mild` or `storm`.
    pub sim_faults: FaultProfile,
    /// `SIM_REPLAY`: OHLCV files to replay instead of the generated market, as `PATH` or
    /// `BASE/QUOTE=PATH` (without a symbol, the file name's leading letters and digits, quoted
    /// in USDT: `btc_1m.csv` and `BTCUSDT-1m.csv` are `BTC/USDT`).
    #[serde(deserialize_with = "list")]
    pub sim_replay: Vec<String>,
    /// `SIM_START_USDT`: the simulated account's starting quote balance.
    pub sim_start_usdt: Decimal,

    // ----- market data -----
    /// `MD_POLL_MS`: one market-data cycle every this many milliseconds.
    pub md_poll_ms: u64,
    /// `MD_MODE`: `auto`, `bulk` or `per-symbol`.
    pub md_mode: FeedMode,
    /// `MD_BATCH_SIZE`: symbols per batch in per-symbol mode.
    pub md_batch_size: u32,
    /// `MD_BATCH_INTERVAL_MS`: pause between two batches in per-symbol mode.
    pub md_batch_interval_ms: u64,
    /// `MD_MAX_CONCURRENCY`: requests in flight at most.
    pub md_max_concurrency: u32,
    /// `MD_HOT_MS`: cadence of hot symbols (recent drop, open order, held position).
    pub md_hot_ms: u64,
    /// `MD_WARM_MS`: cadence of warm symbols (the default tier).
    pub md_warm_ms: u64,
    /// `MD_COLD_MS`: cadence of cold symbols (quiet, low volume).
    pub md_cold_ms: u64,
    /// `MD_HEALTH_S`: an MD_HEALTH event every this many seconds.
    pub md_health_s: u64,

    // ----- signals -----
    /// `DROP_TRIGGER_VALUE`: fire when `price / reference <= value` (0.985 = a 1.5 % drop).
    pub drop_trigger_value: Decimal,
    /// `DROP_TRIGGER_MODE`: 1 window high, 2 window open, 3 running high, 4 anchor reset.
    pub drop_trigger_mode: u8,
    /// `DROP_TRIGGER_LOOKBACK_MIN`: the lookback window.
    pub drop_trigger_lookback_min: u32,
    /// `GUARD_MARKET_CRASH_SYMBOL`: the market whose fall blocks every trigger.
    pub guard_market_crash_symbol: String,
    /// `GUARD_MARKET_CRASH_WINDOW_MIN`: the crash guard's window.
    pub guard_market_crash_window_min: u32,
    /// `GUARD_MARKET_CRASH_MAX_DROP_PCT`: block while that market fell more than this; `off` =
    /// guard off.
    #[serde(deserialize_with = "off_or_decimal")]
    pub guard_market_crash_max_drop_pct: Option<Decimal>,
    /// `GUARD_MAX_SPREAD_PCT`: block when the spread is wider; `off` = off.
    #[serde(deserialize_with = "off_or_decimal")]
    pub guard_max_spread_pct: Option<Decimal>,
    /// `GUARD_MIN_QUOTE_VOLUME_24H`: block thinner markets; `off` = off.
    #[serde(deserialize_with = "off_or_decimal")]
    pub guard_min_quote_volume_24h: Option<Decimal>,
    /// `GUARD_FALLING_KNIFE_MAX_DROP_PCT`: block drops deeper than this; `off` = off.
    #[serde(deserialize_with = "off_or_decimal")]
    pub guard_falling_knife_max_drop_pct: Option<Decimal>,
    /// `GUARD_COOLDOWN_S`: per-symbol quiet time after a trigger; 0 = off.
    pub guard_cooldown_s: u64,
    /// `BLACKLIST`: symbols that never trigger.
    #[serde(deserialize_with = "list")]
    pub blacklist: Vec<String>,
    /// `TAKE_PROFIT_PCT`: sell at `entry * (1 + x/100)`; `off` = off.
    #[serde(deserialize_with = "off_or_decimal")]
    pub take_profit_pct: Option<Decimal>,
    /// `STOP_LOSS_PCT`: sell at `entry * (1 - x/100)`; `off` = off.
    #[serde(deserialize_with = "off_or_decimal")]
    pub stop_loss_pct: Option<Decimal>,
    /// `TRAILING_ACTIVATION_PCT`: the trailing stop arms at `entry * (1 + x/100)`.
    #[serde(deserialize_with = "off_or_decimal")]
    pub trailing_activation_pct: Option<Decimal>,
    /// `TRAILING_DISTANCE_PCT`: then sells at `peak * (1 - x/100)`.
    #[serde(deserialize_with = "off_or_decimal")]
    pub trailing_distance_pct: Option<Decimal>,
    /// `MAX_HOLD_MIN`: sell after holding this long; 0 = off.
    pub max_hold_min: u64,

    // ----- orders -----
    /// `BUDGET_USDT`: the quote budget the router may use (reserved + committed never exceed
    /// it); unset = `POSITION_SIZE_USDT * MAX_CONCURRENT_POSITIONS` plus 2 % for fees.
    pub budget_usdt: Option<Decimal>,
    /// `POSITION_SIZE_USDT`: quote amount per position.
    pub position_size_usdt: Decimal,
    /// `MAX_CONCURRENT_POSITIONS`: open positions at most.
    pub max_concurrent_positions: u32,
    /// `GLOBAL_TRADING`: the master switch; false = no new intents at all.
    pub global_trading: bool,
    /// `ORDER_FLOW_ENABLED`: false = the full decision path and its events, no order sent.
    /// Default: true on the simulated venues, false on real ones.
    pub order_flow_enabled: Option<bool>,
    /// `ORDER_DEADLINE_S`: an order not filled by then is canceled.
    pub order_deadline_s: u64,

    // ----- supervisor -----
    /// `HEARTBEAT_TIMEOUT_S`: a task silent this long is late.
    pub heartbeat_timeout_s: u64,
    /// `HEARTBEAT_MODE`: `warn` or `enforce`.
    pub heartbeat_mode: HeartbeatMode,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            venue: VenueKind::Sim,
            base_url: None,
            session_dir: PathBuf::from("sessions"),
            state_db: None,
            log_retention_sessions: 20,
            session_duration_min: 24 * 60,
            watchlist: Vec::new(),
            realtime: false,
            metrics_addr: None,
            sim_symbols: 130,
            sim_seed: 42,
            // 2026-01-05T00:00:00Z: a fixed, documented start for simulated sessions.
            sim_epoch_ms: 1_767_571_200_000,
            sim_latency_ms: 100,
            sim_faults: FaultProfile::None,
            sim_replay: Vec::new(),
            sim_start_usdt: Decimal::new(10_000, 0),
            md_poll_ms: 1_500,
            md_mode: FeedMode::Auto,
            md_batch_size: 20,
            md_batch_interval_ms: 50,
            md_max_concurrency: 8,
            md_hot_ms: 1_500,
            md_warm_ms: 1_500,
            md_cold_ms: 6_000,
            md_health_s: 60,
            drop_trigger_value: Decimal::new(985, 3),
            drop_trigger_mode: 4,
            drop_trigger_lookback_min: 15,
            guard_market_crash_symbol: "BTC/USDT".into(),
            guard_market_crash_window_min: 60,
            guard_market_crash_max_drop_pct: Some(Decimal::new(3, 0)),
            guard_max_spread_pct: Some(Decimal::new(5, 1)),
            guard_min_quote_volume_24h: None,
            guard_falling_knife_max_drop_pct: Some(Decimal::new(8, 0)),
            guard_cooldown_s: 30 * 60,
            blacklist: Vec::new(),
            take_profit_pct: Some(Decimal::new(2, 0)),
            stop_loss_pct: Some(Decimal::new(3, 0)),
            trailing_activation_pct: Some(Decimal::new(1, 0)),
            trailing_distance_pct: Some(Decimal::new(5, 1)),
            max_hold_min: 240,
            budget_usdt: None,
            position_size_usdt: Decimal::new(100, 0),
            max_concurrent_positions: 5,
            global_trading: true,
            order_flow_enabled: None,
            order_deadline_s: 30,
            heartbeat_timeout_s: 30,
            heartbeat_mode: HeartbeatMode::Warn,
        }
    }
}

/// Every setting's name as the environment spells it, in declaration order. A test checks it
/// against the struct.
pub const KEYS: &[&str] = &[
    "VENUE",
    "BASE_URL",
    "SESSION_DIR",
    "STATE_DB",
    "LOG_RETENTION_SESSIONS",
    "SESSION_DURATION_MIN",
    "WATCHLIST",
    "REALTIME",
    "METRICS_ADDR",
    "SIM_SYMBOLS",
    "SIM_SEED",
    "SIM_EPOCH_MS",
    "SIM_LATENCY_MS",
    "SIM_FAULTS",
    "SIM_REPLAY",
    "SIM_START_USDT",
    "MD_POLL_MS",
    "MD_MODE",
    "MD_BATCH_SIZE",
    "MD_BATCH_INTERVAL_MS",
    "MD_MAX_CONCURRENCY",
    "MD_HOT_MS",
    "MD_WARM_MS",
    "MD_COLD_MS",
    "MD_HEALTH_S",
    "DROP_TRIGGER_VALUE",
    "DROP_TRIGGER_MODE",
    "DROP_TRIGGER_LOOKBACK_MIN",
    "GUARD_MARKET_CRASH_SYMBOL",
    "GUARD_MARKET_CRASH_WINDOW_MIN",
    "GUARD_MARKET_CRASH_MAX_DROP_PCT",
    "GUARD_MAX_SPREAD_PCT",
    "GUARD_MIN_QUOTE_VOLUME_24H",
    "GUARD_FALLING_KNIFE_MAX_DROP_PCT",
    "GUARD_COOLDOWN_S",
    "BLACKLIST",
    "TAKE_PROFIT_PCT",
    "STOP_LOSS_PCT",
    "TRAILING_ACTIVATION_PCT",
    "TRAILING_DISTANCE_PCT",
    "MAX_HOLD_MIN",
    "BUDGET_USDT",
    "POSITION_SIZE_USDT",
    "MAX_CONCURRENT_POSITIONS",
    "GLOBAL_TRADING",
    "ORDER_FLOW_ENABLED",
    "ORDER_DEADLINE_S",
    "HEARTBEAT_TIMEOUT_S",
    "HEARTBEAT_MODE",
];

/// Prefixes of our settings: an environment variable with one of them that is not a known
/// setting is a typo, and an error (a silently ignored `MD_POL_MS` is how bad sessions start).
const OWN_PREFIXES: &[&str] = &[
    "MD_",
    "SIM_",
    "DROP_TRIGGER_",
    "GUARD_",
    "TAKE_PROFIT",
    "STOP_LOSS",
    "TRAILING_",
    "MAX_HOLD",
    "POSITION_",
    "MAX_CONCURRENT",
    "ORDER_",
    "HEARTBEAT_",
    "SESSION_",
];

/// Where one setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingSource {
    /// The built-in default.
    Default,
    /// The TOML file at this path.
    File(PathBuf),
    /// The environment variable of the setting's name.
    Env,
    /// A command-line flag.
    Flag,
}

impl fmt::Display for SettingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingSource::Default => f.write_str("default"),
            SettingSource::File(path) => write!(f, "file {}", path.display()),
            SettingSource::Env => f.write_str("environment"),
            SettingSource::Flag => f.write_str("command line"),
        }
    }
}

/// The layers [`Settings::load`] merges, lowest first after the defaults.
#[derive(Debug, Clone, Default)]
pub struct SettingsSources {
    /// The TOML file (`--config`), if any. A named file that does not exist is an error.
    pub file: Option<PathBuf>,
    /// Environment variables (the process environment in the binary; a fixed list in tests).
    pub env: Vec<(String, String)>,
    /// Command-line overrides as `(SETTING_NAME, value text)`, e.g. from `--set KEY=VALUE` or
    /// `--symbols 500`.
    pub flags: Vec<(String, String)>,
}

/// Settings together with the source of each value.
#[derive(Debug, Clone)]
pub struct LoadedSettings {
    /// The validated settings.
    pub settings: Settings,
    /// Setting name (environment spelling) -> where its value came from.
    pub sources: BTreeMap<&'static str, SettingSource>,
}

const FLAG_PROVIDER: &str = "command line";
const ENV_PROVIDER: &str = "environment";

/// A figment provider over a fixed list of `NAME=value` pairs (the environment, or flags),
/// keyed by the settings' lower-case names; values are parsed like figment parses environment
/// values (`1500` a number, `true` a bool, anything else text).
struct Pairs {
    name: &'static str,
    pairs: Vec<(String, String)>,
}

impl Provider for Pairs {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, value) in &self.pairs {
            let parsed: Value = value.parse().unwrap_or_else(|_| Value::from(value.clone()));
            dict.insert(key.to_ascii_lowercase(), parsed);
        }
        Ok(Profile::Default.collect(dict))
    }
}

impl Settings {
    /// Merges defaults < file < environment < flags, type-checks and validates every value.
    ///
    /// # Errors
    /// [`SettingsError`] naming the setting, where its value came from, the value and what is
    /// allowed: an unknown key (in the file, among the flags, or an environment variable with
    /// one of our prefixes), a wrong type, a value out of range, a missing credential for a
    /// real venue, or an unreadable file. Nothing is created before this returns `Ok`.
    pub fn load(sources: &SettingsSources) -> Result<LoadedSettings, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = &sources.file {
            if !path.is_file() {
                return Err(SettingsError::File { path: path.clone(), reason: "no such file".into() });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = own_env(&sources.env)?;
        figment = figment.merge(Pairs { name: ENV_PROVIDER, pairs: env });
        for (key, _) in &sources.flags {
            if !KEYS.contains(&key.to_ascii_uppercase().as_str()) {
                return Err(SettingsError::UnknownKey {
                    key: key.clone(),
                    origin: SettingSource::Flag.to_string(),
                    known: KEYS.join(", "),
                });
            }
        }
        figment = figment.merge(Pairs { name: FLAG_PROVIDER, pairs: sources.flags.clone() });

        let settings: Settings = figment.extract().map_err(|e| from_figment(&figment, e, sources))?;
        let sources_map =
            KEYS.iter().map(|key| (*key, source_of(&figment, key, sources))).collect::<BTreeMap<_, _>>();
        let loaded = LoadedSettings { settings, sources: sources_map };
        loaded.settings.validate(&loaded.sources)?;
        Ok(loaded)
    }

    /// The router's budget: `BUDGET_USDT`, or enough for `MAX_CONCURRENT_POSITIONS` positions
    /// of `POSITION_SIZE_USDT` with 2 % for fees.
    pub fn budget_usdt(&self) -> Decimal {
        self.budget_usdt.unwrap_or_else(|| {
            self.position_size_usdt * Decimal::from(self.max_concurrent_positions) * Decimal::new(102, 2)
        })
    }

    /// Whether orders are sent: `ORDER_FLOW_ENABLED`, defaulting to on for the simulated venues
    /// and off for real ones.
    pub fn order_flow(&self) -> bool {
        self.order_flow_enabled.unwrap_or(!self.venue.is_real())
    }

    /// Range and cross-field checks the types cannot express.
    fn validate(&self, sources: &BTreeMap<&'static str, SettingSource>) -> Result<(), SettingsError> {
        let bad = |key: &'static str, value: &dyn fmt::Display, allowed: &str| SettingsError::Invalid {
            key: key.to_owned(),
            origin: sources.get(key).map_or_else(|| "default".to_owned(), ToString::to_string),
            value: value.to_string(),
            allowed: allowed.to_owned(),
        };
        let range = |key: &'static str, v: u64, lo: u64, hi: u64, unit: &str| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(bad(key, &v, &format!("{lo}..={hi} {unit}")))
            }
        };
        range("SIM_SYMBOLS", u64::from(self.sim_symbols), 1, 5_000, "markets")?;
        range("SIM_LATENCY_MS", self.sim_latency_ms, 0, 10_000, "ms")?;
        range("LOG_RETENTION_SESSIONS", u64::from(self.log_retention_sessions), 1, 10_000, "sessions")?;
        range("SESSION_DURATION_MIN", self.session_duration_min, 0, 7 * 24 * 60, "minutes")?;
        if self.session_duration_min == 0 && !self.venue.is_real() && !self.realtime {
            return Err(bad(
                "SESSION_DURATION_MIN",
                &0,
                "1..=10080 minutes on simulated time (0 = until stopped needs a live venue or REALTIME)",
            ));
        }
        range("MD_POLL_MS", self.md_poll_ms, 100, 600_000, "ms")?;
        range("MD_BATCH_SIZE", u64::from(self.md_batch_size), 1, 1_000, "symbols")?;
        range("MD_BATCH_INTERVAL_MS", self.md_batch_interval_ms, 0, 60_000, "ms")?;
        range("MD_MAX_CONCURRENCY", u64::from(self.md_max_concurrency), 1, 256, "requests")?;
        range("MD_HOT_MS", self.md_hot_ms, 100, 600_000, "ms")?;
        range("MD_WARM_MS", self.md_warm_ms, 100, 600_000, "ms")?;
        range("MD_COLD_MS", self.md_cold_ms, 100, 3_600_000, "ms")?;
        if self.md_hot_ms > self.md_warm_ms || self.md_warm_ms > self.md_cold_ms {
            return Err(bad(
                "MD_WARM_MS",
                &self.md_warm_ms,
                &format!("MD_HOT_MS ({}) <= MD_WARM_MS <= MD_COLD_MS ({})", self.md_hot_ms, self.md_cold_ms),
            ));
        }
        range("MD_HEALTH_S", self.md_health_s, 1, 86_400, "s")?;
        range("ORDER_DEADLINE_S", self.order_deadline_s, 1, 86_400, "s")?;
        range("HEARTBEAT_TIMEOUT_S", self.heartbeat_timeout_s, 1, 3_600, "s")?;
        range("MAX_CONCURRENT_POSITIONS", u64::from(self.max_concurrent_positions), 1, 1_000, "positions")?;
        if self.position_size_usdt <= Decimal::ZERO {
            return Err(bad("POSITION_SIZE_USDT", &self.position_size_usdt, "a quote amount greater than 0"));
        }
        if let Some(budget) = self.budget_usdt {
            if budget < self.position_size_usdt {
                return Err(bad("BUDGET_USDT", &budget, "at least POSITION_SIZE_USDT"));
            }
        }
        if !self.venue.is_real() && self.budget_usdt() > self.sim_start_usdt {
            return Err(bad(
                "BUDGET_USDT",
                &self.budget_usdt(),
                &format!("at most the simulated account's SIM_START_USDT ({})", self.sim_start_usdt),
            ));
        }
        if self.sim_start_usdt <= Decimal::ZERO {
            return Err(bad("SIM_START_USDT", &self.sim_start_usdt, "a quote amount greater than 0"));
        }
        if let Some(url) = &self.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad("BASE_URL", url, "an http:// or https:// URL"));
            }
        }
        if self.trailing_activation_pct.is_some() != self.trailing_distance_pct.is_some() {
            return Err(bad(
                "TRAILING_DISTANCE_PCT",
                &self.trailing_distance_pct.map_or_else(|| "unset".to_owned(), |d| d.to_string()),
                "set together with TRAILING_ACTIVATION_PCT (both or neither)",
            ));
        }
        for (key, list) in [("WATCHLIST", &self.watchlist), ("BLACKLIST", &self.blacklist)] {
            for name in list {
                if name.parse::<trading_core::Symbol>().is_err() {
                    return Err(bad(key, name, "symbols as BASE/QUOTE, comma-separated (BTC/USDT,ETH/USDT)"));
                }
            }
        }
        if self.guard_market_crash_symbol.parse::<trading_core::Symbol>().is_err() {
            return Err(bad(
                "GUARD_MARKET_CRASH_SYMBOL",
                &self.guard_market_crash_symbol,
                "a symbol as BASE/QUOTE",
            ));
        }
        for entry in &self.sim_replay {
            let ok = replay_entry(entry).is_some_and(|(_, path)| path.is_file());
            if !ok {
                return Err(bad(
                    "SIM_REPLAY",
                    entry,
                    "existing OHLCV files (CSV or JSON), as PATH or BASE/QUOTE=PATH",
                ));
            }
        }
        // The signal settings are validated by the signals crate's own constructors, which name
        // the setting; the bot adds where the value came from.
        crate::wiring::signal_configs(self).map_err(|e| match e {
            signals::SignalError::InvalidSetting { setting, value, allowed } => SettingsError::Invalid {
                key: setting.to_owned(),
                origin: sources.get(setting).map_or_else(|| "default".to_owned(), ToString::to_string),
                value,
                allowed: allowed.to_owned(),
            },
            other => SettingsError::Invalid {
                key: "DROP_TRIGGER_VALUE".into(),
                origin: "signals".into(),
                value: String::new(),
                allowed: other.to_string(),
            },
        })?;
        Ok(())
    }

    /// The effective settings as TOML, each value with a comment naming its source. Secrets are
    /// not settings, so there is nothing to redact here; the credentials' presence is noted.
    pub fn to_snapshot(&self, sources: &BTreeMap<&'static str, SettingSource>, credentials: &str) -> String {
        let mut out = String::from(
            "# Effective settings of this session: the value of every setting and where it came from\n\
             # (default, file, environment, command line). API keys are never written.\n",
        );
        out.push_str(&format!("# credentials: {credentials}\n\n"));
        let table = match toml::Value::try_from(self) {
            Ok(toml::Value::Table(t)) => t,
            _ => return out,
        };
        for key in KEYS {
            let lower = key.to_ascii_lowercase();
            let source = sources.get(key).cloned().unwrap_or(SettingSource::Default);
            match table.get(&lower) {
                Some(value) => out.push_str(&format!("{lower} = {value}  # {key}, from {source}\n")),
                // written so that the file, read back, gives the same setting (a missing key
                // would be the default, which is on)
                None if OFF_KEYS.contains(key) => {
                    out.push_str(&format!("{lower} = \"off\"  # {key}, from {source}\n"))
                }
                None => out.push_str(&format!("# {lower} unset  # {key}, from {source}\n")),
            }
        }
        out
    }
}

/// Our settings among the environment variables; unknown ones with our prefixes are errors.
fn own_env(env: &[(String, String)]) -> Result<Vec<(String, String)>, SettingsError> {
    let mut own = Vec::new();
    for (key, value) in env {
        if KEYS.contains(&key.as_str()) {
            own.push((key.clone(), value.clone()));
        } else if OWN_PREFIXES.iter().any(|p| key.starts_with(p)) && !is_foreign(key) {
            return Err(SettingsError::UnknownKey {
                key: key.clone(),
                origin: SettingSource::Env.to_string(),
                known: KEYS.join(", "),
            });
        }
    }
    Ok(own)
}

/// Environment variables with one of our prefixes that belong to someone else.
fn is_foreign(key: &str) -> bool {
    // SESSION_MANAGER (X11 sessions) and the like are not ours.
    matches!(key, "SESSION_MANAGER")
}

fn source_of(figment: &Figment, key: &str, sources: &SettingsSources) -> SettingSource {
    match figment.find_metadata(&key.to_ascii_lowercase()) {
        Some(meta) if meta.name == FLAG_PROVIDER => SettingSource::Flag,
        Some(meta) if meta.name == ENV_PROVIDER => SettingSource::Env,
        Some(meta) if meta.name.contains("TOML") => {
            SettingSource::File(sources.file.clone().unwrap_or_default())
        }
        _ => SettingSource::Default,
    }
}

fn from_figment(figment: &Figment, error: figment::Error, sources: &SettingsSources) -> SettingsError {
    use figment::error::Kind;
    let key_lower = error.path.first().cloned().unwrap_or_default();
    let key = key_lower.to_ascii_uppercase();
    let source = match &error.kind {
        Kind::UnknownField(..) => match &error.metadata {
            Some(meta) if meta.name.contains("TOML") => {
                SettingSource::File(sources.file.clone().unwrap_or_default()).to_string()
            }
            Some(meta) => meta.name.to_string(),
            None => "unknown source".to_owned(),
        },
        _ => source_of(figment, &key, sources).to_string(),
    };
    match error.kind {
        Kind::UnknownField(name, _) => SettingsError::UnknownKey {
            key: name,
            origin: source,
            known: KEYS.iter().map(|k| k.to_ascii_lowercase()).collect::<Vec<_>>().join(", "),
        },
        Kind::Message(msg) if key.is_empty() => {
            SettingsError::File { path: sources.file.clone().unwrap_or_default(), reason: msg }
        }
        kind => {
            let value = figment.find_value(&key_lower).map(|v| shown(&v)).unwrap_or_default();
            SettingsError::Invalid { key, origin: source, value, allowed: allowed(kind) }
        }
    }
}

/// A setting's value as the operator wrote it (a number as a number, not as a parser's
/// internal form).
fn shown(value: &Value) -> String {
    match value {
        Value::String(_, s) => s.clone(),
        Value::Char(_, c) => c.to_string(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => n
            .to_i128()
            .map(|i| i.to_string())
            .or_else(|| n.to_u128().map(|u| u.to_string()))
            .or_else(|| n.to_f64().map(|f| f.to_string()))
            .unwrap_or_default(),
        Value::Empty(..) => String::new(),
        Value::Dict(..) => "a table".to_owned(),
        Value::Array(..) => "a list".to_owned(),
    }
}

/// What a setting allows, in the operator's words, from the parser's complaint: "a whole
/// number from 0 to ..." rather than "invalid type: found string "abc", expected u64".
fn allowed(kind: figment::error::Kind) -> String {
    use figment::error::Kind;
    match kind {
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => match expected.as_str() {
            "u16" => format!("a whole number from 0 to {}", u16::MAX),
            "u32" => format!("a whole number from 0 to {}", u32::MAX),
            "u64" | "usize" => format!("a whole number from 0 to {}", u64::MAX),
            "i64" => "a whole number".to_owned(),
            "f64" => "a number".to_owned(),
            "a boolean" => "true or false".to_owned(),
            e if e.contains("Decimal") => "a decimal number, e.g. 0.985".to_owned(),
            _ => expected,
        },
        Kind::UnknownVariant(_, variants) => format!("one of: {}", variants.join(", ")),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "a smaller number".to_owned(),
        Kind::Message(message) => message,
        other => other.to_string(),
    }
}

/// The settings that `off` (or an empty value) switches off: from the environment or the
/// command line a key cannot be removed, so "unset" needs a word.
const OFF_KEYS: [&str; 8] = [
    "GUARD_MARKET_CRASH_MAX_DROP_PCT",
    "GUARD_MAX_SPREAD_PCT",
    "GUARD_MIN_QUOTE_VOLUME_24H",
    "GUARD_FALLING_KNIFE_MAX_DROP_PCT",
    "TAKE_PROFIT_PCT",
    "STOP_LOSS_PCT",
    "TRAILING_ACTIVATION_PCT",
    "TRAILING_DISTANCE_PCT",
];

/// A setting that can be switched off: a decimal number, or `off` (any case) or an empty value
/// for none.
fn off_or_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrWord {
        Number(Decimal),
        Word(String),
    }
    match Option::<NumberOrWord>::deserialize(d) {
        Ok(None) => Ok(None),
        Ok(Some(NumberOrWord::Number(n))) => Ok(Some(n)),
        Ok(Some(NumberOrWord::Word(w))) if w.trim().is_empty() || w.trim().eq_ignore_ascii_case("off") => {
            Ok(None)
        }
        _ => Err(serde::de::Error::custom("a decimal number, or off to switch it off")),
    }
}

/// A list setting: a TOML array or a comma-separated string (environment, flags).
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Text(String),
        Many(Vec<String>),
    }
    let parsed = OneOrMany::deserialize(d)
        .map_err(|_| serde::de::Error::custom("a list: comma-separated text or an array of strings"))?;
    Ok(match parsed {
        OneOrMany::Text(text) => {
            text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        }
        OneOrMany::Many(items) => items,
    })
}

/// One `SIM_REPLAY` entry: `BASE/QUOTE=PATH`, or `PATH` with the symbol from the file name.
pub(crate) fn replay_entry(entry: &str) -> Option<(trading_core::Symbol, PathBuf)> {
    if let Some((symbol, path)) = entry.split_once('=') {
        return Some((symbol.trim().parse().ok()?, PathBuf::from(path.trim())));
    }
    let path = PathBuf::from(entry);
    let stem = path.file_stem()?.to_str()?;
    let name: String =
        stem.chars().take_while(char::is_ascii_alphanumeric).collect::<String>().to_ascii_uppercase();
    // a venue id as file name (`BTCUSDT-1m.csv`) is that market, not "BTCUSDT/USDT"
    let base = match name.strip_suffix("USDT") {
        Some(base) if !base.is_empty() => base,
        _ => name.as_str(),
    };
    let symbol = trading_core::Symbol::new(base, "USDT").ok()?;
    Some((symbol, path))
}

/// The default ledger path for a venue that persists across sessions.
pub fn default_state_db(venue: VenueKind, session_dir: &Path) -> PathBuf {
    match venue {
        VenueKind::Sim | VenueKind::SimHttp => session_dir.join("ledger.sqlite"),
        real => PathBuf::from("state").join(format!("{}.sqlite", real.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use rust_decimal_macros::dec;

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn load_env(env: &[(&str, &str)]) -> Result<LoadedSettings, SettingsError> {
        Settings::load(&SettingsSources { env: pairs(env), ..SettingsSources::default() })
    }

    fn toml_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[track_caller]
    fn check_invalid(result: Result<LoadedSettings, SettingsError>, key: &str, origin: &str, value: &str) {
        match result {
            Err(SettingsError::Invalid { key: k, origin: o, value: v, allowed }) => {
                assert_eq!((k.as_str(), v.as_str()), (key, value), "allowed: {allowed}");
                assert!(o.starts_with(origin), "origin {o:?}, expected {origin:?}");
                assert!(!allowed.is_empty());
            }
            other => panic!("expected Invalid {key}, got {other:?}"),
        }
    }

    /// A rejected value is shown as written and what is allowed is said in words, whatever the
    /// parser's own complaint was (a number is not shown as `Num(ISize(-5))`, a list of choices
    /// is not wrapped in nested backticks).
    #[test]
    fn invalid_values_are_shown_as_written_and_explained_in_words() {
        let whole = format!("a whole number from 0 to {}", u64::MAX);
        let cases: [(&str, &str, &str, &str); 6] = [
            ("MD_POLL_MS", "abc", "abc", &whole),
            ("MD_POLL_MS", "-5", "-5", &whole),
            ("DROP_TRIGGER_VALUE", "abc", "abc", "a decimal number, e.g. 0.985"),
            ("GLOBAL_TRADING", "maybe", "maybe", "true or false"),
            ("VENUE", "nope", "nope", "one of: sim, sim-http, binance, binance-testnet, mexc"),
            ("BLACKLIST", "1", "1", "a list: comma-separated text or an array of strings"),
        ];
        for (key, input, value, allowed) in cases {
            let flags = pairs(&[(key, input)]);
            match Settings::load(&SettingsSources { flags, ..SettingsSources::default() }) {
                Err(SettingsError::Invalid { key: k, value: v, allowed: a, .. }) => {
                    assert_eq!((k.as_str(), v.as_str(), a.as_str()), (key, value, allowed));
                }
                other => panic!("{key}={input}: expected Invalid, got {other:?}"),
            }
        }
        let file = toml_file("md_poll_ms = -5\n");
        match Settings::load(&SettingsSources {
            file: Some(file.path().to_owned()),
            ..SettingsSources::default()
        }) {
            Err(SettingsError::Invalid { value, allowed, .. }) => {
                assert_eq!((value.as_str(), allowed), ("-5", whole))
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn keys_list_every_field_in_order() {
        let table = match toml::Value::try_from(Settings::default()).unwrap() {
            toml::Value::Table(t) => t,
            other => panic!("{other:?}"),
        };
        // Optional settings that default to unset are absent from the table; all others present.
        for key in table.keys() {
            assert!(KEYS.contains(&key.to_ascii_uppercase().as_str()), "{key} missing from KEYS");
        }
        let fields = serde_introspect();
        assert_eq!(fields.len(), KEYS.len());
        for (field, key) in fields.iter().zip(KEYS) {
            assert_eq!(field.to_ascii_uppercase(), *key);
        }
    }

    /// The struct's field names, in order, from serde's "unknown field" message.
    fn serde_introspect() -> Vec<String> {
        let err = toml::from_str::<Settings>("__none__ = 1").unwrap_err().to_string();
        let list = err.split("expected one of ").nth(1).unwrap();
        let list = list.lines().next().unwrap();
        list.split(", ").map(|f| f.trim().trim_matches('`').to_owned()).collect()
    }

    #[test]
    fn defaults_load_and_come_from_default() {
        let loaded = load_env(&[]).unwrap();
        assert_eq!(loaded.settings, Settings::default());
        assert!(loaded.sources.values().all(|s| *s == SettingSource::Default));
        assert!(loaded.settings.order_flow(), "simulated venue trades by default");
    }

    #[test]
    fn later_sources_win_and_each_value_knows_its_source() {
        let file = toml_file("md_poll_ms = 2000\nsim_symbols = 300\ndrop_trigger_value = 0.98\n");
        let loaded = Settings::load(&SettingsSources {
            file: Some(file.path().to_owned()),
            env: pairs(&[("SIM_SYMBOLS", "400"), ("DROP_TRIGGER_VALUE", "0.9851"), ("HOME", "/x")]),
            flags: pairs(&[("SIM_SYMBOLS", "500")]),
        })
        .unwrap();
        let s = &loaded.settings;
        assert_eq!((s.md_poll_ms, s.sim_symbols), (2000, 500));
        assert_eq!(s.drop_trigger_value, dec!(0.9851), "decimals stay exact");
        assert_eq!(loaded.sources["MD_POLL_MS"], SettingSource::File(file.path().to_owned()));
        assert_eq!(loaded.sources["DROP_TRIGGER_VALUE"], SettingSource::Env);
        assert_eq!(loaded.sources["SIM_SYMBOLS"], SettingSource::Flag);
        assert_eq!(loaded.sources["VENUE"], SettingSource::Default);
        let snapshot = s.to_snapshot(&loaded.sources, "none (simulated venue)");
        assert!(snapshot.contains("sim_symbols = 500  # SIM_SYMBOLS, from command line"), "{snapshot}");
        assert!(snapshot.contains("drop_trigger_value = \"0.9851\"  # DROP_TRIGGER_VALUE, from environment"));
        let back: Settings = toml::from_str(&snapshot).unwrap();
        assert_eq!(&back, s, "the snapshot reads back as the same settings");
    }

    #[test]
    fn a_replay_file_without_a_symbol_is_named_by_its_file() {
        let symbol = |entry: &str| replay_entry(entry).map(|(s, _)| s.to_string());
        assert_eq!(symbol("data/BTCUSDT-1m.csv").as_deref(), Some("BTC/USDT"), "a venue id");
        assert_eq!(symbol("data/eth.csv").as_deref(), Some("ETH/USDT"), "a base asset");
        assert_eq!(symbol("SOL/USDT=x/any.csv").as_deref(), Some("SOL/USDT"), "named");
        assert_eq!(symbol("data/USDT.csv"), None, "USDT quoted in USDT is no market");
        assert_eq!(symbol("data/-1m.csv"), None, "no letters to name it by");
    }

    /// A guard or exit that is on by default is switched off with `off` (or an empty value) from
    /// any source, and the session's snapshot says `off`, so the file read back keeps it off
    /// (a missing key would be the default: on).
    #[test]
    fn guards_and_exits_switch_off_with_off_and_stay_off_when_the_snapshot_is_read_back() {
        let file = toml_file("stop_loss_pct = \"off\"\n");
        let loaded = Settings::load(&SettingsSources {
            file: Some(file.path().to_owned()),
            env: pairs(&[("GUARD_MARKET_CRASH_MAX_DROP_PCT", "OFF")]),
            flags: pairs(&[
                ("TRAILING_ACTIVATION_PCT", ""),
                ("TRAILING_DISTANCE_PCT", "off"),
                ("TAKE_PROFIT_PCT", "2.5"),
            ]),
        })
        .unwrap();
        let s = &loaded.settings;
        assert_eq!(s.stop_loss_pct, None);
        assert_eq!(s.guard_market_crash_max_drop_pct, None);
        assert_eq!((s.trailing_activation_pct, s.trailing_distance_pct), (None, None));
        assert_eq!(s.take_profit_pct, Some(dec!(2.5)));
        assert_eq!(Settings::default().stop_loss_pct, Some(dec!(3)), "on by default");
        let snapshot = s.to_snapshot(&loaded.sources, "none");
        assert!(snapshot.contains("stop_loss_pct = \"off\"  # STOP_LOSS_PCT, from file"), "{snapshot}");
        let again = toml_file(&snapshot);
        let back =
            Settings::load(&SettingsSources { file: Some(again.path().to_owned()), ..Default::default() });
        assert_eq!(&back.unwrap().settings, s, "the snapshot reads back as the same settings");
        check_invalid(load_env(&[("STOP_LOSS_PCT", "of")]), "STOP_LOSS_PCT", "environment", "of");
        // OFF_KEYS (what the snapshot writes as "off") names exactly the settings that take the
        // word `off` and no other word
        for key in KEYS {
            // the trailing pair is on or off together
            let pair = ["TRAILING_ACTIVATION_PCT", "TRAILING_DISTANCE_PCT"];
            let with = |word: &'static str| -> Vec<(&str, &str)> {
                if pair.contains(key) {
                    pair.iter().map(|k| (*k, word)).collect()
                } else {
                    vec![(key, word)]
                }
            };
            let takes_off = load_env(&with("off")).is_ok() && load_env(&with("xyz")).is_err();
            assert_eq!(takes_off, OFF_KEYS.contains(key), "{key}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_wherever_they_come_from() {
        let file = toml_file("md_pol_ms = 2000\n");
        let err =
            Settings::load(&SettingsSources { file: Some(file.path().to_owned()), ..Default::default() })
                .unwrap_err();
        assert!(
            matches!(&err, SettingsError::UnknownKey { key, origin, .. } if key == "md_pol_ms" && origin.starts_with("file ")),
            "{err:?}"
        );
        let err = load_env(&[("MD_POL_MS", "2000")]).unwrap_err();
        assert!(
            matches!(&err, SettingsError::UnknownKey { key, origin, .. } if key == "MD_POL_MS" && origin == "environment"),
            "{err:?}"
        );
        let err =
            Settings::load(&SettingsSources { flags: pairs(&[("SYMBOLZ", "1")]), ..Default::default() })
                .unwrap_err();
        assert!(
            matches!(&err, SettingsError::UnknownKey { origin, .. } if origin == "command line"),
            "{err:?}"
        );
        // Variables that only share a prefix with ours but belong to others are left alone.
        assert!(load_env(&[("SESSION_MANAGER", "local/x"), ("PATH", "/bin")]).is_ok());
    }

    #[test]
    fn wrong_types_and_out_of_range_values_name_key_source_and_value() {
        check_invalid(load_env(&[("MD_POLL_MS", "fast")]), "MD_POLL_MS", "environment", "fast");
        check_invalid(load_env(&[("MD_POLL_MS", "5")]), "MD_POLL_MS", "environment", "5");
        check_invalid(load_env(&[("DROP_TRIGGER_VALUE", "1.5")]), "DROP_TRIGGER_VALUE", "environment", "1.5");
        check_invalid(load_env(&[("DROP_TRIGGER_MODE", "7")]), "DROP_TRIGGER_MODE", "environment", "7");
        check_invalid(load_env(&[("VENUE", "kraken")]), "VENUE", "environment", "kraken");
        check_invalid(load_env(&[("POSITION_SIZE_USDT", "-5")]), "POSITION_SIZE_USDT", "environment", "-5");
        check_invalid(load_env(&[("WATCHLIST", "BTCUSDT")]), "WATCHLIST", "environment", "BTCUSDT");
        check_invalid(
            load_env(&[("MD_HOT_MS", "9000"), ("MD_WARM_MS", "1500")]),
            "MD_WARM_MS",
            "environment",
            "1500",
        );
        let file = toml_file("sim_symbols = \"many\"\n");
        let result =
            Settings::load(&SettingsSources { file: Some(file.path().to_owned()), ..Default::default() });
        check_invalid(result, "SIM_SYMBOLS", "file ", "many");
    }

    #[test]
    fn lists_come_as_text_or_arrays() {
        let loaded = load_env(&[("WATCHLIST", "BTC/USDT, ETH/USDT")]).unwrap();
        assert_eq!(loaded.settings.watchlist, vec!["BTC/USDT", "ETH/USDT"]);
        let file = toml_file("blacklist = [\"LUNA/USDT\"]\n");
        let loaded =
            Settings::load(&SettingsSources { file: Some(file.path().to_owned()), ..Default::default() })
                .unwrap();
        assert_eq!(loaded.settings.blacklist, vec!["LUNA/USDT"]);
    }

    #[test]
    fn real_venues_default_to_no_order_flow_and_files_must_exist() {
        let loaded = load_env(&[("VENUE", "binance")]).unwrap();
        assert!(!loaded.settings.order_flow());
        let err = Settings::load(&SettingsSources {
            file: Some(PathBuf::from("does/not/exist.toml")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, SettingsError::File { .. }), "{err:?}");
        let file = toml_file("md_poll_ms = [\n");
        let err =
            Settings::load(&SettingsSources { file: Some(file.path().to_owned()), ..Default::default() })
                .unwrap_err();
        assert!(matches!(err, SettingsError::File { .. } | SettingsError::Invalid { .. }), "{err:?}");
    }
}
