//! `RouterError`: what can go wrong inside the router, classified by what the caller must do.

use exchange::ExchangeError;

/// An error of the router's own machinery. A refused intent is **not** an error: it is a
/// [`crate::Submission::Rejected`] with its [`crate::RejectReason`].
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A setting is out of range; names the key, the value and what is allowed.
    #[error("invalid router setting {key}={value}: {reason}")]
    Config {
        /// The setting's name (`POSITION_SIZE_USDT`, ...).
        key: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// An intent id that cannot become part of a client order id.
    #[error("invalid intent id {0:?}: 1-28 characters of A-Z a-z 0-9 _ -")]
    InvalidIntentId(String),
    /// The SQLite ledger failed (open, migrate, read or write).
    #[error("ledger {operation} failed: {source}")]
    Ledger {
        /// What the ledger was doing.
        operation: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A ledger row could not be understood (hand-edited or written by a newer build).
    #[error("ledger row {table}/{key} is unreadable: {reason}")]
    LedgerCorrupt {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The ledger was written by a newer build (schema version unknown here).
    #[error("ledger schema version {found} is newer than this build supports ({supported})")]
    LedgerVersion {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A venue call failed where the router cannot continue without it.
    #[error("venue call {operation} failed: {source}")]
    Exchange {
        /// The call.
        operation: &'static str,
        /// The venue's error.
        #[source]
        source: ExchangeError,
    },
    /// The budget invariant `free + reserved + committed == total` broke: the router stops
    /// trading (fails closed) and says where.
    #[error("budget invariant broken: {0}")]
    Invariant(String),
}

impl RouterError {
    pub(crate) fn ledger(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> RouterError {
        move |source| RouterError::Ledger { operation, source }
    }
}
