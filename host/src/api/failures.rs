//! Failures over HTTP: a job's failed attempts
//! (`GET /v1/jobs/{id}/attempts`) and a queue's default retry policy
//! (`GET`/`PUT /v1/queues/{name}/retry`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use crate::model::{JobId, RetryPolicy};

/// `GET /v1/jobs/{id}/attempts`: `{"attempts": [{attempt, dispatcher,
/// failure, failed_at, run}, …]}`, oldest first; `run` is the recorded run
/// of that attempt (its limits and what it consumed) when there is one.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/attempts",
    tag = "jobs",
    operation_id = "failures_attempts",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "`{job, attempts: [{attempt, dispatcher, failure, failed_at, run}]}`, oldest first.", body = serde_json::Value)
    )
)]
pub async fn attempts(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<Value>> {
    let (attempts, runs) =
        tokio::try_join!(state.service.job_attempts(id), state.service.job_runs(id))?;
    let attempts: Vec<Value> = attempts
        .into_iter()
        .map(|attempt| {
            let run = runs.iter().find(|run| run.attempt == attempt.attempt);
            let mut value = json!(attempt);
            value["run"] = json!(run);
            value
        })
        .collect();
    Ok(Json(json!({ "job": id, "attempts": attempts })))
}

/// `GET /v1/queues/{name}/retry`: the policy set on the queue (`null`:
/// none) and the one its jobs without a policy of their own get.
#[utoipa::path(
    get,
    path = "/v1/queues/{name}/retry",
    tag = "queues",
    operation_id = "failures_show_retry",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "`{queue, retry, effective}`.", body = serde_json::Value)
    )
)]
pub async fn show_retry(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> ApiResult<Json<Value>> {
    let (set, effective) = state.service.queue_retry(&queue).await?;
    Ok(Json(
        json!({ "queue": queue, "retry": set, "effective": effective }),
    ))
}

/// Body of `PUT /v1/queues/{name}/retry`: `{"retry": <policy> | null}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// A preset's name or an object; `null` clears the queue's default.
    retry: Option<RetryPolicy>,
}

/// `PUT /v1/queues/{name}/retry` `{"retry": {"max_attempts": 3}}`.
#[utoipa::path(
    put,
    path = "/v1/queues/{name}/retry",
    tag = "queues",
    operation_id = "failures_set_retry",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    request_body(content = serde_json::Value, description = "`{\"retry\": <policy> | null}`."),
    responses(
        (status = 200, description = "`{queue, retry, effective}`.", body = serde_json::Value)
    )
)]
pub async fn set_retry(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    JsonBody(body): JsonBody<RetryBody>,
) -> ApiResult<Json<Value>> {
    state.service.set_queue_retry(&queue, body.retry).await?;
    let (set, effective) = state.service.queue_retry(&queue).await?;
    Ok(Json(
        json!({ "queue": queue, "retry": set, "effective": effective }),
    ))
}
