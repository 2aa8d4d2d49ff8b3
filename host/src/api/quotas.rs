//! `/v1/queues/{name}/quotas`: a queue's quotas: create, list, show (size,
//! the jobs holding it, `filled`), resize, remove.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use crate::model::Quota;

/// Body of `POST /v1/queues/{name}/quotas`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    /// Default 1.
    #[serde(default)]
    size: Option<u32>,
}

/// `POST /v1/queues/{name}/quotas` `{"name": "content catalog", "size": 2}`.
pub async fn create(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<(StatusCode, Json<Quota>)> {
    let quota = state
        .service
        .quota_create(&queue, &body.name, body.size)
        .await?;
    Ok((StatusCode::CREATED, Json(quota)))
}

/// `GET /v1/queues/{name}/quotas`.
pub async fn list(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "quotas": state.service.quota_list(&queue).await? }),
    ))
}

/// `GET /v1/queues/{name}/quotas/{quota}`.
pub async fn show(
    State(state): State<AppState>,
    Path((queue, name)): Path<(String, String)>,
) -> ApiResult<Json<Quota>> {
    Ok(Json(state.service.quota_get(&queue, &name).await?))
}

/// Body of `PATCH /v1/queues/{name}/quotas/{quota}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    size: u32,
}

/// `PATCH /v1/queues/{name}/quotas/{quota}` `{"size": 1}`: running jobs
/// are not touched.
pub async fn patch(
    State(state): State<AppState>,
    Path((queue, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<PatchBody>,
) -> ApiResult<Json<Quota>> {
    Ok(Json(
        state
            .service
            .quota_set_size(&queue, &name, body.size)
            .await?,
    ))
}

/// `DELETE /v1/queues/{name}/quotas/{quota}`: jobs naming it are no
/// longer held back by it.
pub async fn delete(
    State(state): State<AppState>,
    Path((queue, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.service.quota_delete(&queue, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
