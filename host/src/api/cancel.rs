//! `POST /v1/jobs/{id}/cancel`: cancelling a job, wherever it is.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiResult;
use super::extract::Path;
use crate::model::{Job, JobId};

/// `POST /v1/jobs/{id}/cancel`: a job that has not completed becomes
/// `cancelled`: a pending (or pulled) one never runs, a claimed or running
/// one has its run stopped by its dispatcher within about a second
/// (`dispatch::STOP_CHECK_INTERVAL`); 409 once it has completed.
pub async fn cancel(State(state): State<AppState>, Path(id): Path<JobId>) -> ApiResult<Json<Job>> {
    Ok(Json(state.service.job_cancel(id).await?))
}
