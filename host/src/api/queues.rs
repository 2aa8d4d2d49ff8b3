//! `/v1/queues`: create, list, show (with length), delete; the jobs of a
//! queue in order; `pull` and `remove`. The default queue `""` is written
//! `default` in paths.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use super::error::ApiResult;
use super::extract::{JsonBody, Path, Query};
use super::jobs::PutBody;
use crate::model::{Job, JobId, QueueInfo, Scope};

/// Body of `POST /v1/queues`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
}

/// `POST /v1/queues` `{"name": "video"}`: needs `admin` on that queue.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<(StatusCode, Json<QueueInfo>)> {
    caller.require(Scope::Admin, &body.name)?;
    Ok((
        StatusCode::CREATED,
        Json(state.service.queue_create(&body.name).await?),
    ))
}

/// `GET /v1/queues`: the queues the caller may read.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let mut queues = state.service.queue_list().await?;
    queues.retain(|q| caller.reads(&q.name));
    Ok(Json(json!({ "queues": queues })))
}

/// `GET /v1/queues/{name}`: the queue, its length, and `usage`: the runs
/// of its stored jobs summed (count, fuel, largest peak memory, wall time,
/// output bytes).
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let queue = state.service.queue_get(&name).await?;
    let usage = state.service.queue_usage(&name).await?;
    let mut view = json!(queue);
    view["usage"] = json!(usage);
    Ok(Json(view))
}

/// A queue's caps: the body of `PUT /v1/queues/{name}/caps` and the reply
/// of `GET`. A cap left out (or `null`) is cleared.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapsBody {
    /// The most jobs one run of a job in the queue may put; `null`: the
    /// server's `job_put_cap`.
    #[serde(default)]
    put_cap: Option<u64>,
    /// The most pending jobs the queue takes; `null`: no cap.
    #[serde(default)]
    pending_cap: Option<u64>,
}

/// `GET /v1/queues/{name}/caps`: `{"put_cap", "pending_cap"}`.
pub async fn show_caps(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<CapsBody>> {
    let queue = state.service.queue_get(&name).await?;
    Ok(Json(CapsBody {
        put_cap: queue.put_cap,
        pending_cap: queue.pending_cap,
    }))
}

/// `PUT /v1/queues/{name}/caps` `{"put_cap": 100000, "pending_cap": 5000}`:
/// sets the queue's fan-out and pending caps (admin only); returns the
/// queue.
pub async fn set_caps(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<CapsBody>,
) -> ApiResult<Json<QueueInfo>> {
    Ok(Json(
        state
            .service
            .queue_caps_set(&name, body.put_cap, body.pending_cap)
            .await?,
    ))
}

/// `DELETE /v1/queues/{name}`: only an empty queue, never the default.
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.queue_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?offset=&limit=` of a queue listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    #[serde(default)]
    offset: u64,
    limit: Option<u32>,
}

/// `GET /v1/queues/{name}/jobs`: pending jobs in the order they will run.
pub async fn jobs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<JobsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let jobs = state
        .service
        .queue_jobs(&name, query.offset, query.limit.unwrap_or(100))
        .await?;
    Ok(Json(json!({ "jobs": jobs })))
}

/// `POST /v1/queues/{name}/jobs`: puts a job into this queue.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(mut body): JsonBody<PutBody>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    body.queue = Some(name);
    super::jobs::put_job(&state, caller, body).await
}

/// Body of `POST /v1/queues/{name}/pull`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullBody {
    #[serde(default)]
    index: i64,
}

/// `POST /v1/queues/{name}/pull` `{"index": -1}`: takes the job at an
/// index of the queue out of it.
pub async fn pull(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Option<PullBody>>,
) -> ApiResult<Json<Job>> {
    let index = body.unwrap_or_default().index;
    Ok(Json(state.service.queue_pull(&name, index).await?))
}

/// `DELETE /v1/queues/{name}/jobs/{id}`: takes a given pending job out of
/// its queue.
pub async fn remove(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, JobId)>,
) -> ApiResult<Json<Job>> {
    Ok(Json(state.service.queue_remove(Some(&name), id).await?))
}
