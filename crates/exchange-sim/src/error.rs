//! Errors of the simulator: configuration and replay-file problems ([`SimError`]), and the
//! Binance-style API errors the venue answers requests with ([`ApiError`], crate-internal).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use exchange::ExchangeError;
use trading_core::{ClientOrderId, Timestamp};

/// Why the simulator could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A configuration value is out of range.
    #[error("invalid simulator setting {field} = {value}: {reason}")]
    Config {
        /// The setting (e.g. `symbols`).
        field: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// The HTTP server could not bind its address.
    #[error("cannot bind the sim server to {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An OHLCV replay file could not be read.
    #[error("cannot read OHLCV file {path}")]
    ReplayIo {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An OHLCV replay file has a row that is not a valid candle.
    #[error("OHLCV file {path}, line {line}: {reason}")]
    ReplayParse {
        /// The file.
        path: PathBuf,
        /// 1-based line (for JSON files: the line the row starts on; the reason names the row).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A fault-profile name that is not one of the built-in profiles.
    #[error("unknown fault profile {0:?} (expected one of: none, light, heavy, chaos)")]
    UnknownProfile(String),
    /// A symbol passed to a control method is not listed on the simulated venue.
    #[error("symbol {0} is not listed on the simulated venue")]
    UnknownSymbol(String),
    /// A symbol or rule value could not be built.
    #[error(transparent)]
    Value(#[from] trading_core::ValueError),
    /// A symbol could not be parsed.
    #[error(transparent)]
    Symbol(#[from] trading_core::SymbolError),
}

/// A Binance-style error answer: HTTP status, error code and message. The HTTP server renders it
/// as `{"code":..,"msg":..}`; the in-process venue maps it to an [`ExchangeError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: i64,
    pub(crate) msg: String,
    /// For 429/418: the `Retry-After` header.
    pub(crate) retry_after: Option<Duration>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: i64, msg: impl Into<String>) -> Self {
        ApiError { status, code, msg: msg.into(), retry_after: None }
    }

    /// 400 with a code and message.
    pub(crate) fn bad(code: i64, msg: impl Into<String>) -> Self {
        ApiError::new(400, code, msg)
    }

    pub(crate) fn bad_symbol() -> Self {
        ApiError::bad(-1121, "Invalid symbol.")
    }

    pub(crate) fn mandatory(param: &str) -> Self {
        ApiError::bad(
            -1102,
            format!("Mandatory parameter '{param}' was not sent, was empty/null, or malformed."),
        )
    }

    pub(crate) fn not_required(param: &str) -> Self {
        ApiError::bad(-1106, format!("Parameter '{param}' sent when not required."))
    }

    pub(crate) fn illegal_number(param: &str) -> Self {
        ApiError::bad(
            -1100,
            format!("Illegal characters found in parameter '{param}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."),
        )
    }

    pub(crate) fn filter(name: &str) -> Self {
        ApiError::bad(-1013, format!("Filter failure: {name}"))
    }

    pub(crate) fn rejected(msg: &str) -> Self {
        ApiError::bad(-2010, msg)
    }

    pub(crate) fn no_such_order() -> Self {
        ApiError::bad(-2013, "Order does not exist.")
    }

    pub(crate) fn unknown_order_cancel() -> Self {
        ApiError::bad(-2011, "Unknown order sent.")
    }

    pub(crate) fn server_error() -> Self {
        ApiError::new(503, -1001, "Internal error; unable to process your request. Please try again.")
    }

    pub(crate) fn rate_limited(limit: u32, retry_after: Duration) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                429,
                -1003,
                format!(
                    "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. \
                     Please use WebSocket Streams for live updates to avoid polling the API."
                ),
            )
        }
    }

    pub(crate) fn banned(until: Timestamp, retry_after: Duration) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                418,
                -1003,
                format!(
                    "Way too much request weight used; IP banned until {}. \
                     Please use WebSocket Streams for live updates to avoid bans.",
                    until.as_millis()
                ),
            )
        }
    }

    /// The JSON body Binance sends with this error.
    /// The account's new-order count limit (`-1015`, HTTP 429, no `Retry-After`).
    pub(crate) fn too_many_orders() -> Self {
        ApiError::new(429, -1015, "Too many new orders; current limit is 100 orders per TEN_SECONDS.")
    }

    pub(crate) fn body(&self) -> String {
        serde_json::json!({ "code": self.code, "msg": self.msg }).to_string()
    }

    /// The in-process view of the same error, classified for the caller.
    pub(crate) fn into_exchange_error(
        self,
        operation: &'static str,
        symbol: Option<&str>,
        now: Timestamp,
        client_order_id: Option<&ClientOrderId>,
    ) -> ExchangeError {
        match self.code {
            -1121 => ExchangeError::BadSymbol { symbol: symbol.unwrap_or("?").to_owned(), message: self.msg },
            -1003 if self.status == 418 => {
                ExchangeError::Banned { until: now + self.retry_after.unwrap_or(Duration::from_secs(120)) }
            }
            -1003 => {
                ExchangeError::RateLimited { retry_after: self.retry_after.unwrap_or(Duration::from_secs(1)) }
            }
            -1015 => ExchangeError::RateLimited {
                retry_after: self.retry_after.unwrap_or(Duration::from_secs(10)),
            },
            // The web application firewall (403 without a venue code).
            0 if self.status == 403 => ExchangeError::RateLimited {
                retry_after: self.retry_after.unwrap_or(Duration::from_secs(60)),
            },
            -2011 | -2013 => ExchangeError::OrderNotFound(format!("{operation}: {}", self.msg)),
            -1002 | -1022 | -2014 | -2015 => ExchangeError::Auth(self.msg),
            -1000 | -1001 | -1007 => ExchangeError::Unavailable {
                operation,
                message: format!("HTTP {} code {}: {}", self.status, self.code, self.msg),
                client_order_id: client_order_id.cloned(),
            },
            code => ExchangeError::Rejected { code: Some(code), reason: self.msg },
        }
    }
}
