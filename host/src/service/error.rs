//! The service layer's errors: what callers (the API, the CLI, a job's
//! `context` imports) can act on.

use crate::model::{Arity, Scope};
use crate::runtime::ValidationError;
use crate::store;

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong: bad arguments, bad names, bad JSON
    /// shape. The message names the offending field.
    #[error("{0}")]
    Invalid(String),
    /// A put names a function its module does not declare: refused at
    /// put, rather than stored to fail at run time.
    #[error(
        "module `{module}` has no job function `{function}`; its functions: {}",
        .functions.join(", ")
    )]
    UnknownFunction {
        /// The module, as the put named it.
        module: String,
        /// The function asked for.
        function: String,
        /// The functions the module declares.
        functions: Vec<String>,
    },
    /// A put's positional arguments are more or fewer than the function
    /// takes, as its module declares: refused at put, rather than stored
    /// to fail at run time with `bad-arguments`.
    #[error(
        "job function `{function}` of module `{module}` takes {arity} positional argument{}; \
         {given} {} given",
        if *.arity == (Arity { min: 1, max: Some(1) }) { "" } else { "s" },
        if *.given == 1 { "was" } else { "were" }
    )]
    BadArguments {
        /// The module, as the put named it.
        module: String,
        /// The function.
        function: String,
        /// How many it takes.
        arity: Arity,
        /// How many the put gave.
        given: usize,
    },
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
    /// A change of a job's arguments derived a uniqueness key another job
    /// of its queue holds; the message names both.
    #[error("{}", store::Error::UniqueKeyHeld { job: *.job, holder: *.holder })]
    UniqueKeyHeld {
        /// The job whose change was refused.
        job: crate::model::JobId,
        /// The job holding the key.
        holder: crate::model::JobId,
    },
    /// An uploaded component was refused.
    #[error(transparent)]
    InvalidComponent(#[from] ValidationError),
    /// The store failed (database unreachable, corrupt row, ...).
    #[error("store: {0}")]
    Store(store::Error),
    /// The service is shutting down.
    #[error("wasync is shutting down")]
    ShuttingDown,
    /// A put into a queue at its pending cap; the message names the cap.
    #[error("{0}")]
    QueueFull(String),
    /// A put names a partitioned quota without a key, or gives a key for a
    /// quota that is not partitioned; the message names the quota.
    #[error("{0}")]
    QuotaMismatch(String),
    /// The caller's token does not grant `scope` in `queue` (`None`: a
    /// server-wide operation, which needs `admin` on every queue).
    #[error("{}", forbidden_message(.scope, .queue))]
    Forbidden {
        /// The scope missing.
        scope: Scope,
        /// The queue it is missing in.
        queue: Option<String>,
    },
}

fn forbidden_message(scope: &Scope, queue: &Option<String>) -> String {
    match queue.as_deref() {
        Some("") => format!("this token lacks the `{scope}` scope on the default queue"),
        Some(queue) => format!("this token lacks the `{scope}` scope on queue `{queue}`"),
        None => format!(
            "this token lacks the `{scope}` scope on every queue (`*`), which this \
             server-wide operation needs"
        ),
    }
}

impl From<store::Error> for Error {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::NotFound { what } => Error::NotFound { what },
            store::Error::Conflict(message) => Error::Conflict(message),
            store::Error::UniqueKeyHeld { job, holder } => Error::UniqueKeyHeld { job, holder },
            other => Error::Store(other),
        }
    }
}

impl Error {
    /// A [`Error::NotFound`] for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// A [`Error::Forbidden`]: `scope` missing in `queue`.
    pub fn forbidden(scope: Scope, queue: &str) -> Self {
        Error::Forbidden {
            scope,
            queue: Some(queue.to_owned()),
        }
    }
}

/// The service's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
