//! Named jobs on the wire: `/v1/job-names/...`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::input::{DurationInput, TimeInput};
pub use crate::model::JobName;
use crate::model::{self, JobLimits, RetryPolicy, UniqueSpec};

/// Body of `PUT /v1/job-names/{name}`: what the name puts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"module": "mailer", "function": "send", "queue": "mail", "args": ["hello"]}))]
pub struct JobNameBody {
    /// Module digest or name (resolved at each put).
    pub module: String,
    /// The job function.
    pub function: String,
    /// Its default queue; absent: the default queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The arguments a put without arguments uses.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// The retry policy of every job put by this name (unless the put
    /// gives its own); absent: the queue's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::jobs::retry_input_schema)]
    pub retry: Option<RetryPolicy>,
    /// Resource requests of every job put by this name (a put's own
    /// requests replace them).
    #[serde(default, skip_serializing_if = "JobLimits::is_empty")]
    pub limits: JobLimits,
    /// The priority of every job put by this name (unless the put gives
    /// one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// The uniqueness of every job put by this name (unless the put gives
    /// its own): a put by name whose key is held answers with the job
    /// holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<UniqueSpec>,
    /// The keys in partitioned quotas of its queue of every job put by
    /// this name (unless the put gives its own), e.g. `{"tenants":
    /// "acme"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quota_keys: BTreeMap<String, String>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl JobNameBody {
    /// The job the name puts.
    pub fn into_spec(self) -> model::JobSpec {
        model::JobSpec {
            module: Some(self.module),
            function: self.function,
            queue: self.queue,
            args: self.args,
            retry: self.retry,
            limits: self.limits,
            priority: self.priority,
            unique: self.unique,
            quota_keys: self.quota_keys,
            ..model::JobSpec::default()
        }
    }
}

/// Reply of `GET /v1/job-names`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobNameList {
    /// Every named job.
    pub job_names: Vec<JobName>,
}

/// Body of `POST /v1/job-names/{name}/jobs` (optional): every field
/// optional, the named job's defaults standing in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"args": ["bob@example.com"]}))]
pub struct PutByName {
    /// Arguments; absent: the named job's.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// Queue; absent: the named job's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Not before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_after: Option<TimeInput>,
    /// Must have started within this long after `begin_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_by: Option<DurationInput>,
    /// Resource requests.
    #[serde(default, skip_serializing_if = "JobLimits::is_empty")]
    pub limits: JobLimits,
    /// Quotas of the queue the job counts against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota_names: Vec<String>,
    /// Its retry policy; absent: the named job's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = super::jobs::retry_input_schema)]
    pub retry: Option<RetryPolicy>,
    /// Its priority; absent: the named job's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Its uniqueness; absent: the named job's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<UniqueSpec>,
    /// Its keys in partitioned quotas; absent or empty: the named job's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quota_keys: BTreeMap<String, String>,
}

impl PutByName {
    /// The overrides this body gives, as the service's put by name
    /// takes them.
    pub fn into_spec(self) -> model::JobSpec {
        model::JobSpec {
            args: self.args,
            queue: self.queue,
            begin_after: self.begin_after.map(|t| t.0),
            begin_by_ms: self.begin_by.map(|d| d.millis()),
            limits: self.limits,
            quota_names: self.quota_names,
            retry: self.retry,
            priority: self.priority.unwrap_or_default(),
            unique: self.unique,
            quota_keys: self.quota_keys,
            ..model::JobSpec::default()
        }
    }
}
