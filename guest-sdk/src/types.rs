//! The plain types of the job contract: ids, job info, outcomes.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// A job's id: a UUID (version 7) in its hyphenated lowercase text form,
/// as the host gives it. The SDK never parses it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// Wraps an id string (from the host, an argument, an annotation).
    pub fn new(id: impl Into<String>) -> Self {
        JobId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for JobId {
    fn from(id: String) -> Self {
        JobId(id)
    }
}

impl From<&str> for JobId {
    fn from(id: &str) -> Self {
        JobId(id.to_owned())
    }
}

impl AsRef<str> for JobId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Returned by a job function, "my result is that job's result"
/// (zc.async's "returning a job"): the job completes once the job with
/// this id completes, with its result. The waiting job holds no worker
/// slot meanwhile.
///
/// ```
/// use wasync_guest::{job, Await, JobRequest};
///
/// #[job]
/// fn double_later(value: i64) -> Result<Await, wasync_guest::Error> {
///     let id = wasync_guest::put(JobRequest::new("double").arg(value))?;
///     Ok(Await(id))
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Await(pub JobId);

/// What a running job knows about itself (zc.async `getJob()`): see
/// [`job()`](crate::job()). Serializes as an object with these fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobInfo {
    /// This job's id.
    pub id: JobId,
    /// The queue the job was put in; `""` is the default queue.
    pub queue: String,
    /// The module the job runs, as its content digest (`sha256:<hex>`).
    pub module: String,
    /// The module's name when the job was put by name, if any.
    pub module_name: Option<String>,
    /// The job function being called.
    pub function: String,
    /// The arguments as given at put time: a JSON array or object.
    pub args: Value,
    /// Which attempt this is: 1 for the first run, higher after retries.
    pub attempt: u32,
    /// The job's annotations as they were when the job started. Use
    /// [`get_live_annotation`](crate::get_live_annotation) for current
    /// values.
    pub annotations: BTreeMap<String, Value>,
}

impl JobInfo {
    /// The annotation `name` as it was when the job started, read as `T`.
    /// `Ok(None)` when absent; an error of kind `json` when it is not a `T`.
    pub fn annotation<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Error> {
        self.annotations
            .get(name)
            .map(|v| {
                T::deserialize(v)
                    .map_err(|e| Error::json(format!("annotation `{name}` at start: {e}")))
            })
            .transpose()
    }
}

/// What a job function produced when it succeeded: the WIT `outcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job's result, as JSON text.
    Value(String),
    /// The job's result will be that other job's result.
    AwaitJob(JobId),
}

impl Outcome {
    /// The result as a JSON value, if this is a value (and valid JSON).
    pub fn value(&self) -> Option<Value> {
        match self {
            Outcome::Value(json) => serde_json::from_str(json).ok(),
            Outcome::AwaitJob(_) => None,
        }
    }

    /// The result read as `T`, if this is a value that fits `T`.
    pub fn value_as<T: DeserializeOwned>(&self) -> Option<T> {
        match self {
            Outcome::Value(json) => serde_json::from_str(json).ok(),
            Outcome::AwaitJob(_) => None,
        }
    }

    /// The id of the job whose result this job's result will be, if any.
    pub fn awaited(&self) -> Option<&JobId> {
        match self {
            Outcome::Value(_) => None,
            Outcome::AwaitJob(id) => Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_id_is_transparent_text() {
        let id = JobId::from("0190a000-0000-7000-8000-000000000001");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"0190a000-0000-7000-8000-000000000001\""
        );
        assert_eq!(id.to_string(), id.as_str());
        let back: JobId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(back, JobId::new("abc"));
        assert_eq!(back.into_string(), "abc");
    }

    #[test]
    fn outcome_accessors() {
        let v = Outcome::Value("[1,2]".into());
        assert_eq!(v.value(), Some(json!([1, 2])));
        assert_eq!(v.value_as::<Vec<u8>>(), Some(vec![1, 2]));
        assert_eq!(v.awaited(), None);
        let a = Outcome::AwaitJob(JobId::new("x"));
        assert_eq!(a.awaited(), Some(&JobId::new("x")));
        assert_eq!(a.value(), None);
    }

    #[test]
    fn job_info_annotations() {
        let info = JobInfo {
            id: JobId::new("a"),
            queue: String::new(),
            module: "sha256:00".into(),
            module_name: None,
            function: "f".into(),
            args: json!([]),
            attempt: 1,
            annotations: [("n".to_owned(), json!(3))].into_iter().collect(),
        };
        assert_eq!(info.annotation::<i64>("n").unwrap(), Some(3));
        assert_eq!(info.annotation::<i64>("missing").unwrap(), None);
        assert_eq!(info.annotation::<String>("n").unwrap_err().kind, "json");
    }
}
