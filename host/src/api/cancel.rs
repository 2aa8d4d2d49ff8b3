//! `POST /v1/jobs/{id}/cancel`: cancelling a job, wherever it is.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiResult;
use super::extract::Path;
use crate::model::{Job, JobId};
use crate::wire::ErrorBody;

/// `POST /v1/jobs/{id}/cancel`: a job that has not completed becomes
/// `cancelled`: a pending (or pulled) one never runs, a claimed or running
/// one has its run stopped by its dispatcher within about a second
/// (`dispatch::STOP_CHECK_INTERVAL`); 409 once it has completed.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "operators",
    operation_id = "cancel_cancel",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job, cancelled.", body = Job),
        (status = 409, description = "The job has completed.", body = ErrorBody)
    )
)]
pub async fn cancel(State(state): State<AppState>, Path(id): Path<JobId>) -> ApiResult<Json<Job>> {
    Ok(Json(state.service.job_cancel(id).await?))
}
