//! The venue a session trades on, built from settings: the in-process simulator on simulated
//! time, the simulator's HTTP server through the real REST client, or a real venue.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use exchange::Exchange;
use exchange_binance::{BinanceClient, ClientConfig, Credentials, VenueProfile};
use exchange_sim::{SimConfig, SimExchange, SimServer};
use trading_core::{Clock, SystemClock, Timestamp, TokioClock};

use crate::error::{BotError, SettingsError};
use crate::settings::{FaultProfile, Settings, VenueKind};

/// API credentials read from the environment for a real venue. `Debug` never shows them.
#[derive(Clone, Default)]
pub struct VenueCredentials {
    key: Option<String>,
    secret: Option<String>,
}

impl fmt::Debug for VenueCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl VenueCredentials {
    /// Takes `<VENUE>_API_KEY` / `<VENUE>_API_SECRET` for `venue` from `env` (the process
    /// environment in the binary). Secrets come from the environment only.
    ///
    /// # Errors
    /// [`SettingsError::MissingCredentials`] when a real venue lacks either variable.
    pub fn from_env(venue: VenueKind, env: &[(String, String)]) -> Result<Self, SettingsError> {
        let Some((key_var, secret_var)) = credential_vars(venue) else {
            return Ok(VenueCredentials::default());
        };
        let get = |name: &str| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
        };
        match (get(key_var), get(secret_var)) {
            (Some(key), Some(secret)) => Ok(VenueCredentials { key: Some(key), secret: Some(secret) }),
            _ => Err(SettingsError::MissingCredentials {
                venue: venue.as_str().to_owned(),
                needed: format!("{key_var} and {secret_var}"),
            }),
        }
    }

    /// What the session's config snapshot says about credentials (never their values).
    pub fn describe(&self) -> &'static str {
        if self.key.is_some() {
            "API key and secret from the environment (values never written)"
        } else {
            "none (simulated venue: its built-in test keys)"
        }
    }

    /// The secret values, for tests that check nothing leaks.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.key.iter().chain(self.secret.iter()).map(String::as_str)
    }
}

/// The environment variables holding a real venue's credentials.
pub fn credential_vars(venue: VenueKind) -> Option<(&'static str, &'static str)> {
    match venue {
        VenueKind::Binance | VenueKind::BinanceTestnet => Some(("BINANCE_API_KEY", "BINANCE_API_SECRET")),
        VenueKind::Mexc => Some(("MEXC_API_KEY", "MEXC_API_SECRET")),
        VenueKind::Sim | VenueKind::SimHttp => None,
    }
}

/// A running venue and the clock the session reads.
pub struct Venue {
    /// The venue behind the trait.
    pub exchange: Arc<dyn Exchange>,
    /// The session's clock: tokio's (pausable) time from the simulated epoch on the in-process
    /// simulator, the system clock otherwise.
    pub clock: Arc<dyn Clock>,
    /// The in-process simulator, when that is the venue (for end-of-session checks).
    pub sim: Option<SimExchange>,
    /// The simulator's HTTP server, when the venue is `sim-http` (kept alive for the session).
    pub server: Option<SimServer>,
    /// Human description for logs.
    pub description: String,
}

impl fmt::Debug for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Venue").field("description", &self.description).finish_non_exhaustive()
    }
}

/// The simulator's configuration for these settings on `clock`.
pub fn sim_config(settings: &Settings, clock: Arc<dyn Clock>) -> Result<SimConfig, BotError> {
    let mut replay = Vec::new();
    for entry in &settings.sim_replay {
        let (symbol, path) = crate::settings::replay_entry(entry)
            .ok_or_else(|| BotError::Venue(format!("SIM_REPLAY entry {entry:?} names no file")))?;
        replay.push(exchange_sim::ReplaySource { symbol, path });
    }
    Ok(SimConfig {
        symbols: settings.sim_symbols as usize,
        seed: settings.sim_seed,
        clock,
        faults: match settings.sim_faults {
            FaultProfile::None => exchange_sim::FaultProfile::none(),
            FaultProfile::Mild => exchange_sim::FaultProfile::mild(),
            FaultProfile::Storm => exchange_sim::FaultProfile::storm(),
        },
        latency: Duration::from_millis(settings.sim_latency_ms),
        initial_balances: BTreeMap::from([("USDT".to_owned(), settings.sim_start_usdt)]),
        replay,
        ..SimConfig::default()
    })
}

/// Builds the venue for `settings`. Must run inside the session's tokio runtime (the in-process
/// simulator's clock starts at the runtime's current instant).
///
/// # Errors
/// [`BotError::Venue`] when the simulator or the client cannot be built.
pub async fn connect(settings: &Settings, credentials: &VenueCredentials) -> Result<Venue, BotError> {
    match settings.venue {
        VenueKind::Sim => {
            let epoch = Timestamp::from_millis(settings.sim_epoch_ms);
            let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(epoch));
            let sim = SimExchange::new(sim_config(settings, clock.clone())?)
                .map_err(|e| BotError::Venue(format!("simulated venue: {e}")))?;
            Ok(Venue {
                exchange: Arc::new(sim.clone()),
                clock,
                sim: Some(sim),
                server: None,
                description: format!(
                    "in-process simulator, {} markets, seed {}",
                    settings.sim_symbols, settings.sim_seed
                ),
            })
        }
        VenueKind::SimHttp => {
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let server = SimServer::start(sim_config(settings, clock.clone())?)
                .await
                .map_err(|e| BotError::Venue(format!("simulator server: {e}")))?;
            let profile =
                VenueProfile::custom(server.base_url(), VenueProfile::binance_spot()).with_name("sim-http");
            let creds = Credentials::new(exchange_sim::DEFAULT_API_KEY, exchange_sim::DEFAULT_API_SECRET)
                .map_err(|e| BotError::Venue(e.to_string()))?;
            let client =
                BinanceClient::new(ClientConfig::new(profile, clock.clone()).with_credentials(creds))
                    .map_err(|e| BotError::Venue(format!("REST client: {e}")))?;
            let description = format!("simulator over HTTP at {}", server.base_url());
            Ok(Venue {
                exchange: Arc::new(client),
                clock,
                sim: Some(server.sim().clone()),
                server: Some(server),
                description,
            })
        }
        real => {
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let mut profile = match real {
                VenueKind::BinanceTestnet => VenueProfile::binance_spot_testnet(),
                VenueKind::Mexc => VenueProfile::mexc_spot(),
                _ => VenueProfile::binance_spot(),
            };
            if let Some(url) = &settings.base_url {
                profile = VenueProfile::custom(url.clone(), profile);
            }
            let mut config = ClientConfig::new(profile, clock.clone());
            if let (Some(key), Some(secret)) = (&credentials.key, &credentials.secret) {
                let creds = Credentials::new(key.clone(), secret.clone())
                    .map_err(|e| BotError::Venue(e.to_string()))?;
                config = config.with_credentials(creds);
            }
            let client =
                BinanceClient::new(config).map_err(|e| BotError::Venue(format!("REST client: {e}")))?;
            let description = format!("{} at {}", real.as_str(), client.profile().base_url());
            Ok(Venue { exchange: Arc::new(client), clock, sim: None, server: None, description })
        }
    }
}
