//! `/v1/jobs`: put, list, show, wait, put back, annotations.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path, Query};
use super::input::{DurationInput, TimeInput, nullable, parse_duration_text};
use crate::model::{Job, JobId, JobLimits, JobSpec, JobStatus, RetryPolicy, RunRecord, Scope};
use crate::service::{JobPatch, Putter};

/// The longest a `wait` request may hold the connection.
pub const WAIT_TIMEOUT_MAX: Duration = Duration::from_secs(300);
/// How long `wait` holds it when not told.
pub const WAIT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// Body of a put.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// Module digest or name.
    pub module: String,
    /// Job function.
    pub function: String,
    /// Array or object; default none.
    #[serde(default)]
    pub args: Value,
    /// Queue; default the default queue.
    #[serde(default)]
    pub queue: Option<String>,
    /// Not before this time.
    #[serde(default)]
    pub begin_after: Option<TimeInput>,
    /// Must have started within this long after `begin_after`.
    #[serde(default)]
    pub begin_by: Option<DurationInput>,
    /// Resource requests.
    #[serde(default)]
    pub limits: JobLimits,
    /// Quotas of the queue the job counts against.
    #[serde(default)]
    pub quota_names: Vec<String>,
    /// Callbacks, put with the job in one transaction (`api/callbacks.rs`).
    #[serde(default)]
    pub callbacks: Vec<super::callbacks::LinkedBody>,
    /// Its retry policy: a preset's name or an object (see
    /// [`RetryPolicy`]); default its queue's.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    /// Among due jobs of its queue, higher runs first; default 0.
    #[serde(default)]
    pub priority: i32,
}

impl PutBody {
    /// The job this body describes (its callbacks take the put job's
    /// module and queue where they name none: the service's put sees to
    /// it).
    pub fn into_spec(self) -> JobSpec {
        let callbacks = self
            .callbacks
            .into_iter()
            .map(super::callbacks::LinkedBody::callback)
            .collect();
        JobSpec {
            module: Some(self.module),
            function: self.function,
            args: self.args,
            queue: self.queue,
            limits: self.limits,
            begin_after: self.begin_after.map(|t| t.0),
            begin_by_ms: self.begin_by.map(|d| d.millis()),
            quota_names: self.quota_names,
            retry: self.retry,
            priority: self.priority,
            callbacks,
        }
    }
}

/// Puts a job described by `body`, as `caller` (the service checks its
/// `put` scope in every queue of the put, callbacks included).
pub async fn put_job(
    state: &AppState,
    caller: Caller,
    body: PutBody,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let job = state
        .service
        .put(body.into_spec(), &Putter::with(caller.0))
        .await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// `POST /v1/jobs`: puts a job (queue in the body; default queue if none).
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<PutBody>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    put_job(&state, caller, body).await
}

/// Query of `GET /v1/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Comma-separated statuses.
    status: Option<String>,
    queue: Option<String>,
    after: Option<JobId>,
    limit: Option<u32>,
}

/// `GET /v1/jobs?status=pending,active&queue=&after=&limit=`: oldest first;
/// `next` is the `after` of the next page. A token sees only the jobs of
/// queues it may read (a page may then hold fewer than `limit`).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(
        serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

/// A job with its annotations.
#[derive(Debug, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    job: Job,
    annotations: BTreeMap<String, Value>,
    /// Its runs: the limits each ran under and what each consumed.
    runs: Vec<RunRecord>,
}

/// `GET /v1/jobs/{id}`: status, result or failure, timestamps, attempts,
/// dispatcher and agent, annotations, and its runs (the limits each ran
/// under, what each consumed).
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<JobView>> {
    let (job, annotations, runs) = tokio::try_join!(
        state.service.job_get(id),
        state.service.annotation_list(id),
        state.service.job_runs(id)
    )?;
    Ok(Json(JobView {
        job,
        annotations: annotations.into_iter().collect(),
        runs,
    }))
}

/// Body of `PATCH /v1/jobs/{id}`: each field present is changed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// New arguments: an array (positional) or object (named).
    #[serde(default)]
    args: Option<Value>,
    /// A new due time; `null`: as soon as possible.
    #[serde(default, deserialize_with = "nullable")]
    begin_after: Option<Option<TimeInput>>,
    /// A new `begin_by` (after `begin_after`); `null`: none.
    #[serde(default, deserialize_with = "nullable")]
    begin_by: Option<Option<DurationInput>>,
    /// New quota names (each a quota of the job's queue).
    #[serde(default)]
    quota_names: Option<Vec<String>>,
    /// A new priority.
    #[serde(default)]
    priority: Option<i32>,
}

/// `PATCH /v1/jobs/{id}`: changes a job's `args`, `begin_after`,
/// `begin_by`, `quota_names` or `priority` while no dispatcher holds it (status
/// `pending` or `new`); 409 naming its status once claimed, 400 naming an
/// unknown quota (the job unchanged).
pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
    JsonBody(body): JsonBody<PatchBody>,
) -> ApiResult<Json<Job>> {
    let patch = JobPatch {
        args: body.args,
        begin_after: body.begin_after.map(|t| t.map(|t| t.0)),
        begin_by_ms: body
            .begin_by
            .map(|d| d.map(|d| u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX))),
        quota_names: body.quota_names,
        priority: body.priority,
    };
    Ok(Json(state.service.job_update(id, patch).await?))
}

/// Query of a wait.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    timeout: Option<String>,
}

/// `GET /v1/jobs/{id}/wait?timeout=30s`: long-polls until the job completes
/// or the timeout passes, then returns the job as it is.
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

/// Body of a put back.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBackBody {
    queue: Option<String>,
}

/// `POST /v1/jobs/{id}/put`: puts a pulled or removed job back, at the end
/// of its queue (or of `queue`).
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
pub async fn set_annotation(
    State(state): State<AppState>,
    Path((id, name)): Path<(JobId, String)>,
    JsonBody(value): JsonBody<Value>,
) -> ApiResult<StatusCode> {
    state.service.annotation_set(id, &name, value).await?;
    Ok(StatusCode::NO_CONTENT)
}
