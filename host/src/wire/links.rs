//! Jobs that hang on others on the wire: callbacks, composites and their
//! parts (`callbacks` of a put, `/v1/jobs/{id}/callbacks`,
//! `/v1/composites`, `/v1/jobs/{id}/parts`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::input::{DurationInput, TimeInput};
use super::jobs::{callbacks_of, millis};
use crate::model::{Authority, CallbackOn, CompositeKind, Job, JobLimits};
use crate::service::{self, CallbackRequest, CompositeRequest, PutRequest};

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
}

/// Where a linked job's module and queue come from when it names none,
/// and who puts it.
#[derive(Debug, Clone, Copy)]
pub struct Defaults<'a> {
    /// The module of the job it hangs on.
    pub module: &'a str,
    /// The queue of the job it hangs on.
    pub queue: &'a str,
    /// Who puts it.
    pub authority: &'a Authority,
}

impl LinkedSpec {
    fn request(self, defaults: &Defaults<'_>) -> (PutRequest, Vec<LinkedSpec>) {
        let request = PutRequest {
            queue: self.queue.unwrap_or_else(|| defaults.queue.to_owned()),
            module: self.module.unwrap_or_else(|| defaults.module.to_owned()),
            function: self.function,
            args: self.args,
            begin_after: None,
            begin_by_ms: self.begin_by.map(|d| millis(d.0)),
            limits: self.limits,
            quota_names: self.quota_names,
            parent: None,
            retry: None,
            authority: defaults.authority.clone(),
        };
        (request, self.callbacks)
    }

    /// The service's callback request, its own callbacks with it.
    pub fn callback(self, defaults: &Defaults<'_>) -> CallbackRequest {
        let on = self.on.unwrap_or_default();
        let (request, callbacks) = self.request(defaults);
        CallbackRequest {
            on,
            request,
            callbacks: callbacks
                .into_iter()
                .map(|c| c.callback(defaults))
                .collect(),
        }
    }

    /// A part added later: no `on`; its callbacks are added with it.
    pub fn added_part(
        self,
        defaults: &Defaults<'_>,
    ) -> Result<(PutRequest, Vec<CallbackRequest>), service::Error> {
        if self.on.is_some() {
            return Err(service::Error::Invalid(
                "`on` is for callbacks; a part always runs".into(),
            ));
        }
        let (request, callbacks) = self.request(defaults);
        let callbacks = callbacks
            .into_iter()
            .map(|c| c.callback(defaults))
            .collect();
        Ok((request, callbacks))
    }

    /// A part or a postprocess: no `on`, no callbacks of its own.
    fn part(self, what: &str, defaults: &Defaults<'_>) -> Result<PutRequest, service::Error> {
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
        Ok(self.request(defaults).0)
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
}

impl CompositeSpec {
    /// The service's request for this composite, put by `authority`.
    pub fn into_request(self, authority: Authority) -> Result<CompositeRequest, service::Error> {
        let queue = self.queue.unwrap_or_default();
        let module = self
            .module
            .or_else(|| self.postprocess.module.clone())
            .ok_or_else(|| {
                service::Error::Invalid(
                    "`module` is required (for the composite or for its postprocess)".into(),
                )
            })?;
        let defaults = Defaults {
            module: &module,
            queue: &queue,
            authority: &authority,
        };
        let parts = self
            .parts
            .into_iter()
            .map(|p| p.part("part", &defaults))
            .collect::<Result<Vec<_>, _>>()?;
        let postprocess = self.postprocess.part("postprocess", &defaults)?;
        let composite = PutRequest {
            queue: queue.clone(),
            module: module.clone(),
            function: String::new(),
            args: Value::Null,
            begin_after: self.begin_after.map(|t| t.0),
            begin_by_ms: self.begin_by.map(|d| millis(d.0)),
            limits: JobLimits::default(),
            quota_names: self.quota_names,
            parent: None,
            retry: None,
            authority: authority.clone(),
        };
        let callbacks = callbacks_of(&composite, self.callbacks);
        Ok(CompositeRequest {
            kind: self.kind,
            composite,
            parts,
            postprocess,
            callbacks,
        })
    }
}
