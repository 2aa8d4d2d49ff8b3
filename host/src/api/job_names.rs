//! Named jobs over HTTP (`/v1/job-names`): register, list, show, delete,
//! and put by name.

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
use crate::model::{JobLimits, JobName, JobSpec, RetryPolicy, UniqueSpec};
use crate::service::Putter;
use crate::wire::ErrorBody;
use crate::wire::jobs::PutReply;

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
    /// The retry policy of every job put by this name (unless the put
    /// gives its own); absent: the queue's.
    #[serde(default)]
    retry: Option<RetryPolicy>,
    /// Resource requests of every job put by this name (a put's own
    /// requests replace them).
    #[serde(default)]
    limits: JobLimits,
    /// The priority of every job put by this name (unless the put gives
    /// one).
    #[serde(default)]
    priority: i32,
    /// The uniqueness of every job put by this name (unless the put gives
    /// its own): a put by name whose key is held answers with the job
    /// holding it.
    #[serde(default)]
    unique: Option<UniqueSpec>,
}

/// `PUT /v1/job-names/{name}` `{"module", "function", "queue", "args",
/// "retry", "limits", "priority", "unique"}`: registers or replaces a
/// named job, with the policy every job put by its name carries.
#[utoipa::path(
    put,
    path = "/v1/job-names/{name}",
    tag = "job-names",
    operation_id = "job_names_set_name",
    params(("name" = String, Path, min_length = 1, description = "The named job.")),
    request_body(content = serde_json::Value, description = "`{module, function, queue, args, retry, limits, priority, unique}`."),
    responses(
        (status = 200, description = "The named job.", body = serde_json::Value),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn set_name(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<JobNameBody>,
) -> ApiResult<Json<JobName>> {
    let job = JobSpec {
        module: Some(body.module),
        function: body.function,
        queue: body.queue,
        args: body.args,
        retry: body.retry,
        limits: body.limits,
        priority: body.priority,
        unique: body.unique,
        ..JobSpec::default()
    };
    Ok(Json(state.service.job_name_set(name, job).await?))
}

/// `GET /v1/job-names`.
#[utoipa::path(
    get,
    path = "/v1/job-names",
    tag = "job-names",
    operation_id = "job_names_list_names",
    responses(
        (status = 200, description = "`{\"job_names\": [...]}`.", body = serde_json::Value)
    )
)]
pub async fn list_names(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "job_names": state.service.job_name_list().await? }),
    ))
}

/// `GET /v1/job-names/{name}`.
#[utoipa::path(
    get,
    path = "/v1/job-names/{name}",
    tag = "job-names",
    operation_id = "job_names_show_name",
    params(("name" = String, Path, min_length = 1, description = "The named job.")),
    responses(
        (status = 200, description = "The named job.", body = serde_json::Value)
    )
)]
pub async fn show_name(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<JobName>> {
    Ok(Json(state.service.job_name_get(&name).await?))
}

/// `DELETE /v1/job-names/{name}`: jobs put by it stay.
#[utoipa::path(
    delete,
    path = "/v1/job-names/{name}",
    tag = "job-names",
    operation_id = "job_names_delete_name",
    params(("name" = String, Path, min_length = 1, description = "The named job.")),
    responses(
        (status = 204, description = "Deleted.")
    )
)]
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
    /// Its retry policy; default the named job's.
    #[serde(default)]
    retry: Option<RetryPolicy>,
    /// Its priority; default the named job's.
    #[serde(default)]
    priority: Option<i32>,
    /// Its uniqueness; default the named job's.
    #[serde(default)]
    unique: Option<UniqueSpec>,
}

/// `POST /v1/job-names/{name}/jobs` `{"args": …}`: puts the named job
/// with these arguments; 404 names an unknown name.
#[utoipa::path(
    post,
    path = "/v1/job-names/{name}/jobs",
    tag = "job-names",
    operation_id = "job_names_put_by_name",
    params(("name" = String, Path, min_length = 1, description = "The named job.")),
    request_body(content = serde_json::Value, description = "`{args, queue, begin_after, begin_by, limits, quota_names, retry, priority, unique}` (optional; absent ones: the named job's)."),
    responses(
        (status = 201, description = "The job, put.", body = PutReply),
        (status = 200, description = "A unique put whose key a job of the queue holds: that job, with `\"duplicate\": true`.", body = PutReply),
        (status = 429, description = "The queue is at its pending cap (`queue_full`).", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn put_by_name(
    State(state): State<AppState>,
    Caller(authority): Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Option<PutByNameBody>>,
) -> ApiResult<(StatusCode, Json<PutReply>)> {
    let body = body.unwrap_or_default();
    let spec = JobSpec {
        args: body.args,
        queue: body.queue,
        begin_after: body.begin_after.map(|t| t.0),
        begin_by_ms: body.begin_by.map(|d| d.millis()),
        limits: body.limits,
        quota_names: body.quota_names,
        retry: body.retry,
        priority: body.priority.unwrap_or_default(),
        unique: body.unique,
        ..JobSpec::default()
    };
    let put = state
        .service
        .put_by_name(
            &name,
            spec,
            body.priority.is_some(),
            &Putter::with(authority),
        )
        .await?;
    let reply = PutReply::from(put);
    Ok((reply.status(), Json(reply)))
}
