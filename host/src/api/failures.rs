//! Failures over HTTP: a job's failed attempts
//! (`GET /v1/jobs/{id}/attempts`) and a queue's default retry policy
//! (`GET`/`PUT /v1/queues/{name}/retry`).

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use crate::model::JobId;
use crate::wire::failures::{AttemptList, AttemptView, RetryBody, RetryView};

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
        (status = 200, description = "Its failed attempts, oldest first, each with its recorded run.", body = AttemptList)
    )
)]
pub async fn attempts(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<AttemptList>> {
    let (attempts, runs) =
        tokio::try_join!(state.service.job_attempts(id), state.service.job_runs(id))?;
    let attempts = attempts
        .into_iter()
        .map(|attempt| {
            let run = runs
                .iter()
                .find(|run| run.attempt == attempt.attempt)
                .cloned();
            AttemptView { attempt, run }
        })
        .collect();
    Ok(Json(AttemptList { attempts, job: id }))
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
        (status = 200, description = "The queue's policy and the one its jobs get.", body = RetryView)
    )
)]
pub async fn show_retry(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> ApiResult<Json<RetryView>> {
    let (retry, effective) = state.service.queue_retry(&queue).await?;
    Ok(Json(RetryView {
        effective,
        queue,
        retry,
    }))
}

/// `PUT /v1/queues/{name}/retry` `{"retry": {"max_attempts": 3}}`.
#[utoipa::path(
    put,
    path = "/v1/queues/{name}/retry",
    tag = "queues",
    operation_id = "failures_set_retry",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    request_body = RetryBody,
    responses(
        (status = 200, description = "The queue's policy and the one its jobs get.", body = RetryView)
    )
)]
pub async fn set_retry(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    JsonBody(body): JsonBody<RetryBody>,
) -> ApiResult<Json<RetryView>> {
    state.service.set_queue_retry(&queue, body.retry).await?;
    let (retry, effective) = state.service.queue_retry(&queue).await?;
    Ok(Json(RetryView {
        effective,
        queue,
        retry,
    }))
}
