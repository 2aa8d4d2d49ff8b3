//! Deleting given jobs on the wire: the body of `POST /v1/jobs/delete`
//! (the dashboard's batch delete). The reply is
//! [`DeletionReport`](crate::model::DeletionReport).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::JobId;

/// The body of `POST /v1/jobs/delete`: the jobs to delete, by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ids": ["0193b2d4-5a6e-7c11-9f3a-2b4c5d6e7f80"]}))]
pub struct DeleteJobs {
    /// 1 to 1,000 job ids; only the finished (completed or cancelled)
    /// ones are deleted.
    pub ids: Vec<JobId>,
}
