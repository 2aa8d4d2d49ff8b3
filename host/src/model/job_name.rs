//! Named jobs: a name for a module's function, with a default queue and
//! arguments.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Timestamp;

/// A named job: putting by name puts the module's
/// function into the queue, with the given arguments or these defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobName {
    /// The name.
    pub name: String,
    /// The module, by name or digest (resolved at each put, so a module
    /// name moved to a new upload is followed).
    pub module: String,
    /// The function.
    pub function: String,
    /// The queue its jobs go to by default (`""`: the default queue).
    pub queue: String,
    /// The arguments a put without arguments uses.
    pub args: Value,
    /// When it was first registered.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}
