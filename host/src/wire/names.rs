//! Named jobs on the wire: `/v1/job-names/...`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::input::{DurationInput, TimeInput};
pub use crate::model::JobName;
use crate::model::{self, JobLimits};

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
}

impl JobNameBody {
    /// The job the name puts.
    pub fn into_spec(self) -> model::JobSpec {
        model::JobSpec {
            module: Some(self.module),
            function: self.function,
            queue: self.queue,
            args: self.args,
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
            ..model::JobSpec::default()
        }
    }
}
