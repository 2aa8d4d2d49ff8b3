//! Changing a job before it is claimed: a pending job's `args`,
//! `begin_after`, `begin_by` and `quota_names` may be set until a
//! dispatcher takes it.

use serde_json::Value;

use super::job_checks::validate_args;
use super::timing::{JobTiming, check_begin_by};
use super::{Error, Events, Result, Service};
use crate::model::{Job, JobId, JobStatus, Timestamp, normalize_quota_names, stored_quota_names};
use crate::store::{JobExpireParams, JobUpdateParams, Store};

/// The most jobs one expiry pass completes.
pub(crate) const EXPIRE_BATCH_MAX: u32 = 1024;

/// What to change in a job; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobPatch {
    /// New arguments: a JSON array (positional) or object (named). A key
    /// derived from the old ones is derived again from these.
    pub args: Option<Value>,
    /// A new due time (`Some(None)`: as soon as possible). The job is
    /// placed in the queue as if put with it now.
    pub begin_after: Option<Option<Timestamp>>,
    /// A new `begin_by` in ms (`Some(None)`: none), counted from the job's
    /// `begin_after` (the new one, if that changes too).
    pub begin_by_ms: Option<Option<u64>>,
    /// New quota names; each must be a quota of the job's queue.
    pub quota_names: Option<Vec<String>>,
    /// A new priority (among due jobs of its queue, higher runs first).
    pub priority: Option<i32>,
}

impl JobPatch {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == JobPatch::default()
    }
}

impl Service {
    /// Changes a job that no dispatcher has claimed yet (status `pending`,
    /// or `new`: pulled or removed). [`Error::Conflict`] naming its status
    /// once it is claimed; [`Error::Invalid`] naming an unknown quota (the
    /// job is then unchanged). A job whose deadline has passed after the
    /// change is expired at once (it fails with `timeout`, never runs).
    /// New `args` derive the job's uniqueness key again when it was
    /// derived from its arguments; [`Error::UniqueKeyHeld`] when another
    /// job of its queue holds the new key (the database's index decides).
    pub async fn job_update(&self, id: JobId, patch: JobPatch) -> Result<Job> {
        let current = self.store().job_get(id).await?;
        if !matches!(current.status, JobStatus::Pending | JobStatus::New) {
            return Err(Error::Conflict(crate::store::not_changeable(&current)));
        }
        if patch.is_empty() {
            return Ok(current);
        }
        let args = patch.args.map(validate_args).transpose()?;
        let quota_names = match patch.quota_names {
            Some(names) => {
                let names = normalize_quota_names(names).map_err(Error::Invalid)?;
                self.check_quota_names(&current.queue, &names, &Default::default())
                    .await?;
                // The job keeps its key: a patch changes its plain names.
                Some(stored_quota_names(&names, &current.quota_keys))
            }
            None => None,
        };
        let begin_by_ms = match patch.begin_by_ms {
            Some(by) => Some(by.map(check_begin_by).transpose()?),
            None => None,
        };
        let now = self.clock().now();
        let mut update = JobUpdateParams {
            id,
            args,
            quota_names,
            priority: patch.priority,
            ..JobUpdateParams::default()
        };
        let by = begin_by_ms.unwrap_or(current.begin_by_ms);
        let expired = match patch.begin_after {
            Some(begin_after) => {
                let timing = JobTiming::at(begin_after, by, now);
                update.begin_after = Some((timing.begin_after, timing.scheduled));
                update.begin_by_ms = Some(timing.begin_by_ms);
                timing.expired
            }
            None => {
                update.begin_by_ms = begin_by_ms;
                let deadline =
                    by.map(|by| current.begin_after + chrono::TimeDelta::milliseconds(by as i64));
                deadline.is_some_and(|d| d < now)
            }
        };
        let job = self.store().job_update(update).await?;
        if expired && job.status == JobStatus::Pending {
            expire(&**self.store(), self.events(), &job.queue, now).await?;
            return Ok(self.store().job_get(id).await?);
        }
        self.events().work_available();
        Ok(job)
    }
}

/// Expires the queue's pending jobs past their deadline and wakes whoever
/// waits for them (or for the jobs awaiting them): after a change that
/// made a job's deadline pass, and by each dispatcher before it claims.
pub(crate) async fn expire(
    store: &dyn Store,
    events: &Events,
    queue: &str,
    now: Timestamp,
) -> crate::store::Result<Vec<JobId>> {
    let report = store
        .job_expire_many(JobExpireParams {
            queue: queue.to_owned(),
            now,
            limit: EXPIRE_BATCH_MAX,
        })
        .await?;
    let mut completed = report.expired;
    completed.extend(report.cascaded);
    if !completed.is_empty() {
        tracing::info!(%queue, jobs = completed.len(), "jobs expired: not started by their deadline");
        events.completed(&completed);
    }
    Ok(completed)
}
