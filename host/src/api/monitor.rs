//! Introspection over HTTP: job queries
//! (`GET /v1/jobs/query`, `/v1/jobs/count`, `/v1/jobs/last-completed`,
//! `/v1/queues/{name}/next`, `/v1/jobs/{id}/failure`, `/v1/jobs/{id}/info`)
//! and per-dispatcher statistics, status and recent polls.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query};
use super::input::TimeInput;
use crate::model::{DispatcherId, JobFilter, JobId, QueryState, Scope, TimeRange};
use crate::store::JobOrder;
use crate::wire::dispatchers::{
    DispatcherStatsView, DispatcherStatusView, PollList, PollsQuery, StatsQuery,
};
use crate::wire::operators::{FailureReply, JobCount, JobFilterQuery, JobInfo, JobSlot};
use crate::wire::{ErrorBody, JobPage};

fn range(since: Option<TimeInput>, before: Option<TimeInput>) -> TimeRange {
    TimeRange {
        since: since.map(|t| t.0),
        before: before.map(|t| t.0),
    }
}

/// The filter a query's parameters describe.
fn filter(query: &JobFilterQuery) -> ApiResult<JobFilter> {
    let states = match query.state.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<QueryState>())
            .collect::<Result<_, _>>()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
    };
    Ok(JobFilter {
        states,
        module: query.module.clone(),
        function: query.function.clone(),
        queue: query.queue.clone(),
        queues: None,
        agent: query.agent.clone(),
        dispatcher: query.dispatcher,
        requested_start: range(query.requested_start_since, query.requested_start_before),
        start: range(query.start_since, query.start_before),
        end: range(query.end_since, query.end_before),
        created: range(query.created_since, query.created_before),
    })
}

/// The filter as `caller` may run it: whole for an admin; a token's
/// `queue` must be one it may read (403 naming it), and without one the
/// query is held to the queues it may read.
async fn scoped(state: &AppState, caller: &Caller, mut filter: JobFilter) -> ApiResult<JobFilter> {
    if caller.0.is_admin() {
        return Ok(filter);
    }
    if let Some(queue) = &filter.queue {
        caller.require(Scope::Read, queue)?;
        return Ok(filter);
    }
    let queues = state.service.queue_list().await?;
    filter.queues = Some(
        queues
            .into_iter()
            .map(|q| q.name)
            .filter(|name| caller.reads(name))
            .collect(),
    );
    Ok(filter)
}

/// `GET /v1/jobs/query?state=failed&function=resize*&start_since=…`: the
/// matching jobs, oldest first (`order=newest`: newest first); `next` is
/// the `after` of the next page. A token with `read` sees the jobs of
/// its queues only; naming another queue is 403.
#[utoipa::path(
    get,
    path = "/v1/jobs/query",
    tag = "operators",
    operation_id = "monitor_query",
    params(JobFilterQuery),
    responses(
        (status = 200, description = "The matching jobs, oldest first (`order=newest`: newest first); `next` is the `after` of the next page.", body = JobPage),
        (status = 403, description = "`queue` names a queue the token may not read.", body = ErrorBody)
    )
)]
pub async fn query(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<JobFilterQuery>,
) -> ApiResult<Json<JobPage>> {
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
            scoped(&state, &caller, filter(&query)?).await?,
            order,
            query.after,
            query.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(page.into()))
}

/// `GET /v1/jobs/count?…` (the filters of `query`): `{"count": n}`,
/// held to a token's queues as `query` is.
#[utoipa::path(
    get,
    path = "/v1/jobs/count",
    tag = "operators",
    operation_id = "monitor_count",
    params(JobFilterQuery),
    responses(
        (status = 200, description = "How many jobs match.", body = JobCount),
        (status = 403, description = "`queue` names a queue the token may not read.", body = ErrorBody)
    )
)]
pub async fn count(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<JobFilterQuery>,
) -> ApiResult<Json<JobCount>> {
    let filter = scoped(&state, &caller, filter(&query)?).await?;
    let count = state.service.job_count(filter).await?;
    Ok(Json(JobCount { count }))
}

/// `GET /v1/jobs/last-completed?…`: `{"job": …}` or `{"job": null}`.
#[utoipa::path(
    get,
    path = "/v1/jobs/last-completed",
    tag = "operators",
    operation_id = "monitor_last_completed",
    params(JobFilterQuery),
    responses(
        (status = 200, description = "The job completed last, or `null`.", body = JobSlot)
    )
)]
pub async fn last_completed(
    State(state): State<AppState>,
    Query(query): Query<JobFilterQuery>,
) -> ApiResult<Json<JobSlot>> {
    let job = state.service.job_last_completed(filter(&query)?).await?;
    Ok(Json(JobSlot { job }))
}

/// `GET /v1/queues/{name}/next`: the job the queue hands out next.
#[utoipa::path(
    get,
    path = "/v1/queues/{name}/next",
    tag = "operators",
    operation_id = "monitor_next_pending",
    params(("name" = String, Path, min_length = 1, description = "The queue (`default`: the default queue).")),
    responses(
        (status = 200, description = "The job it hands out next, or `null`.", body = JobSlot)
    )
)]
pub async fn next_pending(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<JobSlot>> {
    let job = state.service.queue_next_pending(&name).await?;
    Ok(Json(JobSlot { job }))
}

/// `GET /v1/jobs/{id}/failure`: `{"failure": …}`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/failure",
    tag = "operators",
    operation_id = "monitor_failure",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job and its failure (`null`: none).", body = FailureReply)
    )
)]
pub async fn failure(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<FailureReply>> {
    let failure = state.service.job_failure(id).await?;
    Ok(Json(FailureReply { failure, id }))
}

/// `GET /v1/jobs/{id}/info`: who ran a job, when, and how it ended.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/info",
    tag = "operators",
    operation_id = "monitor_info",
    params(("id" = JobId, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "Who ran the job, when, how it ended.", body = JobInfo)
    )
)]
pub async fn info(
    State(state): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<Json<JobInfo>> {
    Ok(Json(state.service.job_info(id).await?))
}

/// `GET /v1/dispatchers/{id}/stats?since=&before=`.
#[utoipa::path(
    get,
    path = "/v1/dispatchers/{id}/stats",
    tag = "dispatchers",
    operation_id = "monitor_stats",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id."), StatsQuery),
    responses(
        (status = 200, description = "Its statistics.", body = DispatcherStatsView)
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
        (status = 200, description = "Its status.", body = DispatcherStatusView)
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
) -> ApiResult<Json<DispatcherStatusView>> {
    Ok(Json(state.service.dispatcher_status(id).await?))
}

/// `GET /v1/dispatchers/{id}/polls?count=3`: the latest polls that
/// claimed something.
#[utoipa::path(
    get,
    path = "/v1/dispatchers/{id}/polls",
    tag = "dispatchers",
    operation_id = "monitor_polls",
    params(("id" = DispatcherId, Path, description = "The dispatcher's id."), PollsQuery),
    responses(
        (status = 200, description = "Its latest polls that claimed something.", body = PollList)
    )
)]
pub async fn polls(
    State(state): State<AppState>,
    Path(id): Path<DispatcherId>,
    Query(query): Query<PollsQuery>,
) -> ApiResult<Json<PollList>> {
    let polls = state
        .service
        .dispatcher_polls(id, query.count.unwrap_or(3))
        .await?;
    Ok(Json(PollList { polls }))
}
