//! Schedules: create, list, show with their runs, update, pause and
//! resume, delete — and the put of one occurrence, which the scheduler
//! (`crate::schedule`) calls.
//!
//! Defaults:
//! - `active` is true (a new schedule runs unless told otherwise);
//! - `retry_delay` is 300 s, or half the delay for a Delay item
//!   shorter than 600 s; a Delay item's retry delay must be shorter than
//!   its delay;
//! - `catch_up` is `once`: after downtime, one run, not one per missed slot;
//! - a Delay item's first occurrence is one delay after its creation, a
//!   Cron item's the first matching minute after it; either can be given
//!   (`next_call_time`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::names::validate_schedule_name;
use super::{Error, Putter, Result, Service};
use crate::model::{
    CatchUp, Job, JobId, JobLimits, JobSpec, NewSchedule, Schedule, ScheduleId, ScheduleRun,
    Timestamp, Timing,
};
use crate::store::ScheduleUpdateParams;

/// The options a schedule's job keeps (any other is refused).
const SCHEDULE_KEEPS: &[&str] = &["limits", "begin_by", "priority", "quota_keys"];

/// The shortest delay of a Delay item.
pub const DELAY_MIN: Duration = Duration::from_secs(1);

/// The most runs a `show` lists.
pub const RUNS_LIMIT_MAX: u32 = 1000;

/// How many times an update reads and writes again when a scheduler wrote
/// the schedule in between.
const UPDATE_ATTEMPTS: usize = 10;

/// A new schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRequest {
    /// Its unique name.
    pub name: String,
    /// The job to put (the queue may be written `default`). A schedule
    /// keeps its module, function, arguments, queue, `limits`,
    /// `begin_by`, `priority` and `quota_keys`; any other option is
    /// refused.
    pub job: JobSpec,
    /// When. A cron spec is checked and normalised.
    pub timing: Timing,
    /// Default true.
    pub active: Option<bool>,
    /// Default [`CatchUp::Once`].
    pub catch_up: Option<CatchUp>,
    /// Default: see the module docs.
    pub retry_delay_ms: Option<u64>,
    /// The first occurrence; default: see the module docs.
    pub next_call_time: Option<Timestamp>,
}

/// Changes to a schedule: each given field replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulePatch {
    /// The queue.
    pub queue: Option<String>,
    /// The module, by digest or name.
    pub module: Option<String>,
    /// The job function.
    pub function: Option<String>,
    /// The arguments.
    pub args: Option<Value>,
    /// Resource requests.
    pub limits: Option<JobLimits>,
    /// The priority its jobs are put with.
    pub priority: Option<i32>,
    /// Its jobs' keys in partitioned quotas of their queue (an empty map
    /// removes them).
    pub quota_keys: Option<BTreeMap<String, String>>,
    /// `Some(None)` removes it.
    pub begin_by_ms: Option<Option<u64>>,
    /// New timing: the next occurrence is computed anew from now (unless
    /// `next_call_time` is given).
    pub timing: Option<Timing>,
    /// Pause (false) or resume (true). Resuming continues from the first
    /// occurrence still to come: occurrences missed while paused are not
    /// put.
    pub active: Option<bool>,
    /// Missed occurrences.
    pub catch_up: Option<CatchUp>,
    /// Lock duration.
    pub retry_delay_ms: Option<u64>,
    /// The next occurrence, explicitly.
    pub next_call_time: Option<Timestamp>,
}

/// What putting one occurrence did.
#[derive(Debug, Clone, PartialEq)]
pub enum OccurrencePut {
    /// The job was put.
    Put(Box<Job>),
    /// A job for this occurrence was put already (by a scheduler that took
    /// the schedule before and stopped before advancing it).
    AlreadyPut(JobId),
}

impl Service {
    /// Creates a schedule. The queue and the module must exist.
    pub async fn schedule_create(&self, request: ScheduleRequest) -> Result<Schedule> {
        validate_schedule_name(&request.name)?;
        let now = self.clock().now();
        let job = self.validated_job(request.job).await?;
        let timing = validated_timing(request.timing, now)?;
        let retry_delay_ms = retry_delay(&timing, request.retry_delay_ms)?;
        let next_call_time = match request.next_call_time {
            Some(at) => Some(at),
            None => timing.first_call(now),
        };
        let schedule = self
            .store()
            .schedule_insert(&NewSchedule {
                id: ScheduleId::new(),
                name: request.name,
                job,
                timing,
                catch_up: request.catch_up.unwrap_or_default(),
                active: request.active.unwrap_or(true),
                retry_delay_ms,
                next_call_time,
                created_at: now,
            })
            .await?;
        self.events().schedules_changed();
        Ok(schedule)
    }

    /// A schedule by name.
    pub async fn schedule_get(&self, name: &str) -> Result<Schedule> {
        Ok(self.store().schedule_get(name).await?)
    }

    /// Every schedule, by name.
    pub async fn schedule_list(&self) -> Result<Vec<Schedule>> {
        Ok(self.store().schedule_list().await?)
    }

    /// The jobs a schedule put, latest occurrence first (at most
    /// [`RUNS_LIMIT_MAX`]).
    pub async fn schedule_runs(&self, schedule: ScheduleId, limit: u32) -> Result<Vec<Job>> {
        Ok(self
            .store()
            .schedule_runs(schedule, limit.min(RUNS_LIMIT_MAX))
            .await?)
    }

    /// Changes a schedule. A scheduler writing it meanwhile (a take, an
    /// advance) makes the update read it again and reapply the patch.
    pub async fn schedule_update(&self, name: &str, patch: SchedulePatch) -> Result<Schedule> {
        let mut attempt = 1;
        loop {
            let current = self.store().schedule_get(name).await?;
            let params = self.patched(&current, patch.clone()).await?;
            match self.store().schedule_update(params).await {
                Err(crate::store::Error::Conflict(_)) if attempt < UPDATE_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
                Ok(updated) => {
                    self.events().schedules_changed();
                    return Ok(updated);
                }
            }
        }
    }

    /// Pauses a schedule: it puts nothing until resumed.
    pub async fn schedule_pause(&self, name: &str) -> Result<Schedule> {
        let patch = SchedulePatch {
            active: Some(false),
            ..Default::default()
        };
        self.schedule_update(name, patch).await
    }

    /// Resumes a schedule from its first occurrence still to come.
    pub async fn schedule_resume(&self, name: &str) -> Result<Schedule> {
        let patch = SchedulePatch {
            active: Some(true),
            ..Default::default()
        };
        self.schedule_update(name, patch).await
    }

    /// Deletes a schedule. The jobs it put stay, linked to its id.
    pub async fn schedule_delete(&self, name: &str) -> Result<()> {
        self.store().schedule_delete(name).await?;
        self.events().schedules_changed();
        Ok(())
    }

    /// Puts the job of `schedule` for `occurrence`, through the same
    /// validation and batching as every put. A job already put for that
    /// occurrence is not put again ([`OccurrencePut::AlreadyPut`]).
    pub async fn schedule_put(
        &self,
        schedule: &Schedule,
        occurrence: Timestamp,
    ) -> Result<OccurrencePut> {
        // Its creator's token: the put is checked against it.
        let by = Putter::with(self.schedule_authority(schedule.id).await?);
        let run = ScheduleRun {
            schedule_id: schedule.id,
            occurrence,
        };
        match self.put_for_schedule(schedule.job.clone(), &by, run).await {
            Ok(job) => Ok(OccurrencePut::Put(Box::new(job))),
            Err(error @ Error::Conflict(_)) => match self.store().schedule_job(run).await? {
                Some(id) => Ok(OccurrencePut::AlreadyPut(id)),
                None => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    /// Checks a schedule's job as a put would, without putting it.
    async fn validated_job(&self, job: JobSpec) -> Result<JobSpec> {
        self.check_definition("a schedule's job", SCHEDULE_KEEPS, job)
            .await
    }

    /// The update that applies `patch` to `current`.
    async fn patched(
        &self,
        current: &Schedule,
        patch: SchedulePatch,
    ) -> Result<ScheduleUpdateParams> {
        let now = self.clock().now();
        let old = current.job.clone();
        let job_changed = patch.queue.is_some()
            || patch.module.is_some()
            || patch.function.is_some()
            || patch.args.is_some()
            || patch.limits.is_some()
            || patch.priority.is_some()
            || patch.quota_keys.is_some()
            || patch.begin_by_ms.is_some();
        let job = JobSpec {
            queue: patch.queue.or(old.queue),
            module: patch.module.or(old.module),
            function: patch.function.unwrap_or(old.function),
            args: patch.args.unwrap_or(old.args),
            limits: patch.limits.unwrap_or(old.limits),
            begin_by_ms: patch.begin_by_ms.unwrap_or(old.begin_by_ms),
            priority: patch.priority.unwrap_or(old.priority),
            quota_keys: patch.quota_keys.unwrap_or(old.quota_keys),
            ..JobSpec::default()
        };
        let job = if job_changed {
            self.validated_job(job).await?
        } else {
            job
        };
        let mut next_call_time = current.next_call_time;
        let timing = match patch.timing {
            Some(timing) => {
                let timing = validated_timing(timing, now)?;
                if timing != current.timing {
                    next_call_time = timing.first_call(now);
                }
                timing
            }
            None => current.timing.clone(),
        };
        let active = patch.active.unwrap_or(current.active);
        if active && !current.active {
            // Resume from the next slot: what was missed while paused is
            // not caught up (the pause was asked for).
            next_call_time = match next_call_time {
                Some(at) if at > now => Some(at),
                Some(at) => timing.slot_after(at, now),
                None => timing.first_call(now),
            };
        }
        if let Some(at) = patch.next_call_time {
            next_call_time = Some(at);
        }
        let retry_delay_ms = match patch.retry_delay_ms {
            Some(ms) => retry_delay(&timing, Some(ms))?,
            // A new delay may need a shorter lock than the one stored.
            None if matches!(timing, Timing::Delay { delay_ms } if current.retry_delay_ms >= delay_ms) => {
                timing.default_retry_delay_ms()
            }
            None => current.retry_delay_ms,
        };
        Ok(ScheduleUpdateParams {
            id: current.id,
            version: current.version,
            job,
            timing,
            catch_up: patch.catch_up.unwrap_or(current.catch_up),
            active,
            retry_delay_ms,
            next_call_time,
            now,
        })
    }
}

/// Checks a timing: a Delay of at least [`DELAY_MIN`], a cron spec that
/// matches some time (normalised).
fn validated_timing(timing: Timing, now: Timestamp) -> Result<Timing> {
    match timing {
        Timing::Delay { delay_ms } if delay_ms < DELAY_MIN.as_millis() as u64 => {
            Err(Error::Invalid(format!(
                "`delay` must be at least {} s, got {delay_ms} ms",
                DELAY_MIN.as_secs()
            )))
        }
        Timing::Delay { delay_ms } => Ok(Timing::Delay { delay_ms }),
        Timing::Cron { spec, expression } => Ok(Timing::Cron {
            spec: spec
                .validated(now)
                .map_err(|e| Error::Invalid(e.to_string()))?,
            expression,
        }),
    }
}

/// The retry delay to store: the given one (positive, and shorter than a
/// Delay item's delay) or the default.
fn retry_delay(timing: &Timing, given: Option<u64>) -> Result<u64> {
    let Some(ms) = given else {
        return Ok(timing.default_retry_delay_ms());
    };
    if ms == 0 {
        return Err(Error::Invalid("`retry_delay` must be positive".into()));
    }
    if let Timing::Delay { delay_ms } = timing
        && ms >= *delay_ms
    {
        return Err(Error::Invalid(format!(
            "`retry_delay` ({ms} ms) must be shorter than `delay` ({delay_ms} ms): \
             a scheduler's lock must expire before the next occurrence is due"
        )));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cron::CronSpec;

    #[test]
    fn delays_and_retry_delays_are_checked() {
        let now = crate::clock::from_millis(0);
        assert!(validated_timing(Timing::Delay { delay_ms: 999 }, now).is_err());
        let every_10s = validated_timing(Timing::Delay { delay_ms: 10_000 }, now).unwrap();
        assert_eq!(retry_delay(&every_10s, None).unwrap(), 5_000);
        assert_eq!(retry_delay(&every_10s, Some(9_999)).unwrap(), 9_999);
        let error = retry_delay(&every_10s, Some(10_000))
            .unwrap_err()
            .to_string();
        assert!(error.contains("shorter than `delay`"), "{error}");
        assert!(retry_delay(&every_10s, Some(0)).is_err());
        let cron = Timing::Cron {
            spec: CronSpec::parse("0 4 * * *").unwrap(),
            expression: None,
        };
        assert_eq!(retry_delay(&cron, None).unwrap(), 300_000);
        assert_eq!(retry_delay(&cron, Some(3_600_000)).unwrap(), 3_600_000);
        let never = Timing::Cron {
            spec: CronSpec {
                day_of_month: vec![31],
                month: vec![4],
                ..Default::default()
            },
            expression: None,
        };
        assert!(validated_timing(never, now).is_err());
    }
}
