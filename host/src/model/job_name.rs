//! Named jobs: a name for a module's function, with a default queue and
//! arguments.

use super::{JobSpec, Timestamp};
use serde::{Deserialize, Serialize};

/// A named job: putting by name puts the module's
/// function into the queue, with the given arguments or these defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobName {
    /// The name.
    pub name: String,
    /// What it puts: its module (by name or digest, resolved at each put,
    /// so a module name moved to a new upload is followed), function,
    /// default queue (`""`: the default queue), the arguments a put
    /// without arguments uses, and the policy every put by the name
    /// carries unless it gives its own: `retry`, `limits`, `priority`,
    /// `unique`, `quota_keys`. It keeps no other option.
    #[serde(flatten)]
    pub job: JobSpec,
    /// When it was first registered.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it was last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}
