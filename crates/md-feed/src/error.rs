//! `FeedError` and `ConfigError`: what can stop the feed from starting.

use exchange::ExchangeError;

/// A setting with a value the feed cannot work with. Names the key (`MD_POLL_MS`), the value as
/// given, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value:?}: {allowed}")]
pub struct ConfigError {
    /// The setting's name (`MD_*`).
    pub key: &'static str,
    /// The value as given.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

impl ConfigError {
    pub(crate) fn new(key: &'static str, value: impl ToString, allowed: impl Into<String>) -> Self {
        ConfigError { key, value: value.to_string(), allowed: allowed.into() }
    }
}

/// Why the feed could not start.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A setting is invalid.
    #[error("invalid market-data setting: {0}")]
    Config(#[from] ConfigError),
    /// The watchlist is empty, or every symbol on it was skipped at start-up.
    #[error("nothing to poll: {0}")]
    EmptyWatchlist(String),
    /// The venue failed a start-up request (market list or the feasibility probe).
    #[error("start-up request {operation} failed")]
    Startup {
        /// Which request.
        operation: &'static str,
        /// The venue's error.
        #[source]
        source: ExchangeError,
    },
}
