//! Callbacks and composites from inside a job (zc.async `addCallback`,
//! `addCallbacks`, `serial`, `parallel`).
//!
//! A callback is a job put once the job it hangs on has its outcome, with
//! that outcome appended to its positional arguments (or under `outcome`
//! for named ones): the value itself, or the failure as a JSON object
//! `{"kind", "message", "detail"?, ...}`. A composite runs its parts one
//! after another ([`CompositeKind::Serial`]) or all at once
//! ([`CompositeKind::Parallel`]), then its postprocess with every part's
//! outcome appended in part order (under `outcomes` for named
//! arguments); its result is the postprocess's.
//!
//! ```no_run
//! use wasync_guest::{Await, CallbackOn, CompositeKind, Error, JobRequest};
//!
//! // zc.async's parallel example: three parts, then their sum.
//! fn main_job() -> Result<Await, Error> {
//!     let parts = ["job_a", "job_b", "job_c"].map(JobRequest::new).to_vec();
//!     let composite = wasync_guest::put_composite(
//!         CompositeKind::Parallel,
//!         parts,
//!         JobRequest::new("sum"),
//!     )?;
//!     wasync_guest::add_callback(&composite, CallbackOn::Failure, JobRequest::new("alert"))?;
//!     Ok(Await(composite))
//! }
//! ```

use crate::{Error, JobId, JobRequest, sys};

/// On which outcome of its job a callback runs its function; otherwise it
/// does not run and completes with the outcome unchanged (passing it on to
/// its own callbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CallbackOn {
    /// Whatever the outcome (zc.async `addCallback`).
    #[default]
    Always,
    /// Only a value (`addCallbacks(success=...)`).
    Success,
    /// Only a failure (`addCallbacks(failure=...)`).
    Failure,
}

/// zc.async's composites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompositeKind {
    /// One part after another.
    Serial,
    /// Every part at once.
    Parallel,
}

/// Adds a callback to `job` (this job, one it put, any job); returns the
/// callback's id, to which callbacks can be added in turn (chains).
///
/// Errors: kind `context` when the host refuses it (unknown job, module or
/// queue), kind `bad-arguments` for a request built with mixed arguments.
pub fn add_callback(job: &JobId, on: CallbackOn, callback: JobRequest) -> Result<JobId, Error> {
    let wire = callback.to_wire()?;
    sys::add_callback(job.as_str(), on, &wire)
        .map(JobId::new)
        .map_err(|e| Error::context("add_callback", e))
}

/// Puts a composite of `parts` and `postprocess` (in the postprocess's
/// queue, as soon as possible) and returns its id. Return
/// [`Await`](crate::Await) with it to make this job's result the
/// postprocess's.
///
/// Errors: as [`add_callback`], for any of the requests.
pub fn put_composite(
    kind: CompositeKind,
    parts: Vec<JobRequest>,
    postprocess: JobRequest,
) -> Result<JobId, Error> {
    let parts = parts
        .iter()
        .map(JobRequest::to_wire)
        .collect::<Result<Vec<_>, _>>()?;
    let postprocess = postprocess.to_wire()?;
    sys::put_composite(kind, &parts, &postprocess)
        .map(JobId::new)
        .map_err(|e| Error::context("put_composite", e))
}

/// Adds a part, last, to `composite` (zc.async: appending to the
/// composite's `args`): before it starts, from a part while it runs, or
/// from a callback of a part before that part begins. `callbacks` are
/// added to the part with it, atomically: a part of a running `parallel`
/// is put at once, and a callback added afterwards could come after its
/// outcome. Returns the part's id.
///
/// Errors: kind `context` when `composite` is not one, or has already put
/// its postprocess; as [`add_callback`] otherwise.
pub fn add_part(
    composite: &JobId,
    part: JobRequest,
    callbacks: Vec<(CallbackOn, JobRequest)>,
) -> Result<JobId, Error> {
    let wire = part.to_wire()?;
    let callbacks = callbacks
        .iter()
        .map(|(on, request)| Ok((*on, request.to_wire()?)))
        .collect::<Result<Vec<_>, Error>>()?;
    sys::add_part(composite.as_str(), &wire, &callbacks)
        .map(JobId::new)
        .map_err(|e| Error::context("add_part", e))
}

/// Creates a job that waits in no queue (zc.async's `Job(f)` before
/// `queue.put(job)`) and returns its id: [`append_args`] puts it. A job
/// may await it meanwhile.
///
/// Errors: as [`add_callback`].
pub fn put_held(request: JobRequest) -> Result<JobId, Error> {
    let wire = request.to_wire()?;
    sys::put_held(&wire)
        .map(JobId::new)
        .map_err(|e| Error::context("put_held", e))
}

/// Appends `values` to the positional arguments of a job made by
/// [`put_held`] and puts it once it has at least `put_when` arguments
/// (zc.async's `job.args.append(result); if len(job.args) == 3:
/// queue.put(job)`), atomically. Returns how many arguments it has now.
///
/// Errors: kind `json` when a value is not JSON; kind `context` when the
/// job is not a held job not yet put.
pub fn append_args<T: serde::Serialize>(
    job: &JobId,
    values: &[T],
    put_when: u32,
) -> Result<u32, Error> {
    let json =
        serde_json::to_string(values).map_err(|e| Error::json(format!("append_args: {e}")))?;
    sys::append_args(job.as_str(), &json, put_when).map_err(|e| Error::context("append_args", e))
}
