//! `/v1/schedules`: create, list, show (with the next call time and the
//! recent runs), update, pause and resume, delete. The bodies are
//! `wire::schedules`'.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path, Query};
use crate::model::{JobSpec, Scope};
use crate::service::{SchedulePatch, ScheduleRequest};
use crate::wire::ErrorBody;
use crate::wire::schedules::{
    Schedule, ScheduleCreate, ScheduleList, SchedulePatchBody, ScheduleShowQuery, ScheduleView,
    timing,
};

/// How many runs `show` lists when not told.
pub const RUNS_DEFAULT: u32 = 10;

/// `POST /v1/schedules`: 201 and the schedule. Needs `manage` in its
/// queue; its jobs are put with the creator's token (checked at each
/// put). A token's schedule is created paused and resumed once its token
/// is recorded, so that no scheduler puts a job of it as the admin.
#[utoipa::path(
    post,
    path = "/v1/schedules",
    tag = "schedules",
    operation_id = "schedules_create",
    request_body = ScheduleCreate,
    responses(
        (status = 201, description = "The schedule.", body = Schedule),
        (status = 409, description = "A schedule has this name.", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(authority): Caller,
    JsonBody(body): JsonBody<ScheduleCreate>,
) -> ApiResult<(StatusCode, Json<Schedule>)> {
    let queue = body.queue.clone().unwrap_or_default();
    Caller(authority.clone()).require(Scope::Manage, &queue)?;
    let by_token = authority.token_id().is_some();
    let active = body.active.unwrap_or(true);
    let timing = timing(body.delay, body.cron, false)
        .map_err(ApiError::BadRequest)?
        .expect("required");
    let request = ScheduleRequest {
        name: body.name,
        job: JobSpec {
            queue: body.queue,
            module: Some(body.module),
            function: body.function,
            args: body.args,
            limits: body.limits,
            begin_by_ms: body.begin_by.map(|d| d.millis()),
            priority: body.priority,
            quota_keys: body.quota_keys,
            ..JobSpec::default()
        },
        timing,
        active: if by_token { Some(false) } else { body.active },
        catch_up: body.catch_up,
        retry_delay_ms: body.retry_delay.map(|d| d.millis()),
        next_call_time: body.next_call_time.map(|t| t.0),
    };
    let mut schedule = state.service.schedule_create(request).await?;
    if by_token {
        state
            .service
            .schedule_authority_set(schedule.id, &authority)
            .await?;
        if active {
            schedule = state.service.schedule_resume(&schedule.name).await?;
        }
    }
    Ok((StatusCode::CREATED, Json(schedule)))
}

/// `GET /v1/schedules`: every schedule the caller may read, by name.
#[utoipa::path(
    get,
    path = "/v1/schedules",
    tag = "schedules",
    operation_id = "schedules_list",
    responses(
        (status = 200, description = "Every schedule the caller may read.", body = ScheduleList)
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ScheduleList>> {
    let mut schedules = state.service.schedule_list().await?;
    schedules.retain(|s| caller.reads(s.job.queue_ref()));
    Ok(Json(ScheduleList { schedules }))
}

/// `GET /v1/schedules/{name}?runs=10`: the schedule (its `next_call_time`,
/// lock, last error) and the jobs of its latest `runs` occurrences (at
/// most 1000), latest first.
#[utoipa::path(
    get,
    path = "/v1/schedules/{name}",
    tag = "schedules",
    operation_id = "schedules_show",
    params(("name" = String, Path, min_length = 1, description = "The schedule's name."), ScheduleShowQuery),
    responses(
        (status = 200, description = "The schedule and its latest runs.", body = ScheduleView)
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ScheduleShowQuery>,
) -> ApiResult<Json<ScheduleView>> {
    let schedule = state.service.schedule_get(&name).await?;
    let runs = state
        .service
        .schedule_runs(schedule.id, query.runs.unwrap_or(RUNS_DEFAULT))
        .await?;
    Ok(Json(ScheduleView { schedule, runs }))
}

/// `PATCH /v1/schedules/{name}`: changes the given fields. A new `delay`
/// or `cron` reschedules from now; `active: true` resumes from the next
/// occurrence still to come.
#[utoipa::path(
    patch,
    path = "/v1/schedules/{name}",
    tag = "schedules",
    operation_id = "schedules_update",
    params(("name" = String, Path, min_length = 1, description = "The schedule's name.")),
    request_body = SchedulePatchBody,
    responses(
        (status = 200, description = "The schedule.", body = Schedule),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SchedulePatchBody>,
) -> ApiResult<Json<Schedule>> {
    if let Some(queue) = &body.queue {
        caller.require(Scope::Manage, queue)?;
    }
    let patch = SchedulePatch {
        queue: body.queue,
        module: body.module,
        function: body.function,
        args: body.args,
        limits: body.limits,
        priority: body.priority,
        quota_keys: body.quota_keys,
        begin_by_ms: body.begin_by.map(|b| b.map(|d| d.millis())),
        timing: timing(body.delay, body.cron, true).map_err(ApiError::BadRequest)?,
        active: body.active,
        catch_up: body.catch_up,
        retry_delay_ms: body.retry_delay.map(|d| d.millis()),
        next_call_time: body.next_call_time.map(|t| t.0),
    };
    Ok(Json(state.service.schedule_update(&name, patch).await?))
}

/// `POST /v1/schedules/{name}/pause`: it puts nothing until resumed.
#[utoipa::path(
    post,
    path = "/v1/schedules/{name}/pause",
    tag = "schedules",
    operation_id = "schedules_pause",
    params(("name" = String, Path, min_length = 1, description = "The schedule's name.")),
    responses(
        (status = 200, description = "The schedule.", body = Schedule)
    )
)]
pub async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Schedule>> {
    Ok(Json(state.service.schedule_pause(&name).await?))
}

/// `POST /v1/schedules/{name}/resume`: from the next occurrence to come.
#[utoipa::path(
    post,
    path = "/v1/schedules/{name}/resume",
    tag = "schedules",
    operation_id = "schedules_resume",
    params(("name" = String, Path, min_length = 1, description = "The schedule's name.")),
    responses(
        (status = 200, description = "The schedule.", body = Schedule)
    )
)]
pub async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Schedule>> {
    Ok(Json(state.service.schedule_resume(&name).await?))
}

/// `DELETE /v1/schedules/{name}`: 204. Its jobs stay.
#[utoipa::path(
    delete,
    path = "/v1/schedules/{name}",
    tag = "schedules",
    operation_id = "schedules_delete",
    params(("name" = String, Path, min_length = 1, description = "The schedule's name.")),
    responses(
        (status = 204, description = "Deleted.")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.schedule_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
