//! Jobs: what is put, and what is stored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    DispatcherId, Failure, JobId, JobStatus, ModuleDigest, RetryPolicy, ScheduleRun, Timestamp,
    TokenId,
};

/// Per-job resource requests. Each is capped by the agent that runs the
/// job: a job never gets more than its agent allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobLimits {
    /// Fuel budget (roughly, wasm instructions). `None`: the agent's cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Memory limit in bytes (linear memories and tables). `None`: the
    /// agent's cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Wall-clock limit of one run, in milliseconds. `None`: the agent's
    /// cap, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl JobLimits {
    /// True when nothing is requested.
    pub fn is_empty(&self) -> bool {
        *self == JobLimits::default()
    }
}

/// A job to insert into a queue, fully resolved (the module is a digest
/// that exists, the arguments are an array or an object).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The id to give it (time-ordered).
    pub id: JobId,
    /// The queue; it must exist.
    pub queue: String,
    /// The module to run.
    pub module: ModuleDigest,
    /// The name the module was put by, if it was put by name.
    pub module_name: Option<String>,
    /// The exported job function.
    pub function: String,
    /// A JSON array (positional) or object (named arguments).
    pub args: Value,
    /// Resource requests.
    pub limits: JobLimits,
    /// When it becomes due. For a job put "as soon as possible", or with a
    /// time already past, this is the time of the put.
    pub begin_after: Timestamp,
    /// True when `begin_after` was a time in the future at put time: such a
    /// job, once due, goes before plain jobs put after its time.
    pub scheduled: bool,
    /// Not started by `begin_after + begin_by_ms`: fails with `timeout`.
    pub begin_by_ms: Option<u64>,
    /// The quotas of its queue it counts against (see
    /// [`Quota`](super::Quota)); names that do not exist are ignored. As
    /// stored: a key in a partitioned quota first, as its entry
    /// ([`stored_quota_names`](super::stored_quota_names)).
    pub quota_names: Vec<String>,
    /// True when its deadline (`begin_after + begin_by_ms`) had already
    /// passed at put: it is stored `completed` with
    /// [`Failure::not_started`] and never runs.
    pub expired: bool,
    /// The job that put this one from inside its run, if any.
    pub parent: Option<JobId>,
    /// The token it was put with, whose authority it acts with (`None`:
    /// the admin's); a job's children inherit it.
    pub token: Option<TokenId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// The schedule occurrence it is put for, if a schedule puts it.
    pub schedule: Option<ScheduleRun>,
    /// Its own retry policy; `None`: its queue's default (see
    /// [`RetryPolicy`]).
    pub retry: Option<RetryPolicy>,
    /// Among due jobs of its queue, higher runs first (default 0).
    pub priority: i32,
    /// Its uniqueness key, if it was put unique: the put inserts nothing
    /// while a job of its queue with the same key is in that key's states.
    pub unique: Option<super::UniqueKey>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Its queue (`""` is the default queue).
    pub queue: String,
    /// Where it is in its life.
    pub status: JobStatus,
    /// The module it runs.
    pub module: ModuleDigest,
    /// The module's name as given at put time, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_name: Option<String>,
    /// The job function.
    pub function: String,
    /// Its arguments: a JSON array or object.
    pub args: Value,
    /// Resource requests.
    #[serde(default, skip_serializing_if = "JobLimits::is_empty")]
    pub limits: JobLimits,
    /// When it becomes (or became) due.
    #[schema(value_type = String, format = DateTime)]
    pub begin_after: Timestamp,
    /// Whether it was scheduled for a future time at put.
    pub scheduled: bool,
    /// Milliseconds after `begin_after` by which it must have started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_by_ms: Option<u64>,
    /// The quotas of its queue it counts against while `assigned` or
    /// `active`; names no longer defined in the queue are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota_names: Vec<String>,
    /// Its value, once completed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it failed, once completed with a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The job whose result this one is waiting for (it returned
    /// "await that job").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<JobId>,
    /// The job that put this one from inside its run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<JobId>,
    /// How many times it was started.
    pub attempts: u32,
    /// The dispatcher that claimed it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatcher: Option<DispatcherId>,
    /// The agent (of that dispatcher) that claimed it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When its latest attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    /// When it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
    /// The tail of what the guest wrote to stdout in its latest run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// The tail of what the guest wrote to stderr in its latest run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// The schedule that put it and the occurrence it was put for
    /// (`schedule_id` and `occurrence` in JSON), if a schedule put it.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub schedule: Option<ScheduleRun>,
    /// Its own retry policy, if it was given one at put; `None`: its
    /// queue's default applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Its priority: among due jobs of its queue, higher runs first; equal
    /// priorities keep the queue order.
    #[serde(default)]
    pub priority: i32,
    /// Its keys in partitioned quotas of its queue (at most one), by quota.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub quota_keys: std::collections::BTreeMap<String, String>,
}

impl Job {
    /// This job as read from its stored quota entries: the key entry
    /// moved from `quota_names` to `quota_keys`.
    pub fn with_quota_keys(mut self) -> Self {
        let (names, keys) = super::split_stored_quota_names(std::mem::take(&mut self.quota_names));
        self.quota_names = names;
        self.quota_keys = keys;
        self
    }

    /// The time by which it must have started, if it has a `begin_by`.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.begin_by_ms
            .map(|ms| self.begin_after + chrono::Duration::milliseconds(ms as i64))
    }
}

/// How a run ended, as the dispatcher records it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// A JSON value.
    Value(Value),
    /// A failure.
    Failure(Failure),
    /// "My result is that job's result."
    Await(JobId),
}

/// What a guest wrote while it ran (bounded tails).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// Tail of stdout, lossily decoded as UTF-8.
    pub stdout: String,
    /// Tail of stderr, lossily decoded as UTF-8.
    pub stderr: String,
}
