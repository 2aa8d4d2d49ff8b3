//! The parameters of the schedule operations of [`Store`](super::Store),
//! and the conflict of a put for an occurrence already put.

use super::Error;
use crate::model::{
    CatchUp, JobId, Schedule, ScheduleId, ScheduleJob, ScheduleRun, Timestamp, Timing,
};

/// The [`Error::Conflict`] of a put for a schedule occurrence that job
/// `put` already has.
pub fn occurrence_taken(run: ScheduleRun, put: JobId) -> Error {
    Error::Conflict(format!(
        "schedule {} already put its occurrence of {} (job {put})",
        run.schedule_id,
        run.occurrence
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    ))
}

/// Replaces a schedule's definition, if it is still at `version`.
#[derive(Debug, Clone)]
pub struct ScheduleUpdateParams {
    /// The schedule.
    pub id: ScheduleId,
    /// The version the caller read: the update is refused
    /// ([`Error::Conflict`]) if any write came in between.
    pub version: u64,
    /// The job it puts.
    pub job: ScheduleJob,
    /// When.
    pub timing: Timing,
    /// Missed occurrences.
    pub catch_up: CatchUp,
    /// Paused when false.
    pub active: bool,
    /// How long a take locks it, in ms.
    pub retry_delay_ms: u64,
    /// The next call time. When it differs from the stored one, a lock a
    /// scheduler holds is released (that scheduler's advance is refused).
    pub next_call_time: Option<Timestamp>,
    /// Now.
    pub now: Timestamp,
}

/// Takes due schedules for one scheduler (m01.remote's
/// `pullNextSchedulerItem`).
#[derive(Debug, Clone)]
pub struct ScheduleTakeParams {
    /// The scheduler taking them (`host:pid:id`).
    pub holder: String,
    /// The most to take.
    pub limit: u32,
    /// Now: schedules with `next_call_time <= now` whose lock is free or
    /// expired (`retry_time <= now`) are due.
    pub now: Timestamp,
}

/// A scheduler's hold on a schedule it took: what its later writes are
/// guarded by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleLock {
    /// The schedule.
    pub id: ScheduleId,
    /// The scheduler that took it.
    pub holder: String,
    /// The `next_call_time` it took.
    pub taken: Timestamp,
    /// The `retry_time` its take set.
    pub retry_time: Timestamp,
}

impl ScheduleLock {
    /// The lock a take gave on `schedule` (as [`Store::schedule_take_many`](super::Store::schedule_take_many)
    /// returned it); `None` if it holds none.
    pub fn of(schedule: &Schedule) -> Option<ScheduleLock> {
        Some(ScheduleLock {
            id: schedule.id,
            holder: schedule.holder.clone()?,
            taken: schedule.next_call_time?,
            retry_time: schedule.retry_time?,
        })
    }
}

/// Moves a taken schedule on once its occurrences are put.
#[derive(Debug, Clone)]
pub struct ScheduleAdvanceParams {
    /// The take.
    pub lock: ScheduleLock,
    /// The next call time.
    pub next_call_time: Option<Timestamp>,
    /// The last occurrence put.
    pub last_call_time: Timestamp,
}
