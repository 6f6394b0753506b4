//! `ExchangeError`: what went wrong at the venue boundary, classified by what the caller must do.

use std::time::Duration;

use trading_core::{ClientOrderId, SymbolError, Timestamp};

/// An error from a venue call. Each variant says what the caller must do next; see the
/// classification methods ([`ExchangeError::is_retryable`], [`ExchangeError::is_outcome_unknown`],
/// [`ExchangeError::is_fatal`]).
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The venue does not know the symbol (or it was delisted): quarantine it, do not retry.
    #[error("bad symbol {symbol}: {message}")]
    BadSymbol {
        /// The symbol as sent (unified or venue id).
        symbol: String,
        /// The venue's message.
        message: String,
    },
    /// Request budget exhausted (HTTP 429): send nothing to this venue before `retry_after`.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait before the next request.
        retry_after: Duration,
    },
    /// The IP is banned (HTTP 418) until the given time: send nothing before it.
    #[error("banned until {until}")]
    Banned {
        /// When the ban ends.
        until: Timestamp,
    },
    /// No answer in time. For reads: retry. For an order request the outcome is UNKNOWN: the
    /// order may exist; resolve it by looking up the client order id, never by resending.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// The operation (e.g. `create_order`).
        operation: &'static str,
        /// How long we waited.
        after: Duration,
        /// For order requests: the client order id to look up.
        client_order_id: Option<ClientOrderId>,
    },
    /// The venue or the network failed (connection refused, HTTP 5xx, venue "unknown error").
    /// For an order request the outcome is UNKNOWN, as with `Timeout`.
    #[error("{operation} failed: venue unavailable: {message}")]
    Unavailable {
        /// The operation.
        operation: &'static str,
        /// What happened.
        message: String,
        /// For order requests: the client order id to look up.
        client_order_id: Option<ClientOrderId>,
    },
    /// The venue refused the request (insufficient balance, filter failure, market closed,
    /// duplicate client order id). Nothing was created; do not retry unchanged.
    #[error("rejected by venue (code {code:?}): {reason}")]
    Rejected {
        /// The venue's error code, if any.
        code: Option<i64>,
        /// The venue's reason.
        reason: String,
    },
    /// The order does not exist (or no longer exists) on the venue.
    #[error("order not found: {0}")]
    OrderNotFound(String),
    /// Credentials missing, wrong, or without permission: fatal until fixed by a human.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The venue answered something we could not understand.
    #[error("invalid response from {endpoint}: {reason}; body starts {excerpt:?}")]
    InvalidResponse {
        /// The endpoint that answered.
        endpoint: String,
        /// What was wrong.
        reason: String,
        /// The first bytes of the body (at most [`ExchangeError::EXCERPT_LEN`]).
        excerpt: String,
    },
    /// The request could not be built from the arguments (bad symbol text, unsupported option).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ExchangeError {
    /// Longest body excerpt kept in [`ExchangeError::InvalidResponse`].
    pub const EXCERPT_LEN: usize = 256;

    /// Builds an `InvalidResponse`, cutting the body to [`Self::EXCERPT_LEN`] bytes on a
    /// character boundary.
    pub fn invalid_response(endpoint: impl Into<String>, reason: impl Into<String>, body: &str) -> Self {
        let mut end = body.len().min(Self::EXCERPT_LEN);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        ExchangeError::InvalidResponse {
            endpoint: endpoint.into(),
            reason: reason.into(),
            excerpt: body[..end].to_owned(),
        }
    }

    /// True when the same request may succeed later (after waiting where the error says how
    /// long). For order requests check [`Self::is_outcome_unknown`] first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ExchangeError::RateLimited { .. }
                | ExchangeError::Banned { .. }
                | ExchangeError::Timeout { .. }
                | ExchangeError::Unavailable { .. }
        )
    }

    /// True when an order request may or may not have reached the venue: the caller must look
    /// the client order id up before doing anything else with it.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            ExchangeError::Timeout { client_order_id: Some(_), .. }
                | ExchangeError::Unavailable { client_order_id: Some(_), .. }
        )
    }

    /// True when retrying cannot help until a human acts (credentials).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ExchangeError::Auth(_))
    }

    /// How long to stay silent towards the venue, when the error says.
    pub fn retry_after(&self, now: Timestamp) -> Option<Duration> {
        match self {
            ExchangeError::RateLimited { retry_after } => Some(*retry_after),
            ExchangeError::Banned { until } => Some(until.saturating_since(now)),
            _ => None,
        }
    }
}

impl From<SymbolError> for ExchangeError {
    fn from(e: SymbolError) -> Self {
        match e {
            SymbolError::UnknownVenueId(id) => {
                ExchangeError::BadSymbol { symbol: id, message: "not listed".into() }
            }
            other => ExchangeError::InvalidRequest(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid() -> Option<ClientOrderId> {
        Some(ClientOrderId::new("c1").unwrap())
    }

    #[test]
    fn classification() {
        let t = ExchangeError::Timeout {
            operation: "create_order",
            after: Duration::from_secs(5),
            client_order_id: cid(),
        };
        assert!(t.is_outcome_unknown() && t.is_retryable() && !t.is_fatal());
        let read = ExchangeError::Timeout {
            operation: "fetch_tickers",
            after: Duration::from_secs(5),
            client_order_id: None,
        };
        assert!(!read.is_outcome_unknown() && read.is_retryable());
        let u = ExchangeError::Unavailable {
            operation: "create_order",
            message: "502".into(),
            client_order_id: cid(),
        };
        assert!(u.is_outcome_unknown());
        let r = ExchangeError::Rejected { code: Some(-2010), reason: "insufficient balance".into() };
        assert!(!r.is_retryable() && !r.is_outcome_unknown());
        assert!(ExchangeError::Auth("bad key".into()).is_fatal());
    }

    #[test]
    fn retry_after_for_rate_limit_and_ban() {
        let now = Timestamp::from_millis(1_000);
        assert_eq!(
            ExchangeError::RateLimited { retry_after: Duration::from_secs(3) }.retry_after(now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            ExchangeError::Banned { until: Timestamp::from_millis(61_000) }.retry_after(now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(ExchangeError::OrderNotFound("1".into()).retry_after(now), None);
    }

    #[test]
    fn excerpt_is_cut_on_char_boundary() {
        let body = "é".repeat(200);
        let ExchangeError::InvalidResponse { excerpt, .. } =
            ExchangeError::invalid_response("/x", "bad", &body)
        else {
            unreachable!()
        };
        assert!(excerpt.len() <= ExchangeError::EXCERPT_LEN);
        assert!(excerpt.chars().all(|c| c == 'é'));
    }
}
