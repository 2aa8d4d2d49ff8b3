//! `POST /v1/jobs/remove`: removal of finished jobs by status.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiResult;
use super::extract::JsonBody;
use crate::wire::operators::{RemoveReply, RemoveRequest};

/// `POST /v1/jobs/remove` `{"statuses": ["failed"], "queue": "video"}`:
/// deletes finished jobs, answering `{"removed": {"failed": 3}}`.
#[utoipa::path(
    post,
    path = "/v1/jobs/remove",
    tag = "operators",
    operation_id = "removal_remove",
    request_body = Option<RemoveRequest>,
    responses(
        (status = 200, description = "The jobs removed, by state.", body = RemoveReply)
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Option<RemoveRequest>>,
) -> ApiResult<Json<RemoveReply>> {
    let body = body.unwrap_or_default();
    let removed = state.service.jobs_remove(body.statuses, body.queue).await?;
    Ok(Json(RemoveReply { removed }))
}
