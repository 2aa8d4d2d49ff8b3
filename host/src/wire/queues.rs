//! Queues on the wire: `/v1/queues/...`. The default queue `""` is
//! written `default` in paths.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::model::{Job, QueueInfo, UsageTotals};

/// Body of `POST /v1/queues`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "video"}))]
pub struct QueueCreate {
    /// The new queue's name.
    pub name: String,
}

/// Reply of `GET /v1/queues`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueList {
    /// The queues the caller may read.
    pub queues: Vec<QueueInfo>,
}

/// Reply of `GET /v1/queues/{name}`: the queue and the runs of its
/// stored jobs summed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueView {
    /// The queue.
    #[serde(flatten)]
    pub queue: QueueInfo,
    /// Its stored jobs' runs, summed.
    pub usage: UsageTotals,
}

/// A queue's caps: the body of `PUT /v1/queues/{name}/caps` and the reply
/// of `GET`. A cap left out (or `null`) is cleared.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"put_cap": 100000, "pending_cap": 5000}))]
pub struct QueueCaps {
    /// The most jobs one run of a job in the queue may put; `null`: the
    /// server's `job_put_cap`.
    #[serde(default)]
    pub put_cap: Option<u64>,
    /// The most pending jobs the queue takes; `null`: no cap.
    #[serde(default)]
    pub pending_cap: Option<u64>,
}

/// Query of `GET /v1/queues/{name}/jobs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueJobsQuery {
    /// How many jobs of the queue's order to skip.
    #[serde(default)]
    pub offset: u64,
    /// The most jobs to list (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Reply of `GET /v1/queues/{name}/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueJobs {
    /// The pending jobs, in the order they will run.
    pub jobs: Vec<Job>,
}

/// Body of `POST /v1/queues/{name}/pull` (optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"index": -1}))]
pub struct PullBody {
    /// The index in the queue's order; negative counts from the end.
    #[serde(default)]
    pub index: i64,
}
