//! Schedules on the wire: `/v1/schedules/...`.
//!
//! A schedule is created with the fields of a put (`module`, `function`,
//! `args`, `queue`, `limits`, `begin_by`, `priority`, `quota_keys`) and either `delay` (a duration:
//! seconds, or text such as `"10s"`) or `cron` (a five-field string such as
//! `"10 4 * * *"`, or lists of fields `{"minute": [10], "hour": [4],
//! "day_of_month": [], "month": [], "day_of_week": []}` with 0 = Monday).
//! Times are UTC.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{IntoParams, ToSchema};

use super::input::{DurationInput, TimeInput, nullable};
pub use crate::model::Schedule;
use crate::model::cron::CronSpec;
use crate::model::{CatchUp, Job, JobLimits, Timing};

/// A cron spec in a request: the five-field string or lists of fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronInput {
    /// `"10 4 * * *"`.
    Expression(String),
    /// `{"minute": [10], "hour": [4]}`.
    Fields(CronFields),
}

/// A cron spec as lists of fields (day of week 0 = Monday); each defaults
/// to empty ("any").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CronFields {
    /// Minutes, 0-59.
    #[serde(default)]
    pub minute: Vec<u8>,
    /// Hours, 0-23.
    #[serde(default)]
    pub hour: Vec<u8>,
    /// Days of the month, 1-31.
    #[serde(default)]
    pub day_of_month: Vec<u8>,
    /// Months, 1-12.
    #[serde(default)]
    pub month: Vec<u8>,
    /// Days of the week, 0-6, 0 = Monday.
    #[serde(default)]
    pub day_of_week: Vec<u8>,
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

impl Serialize for CronInput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CronInput::Expression(text) => s.serialize_str(text),
            CronInput::Fields(fields) => fields.serialize(s),
        }
    }
}

impl utoipa::PartialSchema for CronInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("Five fields: minute hour day-of-month month day-of-week.")),
            )
            .item(CronFields::schema())
            .description(Some(
                "Cron times (UTC): a five-field string or lists of fields (day of week 0 = Monday).",
            ))
            .examples([json!("10 4 * * *")])
            .into()
    }
}

impl ToSchema for CronInput {}

impl CronInput {
    /// The timing it describes; a string that is no cron spec is an
    /// error naming what is wrong.
    pub fn timing(self) -> Result<Timing, String> {
        Ok(match self {
            CronInput::Expression(text) => Timing::Cron {
                spec: CronSpec::parse(&text).map_err(|e| e.to_string())?,
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

/// A schedule's timing as the API writes it: `{"kind": "delay",
/// "delay_ms"}` or `{"kind": "cron", "minute": [...], …, "expression"}`.
/// Written by hand: the derived schema of the tagged enum with a
/// flattened field is an `allOf` inside a `oneOf`, which client
/// generators (openapi-python-client) cannot read.
impl utoipa::PartialSchema for Timing {
    fn schema() -> RefOr<Schema> {
        let kind = |name: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([name.to_owned()]))
        };
        let list = |description: &str| {
            ArrayBuilder::new()
                .items(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some(description))
        };
        let delay = ObjectBuilder::new()
            .title(Some("Delay"))
            .property("kind", kind("delay"))
            .property(
                "delay_ms",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .description(Some("Milliseconds between occurrences.")),
            )
            .required("kind")
            .required("delay_ms");
        let cron = ObjectBuilder::new()
            .title(Some("Cron"))
            .property("kind", kind("cron"))
            .property("minute", list("Minutes, 0-59 (empty: any)."))
            .property("hour", list("Hours, 0-23 (empty: any)."))
            .property(
                "day_of_month",
                list("Days of the month, 1-31 (empty: any)."),
            )
            .property("month", list("Months, 1-12 (empty: any)."))
            .property(
                "day_of_week",
                list("Days of the week, 0-6, 0 = Monday (empty: any)."),
            )
            .property(
                "expression",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The five-field string it was given as, if it was.")),
            )
            .required("kind");
        OneOfBuilder::new()
            .item(delay)
            .item(cron)
            .description(Some("When a schedule puts its job (times are UTC)."))
            .into()
    }
}

impl ToSchema for Timing {}

/// `delay` or `cron`, exactly one (or neither, when `optional`).
pub fn timing(
    delay: Option<DurationInput>,
    cron: Option<CronInput>,
    optional: bool,
) -> Result<Option<Timing>, String> {
    match (delay, cron) {
        (Some(_), Some(_)) => Err("give either `delay` or `cron`, not both".into()),
        (Some(delay), None) => Ok(Some(Timing::Delay {
            delay_ms: delay.0.as_millis() as u64,
        })),
        (None, Some(cron)) => cron.timing().map(Some),
        (None, None) if optional => Ok(None),
        (None, None) => {
            Err("a schedule needs `delay` (e.g. \"10s\") or `cron` (e.g. \"10 4 * * *\")".into())
        }
    }
}

/// Body of `POST /v1/schedules`: the fields of a put and `delay` or
/// `cron`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "nightly", "module": "reports", "function": "daily",
    "args": ["eu"], "cron": "10 4 * * *"}))]
pub struct ScheduleCreate {
    /// Its unique name.
    pub name: String,
    /// Module digest or name (resolved at each put).
    pub module: String,
    /// The job function.
    pub function: String,
    /// Its arguments; absent: none.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// The queue its jobs go to; absent: the default queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Resource requests of each job.
    #[serde(default, skip_serializing_if = "JobLimits::is_empty")]
    pub limits: JobLimits,
    /// Each job must have started this long after it is put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_by: Option<DurationInput>,
    /// The priority of each job (default 0; higher runs first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Each job's keys in partitioned quotas of its queue (at most one),
    /// e.g. `{"tenants": "acme"}`: the quota's size applies per key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quota_keys: BTreeMap<String, String>,
    /// Every so long (give this or `cron`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<DurationInput>,
    /// At cron times (give this or `delay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<CronInput>,
    /// Whether it puts anything; default true (false: created paused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// What it does about missed occurrences; default `once`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUp>,
    /// How long a scheduler that took it holds it (default 300 s, or half
    /// a shorter delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<DurationInput>,
    /// Its first occurrence; default: from its timing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_call_time: Option<TimeInput>,
}

/// Body of `PATCH /v1/schedules/{name}`: any field of a create but the
/// name; only those given change (`begin_by: null` removes it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"delay": "30s", "active": true}))]
pub struct SchedulePatchBody {
    /// Module digest or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The job function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// The queue its jobs go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Resource requests of each job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<JobLimits>,
    /// Each job must have started this long after it is put; `null`
    /// removes it.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<DurationInput>)]
    pub begin_by: Option<Option<DurationInput>>,
    /// The priority of each job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Each job's keys in partitioned quotas (`{}` removes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_keys: Option<BTreeMap<String, String>>,
    /// A new delay: reschedules from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<DurationInput>,
    /// New cron times: reschedules from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<CronInput>,
    /// `true` resumes from the next occurrence still to come; `false`
    /// pauses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// What it does about missed occurrences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUp>,
    /// How long a scheduler that took it holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<DurationInput>,
    /// Its next occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_call_time: Option<TimeInput>,
}

/// Reply of `GET /v1/schedules`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    /// Every schedule the caller may read, by name.
    pub schedules: Vec<Schedule>,
}

/// Query of `GET /v1/schedules/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleShowQuery {
    /// How many of its latest occurrences' jobs to list (default 10, at
    /// most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<u32>,
}

/// Reply of `GET /v1/schedules/{name}`: the schedule with its latest
/// runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// The schedule.
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The jobs it put, latest occurrence first.
    pub runs: Vec<Job>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}
