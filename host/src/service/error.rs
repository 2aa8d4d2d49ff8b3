//! The service layer's errors: what callers (the API, the CLI, a job's
//! `context` imports) can act on.

use crate::runtime::ValidationError;
use crate::store;

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong: bad arguments, bad names, bad JSON
    /// shape. The message names the offending field.
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. "queue `video`".
        what: String,
    },
    /// The request does not fit the current state (a job already claimed,
    /// a queue that is not empty).
    #[error("{0}")]
    Conflict(String),
    /// An uploaded component was refused.
    #[error(transparent)]
    InvalidComponent(#[from] ValidationError),
    /// The store failed (database unreachable, corrupt row, ...).
    #[error("store: {0}")]
    Store(store::Error),
    /// The service is shutting down.
    #[error("wasync is shutting down")]
    ShuttingDown,
}

impl From<store::Error> for Error {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::NotFound { what } => Error::NotFound { what },
            store::Error::Conflict(message) => Error::Conflict(message),
            other => Error::Store(other),
        }
    }
}

impl Error {
    /// A [`Error::NotFound`] for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }
}

/// The service's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
