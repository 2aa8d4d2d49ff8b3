//! Jobs that hang on others on the wire: callbacks, composites and their
//! parts (`callbacks` of a put, `/v1/jobs/{id}/callbacks`,
//! `/v1/composites`, `/v1/jobs/{id}/parts`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::input::{DurationInput, TimeInput};
use super::jobs::millis;
use crate::model::{self, CallbackOn, CallbackSpec, CompositeKind, Job, JobLimits};
use crate::service::{self, CompositeRequest};

/// A job that hangs on another: a callback (with `on`), a part, or a
/// postprocess. `module` and `queue` default to those of the job it hangs
/// on (for a composite's parts and postprocess: the composite's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"function": "notify", "on": "failure"}))]
pub struct LinkedSpec {
    /// Module digest or name; default: the module of the job it hangs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The exported job function.
    pub function: String,
    /// Its arguments (an array or an object); the outcome is added to them.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// Its queue; default: the queue of the job it hangs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Must have started within this long after it is put in its queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_by: Option<DurationInput>,
    /// Resource requests.
    #[serde(default, skip_serializing_if = "JobLimits::is_empty")]
    pub limits: JobLimits,
    /// Quotas of its queue it counts against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota_names: Vec<String>,
    /// Callbacks only: on which outcome it runs (`always`, the default,
    /// `success` or `failure`); otherwise it passes the outcome through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<CallbackOn>,
    /// Its own callbacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub callbacks: Vec<LinkedSpec>,
    /// Its priority once in its queue; absent or 0: that of the job it
    /// hangs on (a part's: its composite's).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
}

/// True for the default priority, which a request leaves out.
fn is_zero(priority: &i32) -> bool {
    *priority == 0
}

impl LinkedSpec {
    /// The job it describes; module and queue left unnamed are inherited
    /// (`model::JobSpec::or_inherit`) where it is put.
    fn spec(self) -> model::JobSpec {
        model::JobSpec {
            module: self.module,
            function: self.function,
            args: self.args,
            queue: self.queue,
            begin_by_ms: self.begin_by.map(|d| millis(d.0)),
            limits: self.limits,
            quota_names: self.quota_names,
            priority: self.priority,
            callbacks: self
                .callbacks
                .into_iter()
                .map(LinkedSpec::callback)
                .collect(),
            ..model::JobSpec::default()
        }
    }

    /// It as a callback (`on` defaults to `always`).
    pub fn callback(self) -> CallbackSpec {
        CallbackSpec {
            on: self.on.unwrap_or_default(),
            job: self.spec(),
        }
    }

    /// A part added later: no `on`; its callbacks are added with it.
    pub fn added_part(self) -> Result<model::JobSpec, service::Error> {
        if self.on.is_some() {
            return Err(service::Error::Invalid(
                "`on` is for callbacks; a part always runs".into(),
            ));
        }
        Ok(self.spec())
    }

    /// A part or a postprocess: no `on`, no callbacks of its own.
    fn part(self, what: &str) -> Result<model::JobSpec, service::Error> {
        if self.on.is_some() {
            return Err(service::Error::Invalid(format!(
                "`on` is for callbacks; a {what} always runs"
            )));
        }
        if !self.callbacks.is_empty() {
            return Err(service::Error::Invalid(format!(
                "a {what} cannot carry `callbacks` here; add them to it once put \
                 (POST /v1/jobs/{{id}}/callbacks)"
            )));
        }
        Ok(self.spec())
    }
}

/// A callback as listed by `GET /v1/jobs/{id}/callbacks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallbackView {
    /// Its branch.
    pub on: CallbackOn,
    /// The callback job.
    pub job: Job,
}

/// Body of `POST /v1/composites`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "parallel",
    "module": "hello",
    "parts": [{"function": "greet", "args": ["a"]}, {"function": "greet", "args": ["b"]}],
    "postprocess": {"function": "join"},
}))]
pub struct CompositeSpec {
    /// `serial` or `parallel`.
    pub kind: CompositeKind,
    /// The module of the parts and the postprocess that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The composite's queue (and its parts' and postprocess's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The parts, in order (more can be added until the postprocess is put).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<LinkedSpec>,
    /// Called with the parts' outcomes (after its own `args`); its result
    /// is the composite's.
    pub postprocess: LinkedSpec,
    /// The composite does not start before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_after: Option<TimeInput>,
    /// The composite must have started within this long after
    /// `begin_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_by: Option<DurationInput>,
    /// Quotas the composite counts against while it starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota_names: Vec<String>,
    /// Callbacks of the composite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<LinkedSpec>,
    /// The composite's priority, which its parts, postprocess and
    /// callbacks that set none take too.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
}

impl CompositeSpec {
    /// The service's request for this composite.
    pub fn into_request(self) -> Result<CompositeRequest, service::Error> {
        let queue = self.queue.unwrap_or_default();
        let module = self
            .module
            .or_else(|| self.postprocess.module.clone())
            .ok_or_else(|| {
                service::Error::Invalid(
                    "`module` is required (for the composite or for its postprocess)".into(),
                )
            })?;
        let priority = self.priority;
        let linked = |spec: model::JobSpec| {
            spec.or_inherit(&module, &queue)
                .or_inherit_priority(priority)
        };
        let parts = self
            .parts
            .into_iter()
            .map(|p| p.part("part").map(linked))
            .collect::<Result<Vec<_>, _>>()?;
        let postprocess = linked(self.postprocess.part("postprocess")?);
        let composite = linked(model::JobSpec {
            module: Some(module.clone()),
            queue: Some(queue.clone()),
            begin_after: self.begin_after.map(|t| t.0),
            begin_by_ms: self.begin_by.map(|d| millis(d.0)),
            quota_names: self.quota_names,
            priority,
            callbacks: self
                .callbacks
                .into_iter()
                .map(LinkedSpec::callback)
                .collect(),
            ..model::JobSpec::default()
        });
        Ok(CompositeRequest {
            kind: self.kind,
            composite,
            parts,
            postprocess,
        })
    }
}
