//! Quotas on the wire: `/v1/queues/{name}/quotas/...`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::model::Quota;

/// Body of `POST /v1/queues/{name}/quotas`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "content catalog", "size": 2}))]
pub struct QuotaCreate {
    /// Its name, unique in its queue.
    pub name: String,
    /// The most of its jobs that may run at once (default 1); for a
    /// partitioned quota, per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// The size applies to each key separately (jobs name the quota in
    /// `quota_keys`, with their key). Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partitioned: bool,
    /// A partitioned quota's rate, per key: at most `limit` starts per
    /// fixed window of `period_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<crate::model::Rate>,
}

/// Body of `PATCH /v1/queues/{name}/quotas/{quota}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"size": 1}))]
pub struct QuotaPatch {
    /// Its new size; running jobs are not touched.
    pub size: u32,
}

/// Reply of `GET /v1/queues/{name}/quotas`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuotaList {
    /// The queue's quotas.
    pub quotas: Vec<Quota>,
}
