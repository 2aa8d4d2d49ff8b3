//! Callbacks and composites over HTTP: `POST/GET /v1/jobs/{id}/callbacks`,
//! `POST /v1/composites`, `POST/GET /v1/jobs/{id}/parts` (the bodies and
//! their conversions: `wire/links.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use crate::model::{Job, JobId};
use crate::service::Putter;
use crate::wire::ErrorBody;
use crate::wire::links::{CallbackView, CompositeSpec, LinkedSpec};

/// The module of `job` as it was named (its name, else its digest): what
/// a callback or part that names none inherits.
fn module_of(job: &Job) -> &str {
    job.module_name.as_deref().unwrap_or(job.module.as_str())
}

/// `POST /v1/jobs/{id}/callbacks`: adds a callback to a job; it runs once
/// the job has its outcome (at once if it has it already). 201 with the
/// callback job.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/callbacks",
    tag = "callbacks",
    operation_id = "callbacks_add",
    params(("id" = JobId, Path, description = "The job's id.")),
    request_body = LinkedSpec,
    responses(
        (status = 201, description = "The callback job.", body = Job),
        (status = 409, description = "The callback does not fit the job's state.", body = ErrorBody),
        (status = 429, description = "The queue is at its pending cap (`queue_full`).", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn add(
    State(state): State<AppState>,
    Caller(authority): Caller,
    Path(id): Path<JobId>,
    JsonBody(body): JsonBody<LinkedSpec>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let job = state.service.job_get(id).await?;
    let callback = body.callback().or_inherit(module_of(&job), &job.queue);
    let callback = crate::model::CallbackSpec {
        on: callback.on,
        job: callback.job.or_inherit_priority(job.priority),
    };
    let callback = state
        .service
        .callback_add(id, callback, &Putter::with(authority))
        .await?;
    Ok((StatusCode::CREATED, Json(callback)))
}

/// `GET /v1/jobs/{id}/callbacks`: the job's callbacks, in the order added.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/callbacks",
    tag = "callbacks",
    operation_id = "callbacks_list",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "Its callbacks, in the order added.", body = Vec<CallbackView>)
    )
)]
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

/// `POST /v1/composites`: puts a `serial` or `parallel` composite; 201
/// with the composite job, whose result will be the postprocess's.
#[utoipa::path(
    post,
    path = "/v1/composites",
    tag = "callbacks",
    operation_id = "callbacks_put_composite",
    request_body = CompositeSpec,
    responses(
        (status = 201, description = "The composite job.", body = Job),
        (status = 409, description = "The put does not fit the current state.", body = ErrorBody),
        (status = 429, description = "The queue is at its pending cap (`queue_full`).", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn put_composite(
    State(state): State<AppState>,
    Caller(authority): Caller,
    JsonBody(spec): JsonBody<CompositeSpec>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let request = spec.into_request()?;
    let job = state
        .service
        .composite_put(request, &Putter::with(authority))
        .await?;
    Ok((StatusCode::CREATED, Json(job)))
}

/// `POST /v1/jobs/{id}/parts`: adds a part to a composite, last, with its
/// callbacks if any; 409 once the composite has put its postprocess.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/parts",
    tag = "callbacks",
    operation_id = "callbacks_add_part",
    params(("id" = JobId, Path, description = "The job's id.")),
    request_body = LinkedSpec,
    responses(
        (status = 201, description = "The part.", body = Job),
        (status = 409, description = "Not a composite, or its postprocess is put.", body = ErrorBody),
        (status = 429, description = "The queue is at its pending cap (`queue_full`).", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn add_part(
    State(state): State<AppState>,
    Caller(authority): Caller,
    Path(id): Path<JobId>,
    JsonBody(body): JsonBody<LinkedSpec>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let composite = state.service.job_get(id).await?;
    let part = body
        .added_part()?
        .or_inherit(module_of(&composite), &composite.queue)
        .or_inherit_priority(composite.priority);
    let part = state
        .service
        .part_add(id, part, &Putter::with(authority))
        .await?;
    Ok((StatusCode::CREATED, Json(part)))
}

/// `GET /v1/jobs/{id}/parts`: a composite's parts, in order.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/parts",
    tag = "callbacks",
    operation_id = "callbacks_parts",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "Its parts, in order.", body = Vec<Job>)
    )
)]
pub async fn parts(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<Vec<Job>>> {
    Ok(Json(state.service.job_links(id).await?.parts))
}
