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
use crate::model::{Quota, Rate};
use crate::wire::ErrorBody;

/// Body of `POST /v1/queues/{name}/quotas`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    /// Default 1.
    #[serde(default)]
    size: Option<u32>,
    /// The size applies to each key separately (jobs name the quota in
    /// `quota_keys`, with their key). Default false.
    #[serde(default)]
    partitioned: bool,
    /// A partitioned quota's rate, per key: `{"limit": n, "period_ms": ms}`.
    #[serde(default)]
    rate: Option<Rate>,
}

/// `POST /v1/queues/{name}/quotas` `{"name": "content catalog", "size": 2}`;
/// `"partitioned": true` applies the size to each key separately.
#[utoipa::path(
    post,
    path = "/v1/queues/{name}/quotas",
    tag = "queues",
    operation_id = "quotas_create",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    request_body(content = serde_json::Value, description = "`{name, size, partitioned, rate}` (`partitioned`: the size applies per key; jobs name the quota in `quota_keys` with their key; `rate`: `{limit, period_ms}`, at most `limit` starts per key per fixed window of `period_ms`, partitioned quotas only)."),
    responses(
        (status = 201, description = "The quota.", body = serde_json::Value),
        (status = 409, description = "The quota exists.", body = ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<(StatusCode, Json<Quota>)> {
    let quota = state
        .service
        .quota_create(&queue, &body.name, body.size, body.partitioned, body.rate)
        .await?;
    Ok((StatusCode::CREATED, Json(quota)))
}

/// `GET /v1/queues/{name}/quotas`.
#[utoipa::path(
    get,
    path = "/v1/queues/{name}/quotas",
    tag = "queues",
    operation_id = "quotas_list",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "`{\"quotas\": [...]}`.", body = serde_json::Value)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        json!({ "quotas": state.service.quota_list(&queue).await? }),
    ))
}

/// `GET /v1/queues/{name}/quotas/{quota}`.
#[utoipa::path(
    get,
    path = "/v1/queues/{name}/quotas/{quota}",
    tag = "queues",
    operation_id = "quotas_show",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue)."), ("quota" = String, Path, min_length = 1, description = "The quota's name.")),
    responses(
        (status = 200, description = "The quota (a partitioned one with `keys`: each key's running and pending jobs).", body = serde_json::Value)
    )
)]
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
#[utoipa::path(
    patch,
    path = "/v1/queues/{name}/quotas/{quota}",
    tag = "queues",
    operation_id = "quotas_patch",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue)."), ("quota" = String, Path, min_length = 1, description = "The quota's name.")),
    request_body(content = serde_json::Value, description = "`{\"size\": n}`."),
    responses(
        (status = 200, description = "The quota.", body = serde_json::Value)
    )
)]
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
#[utoipa::path(
    delete,
    path = "/v1/queues/{name}/quotas/{quota}",
    tag = "queues",
    operation_id = "quotas_delete",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue)."), ("quota" = String, Path, min_length = 1, description = "The quota's name.")),
    responses(
        (status = 204, description = "Deleted.")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((queue, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.service.quota_delete(&queue, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
