//! The bot's error types: settings that cannot be used, and failures while wiring or running.

use std::path::PathBuf;

/// A setting that cannot be used. Every variant names the setting (or file), where the value
/// came from, the value and what is allowed; the binary prints it and exits with code 2 before
/// anything (a session directory, a ledger, a request) is created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A key that is not a setting.
    #[error("unknown setting {key:?} (from {origin}); known settings: {known}")]
    UnknownKey {
        /// The key as given.
        key: String,
        /// Where it was given.
        origin: String,
        /// The known settings.
        known: String,
    },
    /// A value of the wrong type or out of range.
    #[error("setting {key} = {value:?} (from {origin}) is invalid: allowed {allowed}")]
    Invalid {
        /// The setting's name.
        key: String,
        /// Where the value came from.
        origin: String,
        /// The value as given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The settings file is missing or not valid TOML.
    #[error("settings file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A real venue needs credentials that the environment does not have.
    #[error(
        "VENUE={venue} needs the environment variables {needed} (API keys come from the environment only)"
    )]
    MissingCredentials {
        /// The venue.
        venue: String,
        /// The variables to set.
        needed: String,
    },
}

/// A failure while building or running a session (after the settings were accepted).
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The settings cannot be used (exit code 2).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The venue could not be built or reached.
    #[error("venue: {0}")]
    Venue(String),
    /// The session directory or telemetry could not be set up.
    #[error("session: {0}")]
    Session(String),
    /// A venue call failed where the session cannot go on (start-up market list, preflight).
    #[error("{what}: {source}")]
    Exchange {
        /// What was being done.
        what: &'static str,
        /// The venue's error.
        #[source]
        source: exchange::ExchangeError,
    },
}
