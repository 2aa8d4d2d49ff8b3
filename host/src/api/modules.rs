//! `/v1/modules`: upload, list, show, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query, RawBody};
use crate::model::{Authority, ModuleInfo, Scope};

/// `?name=` of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    name: Option<String>,
}

/// `POST /v1/modules[?name=N]` with the component as the raw body: needs
/// the `upload` scope (in any queue); the upload is recorded with the
/// caller's token, which decides who sees the module.
pub async fn upload(
    State(state): State<AppState>,
    Caller(authority): Caller,
    Query(query): Query<UploadQuery>,
    RawBody(bytes): RawBody,
) -> ApiResult<(StatusCode, Json<ModuleInfo>)> {
    let may = match &authority {
        Authority::Admin => true,
        Authority::Token(token) => [Scope::Upload, Scope::Admin]
            .iter()
            .any(|s| token.scopes.contains(s)),
        Authority::Revoked(_) => false,
    };
    if !may {
        return Err(ApiError::Forbidden(
            "this token lacks the `upload` scope".into(),
        ));
    }
    let module = state
        .service
        .module_upload_as(&authority, bytes.to_vec(), query.name)
        .await?;
    Ok((StatusCode::CREATED, Json(module)))
}

/// `GET /v1/modules`: the modules the caller sees.
pub async fn list(
    State(state): State<AppState>,
    Caller(authority): Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let modules = state.service.module_list_as(&authority).await?;
    Ok(Json(serde_json::json!({ "modules": modules })))
}

/// `GET /v1/modules/{digest or name}`.
pub async fn show(
    State(state): State<AppState>,
    Caller(authority): Caller,
    Path(reference): Path<String>,
) -> ApiResult<Json<ModuleInfo>> {
    Ok(Json(
        state.service.module_get_as(&authority, &reference).await?,
    ))
}

/// `DELETE /v1/modules/{digest or name}`: refused (409) while jobs use it.
pub async fn delete(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.module_delete(&reference).await?;
    Ok(StatusCode::NO_CONTENT)
}
