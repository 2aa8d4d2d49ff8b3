//! Pausing and resuming processing over HTTP: `POST …/pause`,
//! `…/resume`, `GET …/processing` of a queue or a dispatcher, and
//! `GET /v1/processing`.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiResult;
use super::extract::Path;
use crate::model::DispatcherId;
use crate::wire::operators::{DispatcherProcessing, ProcessingView, QueueProcessing};

/// `POST /v1/queues/{name}/pause`: no dispatcher claims from it.
#[utoipa::path(
    post,
    path = "/v1/queues/{name}/pause",
    tag = "operators",
    operation_id = "pauses_pause_queue",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "The queue and whether it is processed.", body = QueueProcessing)
    )
)]
pub async fn pause_queue(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<QueueProcessing>> {
    state.service.queue_pause(&name).await?;
    Ok(Json(QueueProcessing {
        processing: false,
        queue: name,
    }))
}

/// `POST /v1/queues/{name}/resume`.
#[utoipa::path(
    post,
    path = "/v1/queues/{name}/resume",
    tag = "operators",
    operation_id = "pauses_resume_queue",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "The queue and whether it is processed.", body = QueueProcessing)
    )
)]
pub async fn resume_queue(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<QueueProcessing>> {
    state.service.queue_resume(&name).await?;
    Ok(Json(QueueProcessing {
        processing: true,
        queue: name,
    }))
}

/// `GET /v1/queues/{name}/processing`: whether the queue is processed
/// (not paused).
#[utoipa::path(
    get,
    path = "/v1/queues/{name}/processing",
    tag = "operators",
    operation_id = "pauses_queue_processing",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "The queue and whether it is processed.", body = QueueProcessing)
    )
)]
pub async fn queue_processing(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<QueueProcessing>> {
    let processing = state.service.queue_processing(&name).await?;
    Ok(Json(QueueProcessing {
        processing,
        queue: name,
    }))
}

/// `POST /v1/dispatchers/{id}/pause`: it claims nothing; running jobs go
/// on.
#[utoipa::path(
    post,
    path = "/v1/dispatchers/{id}/pause",
    tag = "dispatchers",
    operation_id = "pauses_pause_dispatcher",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id.")),
    responses(
        (status = 200, description = "The dispatcher and whether it claims jobs.", body = DispatcherProcessing)
    )
)]
pub async fn pause_dispatcher(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<DispatcherProcessing>> {
    state.service.dispatcher_pause(id).await?;
    Ok(Json(DispatcherProcessing {
        dispatcher: id,
        processing: false,
    }))
}

/// `POST /v1/dispatchers/{id}/resume`.
#[utoipa::path(
    post,
    path = "/v1/dispatchers/{id}/resume",
    tag = "dispatchers",
    operation_id = "pauses_resume_dispatcher",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id.")),
    responses(
        (status = 200, description = "The dispatcher and whether it claims jobs.", body = DispatcherProcessing)
    )
)]
pub async fn resume_dispatcher(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<DispatcherProcessing>> {
    state.service.dispatcher_resume(id).await?;
    Ok(Json(DispatcherProcessing {
        dispatcher: id,
        processing: true,
    }))
}

/// `GET /v1/dispatchers/{id}/processing`.
#[utoipa::path(
    get,
    path = "/v1/dispatchers/{id}/processing",
    tag = "dispatchers",
    operation_id = "pauses_dispatcher_processing",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id.")),
    responses(
        (status = 200, description = "The dispatcher and whether it claims jobs.", body = DispatcherProcessing)
    )
)]
pub async fn dispatcher_processing(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<DispatcherProcessing>> {
    let processing = state.service.dispatcher_processing(id).await?;
    Ok(Json(DispatcherProcessing {
        dispatcher: id,
        processing,
    }))
}

/// `GET /v1/processing`: every paused queue and dispatcher.
#[utoipa::path(
    get,
    path = "/v1/processing",
    tag = "operators",
    operation_id = "pauses_processing",
    responses(
        (status = 200, description = "Every paused queue and dispatcher.", body = ProcessingView)
    )
)]
pub async fn processing(State(state): State<AppState>) -> ApiResult<Json<ProcessingView>> {
    Ok(Json(state.service.processing().await?))
}
