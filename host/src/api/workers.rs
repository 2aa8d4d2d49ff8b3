//! `/v1/dispatchers`: dispatchers and their agents.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::ApiResult;
use super::extract::{JsonBody, Path};
use crate::model::DispatcherId;
use crate::wire::ErrorBody;
use crate::wire::dispatchers::{Agent, AgentBody, AgentList, DispatcherList, DispatcherView};

/// `GET /v1/dispatchers`: every dispatcher with its agents.
#[utoipa::path(
    get,
    path = "/v1/dispatchers",
    tag = "dispatchers",
    operation_id = "workers_list",
    responses(
        (status = 200, description = "Every dispatcher with its agents.", body = DispatcherList)
    )
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<DispatcherList>> {
    Ok(Json(DispatcherList {
        dispatchers: state.service.dispatcher_list().await?,
    }))
}

/// `GET /v1/dispatchers/{id}`.
#[utoipa::path(
    get,
    path = "/v1/dispatchers/{id}",
    tag = "dispatchers",
    operation_id = "workers_show",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id.")),
    responses(
        (status = 200, description = "The dispatcher and its agents.", body = DispatcherView)
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<DispatcherView>> {
    Ok(Json(state.service.dispatcher_get(id).await?))
}

/// `GET /v1/dispatchers/{id}/agents`.
#[utoipa::path(
    get,
    path = "/v1/dispatchers/{id}/agents",
    tag = "dispatchers",
    operation_id = "workers_agents",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id.")),
    responses(
        (status = 200, description = "Its agents.", body = AgentList)
    )
)]
pub async fn agents(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<AgentList>> {
    let view = state.service.dispatcher_get(id).await?;
    Ok(Json(AgentList {
        agents: view.agents,
    }))
}

/// `PUT /v1/dispatchers/{id}/agents/{queue}/{name}`: creates or replaces an
/// agent (`size` defaults to 3). `filter` limits the jobs it takes;
/// `prefer` (same shape) names the jobs it takes first, filling its other
/// slots with any job its filter allows.
#[utoipa::path(
    put,
    path = "/v1/dispatchers/{id}/agents/{queue}/{name}",
    tag = "dispatchers",
    operation_id = "workers_put_agent",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id."), ("queue" = String, Path, min_length = 1, description = "The agent's queue."), ("name" = String, Path, min_length = 1, description = "The agent's name.")),
    request_body = Option<AgentBody>,
    responses(
        (status = 200, description = "The agent.", body = Agent)
    )
)]
pub async fn put_agent(
    State(state): State<AppState>,
    Path((id, queue, name)): Path<(DispatcherId, String, String)>,
    JsonBody(body): JsonBody<Option<AgentBody>>,
) -> ApiResult<Json<Agent>> {
    let spec = body.unwrap_or_default().into_spec(queue, name);
    Ok(Json(state.service.agent_upsert(id, spec).await?))
}

/// `DELETE /v1/dispatchers/{id}/agents/{queue}/{name}`: refused (409) while
/// the agent holds jobs.
#[utoipa::path(
    delete,
    path = "/v1/dispatchers/{id}/agents/{queue}/{name}",
    tag = "dispatchers",
    operation_id = "workers_delete_agent",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id."), ("queue" = String, Path, min_length = 1, description = "The agent's queue."), ("name" = String, Path, min_length = 1, description = "The agent's name.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "The agent holds jobs.", body = ErrorBody)
    )
)]
pub async fn delete_agent(
    State(state): State<AppState>,
    Path((id, queue, name)): Path<(DispatcherId, String, String)>,
) -> ApiResult<StatusCode> {
    state.service.agent_delete(id, &queue, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
