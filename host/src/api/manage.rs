//! The management tools over HTTP: cancel
//! (`POST /v1/jobs/{id}/cancel`), remove finished jobs by status
//! (`POST /v1/jobs/remove`), pause and resume a queue or a dispatcher
//! (`POST …/pause`, `…/resume`, `GET …/processing`, `GET /v1/processing`)
//! and named jobs (`/v1/job-names`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use super::input::{DurationInput, TimeInput};
use crate::model::{DispatcherId, Job, JobId, JobLimits, JobName, RemovalReport};
use crate::service::{JobNameRequest, ProcessingView, PutRequest};

/// `POST /v1/jobs/{id}/cancel`: a job that has not completed becomes
/// `cancelled`: a pending (or pulled) one never runs, a claimed or running
/// one has its run stopped by its dispatcher within about a second
/// (`dispatch::STOP_CHECK_INTERVAL`); 409 once it has completed.
pub async fn cancel(State(state): State<AppState>, Path(id): Path<JobId>) -> ApiResult<Json<Job>> {
    Ok(Json(state.service.job_cancel(id).await?))
}

/// Body of `POST /v1/jobs/remove`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    /// States to remove: completed, succeeded, failed, cancelled
    /// (default: completed and cancelled).
    #[serde(default)]
    statuses: Vec<String>,
    /// Only this queue.
    #[serde(default)]
    queue: Option<String>,
}

/// `POST /v1/jobs/remove` `{"statuses": ["failed"], "queue": "video"}`:
/// deletes finished jobs, answering `{"removed": {"failed": 3}}`.
pub async fn remove(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Option<RemoveBody>>,
) -> ApiResult<Json<Value>> {
    let body = body.unwrap_or_default();
    let removed: RemovalReport = state.service.jobs_remove(body.statuses, body.queue).await?;
    Ok(Json(json!({ "removed": removed })))
}

/// `POST /v1/queues/{name}/pause`: no dispatcher claims from it.
pub async fn pause_queue(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.service.queue_pause(&name).await?;
    Ok(Json(json!({ "queue": name, "processing": false })))
}

/// `POST /v1/queues/{name}/resume`.
pub async fn resume_queue(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.service.queue_resume(&name).await?;
    Ok(Json(json!({ "queue": name, "processing": true })))
}

/// `GET /v1/queues/{name}/processing`: whether the queue is processed
/// (not paused).
pub async fn queue_processing(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let processing = state.service.queue_processing(&name).await?;
    Ok(Json(json!({ "queue": name, "processing": processing })))
}

/// `POST /v1/dispatchers/{id}/pause`: it claims nothing; running jobs go
/// on.
pub async fn pause_dispatcher(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<Value>> {
    state.service.dispatcher_pause(id).await?;
    Ok(Json(json!({ "dispatcher": id, "processing": false })))
}

/// `POST /v1/dispatchers/{id}/resume`.
pub async fn resume_dispatcher(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<Value>> {
    state.service.dispatcher_resume(id).await?;
    Ok(Json(json!({ "dispatcher": id, "processing": true })))
}

/// `GET /v1/dispatchers/{id}/processing`.
pub async fn dispatcher_processing(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<Value>> {
    let processing = state.service.dispatcher_processing(id).await?;
    Ok(Json(json!({ "dispatcher": id, "processing": processing })))
}

/// `GET /v1/processing`: every paused queue and dispatcher.
pub async fn processing(State(state): State<AppState>) -> ApiResult<Json<ProcessingView>> {
    Ok(Json(state.service.processing().await?))
}

/// Body of `PUT /v1/job-names/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobNameBody {
    /// Module digest or name.
    module: String,
    /// Job function.
    function: String,
    /// Default queue.
    #[serde(default)]
    queue: Option<String>,
    /// Default arguments.
    #[serde(default)]
    args: Value,
}

/// `PUT /v1/job-names/{name}` `{"module", "function", "queue", "args"}`:
/// registers or replaces a named job.
pub async fn set_name(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<JobNameBody>,
) -> ApiResult<Json<JobName>> {
    let request = JobNameRequest {
        name,
        module: body.module,
        function: body.function,
        queue: body.queue,
        args: body.args,
    };
    Ok(Json(state.service.job_name_set(request).await?))
}

/// `GET /v1/job-names`.
pub async fn list_names(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "job_names": state.service.job_name_list().await? }),
    ))
}

/// `GET /v1/job-names/{name}`.
pub async fn show_name(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<JobName>> {
    Ok(Json(state.service.job_name_get(&name).await?))
}

/// `DELETE /v1/job-names/{name}`: jobs put by it stay.
pub async fn delete_name(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.job_name_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/job-names/{name}/jobs`: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutByNameBody {
    /// Arguments; default the named job's.
    #[serde(default)]
    args: Value,
    /// Queue; default the named job's.
    #[serde(default)]
    queue: Option<String>,
    /// Not before this time.
    #[serde(default)]
    begin_after: Option<TimeInput>,
    /// Must have started within this long after `begin_after`.
    #[serde(default)]
    begin_by: Option<DurationInput>,
    /// Resource requests.
    #[serde(default)]
    limits: JobLimits,
    /// Quotas of the queue the job counts against.
    #[serde(default)]
    quota_names: Vec<String>,
}

/// `POST /v1/job-names/{name}/jobs` `{"args": …}`: puts the named job
/// with these arguments; 404 names an unknown name.
pub async fn put_by_name(
    State(state): State<AppState>,
    Caller(authority): Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Option<PutByNameBody>>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let body = body.unwrap_or_default();
    let request = PutRequest {
        begin_after: body.begin_after.map(|t| t.0),
        begin_by_ms: body
            .begin_by
            .map(|d| u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX)),
        limits: body.limits,
        quota_names: body.quota_names,
        authority,
        ..PutRequest::new("", "", Value::Null)
    };
    let job = state
        .service
        .put_by_name(&name, body.args, body.queue, request)
        .await?;
    Ok((StatusCode::CREATED, Json(job)))
}
