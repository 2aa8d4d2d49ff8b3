//! `/v1/queues`: create, list, show (with length), delete; the jobs of a
//! queue in order; `pull` and `remove`. The default queue `""` is written
//! `default` in paths.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{JsonBody, Path, Query};
use crate::model::{Job, JobId, QueueInfo, Rate, Scope};
use crate::wire::ErrorBody;
use crate::wire::jobs::JobSpec;
use crate::wire::jobs::PutReply;
use crate::wire::queues::{
    PullBody, QueueCaps, QueueCreate, QueueJobs, QueueJobsQuery, QueueList, QueueView,
};

/// `POST /v1/queues` `{"name": "video"}`: needs `admin` on that queue.
#[utoipa::path(
    post,
    path = "/v1/queues",
    tag = "queues",
    operation_id = "queues_create",
    request_body = QueueCreate,
    responses(
        (status = 201, description = "The new queue.", body = QueueInfo),
        (status = 409, description = "The queue exists.", body = ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<QueueCreate>,
) -> ApiResult<(StatusCode, Json<QueueInfo>)> {
    caller.require(Scope::Admin, &body.name)?;
    Ok((
        StatusCode::CREATED,
        Json(state.service.queue_create(&body.name).await?),
    ))
}

/// `GET /v1/queues`: the queues the caller may read.
#[utoipa::path(
    get,
    path = "/v1/queues",
    tag = "queues",
    operation_id = "queues_list",
    responses(
        (status = 200, description = "The queues the caller may read.", body = QueueList)
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<QueueList>> {
    let mut queues = state.service.queue_list().await?;
    queues.retain(|q| caller.reads(&q.name));
    Ok(Json(QueueList { queues }))
}

/// `GET /v1/queues/{name}`: the queue, its length, and `usage`: the runs
/// of its stored jobs summed (count, fuel, largest peak memory, wall time,
/// output bytes).
#[utoipa::path(
    get,
    path = "/v1/queues/{name}",
    tag = "queues",
    operation_id = "queues_show",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "The queue, its length and usage.", body = QueueView)
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<QueueView>> {
    let queue = state.service.queue_get(&name).await?;
    let usage = state.service.queue_usage(&name).await?;
    Ok(Json(QueueView { queue, usage }))
}

/// `GET /v1/queues/{name}/caps`: `{"put_cap", "pending_cap"}`.
#[utoipa::path(
    get,
    path = "/v1/queues/{name}/caps",
    tag = "queues",
    operation_id = "queues_show_caps",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "The queue's caps.", body = QueueCaps)
    )
)]
pub async fn show_caps(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<QueueCaps>> {
    let queue = state.service.queue_get(&name).await?;
    Ok(Json(QueueCaps {
        put_cap: queue.put_cap,
        pending_cap: queue.pending_cap,
    }))
}

/// `PUT /v1/queues/{name}/caps` `{"put_cap": 100000, "pending_cap": 5000}`:
/// sets the queue's fan-out and pending caps (admin only); returns the
/// queue.
#[utoipa::path(
    put,
    path = "/v1/queues/{name}/caps",
    tag = "queues",
    operation_id = "queues_set_caps",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    request_body = QueueCaps,
    responses(
        (status = 200, description = "The queue.", body = QueueInfo)
    )
)]
pub async fn set_caps(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<QueueCaps>,
) -> ApiResult<Json<QueueInfo>> {
    Ok(Json(
        state
            .service
            .queue_caps_set(&name, body.put_cap, body.pending_cap)
            .await?,
    ))
}

/// `PUT /v1/queues/{name}/rate` `{"limit": 10, "period_ms": 60000}`: at
/// most `limit` of the queue's jobs start per fixed window of `period_ms`
/// (the others stay pending and start when a window opens); returns the
/// queue with its current window.
#[utoipa::path(
    put,
    path = "/v1/queues/{name}/rate",
    tag = "queues",
    operation_id = "queues_set_rate",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    request_body = Rate,
    responses(
        (status = 200, description = "The queue, with `rate`: its current window.", body = QueueInfo),
        (status = 422, description = "A limit or period out of bounds.", body = ErrorBody)
    )
)]
pub async fn set_rate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Rate>,
) -> ApiResult<Json<QueueInfo>> {
    Ok(Json(state.service.queue_rate_set(&name, Some(body)).await?))
}

/// `DELETE /v1/queues/{name}/rate`: the queue's jobs start without a rate.
#[utoipa::path(
    delete,
    path = "/v1/queues/{name}/rate",
    tag = "queues",
    operation_id = "queues_clear_rate",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "The queue.", body = QueueInfo)
    )
)]
pub async fn clear_rate(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<QueueInfo>> {
    Ok(Json(state.service.queue_rate_set(&name, None).await?))
}

/// `DELETE /v1/queues/{name}`: only an empty queue, never the default.
#[utoipa::path(
    delete,
    path = "/v1/queues/{name}",
    tag = "queues",
    operation_id = "queues_delete",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "The queue is not empty, or is the default queue.", body = ErrorBody)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.queue_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/queues/{name}/jobs`: pending jobs in the order they will run.
#[utoipa::path(
    get,
    path = "/v1/queues/{name}/jobs",
    tag = "queues",
    operation_id = "queues_jobs",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue)."), QueueJobsQuery),
    responses(
        (status = 200, description = "Its pending jobs, in order.", body = QueueJobs)
    )
)]
pub async fn jobs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<QueueJobsQuery>,
) -> ApiResult<Json<QueueJobs>> {
    let jobs = state
        .service
        .queue_jobs(&name, query.offset, query.limit.unwrap_or(100))
        .await?;
    Ok(Json(QueueJobs { jobs }))
}

/// `POST /v1/queues/{name}/jobs`: puts a job into this queue.
#[utoipa::path(
    post,
    path = "/v1/queues/{name}/jobs",
    tag = "queues",
    operation_id = "queues_put",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    request_body = JobSpec,
    responses(
        (status = 201, description = "The job, put.", body = PutReply),
        (status = 200, description = "A unique put whose key a job of the queue holds: that job, with `\"duplicate\": true`.", body = PutReply),
        (status = 409, description = "The put does not fit the current state.", body = ErrorBody),
        (status = 429, description = "The queue is at its pending cap (`queue_full`).", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(mut spec): JsonBody<JobSpec>,
) -> ApiResult<(StatusCode, Json<PutReply>)> {
    spec.queue = Some(name);
    super::jobs::put_job(&state, caller, spec).await
}

/// `POST /v1/queues/{name}/pull` `{"index": -1}`: takes the job at an
/// index of the queue out of it.
#[utoipa::path(
    post,
    path = "/v1/queues/{name}/pull",
    tag = "queues",
    operation_id = "queues_pull",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    request_body = Option<PullBody>,
    responses(
        (status = 200, description = "The job taken out.", body = Job)
    )
)]
pub async fn pull(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Option<PullBody>>,
) -> ApiResult<Json<Job>> {
    let index = body.unwrap_or_default().index;
    Ok(Json(state.service.queue_pull(&name, index).await?))
}

/// `DELETE /v1/queues/{name}/jobs/{id}`: takes a given pending job out of
/// its queue.
#[utoipa::path(
    delete,
    path = "/v1/queues/{name}/jobs/{id}",
    tag = "queues",
    operation_id = "queues_remove",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue)."), ("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job taken out.", body = Job),
        (status = 409, description = "The job is not pending.", body = ErrorBody)
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, JobId)>,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.service.queue_remove(Some(&name), id).await?))
}
