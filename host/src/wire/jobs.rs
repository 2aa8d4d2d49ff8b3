//! Jobs on the wire: the put body ([`JobSpec`]), a job as shown, pages,
//! and the bodies and queries of `/v1/jobs/...`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::{IntoParams, ToSchema};

use super::input::{DurationInput, TimeInput, nullable};
use super::links::LinkedSpec;
use crate::model::{self, Job, JobId, JobLimits, RetryPolicy, RunRecord};
use crate::service;

/// A job to put: the body of `POST /v1/jobs` (and of
/// `POST /v1/queues/{name}/jobs`, whose path names the queue, and of each
/// job of `POST /v1/jobs/batch`). A put with callbacks is a put whose
/// `callbacks` is not empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "module": "hello",
    "function": "hello",
    "args": [],
    "limits": {"fuel": 1000000000, "timeout_ms": 30000},
}))]
pub struct JobSpec {
    /// Module digest (`sha256:...`) or name.
    pub module: String,
    /// The exported job function.
    pub function: String,
    /// Its arguments: an array (positional) or an object (named); absent
    /// or `null`: none.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// The queue; absent, `""` or `default`: the default queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Not before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_after: Option<TimeInput>,
    /// Fails with `timeout` unless started within this long after
    /// `begin_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_by: Option<DurationInput>,
    /// Resource requests, each capped by the agent that runs it.
    #[serde(default, skip_serializing_if = "JobLimits::is_empty")]
    pub limits: JobLimits,
    /// Quotas of the queue the job counts against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota_names: Vec<String>,
    /// Jobs to run once this one has its outcome, put with it in one
    /// transaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<LinkedSpec>,
    /// Its retry policy; absent: its queue's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = retry_input_schema)]
    pub retry: Option<RetryPolicy>,
    /// Among due jobs of its queue, higher runs first; default 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Partitioned quotas of the queue the job counts against, with its
    /// key in each (e.g. `{"tenants": "acme"}`): the quota's size applies
    /// per key. At most one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quota_keys: BTreeMap<String, String>,
    /// Run once on every live dispatcher with an agent for the queue: the
    /// reply is the broadcast job, which completes with the map
    /// dispatcher → outcome of its copies (an empty map at once when no
    /// dispatcher is live). Not in a batch, a callback or a part.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broadcast: bool,
    /// Put only if no job of the queue holds the same uniqueness key in
    /// the key's states; otherwise the answer is that job, 200 with
    /// `"duplicate": true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<model::UniqueSpec>,
}

/// True for the default priority, which a request leaves out.
fn is_zero(priority: &i32) -> bool {
    *priority == 0
}

impl JobSpec {
    /// The job this body describes, as the service puts it (its callbacks
    /// take the put job's module and queue where they name none: the
    /// service's put sees to it).
    pub fn into_spec(self) -> model::JobSpec {
        model::JobSpec {
            module: Some(self.module),
            function: self.function,
            args: self.args,
            queue: self.queue,
            limits: self.limits,
            begin_after: self.begin_after.map(|t| t.0),
            begin_by_ms: self.begin_by.map(|d| millis(d.0)),
            quota_names: self.quota_names,
            retry: self.retry,
            priority: self.priority,
            broadcast: self.broadcast,
            unique: self.unique,
            callbacks: self
                .callbacks
                .into_iter()
                .map(LinkedSpec::callback)
                .collect(),
            quota_keys: self.quota_keys,
        }
    }
}

/// A duration's whole milliseconds (saturating).
pub(super) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A retry policy as a request gives it: a preset's name or an object
/// whose fields are all optional.
pub(super) fn retry_input_schema() -> impl Into<RefOr<Schema>> {
    let count = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .description(Some(description))
    };
    let backoff = ObjectBuilder::new()
        .property("initial_ms", count("Delay after the first failure, ms."))
        .property("increment_ms", count("Added per further failure, ms."))
        .property("max_ms", count("The longest delay, ms."))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["common-four-times", "forever", "never"])),
        )
        .item(
            ObjectBuilder::new()
                .property(
                    "preset",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["common-four-times", "forever", "never"])),
                )
                .property(
                    "max_interruptions",
                    ObjectBuilder::new()
                        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                        .minimum(Some(0))
                        .description(Some("How many interruptions are retried; `null`: all.")),
                )
                .property(
                    "max_attempts",
                    count("How many runs may fail before the failure is final."),
                )
                .property("backoff", backoff)
                .additional_properties(Some(AdditionalProperties::FreeForm(false))),
        )
        .description(Some(
            "A preset's name, or an object starting from a preset (default \
             `common-four-times`) with the fields given changed.",
        ))
        .examples([json!({"max_attempts": 3, "backoff": {"initial_ms": 1000}})])
}

/// Body of `PATCH /v1/jobs/{id}`: each field present is changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"args": ["again"], "begin_after": null}))]
pub struct JobPatch {
    /// New arguments: an array (positional) or object (named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// A new due time; `null`: as soon as possible.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable)]
    pub begin_after: Option<Option<TimeInput>>,
    /// A new `begin_by` (after `begin_after`); `null`: none.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable)]
    pub begin_by: Option<Option<DurationInput>>,
    /// New quota names (each a quota of the job's queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_names: Option<Vec<String>>,
    /// A new priority (while the job is pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

impl JobPatch {
    /// The service's patch.
    pub fn into_patch(self) -> service::JobPatch {
        service::JobPatch {
            args: self.args,
            begin_after: self.begin_after.map(|t| t.map(|t| t.0)),
            begin_by_ms: self.begin_by.map(|d| d.map(|d| millis(d.0))),
            quota_names: self.quota_names,
            priority: self.priority,
        }
    }
}

/// Query of `GET /v1/jobs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobListQuery {
    /// Comma-separated statuses (`pending,active`); absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only this queue's jobs (`default`: the default queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The page after this job id (a previous page's `next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<JobId>,
    /// The most jobs in the page (1 to 1000; default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// A page of jobs, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<Job>,
    /// The `after` of the next page, if there may be one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<JobId>,
}

impl From<service::JobPage> for JobPage {
    fn from(page: service::JobPage) -> Self {
        JobPage {
            jobs: page.jobs,
            next: page.next,
        }
    }
}

/// A job with its annotations and runs: the reply of `GET /v1/jobs/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// Its annotations, by name.
    pub annotations: BTreeMap<String, Value>,
    /// Its runs: the limits each ran under and what each consumed.
    pub runs: Vec<RunRecord>,
    /// For a broadcast (function `@broadcast`): its copies, one per
    /// dispatcher live at put, in copy order (the order of
    /// `args.dispatchers`). Absent for any other job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<Job>,
}

/// Query of `GET /v1/jobs/{id}/wait`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// How long to hold the request (`30s`, `250ms`, seconds); default
    /// 30 s, at most 300 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Body of `POST /v1/jobs/{id}/put` (optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBackBody {
    /// Put it at the end of this queue instead of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

/// Reply of `POST /v1/jobs/batch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchPut {
    /// The jobs' ids, in the order of the batch (a duplicate's: the job
    /// already there).
    pub ids: Vec<JobId>,
    /// Per item, in the same order, true when it was a unique put whose
    /// key a job held (nothing inserted; its id is that job's). Absent
    /// when no item was a duplicate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate: Vec<bool>,
}

/// Reply of a put (`POST /v1/jobs`, `POST /v1/queues/{name}/jobs`,
/// `POST /v1/job-names/{name}/jobs`): the job; 201 when put, 200 with
/// `"duplicate": true` when a unique put found its key held and answers
/// with the job holding it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PutReply {
    /// The job put, or the one already holding the key.
    #[serde(flatten)]
    pub job: Job,
    /// True when nothing was inserted (absent otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl PutReply {
    /// The HTTP status of this reply: 201 Created, or 200 for a duplicate.
    pub fn status(&self) -> axum::http::StatusCode {
        if self.duplicate {
            axum::http::StatusCode::OK
        } else {
            axum::http::StatusCode::CREATED
        }
    }
}

impl From<service::Put> for PutReply {
    fn from(put: service::Put) -> Self {
        PutReply {
            job: put.job,
            duplicate: put.duplicate,
        }
    }
}
