//! `/v1/modules`: upload, list, show, delete.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query, RawBody};
use crate::model::{Authority, ModuleInfo, Scope};
use crate::wire::ErrorBody;
use crate::wire::modules::{ComponentBytes, ModuleList, UploadQuery};

/// `POST /v1/modules[?name=N]` with the component as the raw body: needs
/// the `upload` scope (in any queue); the upload is recorded with the
/// caller's token, which decides who sees the module.
#[utoipa::path(
    post,
    path = "/v1/modules",
    tag = "modules",
    operation_id = "modules_upload",
    params(UploadQuery),
    request_body(content = inline(ComponentBytes), content_type = "application/octet-stream", description = "The component's bytes."),
    responses(
        (status = 201, description = "The stored module.", body = crate::model::ModuleInfo),
        (status = 413, description = "Larger than the upload limit.", body = ErrorBody),
        (status = 422, description = "Not a valid job component (`invalid_component`).", body = ErrorBody)
    )
)]
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
#[utoipa::path(
    get,
    path = "/v1/modules",
    tag = "modules",
    operation_id = "modules_list",
    responses(
        (status = 200, description = "The modules the caller sees.", body = ModuleList)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(authority): Caller,
) -> ApiResult<Json<ModuleList>> {
    let modules = state.service.module_list_as(&authority).await?;
    Ok(Json(ModuleList { modules }))
}

/// `GET /v1/modules/{digest or name}`.
#[utoipa::path(
    get,
    path = "/v1/modules/{reference}",
    tag = "modules",
    operation_id = "modules_show",
    params(("reference" = String, Path, min_length = 1, description = "The module's digest (`sha256:...`) or name.")),
    responses(
        (status = 200, description = "The module.", body = crate::model::ModuleInfo)
    )
)]
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
#[utoipa::path(
    delete,
    path = "/v1/modules/{reference}",
    tag = "modules",
    operation_id = "modules_delete",
    params(("reference" = String, Path, min_length = 1, description = "The module's digest (`sha256:...`) or name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "Jobs still use it.", body = ErrorBody)
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.module_delete(&reference).await?;
    Ok(StatusCode::NO_CONTENT)
}
