//! Introspection over HTTP: job queries
//! (`GET /v1/jobs/query`, `/v1/jobs/count`, `/v1/jobs/last-completed`,
//! `/v1/queues/{name}/next`, `/v1/jobs/{id}/failure`, `/v1/jobs/{id}/info`)
//! and per-dispatcher statistics, status and recent polls.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query};
use super::input::TimeInput;
use crate::model::{DispatcherId, JobFilter, JobId, PollRecord, QueryState, TimeRange};
use crate::service::{DispatcherStatsView, DispatcherStatusView, JobInfo};
use crate::store::JobOrder;

/// The filters of a job query: every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterQuery {
    /// Comma-separated states: a status, `succeeded` or `failed`.
    state: Option<String>,
    /// Glob on the module's name or digest.
    module: Option<String>,
    /// Glob on the function.
    function: Option<String>,
    queue: Option<String>,
    agent: Option<String>,
    dispatcher: Option<DispatcherId>,
    requested_start_since: Option<TimeInput>,
    requested_start_before: Option<TimeInput>,
    start_since: Option<TimeInput>,
    start_before: Option<TimeInput>,
    end_since: Option<TimeInput>,
    end_before: Option<TimeInput>,
    /// Put at or after this time.
    created_since: Option<TimeInput>,
    /// Put before this time.
    created_before: Option<TimeInput>,
    /// Page cursor (`query` only).
    after: Option<JobId>,
    /// `oldest` (the default) or `newest` first (`query` only).
    order: Option<String>,
    /// Page size (`query` only).
    limit: Option<u32>,
}

fn range(since: Option<TimeInput>, before: Option<TimeInput>) -> TimeRange {
    TimeRange {
        since: since.map(|t| t.0),
        before: before.map(|t| t.0),
    }
}

impl FilterQuery {
    fn filter(&self) -> ApiResult<JobFilter> {
        let states = match self.state.as_deref() {
            None | Some("") => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|s| s.trim().parse::<QueryState>())
                .collect::<Result<_, _>>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        };
        Ok(JobFilter {
            states,
            module: self.module.clone(),
            function: self.function.clone(),
            queue: self.queue.clone(),
            agent: self.agent.clone(),
            dispatcher: self.dispatcher,
            requested_start: range(self.requested_start_since, self.requested_start_before),
            start: range(self.start_since, self.start_before),
            end: range(self.end_since, self.end_before),
            created: range(self.created_since, self.created_before),
        })
    }
}

/// `GET /v1/jobs/query?state=failed&function=resize*&start_since=…`: the
/// matching jobs, oldest first (`order=newest`: newest first); `next` is
/// the `after` of the next page.
#[utoipa::path(
    get,
    path = "/v1/jobs/query",
    tag = "operators",
    operation_id = "monitor_query",
    responses(
        (status = 200, description = "`{jobs, next}`: the matching jobs, oldest first (`order=newest`: newest first).", body = serde_json::Value)
    )
)]
pub async fn query(
    State(state): State<AppState>,
    Query(query): Query<FilterQuery>,
) -> ApiResult<Json<Value>> {
    let order = match query.order.as_deref() {
        None | Some("oldest") => JobOrder::Created,
        Some("newest") => JobOrder::Newest,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "order `{other}`: expected `oldest` or `newest`"
            )));
        }
    };
    let page = state
        .service
        .job_query(
            query.filter()?,
            order,
            query.after,
            query.limit.unwrap_or(100),
        )
        .await?;
    serde_json::to_value(page)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /v1/jobs/count?…` (the filters of `query`): `{"count": n}`.
#[utoipa::path(
    get,
    path = "/v1/jobs/count",
    tag = "operators",
    operation_id = "monitor_count",
    responses(
        (status = 200, description = "`{\"count\": n}`.", body = serde_json::Value)
    )
)]
pub async fn count(
    State(state): State<AppState>,
    Query(query): Query<FilterQuery>,
) -> ApiResult<Json<Value>> {
    let count = state.service.job_count(query.filter()?).await?;
    Ok(Json(json!({ "count": count })))
}

/// `GET /v1/jobs/last-completed?…`: `{"job": …}` or `{"job": null}`.
#[utoipa::path(
    get,
    path = "/v1/jobs/last-completed",
    tag = "operators",
    operation_id = "monitor_last_completed",
    responses(
        (status = 200, description = "`{\"job\": job | null}`.", body = serde_json::Value)
    )
)]
pub async fn last_completed(
    State(state): State<AppState>,
    Query(query): Query<FilterQuery>,
) -> ApiResult<Json<Value>> {
    let job = state.service.job_last_completed(query.filter()?).await?;
    Ok(Json(json!({ "job": job })))
}

/// `GET /v1/queues/{name}/next`: the job the queue hands out next.
#[utoipa::path(
    get,
    path = "/v1/queues/{name}/next",
    tag = "operators",
    operation_id = "monitor_next_pending",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "`{\"job\": job | null}`.", body = serde_json::Value)
    )
)]
pub async fn next_pending(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let job = state.service.queue_next_pending(&name).await?;
    Ok(Json(json!({ "job": job })))
}

/// `GET /v1/jobs/{id}/failure`: `{"failure": …}`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/failure",
    tag = "operators",
    operation_id = "monitor_failure",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "`{id, failure}`.", body = serde_json::Value)
    )
)]
pub async fn failure(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<Value>> {
    let failure = state.service.job_failure(id).await?;
    Ok(Json(json!({ "id": id, "failure": failure })))
}

/// `GET /v1/jobs/{id}/info`: who ran a job, when, and how it ended.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/info",
    tag = "operators",
    operation_id = "monitor_info",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "Who ran the job, when, how it ended.", body = serde_json::Value)
    )
)]
pub async fn info(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<JobInfo>> {
    Ok(Json(state.service.job_info(id).await?))
}

/// `?since=&before=` of the statistics.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    since: Option<TimeInput>,
    before: Option<TimeInput>,
}

/// `GET /v1/dispatchers/{id}/stats?since=&before=`.
#[utoipa::path(
    get,
    path = "/v1/dispatchers/{id}/stats",
    tag = "dispatchers",
    operation_id = "monitor_stats",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id.")),
    responses(
        (status = 200, description = "Its statistics.", body = serde_json::Value)
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
    Query(query): Query<StatsQuery>,
) -> ApiResult<Json<DispatcherStatsView>> {
    Ok(Json(
        state
            .service
            .dispatcher_stats(id, query.since.map(|t| t.0), query.before.map(|t| t.0))
            .await?,
    ))
}

/// `GET /v1/dispatchers/{id}/status`.
#[utoipa::path(
    get,
    path = "/v1/dispatchers/{id}/status",
    tag = "dispatchers",
    operation_id = "monitor_status",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id.")),
    responses(
        (status = 200, description = "Its status.", body = serde_json::Value)
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<DispatcherStatusView>> {
    Ok(Json(state.service.dispatcher_status(id).await?))
}

/// `?count=` of the polls.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollsQuery {
    count: Option<u32>,
}

/// `GET /v1/dispatchers/{id}/polls?count=3`: the latest polls that
/// claimed something.
#[utoipa::path(
    get,
    path = "/v1/dispatchers/{id}/polls",
    tag = "dispatchers",
    operation_id = "monitor_polls",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id.")),
    responses(
        (status = 200, description = "`{\"polls\": [...]}`.", body = serde_json::Value)
    )
)]
pub async fn polls(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
    Query(query): Query<PollsQuery>,
) -> ApiResult<Json<Value>> {
    let polls: Vec<PollRecord> = state
        .service
        .dispatcher_polls(id, query.count.unwrap_or(3))
        .await?;
    Ok(Json(json!({ "polls": polls })))
}
