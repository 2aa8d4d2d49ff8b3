//! `POST /v1/jobs/remove`: removal of finished jobs by status.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiResult;
use super::extract::JsonBody;
use crate::model::RemovalReport;

/// Body of `POST /v1/jobs/remove`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    /// States to remove: completed, succeeded, failed, cancelled
    /// (default: completed and cancelled).
    #[serde(default)]
    statuses: Vec<String>,
    /// Only this queue.
    #[serde(default)]
    queue: Option<String>,
}

/// `POST /v1/jobs/remove` `{"statuses": ["failed"], "queue": "video"}`:
/// deletes finished jobs, answering `{"removed": {"failed": 3}}`.
#[utoipa::path(
    post,
    path = "/v1/jobs/remove",
    tag = "operators",
    operation_id = "removal_remove",
    request_body(content = serde_json::Value, description = "`{\"statuses\": [\"failed\"], \"queue\": \"video\"}` (optional)."),
    responses(
        (status = 200, description = "`{\"removed\": {status: count}}`.", body = serde_json::Value)
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Option<RemoveBody>>,
) -> ApiResult<Json<Value>> {
    let body = body.unwrap_or_default();
    let removed: RemovalReport = state.service.jobs_remove(body.statuses, body.queue).await?;
    Ok(Json(json!({ "removed": removed })))
}
