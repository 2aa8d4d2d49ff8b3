//! Operators' requests and replies: pauses (`/v1/queues/{name}/pause`,
//! `/v1/dispatchers/{id}/pause`, `/v1/processing`), removal
//! (`POST /v1/jobs/remove`) and job queries (`/v1/jobs/query`, `count`,
//! `last-completed`, `/v1/queues/{name}/next`, `/v1/jobs/{id}/failure`).
//!
//! The replies that are wrappers (`{"count": n}`) list their fields in
//! the order the server has always written them (alphabetical).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::input::TimeInput;
use crate::model::{DispatcherId, Failure, Job, JobId};
pub use crate::service::{JobInfo, PausedDispatcher, PausedQueue, ProcessingView};

/// Reply of `POST /v1/queues/{name}/pause`, `…/resume` and
/// `GET …/processing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"processing": false, "queue": "video"}))]
pub struct QueueProcessing {
    /// Whether dispatchers claim from it (false: paused).
    pub processing: bool,
    /// The queue, as the path named it.
    pub queue: String,
}

/// Reply of `POST /v1/dispatchers/{id}/pause`, `…/resume` and
/// `GET …/processing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"dispatcher": "0193a0c4-6f1e-7cc2-9a61-3b1f2d4e5a60", "processing": true}))]
pub struct DispatcherProcessing {
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// Whether it claims jobs (false: paused).
    pub processing: bool,
}

/// Body of `POST /v1/jobs/remove` (optional): which finished jobs to
/// delete.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"statuses": ["failed"], "queue": "video"}))]
pub struct RemoveRequest {
    /// States to remove: `completed`, `succeeded`, `failed`, `cancelled`
    /// (empty: completed and cancelled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<String>,
    /// Only this queue; absent: every queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

/// Reply of `POST /v1/jobs/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"removed": {"failed": 3}}))]
pub struct RemoveReply {
    /// Jobs removed, by the state asked for.
    pub removed: BTreeMap<String, u64>,
}

/// The filters of `GET /v1/jobs/query`, `/v1/jobs/count` and
/// `/v1/jobs/last-completed`: every one optional; the paging ones
/// (`after`, `order`, `limit`) are read by `query` only.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobFilterQuery {
    /// Comma-separated states: a status, `succeeded` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Glob on the module's name or digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Glob on the function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The queue (`default`: the default queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The agent that claimed it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The dispatcher that claimed it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, format = Uuid)]
    pub dispatcher: Option<DispatcherId>,
    /// Could begin at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub requested_start_since: Option<TimeInput>,
    /// Could begin before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub requested_start_before: Option<TimeInput>,
    /// Started at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub start_since: Option<TimeInput>,
    /// Started before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub start_before: Option<TimeInput>,
    /// Ended at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub end_since: Option<TimeInput>,
    /// Ended before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub end_before: Option<TimeInput>,
    /// Put at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub created_since: Option<TimeInput>,
    /// Put before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub created_before: Option<TimeInput>,
    /// Page cursor: the `next` of the page before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, format = Uuid)]
    pub after: Option<JobId>,
    /// `oldest` (the default) or `newest` first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Page size (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Reply of `GET /v1/jobs/count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"count": 12}))]
pub struct JobCount {
    /// How many jobs match.
    pub count: u64,
}

/// Reply of `GET /v1/jobs/last-completed` and `/v1/queues/{name}/next`:
/// one job, or `null` when none matches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobSlot {
    /// The job; `null`: none.
    pub job: Option<Job>,
}

/// Reply of `GET /v1/jobs/{id}/failure`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FailureReply {
    /// Its failure; `null`: it has none (yet).
    pub failure: Option<Failure>,
    /// The job.
    pub id: JobId,
}
