//! [`JobRequest`]: a builder for the jobs a job puts (zc.async `queue.put`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;

/// A request to put a new job, for [`put`](crate::put).
///
/// By default the new job runs the same module in the same queue as the
/// job that puts it, as soon as possible, with no arguments. Arguments are
/// either positional ([`arg`](Self::arg), [`args`](Self::args)) or named
/// ([`named`](Self::named)), not both: mixing them, or an argument that
/// cannot be turned into JSON, makes `put` return an error.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use wasync_guest::JobRequest;
///
/// let later = JobRequest::new("send_report")
///     .named("to", "ops@example.com")
///     .named("days", 7)
///     .queue("mail")
///     .begin_after(SystemTime::now() + Duration::from_secs(3600))
///     .begin_by(Duration::from_secs(600))
///     .quota("mail server");
/// assert_eq!(later.function(), "send_report");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    function: String,
    args: Args,
    module: Option<String>,
    queue: Option<String>,
    begin_after_ms: Option<u64>,
    begin_by_ms: Option<u64>,
    quota_names: Vec<String>,
    retry: Option<Value>,
    quota_keys: Vec<(String, String)>,
    /// The first mistake made while building, reported by `put`.
    invalid: Option<String>,
    broadcast: bool,
    priority: i32,
    unique: Option<Unique>,
}

/// The uniqueness of a put (see [`JobRequest::unique`]): a key, scoped to
/// the job's queue, that blocks another put with it while a job holding it
/// is in one of `states`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unique {
    /// The key; `None` derives it from module, function and arguments.
    pub key: Option<String>,
    /// The states (`"pending"`, `"active"`, ...) in which a job holding
    /// the key blocks the put; empty: every state before `completed`.
    pub states: Vec<String>,
    /// The key holds within periods of this length (from the Unix epoch).
    pub period: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
enum Args {
    Positional(Vec<Value>),
    Named(Map<String, Value>),
}

impl JobRequest {
    /// A request to call job function `function` with no arguments.
    pub fn new(function: impl Into<String>) -> Self {
        JobRequest {
            function: function.into(),
            args: Args::Positional(Vec::new()),
            module: None,
            queue: None,
            begin_after_ms: None,
            begin_by_ms: None,
            quota_names: Vec::new(),
            retry: None,
            quota_keys: Vec::new(),
            invalid: None,
            broadcast: false,
            priority: 0,
            unique: None,
        }
    }

    /// Appends a positional argument.
    pub fn arg(mut self, value: impl Serialize) -> Self {
        match to_json(&value) {
            Ok(value) => self.push_positional(value),
            Err(e) => self.fail(format!("argument {}: {e}", self.positional_len())),
        }
        self
    }

    /// Appends positional arguments.
    pub fn args<I>(mut self, values: I) -> Self
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        for value in values {
            self = self.arg(value);
        }
        self
    }

    /// Sets the named argument `name`.
    pub fn named(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        let name = name.into();
        let value = match to_json(&value) {
            Ok(value) => value,
            Err(e) => {
                self.fail(format!("argument `{name}`: {e}"));
                return self;
            }
        };
        match &mut self.args {
            Args::Named(map) => {
                map.insert(name, value);
            }
            Args::Positional(list) if list.is_empty() => {
                self.args = Args::Named(Map::from_iter([(name, value)]));
            }
            Args::Positional(_) => self.fail(format!(
                "argument `{name}`: cannot mix named and positional arguments"
            )),
        }
        self
    }

    /// Replaces all arguments by `args`, a JSON array (positional) or
    /// object (named).
    pub fn json_args(mut self, args: Value) -> Self {
        match args {
            Value::Array(list) => self.args = Args::Positional(list),
            Value::Object(map) => self.args = Args::Named(map),
            other => self.fail(format!(
                "arguments must be a JSON array or object, not {}",
                json_type(&other)
            )),
        }
        self
    }

    /// Runs the job from the module `module`: a digest (`sha256:...`) or a
    /// module name. Default: the module of the job that puts it.
    pub fn module(mut self, module: impl Into<String>) -> Self {
        self.module = Some(module.into());
        self
    }

    /// Puts the job into queue `queue`. Default: the queue of the job that
    /// puts it.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Does not start the job before `at`. A time already past means as
    /// soon as possible.
    pub fn begin_after(mut self, at: SystemTime) -> Self {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        self.begin_after_ms = Some(ms);
        self
    }

    /// If the job has not started `within` after its begin-after time, it
    /// is not run and fails with kind `timeout`.
    pub fn begin_by(mut self, within: Duration) -> Self {
        self.begin_by_ms = Some(u64::try_from(within.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Makes the job count against quota `name` of its queue (zc.async's
    /// `quota_names`; repeat for several): it does not start while that
    /// quota already has as many jobs running as its size. The quota must
    /// exist in the queue, or `put` fails naming it.
    pub fn quota(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.quota_names.contains(&name) {
            self.quota_names.push(name);
        }
        self
    }

    /// Gives the job a retry policy (default: its queue's): a preset's
    /// name (`"common-four-times"`, `"forever"`, `"never"`) or an object
    /// such as `json!({"max_attempts": 3, "backoff": {"initial_ms": 1000}})`.
    /// wasync checks it at `put`.
    pub fn retry(mut self, policy: impl Serialize) -> Self {
        match to_json(&policy) {
            Ok(policy) => self.retry = Some(policy),
            Err(e) => self.fail(format!("retry policy: {e}")),
        }
        self
    }

    /// The job function to call.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The arguments as a JSON value (array or object).
    pub fn args_value(&self) -> Value {
        match &self.args {
            Args::Positional(list) => Value::Array(list.clone()),
            Args::Named(map) => Value::Object(map.clone()),
        }
    }

    /// The request as the host receives it, or the first mistake made
    /// while building it.
    pub(crate) fn to_wire(&self) -> Result<WireRequest<'_>, Error> {
        if let Some(why) = &self.invalid {
            return Err(Error::permanent(
                Error::BAD_ARGUMENTS,
                format!("put `{}`: {why}", self.function),
            ));
        }
        let args = match &self.args {
            Args::Positional(list) => serde_json::to_string(list),
            Args::Named(map) => serde_json::to_string(map),
        }
        .map_err(|e| Error::json(format!("put `{}`: {e}", self.function)))?;
        Ok(WireRequest {
            module: self.module.as_deref(),
            function: &self.function,
            args,
            queue: self.queue.as_deref(),
            begin_after_ms: self.begin_after_ms,
            begin_by_ms: self.begin_by_ms,
            quota_names: self.quota_names.iter().map(String::as_str).collect(),
            retry: self.retry.as_ref().map(Value::to_string),
            quota_keys: self
                .quota_keys
                .iter()
                .map(|(q, k)| (q.as_str(), k.as_str()))
                .collect(),
            broadcast: self.broadcast,
            priority: self.priority,
            unique: self.unique.as_ref().map(|u| WireUnique {
                key: u.key.as_deref(),
                states: u.states.iter().map(String::as_str).collect(),
                period_ms: u
                    .period
                    .map(|p| u64::try_from(p.as_millis()).unwrap_or(u64::MAX)),
            }),
        })
    }

    fn positional_len(&self) -> usize {
        match &self.args {
            Args::Positional(list) => list.len(),
            Args::Named(_) => 0,
        }
    }

    fn push_positional(&mut self, value: Value) {
        match &mut self.args {
            Args::Positional(list) => list.push(value),
            Args::Named(map) if map.is_empty() => self.args = Args::Positional(vec![value]),
            Args::Named(_) => self.fail("cannot mix positional and named arguments".into()),
        }
    }

    fn fail(&mut self, why: String) {
        self.invalid.get_or_insert(why);
    }

    /// Runs the job once on every live dispatcher that has an agent for
    /// its queue (e.g. to clear a per-machine cache): `put` returns the
    /// broadcast job's id, whose result is the map dispatcher → outcome of
    /// its copies. Only for a plain [`put`](crate::put).
    pub fn broadcast(mut self) -> Self {
        self.broadcast = true;
        self
    }

    /// Makes the job count against partitioned quota `quota` of its queue
    /// with `key` (e.g. `.quota_key("tenants", "acme")`): the quota's size
    /// applies to each key separately. A job names at most one partitioned
    /// quota (a second call replaces the first); the quota must be
    /// partitioned, or `put` fails naming it.
    pub fn quota_key(mut self, quota: impl Into<String>, key: impl Into<String>) -> Self {
        self.quota_keys = vec![(quota.into(), key.into())];
        self
    }

    /// Gives the job a priority (default 0; may be negative): among the
    /// due jobs of its queue, a higher priority runs first.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Puts the job only if no job of its queue holds the same uniqueness
    /// key ([`Unique`]; `Unique::default()` derives the key from module,
    /// function and arguments and blocks in every state before
    /// `completed`). Otherwise `put` inserts nothing and returns the id of
    /// the job that holds the key.
    pub fn unique(mut self, unique: Unique) -> Self {
        self.unique = Some(unique);
        self
    }
}

/// A [`JobRequest`] in the shape of the WIT `job-request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireRequest<'a> {
    pub module: Option<&'a str>,
    pub function: &'a str,
    pub args: String,
    pub queue: Option<&'a str>,
    pub begin_after_ms: Option<u64>,
    pub begin_by_ms: Option<u64>,
    pub quota_names: Vec<&'a str>,
    pub retry: Option<String>,
    pub quota_keys: Vec<(&'a str, &'a str)>,
    pub broadcast: bool,
    pub priority: i32,
    pub unique: Option<WireUnique<'a>>,
}

/// A [`Unique`] in the shape of the WIT `unique-request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireUnique<'a> {
    pub key: Option<&'a str>,
    pub states: Vec<&'a str>,
    pub period_ms: Option<u64>,
}

fn to_json(value: &impl Serialize) -> Result<Value, serde_json::Error> {
    serde_json::to_value(value)
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn positional_and_named_arguments() {
        let r = JobRequest::new("f").arg(1).args(["a", "b"]);
        assert_eq!(r.args_value(), json!([1, "a", "b"]));
        assert_eq!(r.to_wire().unwrap().args, r#"[1,"a","b"]"#);
        let r = JobRequest::new("f").named("x", 1).named("y", [true]);
        assert_eq!(r.args_value(), json!({"x": 1, "y": [true]}));
        let r = JobRequest::new("f").json_args(json!({"k": null}));
        assert_eq!(r.to_wire().unwrap().args, r#"{"k":null}"#);
        assert_eq!(JobRequest::new("f").to_wire().unwrap().args, "[]");
    }

    #[test]
    fn mistakes_surface_at_put() {
        let err = JobRequest::new("f")
            .arg(1)
            .named("x", 2)
            .to_wire()
            .unwrap_err();
        assert_eq!(err.kind, "bad-arguments");
        assert!(err.message.contains("cannot mix"), "{}", err.message);
        let err = JobRequest::new("f")
            .named("x", 2)
            .arg(1)
            .to_wire()
            .unwrap_err();
        assert!(err.message.contains("cannot mix"), "{}", err.message);
        let err = JobRequest::new("f")
            .json_args(json!(3))
            .to_wire()
            .unwrap_err();
        assert!(err.message.contains("not a number"), "{}", err.message);
        // A map with non-string keys cannot be JSON.
        let bad: HashMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let err = JobRequest::new("f").arg(bad).to_wire().unwrap_err();
        assert!(err.message.contains("argument 0"), "{}", err.message);
    }

    #[test]
    fn scheduling_and_routing() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let r = JobRequest::new("f")
            .module("reports")
            .queue("slow")
            .begin_after(at)
            .begin_by(Duration::from_secs(2));
        let wire = r.to_wire().unwrap();
        assert_eq!(wire.module, Some("reports"));
        assert_eq!(wire.queue, Some("slow"));
        assert_eq!(wire.begin_after_ms, Some(1_700_000_000_123));
        assert_eq!(wire.begin_by_ms, Some(2000));
        assert!(wire.quota_names.is_empty());
        let r = JobRequest::new("f")
            .quota("index")
            .quota("mail")
            .quota("index");
        assert_eq!(r.to_wire().unwrap().quota_names, ["index", "mail"]);
        let r = JobRequest::new("f")
            .quota_key("tenants", "a")
            .quota_key("tenants", "acme");
        assert_eq!(r.to_wire().unwrap().quota_keys, [("tenants", "acme")]);
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        let r = JobRequest::new("f").begin_after(before_epoch);
        assert_eq!(r.to_wire().unwrap().begin_after_ms, Some(0));
    }
}
