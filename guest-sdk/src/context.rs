//! The typed `context` API (zc.async `zc.async.local`): what a running job
//! can ask of wasync. On wasm32 each call is a component import; natively
//! it goes to the [`testing`](crate::testing) fake of the current thread.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, JobId, JobInfo, JobRequest, sys};

/// This job: id, queue, module, function, arguments, attempt and the
/// annotations it had when it started (zc.async `getJob()`).
///
/// # Panics
///
/// Natively, outside a job run by [`testing`](crate::testing) (zc.async's
/// "not initialized").
pub fn job() -> JobInfo {
    sys::get_job()
}

/// Sets annotation `name` of this job to `value` and commits it at once,
/// so watchers see it while the job runs (progress, coordination).
///
/// Errors: `value` cannot be JSON (kind `json`), or the host refuses it
/// (kind `context`, e.g. over its size limits).
pub fn set_live_annotation(name: &str, value: &impl Serialize) -> Result<(), Error> {
    set(name, value, None)
}

/// Sets annotation `name` of the job `job` (another job, usually one this
/// job put or was given) to `value`, committed at once.
///
/// Errors: as [`set_live_annotation`], and kind `context` when that job
/// does not exist.
pub fn set_live_annotation_on(
    job: &JobId,
    name: &str,
    value: &impl Serialize,
) -> Result<(), Error> {
    set(name, value, Some(job))
}

fn set(name: &str, value: &impl Serialize, job: Option<&JobId>) -> Result<(), Error> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error::json(format!("annotation `{name}`: {e}")))?;
    sys::set_live_annotation(name, &json, job.map(JobId::as_str))
        .map_err(|e| Error::context("set_live_annotation", e))
}

/// Reads annotation `name` of this job, or of `job` when given (zc.async
/// `getLiveAnnotation(name, default, timeout, poll, job)`; use
/// `.unwrap_or(default)` on the answer for the default).
///
/// With a zero `timeout` it answers at once. Otherwise, while the
/// annotation is absent, the host re-checks every `min(poll, time left)`
/// and answers `None` once `timeout` has passed; the wait holds no host
/// thread. Durations are taken in whole milliseconds, at most `u32::MAX`.
///
/// Errors: the job does not exist (kind `context`), or the value is not a
/// `T` (kind `json`).
pub fn get_live_annotation<T: DeserializeOwned>(
    name: &str,
    timeout: Duration,
    poll: Duration,
    job: Option<&JobId>,
) -> Result<Option<T>, Error> {
    let json =
        sys::get_live_annotation(name, millis(timeout), millis(poll), job.map(JobId::as_str))
            .map_err(|e| Error::context("get_live_annotation", e))?;
    json.map(|json| {
        serde_json::from_str(&json).map_err(|e| Error::json(format!("annotation `{name}`: {e}")))
    })
    .transpose()
}

/// Puts a new job (zc.async `queue.put`) and returns its id. Return
/// [`Await`](crate::Await) with the id to make this job's result that
/// job's result.
///
/// Errors: a request built with mixed or non-JSON arguments (kind
/// `bad-arguments`), or the host refuses it (kind `context`: unknown
/// module or queue, empty function name).
pub fn put(request: JobRequest) -> Result<JobId, Error> {
    let wire = request.to_wire()?;
    sys::put(&wire)
        .map(JobId::new)
        .map_err(|e| Error::context("put", e))
}

/// The most requests one [`put_many`] takes: the host's batch maximum
/// (as `POST /v1/jobs/batch`).
pub const PUT_MANY_MAX: usize = 10_000;

/// What [`put_many`] answers for one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PutAnswer {
    /// The job put; with `duplicate`, the job holding the request's
    /// uniqueness key.
    pub id: JobId,
    /// True when nothing was inserted for this request: its
    /// [`unique`](JobRequest::unique) key was held, by a job already in
    /// the queue or by an earlier request of the same list.
    pub duplicate: bool,
}

/// Puts every job of `requests` all or none, in one transaction, and
/// returns one [`PutAnswer`] per request in the order given, once all are
/// committed: far cheaper than as many [`put`]s for a fan-out. Each
/// request is checked as `put` checks it; the list counts against the
/// run's fan-out cap as that many puts. An empty list puts nothing.
///
/// ```no_run
/// use wasync_guest::{Error, JobId, JobRequest};
///
/// fn fan_out(n: u32) -> Result<Vec<JobId>, Error> {
///     let requests = (0..n).map(|i| JobRequest::new("square").arg(i));
///     let answers = wasync_guest::put_many(requests)?;
///     Ok(answers.into_iter().map(|a| a.id).collect())
/// }
/// ```
///
/// Errors: a request built with mixed or non-JSON arguments (kind
/// `bad-arguments`, naming its index), or the host refuses the list (kind
/// `context`): more than [`PUT_MANY_MAX`] requests (split the list), a
/// [`broadcast`](JobRequest::broadcast) request (put it alone), or what
/// `put` refuses, naming the first request at fault (`item 3: ...`,
/// counted from 0). Nothing of the list is stored then.
pub fn put_many(requests: impl IntoIterator<Item = JobRequest>) -> Result<Vec<PutAnswer>, Error> {
    let requests: Vec<JobRequest> = requests.into_iter().collect();
    let wires = requests
        .iter()
        .enumerate()
        .map(|(index, request)| {
            request.to_wire().map_err(|e| Error {
                message: format!("item {index}: {}", e.message),
                ..e
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let answers = sys::put_many(&wires).map_err(|e| Error::context("put_many", e))?;
    Ok(answers
        .into_iter()
        .map(|(id, duplicate)| PutAnswer {
            id: JobId::new(id),
            duplicate,
        })
        .collect())
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_saturate() {
        assert_eq!(millis(Duration::from_micros(1500)), 1);
        assert_eq!(millis(Duration::from_secs(u64::MAX)), u32::MAX);
    }
}
