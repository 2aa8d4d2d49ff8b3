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
use crate::model::{Job, JobLimits, JobName, JobSpec};
use crate::service::Putter;

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
    let job = JobSpec {
        module: Some(body.module),
        function: body.function,
        queue: body.queue,
        args: body.args,
        ..JobSpec::default()
    };
    Ok(Json(state.service.job_name_set(name, job).await?))
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
    let spec = JobSpec {
        args: body.args,
        queue: body.queue,
        begin_after: body.begin_after.map(|t| t.0),
        begin_by_ms: body.begin_by.map(|d| d.millis()),
        limits: body.limits,
        quota_names: body.quota_names,
        ..JobSpec::default()
    };
    let job = state
        .service
        .put_by_name(&name, spec, &Putter::with(authority))
        .await?;
    Ok((StatusCode::CREATED, Json(job)))
}
