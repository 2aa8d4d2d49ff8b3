//! Callbacks and composite jobs: the links between jobs, and how an
//! outcome reaches the job that receives it.
//!
//! - A **callback** (on any outcome, on success or on failure) is a job of
//!   its own, any module and function, that hangs on
//!   another job and stays `new` until that job has its result. Then, if
//!   its branch ([`CallbackOn`]) matches the outcome, it joins its queue
//!   with the outcome added to its arguments ([`with_outcome`]); if not, it
//!   does not run and completes with the outcome unchanged (it "passes it
//!   through", so a chain can handle the failure, then post-process the
//!   handled value).
//! - A **composite** (`serial` or `parallel`) is a job of the host's own
//!   function [`CompositeKind::function`], holding parts (jobs, `new` until
//!   their turn) and a postprocess job. When it starts it puts its parts
//!   (all at once, or the first), and awaits its postprocess, which is put
//!   with every part's outcome once the last part completed
//!   ([`with_outcomes`]); the composite's result is the postprocess's.
//! - A **broadcast** is a job of the host's function [`BROADCAST_FUNCTION`]
//!   put with one copy of the job per live dispatcher that has an agent
//!   for its queue: each copy a part of it ([`JobLink::Copy`]), pinned to
//!   its dispatcher (only that one claims it). The broadcast stays `new`
//!   until every copy has its outcome, then completes with the map
//!   dispatcher → outcome ([`broadcast_result`]); a copy whose dispatcher
//!   stopped or died first completes `aborted` without running.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DispatcherId, Failure, JobId, NewJob};

/// On which outcome a callback runs its function.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CallbackOn {
    /// Whatever the outcome.
    #[default]
    Always,
    /// Only a value; a failure passes through.
    Success,
    /// Only a failure; a value passes through.
    Failure,
}

impl CallbackOn {
    /// The name stored in the database and used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackOn::Always => "always",
            CallbackOn::Success => "success",
            CallbackOn::Failure => "failure",
        }
    }

    /// Whether a callback of this branch runs for an outcome that is a
    /// failure (`failed`) or a value.
    pub fn runs_for(self, failed: bool) -> bool {
        match self {
            CallbackOn::Always => true,
            CallbackOn::Success => !failed,
            CallbackOn::Failure => failed,
        }
    }
}

impl fmt::Display for CallbackOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A branch name that is not `always`, `success` or `failure`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown callback branch `{0}` (expected always, success or failure)")]
pub struct UnknownCallbackOn(pub String);

impl FromStr for CallbackOn {
    type Err = UnknownCallbackOn;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [CallbackOn::Always, CallbackOn::Success, CallbackOn::Failure]
            .into_iter()
            .find(|on| on.as_str() == s)
            .ok_or_else(|| UnknownCallbackOn(s.to_owned()))
    }
}

/// The two kinds of composite: parts one after another, or all at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CompositeKind {
    /// One part after another: a part is put once the previous one has
    /// completed (with a value or a failure).
    Serial,
    /// Every part at once.
    Parallel,
}

/// Job function names starting with this are the host's own (composites);
/// a put naming one is refused.
pub const HOST_FUNCTION_PREFIX: char = '@';

impl CompositeKind {
    /// The host's job function a composite of this kind runs: the
    /// composite is a job like any other (queue, `begin_after`, quotas,
    /// callbacks), whose run the dispatcher does itself instead of calling
    /// a guest.
    pub fn function(self) -> &'static str {
        match self {
            CompositeKind::Serial => "@serial",
            CompositeKind::Parallel => "@parallel",
        }
    }

    /// The kind whose [`CompositeKind::function`] is `function`, if any.
    pub fn of_function(function: &str) -> Option<CompositeKind> {
        [CompositeKind::Serial, CompositeKind::Parallel]
            .into_iter()
            .find(|kind| kind.function() == function)
    }

    /// The lowercase name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CompositeKind::Serial => "serial",
            CompositeKind::Parallel => "parallel",
        }
    }
}

/// The host's job function of a broadcast: the job that gathers its copies'
/// outcomes. No dispatcher runs it (it stays `new` until its copies are
/// done); a put naming it is refused like every host function.
pub const BROADCAST_FUNCTION: &str = "@broadcast";

/// The arguments of a broadcast job: the dispatchers its copies are
/// pinned to, in copy (part) order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastArgs {
    /// One per copy, in part order.
    pub dispatchers: Vec<DispatcherId>,
}

/// A broadcast's result once every copy has its outcome: an object
/// mapping each dispatcher (its id) to its copy's outcome (the value, or
/// the failure as its JSON object, as [`outcome_json`] gives it). Empty
/// when no dispatcher was live at put.
pub fn broadcast_result(copies: impl IntoIterator<Item = (DispatcherId, Value)>) -> Value {
    Value::Object(
        copies
            .into_iter()
            .map(|(dispatcher, outcome)| (dispatcher.to_string(), outcome))
            .collect(),
    )
}

/// The arguments of a composite job: where its postprocess job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompositeArgs {
    /// The postprocess job (kept `new` until the parts are done).
    pub postprocess: JobId,
}

/// How a job hangs on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobLink {
    /// A callback of `of`, run on `on`.
    Callback {
        /// The job whose outcome it receives.
        of: JobId,
        /// On which outcome it runs.
        on: CallbackOn,
    },
    /// A part of composite `of`.
    Part {
        /// The composite.
        of: JobId,
        /// Its place among the parts (0 first).
        index: i64,
    },
    /// A broadcast's copy for one dispatcher: a part of broadcast `of`,
    /// claimed only by `dispatcher`.
    Copy {
        /// The broadcast.
        of: JobId,
        /// Its place among the copies (0 first).
        index: i64,
        /// The only dispatcher that may claim it.
        dispatcher: DispatcherId,
    },
}

/// A job to insert with its link, for a put that carries callbacks, a
/// composite put, or a callback or part added later.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedJob {
    /// The job.
    pub job: NewJob,
    /// `true`: inserted `new`, waiting for its turn (callbacks, parts, a
    /// postprocess); `false`: inserted `pending` like any put.
    pub held: bool,
    /// What it hangs on.
    pub link: Option<JobLink>,
}

/// The outcome as a callback or a postprocess receives it: the value
/// itself, or the failure as its JSON object (`{"kind", "message",
/// "detail"?, "guest_kind"?, "permanent"?}`).
pub fn outcome_json(result: Option<&Value>, failure: Option<&Failure>) -> Value {
    match (result, failure) {
        (_, Some(failure)) => serde_json::to_value(failure).expect("a failure serializes"),
        (Some(value), None) => value.clone(),
        (None, None) => Value::Null,
    }
}

/// A callback's arguments once its job has an outcome: positional
/// arguments get it appended last, named ones under the key `outcome`.
/// Appended: the callback's own arguments are fixed first, the outcome
/// comes last.
pub fn with_outcome(args: Value, outcome: Value) -> Value {
    match args {
        Value::Array(mut items) => {
            items.push(outcome);
            Value::Array(items)
        }
        Value::Object(mut named) => {
            named.insert("outcome".into(), outcome);
            Value::Object(named)
        }
        other => other,
    }
}

/// A postprocess job's arguments once the parts are done: positional
/// arguments get the parts' outcomes appended in part order (a postprocess
/// given `["foo"]` is called with `["foo", outcome1, outcome2, …]`), named
/// ones get them as an array under the key `outcomes`.
pub fn with_outcomes(args: Value, outcomes: Vec<Value>) -> Value {
    match args {
        Value::Array(mut items) => {
            items.extend(outcomes);
            Value::Array(items)
        }
        Value::Object(mut named) => {
            named.insert("outcomes".into(), Value::Array(outcomes));
            Value::Object(named)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FailureKind;
    use serde_json::json;

    #[test]
    fn branches_match_outcomes() {
        assert!(CallbackOn::Always.runs_for(true) && CallbackOn::Always.runs_for(false));
        assert!(CallbackOn::Success.runs_for(false) && !CallbackOn::Success.runs_for(true));
        assert!(CallbackOn::Failure.runs_for(true) && !CallbackOn::Failure.runs_for(false));
        for on in [CallbackOn::Always, CallbackOn::Success, CallbackOn::Failure] {
            assert_eq!(on.as_str().parse::<CallbackOn>().unwrap(), on);
        }
        assert!("maybe".parse::<CallbackOn>().is_err());
    }

    #[test]
    fn outcomes_are_appended_or_named() {
        let failure = Failure::new(FailureKind::GuestError, "boom");
        let outcome = outcome_json(None, Some(&failure));
        assert_eq!(outcome, json!({"kind": "guest-error", "message": "boom"}));
        assert_eq!(
            with_outcome(json!(["main"]), json!("200 OK")),
            json!(["main", "200 OK"])
        );
        assert_eq!(
            with_outcome(json!({"a": 1}), json!(2)),
            json!({"a": 1, "outcome": 2})
        );
        assert_eq!(
            with_outcomes(json!(["foo"]), vec![json!(7), json!(14)]),
            json!(["foo", 7, 14])
        );
        assert_eq!(
            with_outcomes(json!({}), vec![json!(1)]),
            json!({"outcomes": [1]})
        );
    }

    #[test]
    fn composites_are_host_functions() {
        for kind in [CompositeKind::Serial, CompositeKind::Parallel] {
            assert!(kind.function().starts_with(HOST_FUNCTION_PREFIX));
            assert_eq!(CompositeKind::of_function(kind.function()), Some(kind));
        }
        assert_eq!(CompositeKind::of_function("serial"), None);
        assert!(BROADCAST_FUNCTION.starts_with(HOST_FUNCTION_PREFIX));
        assert_eq!(CompositeKind::of_function(BROADCAST_FUNCTION), None);
    }

    #[test]
    fn a_broadcast_maps_dispatchers_to_outcomes() {
        let (a, b) = (DispatcherId::new(), DispatcherId::new());
        let args = BroadcastArgs {
            dispatchers: vec![a, b],
        };
        let result = broadcast_result([(a, json!(1)), (b, json!({"kind": "aborted"}))]);
        assert_eq!(result[a.to_string()], json!(1));
        assert_eq!(result[b.to_string()]["kind"], "aborted");
        assert_eq!(broadcast_result([]), json!({}));
        let back: BroadcastArgs = serde_json::from_value(json!(args)).unwrap();
        assert_eq!(back, args);
    }
}
