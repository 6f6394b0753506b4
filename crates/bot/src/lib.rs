//! `bot`: the thin assembly of the drop bot.
//!
//! It turns settings (defaults < TOML file < environment < flags, validated before anything
//! starts, see [`Settings`]) into the typed configurations of the library crates and wires the
//! venue, the market-data feed, the signal engine, the order router, telemetry and the
//! supervisor into one session.
//!
//! ```
//! use bot::{Settings, SettingsSources};
//!
//! let sources = SettingsSources {
//!     flags: vec![("SIM_SYMBOLS".into(), "200".into())],
//!     ..SettingsSources::default()
//! };
//! let loaded = Settings::load(&sources).unwrap();
//! assert_eq!(loaded.settings.sim_symbols, 200);
//! ```

mod error;
mod failpoint;
mod metrics;
mod preflight;
mod progress;
mod session;
mod settings;
mod venue;
mod wiring;

pub use error::{BotError, SettingsError};
pub use failpoint::{Failpoints, AFTER_RECONCILE, FAILPOINT_ENV};
pub use metrics::{serve as serve_metrics, Metrics, MetricsSink};
pub use preflight::{run as preflight, run_async as preflight_async, Check, CheckStatus, Preflight};
pub use progress::{Status, StatusSnapshot};
pub use session::{run as run_session, run_async as run_session_async, SessionOptions, SessionOutcome};
pub use settings::{
    default_state_db, FaultProfile, FeedMode, HeartbeatMode, LoadedSettings, SettingSource, Settings,
    SettingsSources, VenueKind, KEYS,
};
pub use venue::{connect, credential_vars, sim_config, Venue, VenueCredentials};
pub use wiring::signal_configs;
