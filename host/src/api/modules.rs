//! `/v1/modules`: upload, list, show, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::error::ApiResult;
use super::extract::{Path, Query, RawBody};
use crate::model::ModuleInfo;

/// `?name=` of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    name: Option<String>,
}

/// `POST /v1/modules[?name=N]` with the component as the raw body.
pub async fn upload(
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    RawBody(bytes): RawBody,
) -> ApiResult<(StatusCode, Json<ModuleInfo>)> {
    let module = state
        .service
        .module_upload(bytes.to_vec(), query.name)
        .await?;
    Ok((StatusCode::CREATED, Json(module)))
}

/// `GET /v1/modules`.
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let modules = state.service.module_list().await?;
    Ok(Json(serde_json::json!({ "modules": modules })))
}

/// `GET /v1/modules/{digest or name}`.
pub async fn show(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> ApiResult<Json<ModuleInfo>> {
    Ok(Json(state.service.module_get(&reference).await?))
}

/// `DELETE /v1/modules/{digest or name}`: refused (409) while jobs use it.
pub async fn delete(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.module_delete(&reference).await?;
    Ok(StatusCode::NO_CONTENT)
}
