//! `POST /v1/jobs/delete`: deleting given finished jobs by id (the
//! dashboard's batch delete; `POST /v1/jobs/remove` removes by status).

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiResult;
use super::extract::JsonBody;
use crate::model::DeletionReport;
use crate::wire::{DeleteJobs, ErrorBody};

/// `POST /v1/jobs/delete` `{"ids": [...]}`: deletes those of the jobs
/// that are finished (completed or cancelled) with their annotations and
/// attempts, in one transaction, and says of every id whether it was
/// deleted, is not finished (left alone: cancel it first) or names no job.
/// Needs the admin token, as removal by status does.
#[utoipa::path(
    post,
    path = "/v1/jobs/delete",
    tag = "operators",
    operation_id = "deletion_delete",
    request_body = DeleteJobs,
    responses(
        (status = 200, description = "Each id sorted: `deleted`, `unfinished` or `missing`.", body = DeletionReport),
        (status = 400, description = "No id, more than 1,000, or one that is not a job id.", body = ErrorBody)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DeleteJobs>,
) -> ApiResult<Json<DeletionReport>> {
    Ok(Json(state.service.jobs_delete(&body.ids).await?))
}
