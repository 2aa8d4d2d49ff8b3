//! The one description of a job to put, whoever puts it: the HTTP API and
//! the CLI (through their wire bodies), a named job, a schedule, a
//! callback or a composite's part, and a running job's `put`
//! (`job-request` in `wit/job.wit`). The service resolves it into a
//! [`NewJob`](super::NewJob) in one place (`service/jobs.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CallbackOn, JobLimits, RetryPolicy, Timestamp, UniqueSpec};

/// A job to put, as its putter describes it.
///
/// Defaults, decided here and nowhere else:
/// - `module`, `queue`: `None` takes those of the job the spec comes from
///   ([`JobSpec::or_inherit`]): the running job that puts it, the job a
///   callback hangs on, the composite a part belongs to. At the top (an
///   HTTP or CLI put, a named job, a schedule) a module is required and
///   the queue is the default queue (`""`, also written `default`).
/// - `args`: `null` is no arguments (`[]`).
/// - `limits`: none requested (the agent's caps apply).
/// - `begin_after`: as soon as possible; `begin_by_ms` (milliseconds after
///   `begin_after`): no deadline.
/// - `quota_names`: none; `retry`: the queue's default policy (a
///   callback's: `forever`).
/// - `priority`: 0 (among due jobs of its queue, higher runs first); a
///   callback or part that sets none takes that of the job it hangs on
///   ([`JobSpec::or_inherit_priority`]).
/// - `callbacks`: none; a put with callbacks is the same put, with its
///   callbacks held in the same transaction.
/// - `broadcast`: false (one job). True: one copy per live dispatcher with
///   an agent for the queue, gathered by a parent job (see
///   [`super::links`], `docs/queue-features.md`).
/// - `unique`: none (every put inserts a job); see [`UniqueSpec`] for its
///   own defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = StoredJobSpec)]
pub struct JobSpec {
    /// The module, by digest (`sha256:...`) or by name.
    #[serde(default)]
    pub module: Option<String>,
    /// The job function it exports.
    pub function: String,
    /// A JSON array (positional) or object (named arguments).
    #[serde(default)]
    pub args: Value,
    /// The queue (`""` or `default`: the default queue).
    #[serde(default)]
    pub queue: Option<String>,
    /// Resource requests.
    #[serde(default, skip_serializing_if = "JobLimits::is_empty")]
    pub limits: JobLimits,
    /// Do not start before this time; a time already past: as soon as
    /// possible, at the end of the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub begin_after: Option<Timestamp>,
    /// Fail with `timeout` if not started this many milliseconds after
    /// `begin_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_by_ms: Option<u64>,
    /// Quotas of the queue the job counts against; each must exist there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota_names: Vec<String>,
    /// Its retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Among due jobs of its queue, higher runs first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Jobs put once this one has its outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub callbacks: Vec<CallbackSpec>,
    /// Partitioned quotas of the queue the job counts against, each with
    /// the job's key (e.g. `{"tenants": "acme"}`): the quota's size
    /// applies per key. At most one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub quota_keys: BTreeMap<String, String>,
    /// Runs once on every live dispatcher that has an agent for its
    /// queue: a parent job gathering one copy per dispatcher.
    #[serde(default, skip_serializing_if = "is_false")]
    pub broadcast: bool,
    /// Put only if no job of its queue holds the same key in the key's
    /// states; otherwise the put answers with that job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<UniqueSpec>,
}

/// A callback: a job held until the job it hangs on has its outcome (see
/// [`super::links`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = StoredCallbackSpec)]
pub struct CallbackSpec {
    /// On which outcome it runs its function (otherwise it passes the
    /// outcome through).
    #[serde(default)]
    pub on: CallbackOn,
    /// The job (its own callbacks included).
    #[serde(flatten)]
    pub job: JobSpec,
}

impl CallbackSpec {
    /// This callback with its job's module and queue, when it names none,
    /// taken from the job it hangs on (see [`JobSpec::or_inherit`]).
    pub fn or_inherit(self, module: &str, queue: &str) -> Self {
        CallbackSpec {
            on: self.on,
            job: self.job.or_inherit(module, queue),
        }
    }
}

/// True for a plain (not broadcast) put, which a stored spec leaves out.
fn is_false(broadcast: &bool) -> bool {
    !*broadcast
}

/// True for the default priority, which a stored spec leaves out.
fn is_zero(priority: &i32) -> bool {
    *priority == 0
}

impl JobSpec {
    /// A spec for `module`'s `function` with `args`; every other field its
    /// default.
    pub fn new(module: impl Into<String>, function: impl Into<String>, args: Value) -> Self {
        JobSpec {
            module: Some(module.into()),
            function: function.into(),
            args,
            ..JobSpec::default()
        }
    }

    /// This spec with the module and queue it names none of taken from
    /// the job it comes from (`module`, `queue`); its callbacks, at any
    /// depth, likewise from that same job.
    pub fn or_inherit(mut self, module: &str, queue: &str) -> Self {
        self.module.get_or_insert_with(|| module.to_owned());
        self.queue.get_or_insert_with(|| queue.to_owned());
        self.callbacks = std::mem::take(&mut self.callbacks)
            .into_iter()
            .map(|c| c.or_inherit(module, queue))
            .collect();
        self
    }

    /// This spec, when it sets no priority (0), with `priority`: the
    /// priority of the job it hangs on (a callback's job, a part's
    /// composite); its callbacks, at any depth, likewise.
    pub fn or_inherit_priority(mut self, priority: i32) -> Self {
        if self.priority == 0 {
            self.priority = priority;
        }
        let own = self.priority;
        for callback in &mut self.callbacks {
            callback.job = std::mem::take(&mut callback.job).or_inherit_priority(own);
        }
        self
    }

    /// The module it names (`""` when it names none).
    pub fn module_ref(&self) -> &str {
        self.module.as_deref().unwrap_or_default()
    }

    /// The queue it names (`""`, the default queue, when it names none).
    pub fn queue_ref(&self) -> &str {
        self.queue.as_deref().unwrap_or_default()
    }

    /// The names of the optional fields it sets beyond module, function,
    /// args and queue (a stored definition refuses those it does not
    /// keep).
    pub fn options_set(&self) -> Vec<&'static str> {
        [
            ("limits", !self.limits.is_empty()),
            ("begin_after", self.begin_after.is_some()),
            ("begin_by", self.begin_by_ms.is_some()),
            ("quota_names", !self.quota_names.is_empty()),
            ("quota_keys", !self.quota_keys.is_empty()),
            ("retry", self.retry.is_some()),
            ("callbacks", !self.callbacks.is_empty()),
            ("broadcast", self.broadcast),
            ("priority", self.priority != 0),
            ("unique", self.unique.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_fields_take_their_defaults() {
        let spec: JobSpec = serde_json::from_value(json!({"function": "f"})).unwrap();
        assert_eq!(
            spec,
            JobSpec {
                function: "f".into(),
                ..JobSpec::default()
            }
        );
        let spec = spec.or_inherit("m", "q");
        assert_eq!((spec.module_ref(), spec.queue_ref()), ("m", "q"));
        // What it names is kept.
        let named = JobSpec {
            queue: Some(String::new()),
            ..JobSpec::new("own", "f", Value::Null)
        }
        .or_inherit("m", "q");
        assert_eq!((named.module_ref(), named.queue_ref()), ("own", ""));
    }

    #[test]
    fn callbacks_nest_flat_in_json() {
        let spec: JobSpec = serde_json::from_value(json!({
            "module": "m", "function": "f",
            "callbacks": [{"on": "failure", "function": "g",
                           "callbacks": [{"function": "h"}]}]
        }))
        .unwrap();
        let callback = &spec.callbacks[0];
        assert_eq!(callback.on, CallbackOn::Failure);
        assert_eq!(callback.job.function, "g");
        assert_eq!(callback.job.callbacks[0].on, CallbackOn::Always);
        assert_eq!(spec.options_set(), ["callbacks"]);
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["callbacks"][0]["on"], "failure");
        assert!(back.get("retry").is_none());
    }
}
