//! `/v1/jobs`: put, list, show, wait, put back, annotations.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path, Query};
use crate::model::{Job, JobId, JobStatus, Scope};
use crate::service::Putter;
use crate::wire::ErrorBody;
use crate::wire::input::parse_duration_text;
use crate::wire::jobs::{
    JobListQuery, JobPage, JobPatch, JobSpec, JobView, PutBackBody, PutReply, WaitQuery,
};

/// The longest a `wait` request may hold the connection.
pub const WAIT_TIMEOUT_MAX: Duration = Duration::from_secs(300);
/// How long `wait` holds it when not told.
pub const WAIT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// Puts the job `spec` describes, as `caller` (the service checks its
/// `put` scope in every queue of the put, callbacks included). The one
/// put path of the API: a put with callbacks is a put whose `callbacks`
/// is not empty.
pub async fn put_job(
    state: &AppState,
    caller: Caller,
    spec: JobSpec,
) -> ApiResult<(StatusCode, Json<PutReply>)> {
    let put = state
        .service
        .put_job(spec.into_spec(), &Putter::with(caller.0))
        .await?;
    let reply = PutReply::from(put);
    Ok((reply.status(), Json(reply)))
}

/// `POST /v1/jobs`: puts a job (queue in the body; default queue if none).
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    operation_id = "jobs_put",
    request_body = JobSpec,
    responses(
        (status = 201, description = "The job, put (committed).", body = PutReply),
        (status = 200, description = "A unique put whose key a job of the queue holds: nothing inserted; that job, with `\"duplicate\": true`.", body = PutReply),
        (status = 409, description = "The put does not fit the current state.", body = ErrorBody),
        (status = 429, description = "The queue is at its pending cap (`queue_full`).", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(spec): JsonBody<JobSpec>,
) -> ApiResult<(StatusCode, Json<PutReply>)> {
    put_job(&state, caller, spec).await
}

/// `GET /v1/jobs?status=pending,active&queue=&after=&limit=`: oldest first;
/// `next` is the `after` of the next page. A token sees only the jobs of
/// queues it may read (a page may then hold fewer than `limit`).
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    operation_id = "jobs_list",
    params(JobListQuery),
    responses(
        (status = 200, description = "A page of jobs.", body = JobPage)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<JobListQuery>,
) -> ApiResult<Json<JobPage>> {
    if let Some(queue) = &query.queue {
        caller.require(Scope::Read, queue)?;
    }
    let statuses = match query.status.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<JobStatus>())
            .collect::<Result<_, _>>()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
    };
    let mut page = state
        .service
        .job_list(
            query.queue.as_deref(),
            statuses,
            query.after,
            query.limit.unwrap_or(100),
        )
        .await?;
    page.jobs.retain(|job| caller.reads(&job.queue));
    Ok(Json(page.into()))
}

/// `GET /v1/jobs/{id}`: status, result or failure, timestamps, attempts,
/// dispatcher and agent, annotations, and its runs (the limits each ran
/// under, what each consumed); a broadcast's copies.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    operation_id = "jobs_show",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job, its annotations and runs.", body = JobView)
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<JobView>> {
    let (job, annotations, runs) = tokio::try_join!(
        state.service.job_get(id),
        state.service.annotation_list(id),
        state.service.job_runs(id)
    )?;
    let copies = state.service.broadcast_copies(&job).await?;
    Ok(Json(JobView {
        job,
        annotations: annotations.into_iter().collect(),
        runs,
        copies,
    }))
}

/// `PATCH /v1/jobs/{id}`: changes a job's `args`, `begin_after`,
/// `begin_by`, `quota_names` or `priority` while no dispatcher holds it (status
/// `pending` or `new`); 409 naming its status once claimed, 400 naming an
/// unknown quota (the job unchanged). New `args` derive a uniqueness key
/// derived from the old ones again: 409 with `holder` naming the job that
/// holds the new key, the job unchanged.
#[utoipa::path(
    patch,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    operation_id = "jobs_patch",
    params(("id" = JobId, Path, description = "The job's id.")),
    request_body = JobPatch,
    responses(
        (status = 200, description = "The job, changed.", body = Job),
        (status = 409, description = "A dispatcher holds the job, or its new args derive a uniqueness key another job holds (`holder`).", body = ErrorBody)
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
    JsonBody(patch): JsonBody<JobPatch>,
) -> ApiResult<Json<Job>> {
    Ok(Json(
        state.service.job_update(id, patch.into_patch()).await?,
    ))
}

/// `GET /v1/jobs/{id}/wait?timeout=30s`: long-polls until the job completes
/// or the timeout passes, then returns the job as it is.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/wait",
    tag = "jobs",
    operation_id = "jobs_wait",
    params(("id" = JobId, Path, description = "The job's id."), WaitQuery),
    responses(
        (status = 200, description = "The job as it is: completed, or not yet when the timeout passed.", body = Job)
    )
)]
pub async fn wait(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
    Query(query): Query<WaitQuery>,
) -> ApiResult<Json<Job>> {
    let timeout = match query.timeout.as_deref() {
        None => WAIT_TIMEOUT_DEFAULT,
        Some(text) => parse_duration_text(text).map_err(ApiError::BadRequest)?,
    };
    Ok(Json(
        state
            .service
            .job_wait(id, timeout.min(WAIT_TIMEOUT_MAX))
            .await?,
    ))
}

/// `POST /v1/jobs/{id}/put`: puts a pulled or removed job back, at the end
/// of its queue (or of `queue`).
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/put",
    tag = "jobs",
    operation_id = "jobs_put_back",
    params(("id" = JobId, Path, description = "The job's id.")),
    request_body = Option<PutBackBody>,
    responses(
        (status = 200, description = "The job, pending again.", body = Job),
        (status = 409, description = "The job was not pulled or removed.", body = ErrorBody)
    )
)]
pub async fn put_back(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JobId>,
    JsonBody(body): JsonBody<Option<PutBackBody>>,
) -> ApiResult<Json<Job>> {
    let body = body.unwrap_or_default();
    if let Some(queue) = &body.queue {
        caller.require(Scope::Manage, queue)?;
    }
    Ok(Json(
        state.service.put_back(id, body.queue.as_deref()).await?,
    ))
}

/// `GET /v1/jobs/{id}/annotations`: every annotation, by name.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/annotations",
    tag = "jobs",
    operation_id = "jobs_annotations",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "Every annotation, by name.", body = BTreeMap<String, serde_json::Value>)
    )
)]
pub async fn annotations(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<BTreeMap<String, Value>>> {
    Ok(Json(
        state
            .service
            .annotation_list(id)
            .await?
            .into_iter()
            .collect(),
    ))
}

/// `GET /v1/jobs/{id}/annotations/{name}`: one annotation's value.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/annotations/{name}",
    tag = "jobs",
    operation_id = "jobs_annotation",
    params(("id" = JobId, Path, description = "The job's id."), ("name" = String, Path, min_length = 1, description = "The annotation's name.")),
    responses(
        (status = 200, description = "Its value.", body = serde_json::Value)
    )
)]
pub async fn annotation(
    State(state): State<AppState>,
    Path((id, name)): Path<(JobId, String)>,
) -> ApiResult<Json<Value>> {
    match state.service.annotation_get(id, &name).await? {
        Some(value) => Ok(Json(value)),
        None => Err(ApiError::NotFound(format!(
            "job {id} has no annotation `{name}`"
        ))),
    }
}

/// `PUT /v1/jobs/{id}/annotations/{name}` with the JSON value as the body.
#[utoipa::path(
    put,
    path = "/v1/jobs/{id}/annotations/{name}",
    tag = "jobs",
    operation_id = "jobs_set_annotation",
    params(("id" = JobId, Path, description = "The job's id."), ("name" = String, Path, min_length = 1, description = "The annotation's name.")),
    request_body(content = serde_json::Value, description = "The JSON value."),
    responses(
        (status = 204, description = "Set.")
    )
)]
pub async fn set_annotation(
    State(state): State<AppState>,
    Path((id, name)): Path<(JobId, String)>,
    JsonBody(value): JsonBody<Value>,
) -> ApiResult<StatusCode> {
    state.service.annotation_set(id, &name, value).await?;
    Ok(StatusCode::NO_CONTENT)
}
