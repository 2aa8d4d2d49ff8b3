//! Failures on the wire: a job's failed attempts
//! (`GET /v1/jobs/{id}/attempts`) and a queue's retry policy
//! (`/v1/queues/{name}/retry`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::model::{Attempt, JobId, RetryPolicy, RunRecord};

/// Reply of `GET /v1/jobs/{id}/attempts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptList {
    /// Its failed attempts, oldest first.
    pub attempts: Vec<AttemptView>,
    /// The job.
    pub job: JobId,
}

/// One failed attempt, with the run recorded for it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    /// The attempt.
    #[serde(flatten)]
    pub attempt: Attempt,
    /// Its recorded run (its limits and what it consumed); `null` when
    /// none was recorded.
    pub run: Option<RunRecord>,
}

/// Reply of `GET` and `PUT /v1/queues/{name}/retry`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RetryView {
    /// The policy its jobs without one of their own get.
    pub effective: RetryPolicy,
    /// The queue, as the path named it.
    pub queue: String,
    /// The policy set on the queue; `null`: none (the server's default).
    pub retry: Option<RetryPolicy>,
}

/// Body of `PUT /v1/queues/{name}/retry`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"retry": {"max_attempts": 3}}))]
pub struct RetryBody {
    /// A preset's name or an object; `null` clears the queue's policy.
    #[schema(schema_with = retry_or_null)]
    pub retry: Option<RetryPolicy>,
}

/// A policy as a request gives it (see `JobSpec.retry`), or `null`.
fn retry_or_null() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(super::jobs::retry_input_schema())
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}
