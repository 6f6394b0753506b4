//! `ClientError`: what can go wrong while building a client (configuration, credentials).
//!
//! Errors of venue calls are [`exchange::ExchangeError`]; this enum only covers set-up.

/// An error while configuring a [`crate::BinanceClient`] or reading its credentials.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A required environment variable is not set (or not valid UTF-8).
    #[error("environment variable {var} is not set (needed for {venue} credentials)")]
    MissingEnv {
        /// The variable name, e.g. `BINANCE_API_KEY`.
        var: &'static str,
        /// The venue the credentials are for.
        venue: &'static str,
    },
    /// A credential value is empty or contains characters that cannot go into an HTTP header.
    #[error("invalid {what}: {reason}")]
    InvalidCredential {
        /// `api key` or `api secret`.
        what: &'static str,
        /// What is wrong (never the value itself).
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid config {field} = {value}: {reason}")]
    InvalidConfig {
        /// The field name.
        field: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}
