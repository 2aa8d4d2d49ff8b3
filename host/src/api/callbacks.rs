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
use crate::model::{Authority, CallbackOn, CompositeKind, Job, JobId, JobLimits};
use crate::service::{CallbackRequest, CompositeRequest, PutRequest};

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

/// Where a linked job's module and queue come from when it names none,
/// and who puts it.
struct Defaults<'a> {
    module: &'a str,
    queue: &'a str,
    authority: &'a Authority,
}

impl LinkedBody {
    fn request(self, defaults: &Defaults<'_>) -> (PutRequest, Vec<LinkedBody>) {
        let request = PutRequest {
            queue: self.queue.unwrap_or_else(|| defaults.queue.to_owned()),
            module: self.module.unwrap_or_else(|| defaults.module.to_owned()),
            function: self.function,
            args: self.args,
            begin_after: None,
            begin_by_ms: self.begin_by.map(|d| millis(d.0)),
            limits: self.limits,
            quota_names: self.quota_names,
            parent: None,
            retry: None,
            priority: 0,
            authority: defaults.authority.clone(),
        };
        (request, self.callbacks)
    }

    fn callback(self, defaults: &Defaults<'_>) -> CallbackRequest {
        let on = self.on.unwrap_or_default();
        let (request, callbacks) = self.request(defaults);
        CallbackRequest {
            on,
            request,
            callbacks: callbacks
                .into_iter()
                .map(|c| c.callback(defaults))
                .collect(),
        }
    }

    /// A part added later: no `on`; its callbacks are added with it.
    fn added_part(self, defaults: &Defaults<'_>) -> ApiResult<(PutRequest, Vec<CallbackRequest>)> {
        if self.on.is_some() {
            return Err(ApiError::BadRequest(
                "`on` is for callbacks; a part always runs".into(),
            ));
        }
        let (request, callbacks) = self.request(defaults);
        let callbacks = callbacks
            .into_iter()
            .map(|c| c.callback(defaults))
            .collect();
        Ok((request, callbacks))
    }

    /// A part or a postprocess: no `on`, no callbacks of its own.
    fn part(self, what: &str, defaults: &Defaults<'_>) -> ApiResult<PutRequest> {
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
        Ok(self.request(defaults).0)
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The callbacks of a put body, defaulting to the put job's module and
/// queue, put with its authority.
pub fn callbacks_of_put(put: &PutRequest, callbacks: Vec<LinkedBody>) -> Vec<CallbackRequest> {
    let defaults = Defaults {
        module: &put.module,
        queue: &put.queue,
        authority: &put.authority,
    };
    callbacks
        .into_iter()
        .map(|c| c.callback(&defaults))
        .collect()
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
    let defaults = Defaults {
        module: job.module_name.as_deref().unwrap_or(job.module.as_str()),
        queue: &job.queue,
        authority: &authority,
    };
    let callback = body.callback(&defaults);
    let callback = state.service.callback_add(id, callback).await?;
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
    let defaults = Defaults {
        module: &module,
        queue: &queue,
        authority: &authority,
    };
    let parts = body
        .parts
        .into_iter()
        .map(|p| p.part("part", &defaults))
        .collect::<ApiResult<Vec<_>>>()?;
    let postprocess = body.postprocess.part("postprocess", &defaults)?;
    let composite = PutRequest {
        queue: queue.clone(),
        module: module.clone(),
        function: String::new(),
        args: Value::Null,
        begin_after: body.begin_after.map(|t| t.0),
        begin_by_ms: body.begin_by.map(|d| millis(d.0)),
        limits: JobLimits::default(),
        quota_names: body.quota_names,
        parent: None,
        retry: None,
        priority: 0,
        authority: authority.clone(),
    };
    let callbacks = callbacks_of_put(&composite, body.callbacks);
    let job = state
        .service
        .composite_put(CompositeRequest {
            kind: body.kind,
            composite,
            parts,
            postprocess,
            callbacks,
        })
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
    let defaults = Defaults {
        module: composite
            .module_name
            .as_deref()
            .unwrap_or(composite.module.as_str()),
        queue: &composite.queue,
        authority: &authority,
    };
    let (part, callbacks) = body.added_part(&defaults)?;
    let part = state.service.part_add(id, part, callbacks).await?;
    Ok((StatusCode::CREATED, Json(part)))
}

/// `GET /v1/jobs/{id}/parts`: a composite's parts, in order.
pub async fn parts(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<Vec<Job>>> {
    Ok(Json(state.service.job_links(id).await?.parts))
}
