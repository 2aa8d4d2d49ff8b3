//! `/v1/tokens`: the admin creates, lists and revokes scoped tokens. The
//! secret is in the creation's answer only; the store keeps its hash.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use crate::wire::ErrorBody;
use crate::wire::access::{CreatedToken, TokenCreate, TokenList};

/// `POST /v1/tokens` `{"name", "queues": ["a*"], "scopes": ["read", "put"]}`:
/// 201 with the token and its `secret`, shown this once.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    operation_id = "tokens_create",
    request_body(content = TokenCreate, description = "Its name, queue globs and scopes."),
    responses(
        (status = 201, description = "The token and its secret, shown this once.", body = CreatedToken),
        (status = 409, description = "A token has this name.", body = ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<TokenCreate>,
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
        (status = 200, description = "Every token, without secrets.", body = TokenList)
    )
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<TokenList>> {
    Ok(Json(TokenList {
        tokens: state.service.token_list().await?,
    }))
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
