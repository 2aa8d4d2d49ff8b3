//! Named jobs over HTTP (`/v1/job-names`): register, list, show, delete,
//! and put by name.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use crate::service::Putter;
use crate::wire::ErrorBody;
use crate::wire::jobs::PutReply;
use crate::wire::names::{JobName, JobNameBody, JobNameList, PutByName};

/// `PUT /v1/job-names/{name}` `{"module", "function", "queue", "args"}`:
/// registers or replaces a named job.
#[utoipa::path(
    put,
    path = "/v1/job-names/{name}",
    tag = "job-names",
    operation_id = "job_names_set_name",
    params(("name" = String, Path, min_length = 1, description = "The named job.")),
    request_body = JobNameBody,
    responses(
        (status = 200, description = "The named job.", body = JobName),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn set_name(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<JobNameBody>,
) -> ApiResult<Json<JobName>> {
    Ok(Json(
        state.service.job_name_set(name, body.into_spec()).await?,
    ))
}

/// `GET /v1/job-names`.
#[utoipa::path(
    get,
    path = "/v1/job-names",
    tag = "job-names",
    operation_id = "job_names_list_names",
    responses(
        (status = 200, description = "Every named job.", body = JobNameList)
    )
)]
pub async fn list_names(State(state): State<AppState>) -> ApiResult<Json<JobNameList>> {
    Ok(Json(JobNameList {
        job_names: state.service.job_name_list().await?,
    }))
}

/// `GET /v1/job-names/{name}`.
#[utoipa::path(
    get,
    path = "/v1/job-names/{name}",
    tag = "job-names",
    operation_id = "job_names_show_name",
    params(("name" = String, Path, min_length = 1, description = "The named job.")),
    responses(
        (status = 200, description = "The named job.", body = JobName)
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

/// `POST /v1/job-names/{name}/jobs` `{"args": …}`: puts the named job
/// with these arguments; 404 names an unknown name.
#[utoipa::path(
    post,
    path = "/v1/job-names/{name}/jobs",
    tag = "job-names",
    operation_id = "job_names_put_by_name",
    params(("name" = String, Path, min_length = 1, description = "The named job.")),
    request_body = Option<PutByName>,
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
    JsonBody(body): JsonBody<Option<PutByName>>,
) -> ApiResult<(StatusCode, Json<PutReply>)> {
    let body = body.unwrap_or_default();
    let priority_given = body.priority.is_some();
    let put = state
        .service
        .put_by_name(
            &name,
            body.into_spec(),
            priority_given,
            &Putter::with(authority),
        )
        .await?;
    let reply = PutReply::from(put);
    Ok((reply.status(), Json(reply)))
}
