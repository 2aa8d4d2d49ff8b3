//! Callbacks and composites over HTTP: `callbacks` in a put's body,
//! `POST/GET /v1/jobs/{id}/callbacks`, `POST /v1/composites`,
//! `POST/GET /v1/jobs/{id}/parts`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path};
use super::input::{DurationInput, TimeInput};
use crate::model::{CallbackOn, CallbackSpec, CompositeKind, Job, JobId, JobLimits, JobSpec};
use crate::service::{CompositeRequest, Putter};

/// A job that hangs on another: a callback (with `on`), a part, or a
/// postprocess. `module` and `queue` default to those of the job it hangs
/// on (for a composite's parts and postprocess: the composite's `module`
/// and queue).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedBody {
    /// Module digest or name.
    #[serde(default)]
    pub module: Option<String>,
    /// Job function.
    pub function: String,
    /// Array or object; default none. The outcome is added to it.
    #[serde(default)]
    pub args: Value,
    /// Queue.
    #[serde(default)]
    pub queue: Option<String>,
    /// Must have started within this long after it is put in its queue.
    #[serde(default)]
    pub begin_by: Option<DurationInput>,
    /// Resource requests.
    #[serde(default)]
    pub limits: JobLimits,
    /// Quotas of its queue it counts against.
    #[serde(default)]
    pub quota_names: Vec<String>,
    /// Callbacks only: on which outcome it runs (`always`, the default,
    /// `success` or `failure`); otherwise it passes the outcome through.
    #[serde(default)]
    pub on: Option<CallbackOn>,
    /// Its own callbacks.
    #[serde(default)]
    pub callbacks: Vec<LinkedBody>,
}

impl LinkedBody {
    /// The job it describes; a module and queue it names none of come
    /// later from the job it hangs on ([`JobSpec::or_inherit`]).
    fn spec(self) -> JobSpec {
        JobSpec {
            module: self.module,
            function: self.function,
            args: self.args,
            queue: self.queue,
            begin_by_ms: self.begin_by.map(|d| d.millis()),
            limits: self.limits,
            quota_names: self.quota_names,
            callbacks: self
                .callbacks
                .into_iter()
                .map(LinkedBody::callback)
                .collect(),
            ..JobSpec::default()
        }
    }

    /// It as a callback (`on` by default `always`).
    pub fn callback(self) -> CallbackSpec {
        CallbackSpec {
            on: self.on.unwrap_or_default(),
            job: self.spec(),
        }
    }

    /// A part added later: no `on`; its callbacks are added with it.
    fn added_part(self) -> ApiResult<JobSpec> {
        if self.on.is_some() {
            return Err(ApiError::BadRequest(
                "`on` is for callbacks; a part always runs".into(),
            ));
        }
        Ok(self.spec())
    }

    /// A part or a postprocess: no `on`, no callbacks of its own.
    fn part(self, what: &str) -> ApiResult<JobSpec> {
        if self.on.is_some() {
            return Err(ApiError::BadRequest(format!(
                "`on` is for callbacks; a {what} always runs"
            )));
        }
        if !self.callbacks.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "a {what} cannot carry `callbacks` here; add them to it once put \
                 (POST /v1/jobs/{{id}}/callbacks)"
            )));
        }
        Ok(self.spec())
    }
}

/// The module a job was put with: its name if it was put by name.
fn module_of(job: &Job) -> &str {
    job.module_name.as_deref().unwrap_or(job.module.as_str())
}

/// `POST /v1/jobs/{id}/callbacks`: adds a callback to a job; it runs once
/// the job has its outcome (at once if it has it already). 201 with the
/// callback job.
pub async fn add(
    State(state): State<AppState>,
    Caller(authority): Caller,
    Path(id): Path<JobId>,
    JsonBody(body): JsonBody<LinkedBody>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let job = state.service.job_get(id).await?;
    let callback = body.callback().or_inherit(module_of(&job), &job.queue);
    let callback = state
        .service
        .callback_add(id, callback, &Putter::with(authority))
        .await?;
    Ok((StatusCode::CREATED, Json(callback)))
}

/// A callback as listed.
#[derive(Debug, Serialize)]
pub struct CallbackView {
    /// Its branch.
    on: CallbackOn,
    /// The callback job.
    job: Job,
}

/// `GET /v1/jobs/{id}/callbacks`: the job's callbacks, in the order added.
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<Vec<CallbackView>>> {
    let links = state.service.job_links(id).await?;
    Ok(Json(
        links
            .callbacks
            .into_iter()
            .map(|(on, job)| CallbackView { on, job })
            .collect(),
    ))
}

/// Body of `POST /v1/composites`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositeBody {
    /// `serial` or `parallel`.
    pub kind: CompositeKind,
    /// The module of the parts and the postprocess that name none.
    #[serde(default)]
    pub module: Option<String>,
    /// The composite's queue (and its parts' and postprocess's default).
    #[serde(default)]
    pub queue: Option<String>,
    /// The parts, in order (more can be added until the postprocess is put).
    #[serde(default)]
    pub parts: Vec<LinkedBody>,
    /// Called with the parts' outcomes (after its own `args`); its result
    /// is the composite's.
    pub postprocess: LinkedBody,
    /// The composite does not start before this time.
    #[serde(default)]
    pub begin_after: Option<TimeInput>,
    /// The composite must have started within this long after
    /// `begin_after`.
    #[serde(default)]
    pub begin_by: Option<DurationInput>,
    /// Quotas the composite counts against while it starts.
    #[serde(default)]
    pub quota_names: Vec<String>,
    /// Callbacks of the composite.
    #[serde(default)]
    pub callbacks: Vec<LinkedBody>,
}

/// `POST /v1/composites`: puts a `serial` or `parallel` composite; 201
/// with the composite job, whose result will be the postprocess's.
pub async fn put_composite(
    State(state): State<AppState>,
    Caller(authority): Caller,
    JsonBody(body): JsonBody<CompositeBody>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let queue = body.queue.unwrap_or_default();
    let module = body
        .module
        .or_else(|| body.postprocess.module.clone())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "`module` is required (for the composite or for its postprocess)".into(),
            )
        })?;
    let linked = |spec: JobSpec| spec.or_inherit(&module, &queue);
    let parts = body
        .parts
        .into_iter()
        .map(|p| p.part("part").map(linked))
        .collect::<ApiResult<Vec<_>>>()?;
    let postprocess = linked(body.postprocess.part("postprocess")?);
    let composite = JobSpec {
        module: Some(module.clone()),
        queue: Some(queue.clone()),
        begin_after: body.begin_after.map(|t| t.0),
        begin_by_ms: body.begin_by.map(|d| d.millis()),
        quota_names: body.quota_names,
        callbacks: body
            .callbacks
            .into_iter()
            .map(LinkedBody::callback)
            .collect(),
        ..JobSpec::default()
    };
    let composite = linked(composite);
    let request = CompositeRequest {
        kind: body.kind,
        composite,
        parts,
        postprocess,
    };
    let job = state
        .service
        .composite_put(request, &Putter::with(authority))
        .await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// `POST /v1/jobs/{id}/parts`: adds a part to a composite, last, with its
/// callbacks if any; 409 once the composite has put its postprocess.
pub async fn add_part(
    State(state): State<AppState>,
    Caller(authority): Caller,
    Path(id): Path<JobId>,
    JsonBody(body): JsonBody<LinkedBody>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let composite = state.service.job_get(id).await?;
    let part = body
        .added_part()?
        .or_inherit(module_of(&composite), &composite.queue);
    let part = state
        .service
        .part_add(id, part, &Putter::with(authority))
        .await?;
    Ok((StatusCode::CREATED, Json(part)))
}

/// `GET /v1/jobs/{id}/parts`: a composite's parts, in order.
pub async fn parts(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<Vec<Job>>> {
    Ok(Json(state.service.job_links(id).await?.parts))
}
