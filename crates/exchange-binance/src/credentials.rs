//! API credentials, held in a type whose `Debug`/`Display` never show them.

use std::fmt;

use crate::{ClientError, Venue};

/// An API key and secret for one venue.
///
/// `Debug` and `Display` print `<redacted>` instead of the values, so credentials can sit in a
/// config struct that gets logged. The values are only read by the signer and the key header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    api_key: String,
    api_secret: String,
}

impl Credentials {
    /// Wraps a key and secret; both must be non-empty printable ASCII (they go into an HTTP
    /// header and an HMAC key).
    pub fn new(api_key: impl Into<String>, api_secret: impl Into<String>) -> Result<Self, ClientError> {
        let (api_key, api_secret) = (api_key.into(), api_secret.into());
        check("api key", &api_key)?;
        check("api secret", &api_secret)?;
        Ok(Credentials { api_key, api_secret })
    }

    /// Reads `<VENUE>_API_KEY` and `<VENUE>_API_SECRET` (`BINANCE_*` or `MEXC_*`) from the
    /// environment, the only place secrets come from.
    pub fn from_env(venue: Venue) -> Result<Self, ClientError> {
        let (key_var, secret_var) = venue.credential_env_vars();
        let read = |var: &'static str| {
            std::env::var(var).map_err(|_| ClientError::MissingEnv { var, venue: venue.as_str() })
        };
        Credentials::new(read(key_var)?, read(secret_var)?)
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.api_key
    }

    pub(crate) fn api_secret(&self) -> &str {
        &self.api_secret
    }
}

fn check(what: &'static str, value: &str) -> Result<(), ClientError> {
    if value.is_empty() {
        return Err(ClientError::InvalidCredential { what, reason: "empty" });
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ClientError::InvalidCredential {
            what,
            reason: "only printable ASCII without spaces is allowed",
        });
    }
    Ok(())
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &"<redacted>")
            .field("api_secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted credentials>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_values() {
        let c = Credentials::new("my-visible-key", "super-secret-value").unwrap();
        for text in [format!("{c:?}"), format!("{c}"), format!("{c:#?}")] {
            assert!(!text.contains("my-visible-key"), "{text}");
            assert!(!text.contains("super-secret-value"), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
    }

    #[test]
    fn rejects_empty_and_non_header_values_without_echoing_them() {
        let err = Credentials::new("", "s").unwrap_err().to_string();
        assert!(err.contains("api key") && err.contains("empty"), "{err}");
        let err = Credentials::new("k", "sec ret").unwrap_err().to_string();
        assert!(err.contains("api secret") && !err.contains("sec ret"), "{err}");
    }

    #[test]
    fn missing_env_names_the_variable() {
        // The MEXC variables are not set in the test environment; if a developer has them set,
        // the call succeeds and there is nothing to check.
        if std::env::var_os("MEXC_API_KEY").is_none() {
            let err = Credentials::from_env(Venue::Mexc).unwrap_err().to_string();
            assert!(err.contains("MEXC_API_KEY"), "{err}");
        }
    }
}
