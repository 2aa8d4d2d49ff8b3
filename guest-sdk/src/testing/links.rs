//! The fake's callbacks and composites: each is recorded (and its jobs
//! put through the fake `put`, so they show in
//! [`puts`](super::FakeContext::puts) too); nothing runs by itself, a
//! test runs what it wants with [`run_put`](super::FakeContext::run_put).

use super::{FakeContext, WireRequest};
use crate::{CallbackOn, CompositeKind, JobId};

/// A callback added through the fake `add_callback`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRecord {
    /// The job it hangs on.
    pub job: JobId,
    /// Its branch.
    pub on: CallbackOn,
    /// The callback job (a [`PutRecord`](super::PutRecord) of the same id).
    pub callback: JobId,
}

/// A composite put through the fake `put_composite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompositeRecord {
    /// The composite's id.
    pub id: JobId,
    /// Serial or parallel.
    pub kind: CompositeKind,
    /// Its parts, in order (initial ones, then those added).
    pub parts: Vec<JobId>,
    /// Its postprocess.
    pub postprocess: JobId,
}

impl FakeContext {
    /// The arguments of a job made by `put_held` while it is not put yet
    /// (`None` once `append_args` has put it, or for any other job).
    pub fn held_args(&self, job: &JobId) -> Option<Vec<serde_json::Value>> {
        self.lock().held.get(job).cloned()
    }

    fn live_put_held(&self, request: &WireRequest<'_>) -> Result<String, String> {
        let id = self.live_put(request)?;
        let args = match serde_json::from_str(&request.args) {
            Ok(serde_json::Value::Array(items)) => items,
            _ => return Err("a held job takes positional arguments".into()),
        };
        self.lock().held.insert(JobId::new(id.clone()), args);
        Ok(id)
    }

    fn live_append_args(&self, job: &str, args: &str, put_when: u32) -> Result<u32, String> {
        let values: Vec<serde_json::Value> =
            serde_json::from_str(args).map_err(|e| format!("arguments: {e}"))?;
        let job = JobId::new(job);
        let mut state = self.lock();
        let held = state
            .held
            .get_mut(&job)
            .ok_or_else(|| format!("job {job} is not a held job not yet put"))?;
        held.extend(values);
        let count = u32::try_from(held.len()).unwrap_or(u32::MAX);
        if count >= put_when {
            let args = serde_json::Value::Array(state.held.remove(&job).unwrap_or_default());
            if let Some(put) = state.puts.iter_mut().find(|p| p.id == job) {
                put.args = args.clone();
            }
            if let Some(info) = state.jobs.get_mut(&job) {
                info.args = args;
            }
        }
        Ok(count)
    }

    /// Every callback added so far, in order.
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.lock().callbacks.clone()
    }

    /// Every composite put so far, with its parts as they are now.
    pub fn composites(&self) -> Vec<CompositeRecord> {
        self.lock().composites.clone()
    }

    fn live_add_callback(
        &self,
        job: &str,
        on: CallbackOn,
        request: &WireRequest<'_>,
    ) -> Result<String, String> {
        let job = JobId::new(job);
        self.lock().known(&job)?;
        let callback = self.live_put(request)?;
        self.lock().callbacks.push(CallbackRecord {
            job,
            on,
            callback: JobId::new(callback.clone()),
        });
        Ok(callback)
    }

    fn live_put_composite(
        &self,
        kind: CompositeKind,
        parts: &[WireRequest<'_>],
        postprocess: &WireRequest<'_>,
    ) -> Result<String, String> {
        let parts = parts
            .iter()
            .map(|p| self.live_put(p).map(JobId::new))
            .collect::<Result<Vec<_>, _>>()?;
        let postprocess = JobId::new(self.live_put(postprocess)?);
        let mut state = self.lock();
        let template = state.jobs[&self.job].clone();
        let id = state.new_job(Some(&template));
        state.composites.push(CompositeRecord {
            id: id.clone(),
            kind,
            parts,
            postprocess,
        });
        Ok(id.into_string())
    }

    fn live_add_part(
        &self,
        composite: &str,
        request: &WireRequest<'_>,
        callbacks: &[(CallbackOn, WireRequest<'_>)],
    ) -> Result<String, String> {
        let composite = JobId::new(composite);
        if !self.lock().composites.iter().any(|c| c.id == composite) {
            return Err(format!("job {composite} is not a composite"));
        }
        let part = JobId::new(self.live_put(request)?);
        for (on, callback) in callbacks {
            self.live_add_callback(part.as_str(), *on, callback)?;
        }
        let mut state = self.lock();
        let record = state
            .composites
            .iter_mut()
            .find(|c| c.id == composite)
            .expect("checked above");
        record.parts.push(part.clone());
        Ok(part.into_string())
    }
}

/// The native `context` calls of this module.
pub(crate) mod sys {
    use super::super::sys::current;
    use super::WireRequest;
    use crate::{CallbackOn, CompositeKind};

    const NOT_INITIALIZED: &str = "not initialized: natively, the context exists only in a job \
                                   run by wasync_guest::testing";

    pub(crate) fn add_callback(
        job: &str,
        on: CallbackOn,
        request: &WireRequest<'_>,
    ) -> Result<String, String> {
        current()
            .ok_or(NOT_INITIALIZED)?
            .live_add_callback(job, on, request)
    }

    pub(crate) fn put_composite(
        kind: CompositeKind,
        parts: &[WireRequest<'_>],
        postprocess: &WireRequest<'_>,
    ) -> Result<String, String> {
        current()
            .ok_or(NOT_INITIALIZED)?
            .live_put_composite(kind, parts, postprocess)
    }

    pub(crate) fn put_held(request: &WireRequest<'_>) -> Result<String, String> {
        current().ok_or(NOT_INITIALIZED)?.live_put_held(request)
    }

    pub(crate) fn append_args(job: &str, args: &str, put_when: u32) -> Result<u32, String> {
        current()
            .ok_or(NOT_INITIALIZED)?
            .live_append_args(job, args, put_when)
    }

    pub(crate) fn add_part(
        composite: &str,
        request: &WireRequest<'_>,
        callbacks: &[(CallbackOn, WireRequest<'_>)],
    ) -> Result<String, String> {
        current()
            .ok_or(NOT_INITIALIZED)?
            .live_add_part(composite, request, callbacks)
    }
}
