//! `/v1/tokens`: the admin creates, lists and revokes scoped tokens. The
//! secret is in the creation's answer only; the store keeps its hash.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use crate::model::Scope;
use crate::service::CreatedToken;
use crate::wire::ErrorBody;

/// Body of `POST /v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    /// Queue globs (`*`, `?`; `default` is the default queue).
    queues: Vec<String>,
    /// `read`, `put`, `upload`, `manage`, `admin`.
    scopes: Vec<Scope>,
}

/// `POST /v1/tokens` `{"name", "queues": ["a*"], "scopes": ["read", "put"]}`:
/// 201 with the token and its `secret`, shown this once.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    operation_id = "tokens_create",
    request_body(content = serde_json::Value, description = "`{name, queues, scopes}`."),
    responses(
        (status = 201, description = "The token and its secret, shown this once.", body = serde_json::Value),
        (status = 409, description = "A token has this name.", body = ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let created = state
        .service
        .token_create(&body.name, body.queues, body.scopes)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/tokens`: every token, by name, without secrets.
#[utoipa::path(
    get,
    path = "/v1/tokens",
    tag = "tokens",
    operation_id = "tokens_list",
    responses(
        (status = 200, description = "`{\"tokens\": [...]}`.", body = serde_json::Value)
    )
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "tokens": state.service.token_list().await? })))
}

/// `DELETE /v1/tokens/{name}`: revokes it at once; 404 for an unknown
/// name.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{name}",
    tag = "tokens",
    operation_id = "tokens_revoke",
    params(("name" = String, Path, min_length = 1, description = "The token's name.")),
    responses(
        (status = 204, description = "Revoked.")
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.token_revoke(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
