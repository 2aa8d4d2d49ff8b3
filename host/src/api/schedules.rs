//! `/v1/schedules`: create, list, show (with the next call time and the
//! recent runs), update, pause and resume, delete.
//!
//! A schedule is created with the fields of a put (`module`, `function`,
//! `args`, `queue`, `limits`, `begin_by`, `priority`) and either `delay` (a duration:
//! seconds, or text such as `"10s"`) or `cron` (a five-field string such as
//! `"10 4 * * *"`, or lists of fields `{"minute": [10], "hour": [4],
//! "day_of_month": [], "month": [], "day_of_week": []}` with 0 = Monday).
//! Times are UTC.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path, Query};
use super::input::{DurationInput, TimeInput, nullable};
use crate::model::cron::CronSpec;
use crate::model::{CatchUp, Job, JobLimits, JobSpec, Schedule, Scope, Timing};
use crate::service::{SchedulePatch, ScheduleRequest};
use crate::wire::ErrorBody;

/// How many runs `show` lists when not told.
pub const RUNS_DEFAULT: u32 = 10;

/// A cron spec in a request: the five-field string or lists of fields.
#[derive(Debug, Clone)]
pub enum CronInput {
    /// `"10 4 * * *"`.
    Expression(String),
    /// `{"minute": [10], "hour": [4]}`.
    Fields(CronFields),
}

/// A cron spec as lists of fields (day of week 0 = Monday); each defaults
/// to empty ("any").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronFields {
    #[serde(default)]
    minute: Vec<u8>,
    #[serde(default)]
    hour: Vec<u8>,
    #[serde(default)]
    day_of_month: Vec<u8>,
    #[serde(default)]
    month: Vec<u8>,
    #[serde(default)]
    day_of_week: Vec<u8>,
}

impl<'de> Deserialize<'de> for CronInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(text) => Ok(CronInput::Expression(text)),
            fields @ Value::Object(_) => serde_json::from_value(fields)
                .map(CronInput::Fields)
                .map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!(
                "`cron` is a string such as \"10 4 * * *\" or an object of lists \
                 such as {{\"minute\": [10], \"hour\": [4]}}, not {other}"
            ))),
        }
    }
}

impl CronInput {
    fn timing(self) -> ApiResult<Timing> {
        Ok(match self {
            CronInput::Expression(text) => Timing::Cron {
                spec: CronSpec::parse(&text).map_err(|e| ApiError::BadRequest(e.to_string()))?,
                expression: Some(text.trim().to_owned()),
            },
            CronInput::Fields(f) => Timing::Cron {
                spec: CronSpec {
                    minute: f.minute,
                    hour: f.hour,
                    day_of_month: f.day_of_month,
                    month: f.month,
                    day_of_week: f.day_of_week,
                },
                expression: None,
            },
        })
    }
}

/// `delay` or `cron`, exactly one (or neither, when `optional`).
fn timing(
    delay: Option<DurationInput>,
    cron: Option<CronInput>,
    optional: bool,
) -> ApiResult<Option<Timing>> {
    match (delay, cron) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "give either `delay` or `cron`, not both".into(),
        )),
        (Some(delay), None) => Ok(Some(Timing::Delay {
            delay_ms: delay.0.as_millis() as u64,
        })),
        (None, Some(cron)) => cron.timing().map(Some),
        (None, None) if optional => Ok(None),
        (None, None) => Err(ApiError::BadRequest(
            "a schedule needs `delay` (e.g. \"10s\") or `cron` (e.g. \"10 4 * * *\")".into(),
        )),
    }
}

fn millis(d: DurationInput) -> u64 {
    u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX)
}

/// Body of `POST /v1/schedules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    module: String,
    function: String,
    #[serde(default)]
    args: Value,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    limits: JobLimits,
    #[serde(default)]
    begin_by: Option<DurationInput>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    delay: Option<DurationInput>,
    #[serde(default)]
    cron: Option<CronInput>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    catch_up: Option<CatchUp>,
    #[serde(default)]
    retry_delay: Option<DurationInput>,
    #[serde(default)]
    next_call_time: Option<TimeInput>,
}

/// `POST /v1/schedules`: 201 and the schedule. Needs `manage` in its
/// queue; its jobs are put with the creator's token (checked at each
/// put). A token's schedule is created paused and resumed once its token
/// is recorded, so that no scheduler puts a job of it as the admin.
#[utoipa::path(
    post,
    path = "/v1/schedules",
    tag = "schedules",
    operation_id = "schedules_create",
    request_body(content = serde_json::Value, description = "The fields of a put and `delay` or `cron`."),
    responses(
        (status = 201, description = "The schedule.", body = serde_json::Value),
        (status = 409, description = "A schedule has this name.", body = ErrorBody),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(authority): Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<(StatusCode, Json<Schedule>)> {
    let queue = body.queue.clone().unwrap_or_default();
    Caller(authority.clone()).require(Scope::Manage, &queue)?;
    let by_token = authority.token_id().is_some();
    let active = body.active.unwrap_or(true);
    let timing = timing(body.delay, body.cron, false)?.expect("required");
    let request = ScheduleRequest {
        name: body.name,
        job: JobSpec {
            queue: body.queue,
            module: Some(body.module),
            function: body.function,
            args: body.args,
            limits: body.limits,
            begin_by_ms: body.begin_by.map(millis),
            priority: body.priority,
            ..JobSpec::default()
        },
        timing,
        active: if by_token { Some(false) } else { body.active },
        catch_up: body.catch_up,
        retry_delay_ms: body.retry_delay.map(millis),
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
        (status = 200, description = "`{\"schedules\": [...]}`.", body = serde_json::Value)
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let mut schedules = state.service.schedule_list().await?;
    schedules.retain(|s| caller.reads(s.job.queue_ref()));
    Ok(Json(json!({ "schedules": schedules })))
}

/// Query of `show`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    runs: Option<u32>,
}

/// A schedule with its latest runs.
#[derive(Debug, Serialize)]
pub struct ScheduleView {
    #[serde(flatten)]
    schedule: Schedule,
    /// The jobs it put, latest occurrence first.
    runs: Vec<Job>,
}

/// `GET /v1/schedules/{name}?runs=10`: the schedule (its `next_call_time`,
/// lock, last error) and the jobs of its latest `runs` occurrences (at
/// most 1000), latest first.
#[utoipa::path(
    get,
    path = "/v1/schedules/{name}",
    tag = "schedules",
    operation_id = "schedules_show",
    params(("name" = String, Path, min_length = 1, description = "The schedule's name.")),
    responses(
        (status = 200, description = "The schedule and its latest runs.", body = serde_json::Value)
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
) -> ApiResult<Json<ScheduleView>> {
    let schedule = state.service.schedule_get(&name).await?;
    let runs = state
        .service
        .schedule_runs(schedule.id, query.runs.unwrap_or(RUNS_DEFAULT))
        .await?;
    Ok(Json(ScheduleView { schedule, runs }))
}

/// Body of `PATCH /v1/schedules/{name}`: any field of a create but the
/// name; `begin_by: null` removes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    limits: Option<JobLimits>,
    #[serde(default, deserialize_with = "nullable")]
    begin_by: Option<Option<DurationInput>>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    delay: Option<DurationInput>,
    #[serde(default)]
    cron: Option<CronInput>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    catch_up: Option<CatchUp>,
    #[serde(default)]
    retry_delay: Option<DurationInput>,
    #[serde(default)]
    next_call_time: Option<TimeInput>,
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
    request_body(content = serde_json::Value, description = "Any field of a create but the name."),
    responses(
        (status = 200, description = "The schedule.", body = serde_json::Value),
        (status = 422, description = "The job names a function its module does not export, or arguments its parameters cannot take.", body = ErrorBody)
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<PatchBody>,
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
        begin_by_ms: body.begin_by.map(|b| b.map(millis)),
        timing: timing(body.delay, body.cron, true)?,
        active: body.active,
        catch_up: body.catch_up,
        retry_delay_ms: body.retry_delay.map(millis),
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
        (status = 200, description = "The schedule.", body = serde_json::Value)
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
        (status = 200, description = "The schedule.", body = serde_json::Value)
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
