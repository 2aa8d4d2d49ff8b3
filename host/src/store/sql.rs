//! The SQL glue both backends share: the job column list, the encodings
//! every statement uses (statuses as literals, times as milliseconds,
//! capped `begin_by_ms`), the status fragments settling writes with, and
//! the errors for rows that cannot be read back. Each backend's `row.rs`
//! re-exports what it uses and adds its own encodings (ids, JSON, output).

use super::statement::SqlRow;
use crate::clock;
use crate::model::{
    DispatcherId, Job, JobId, JobStatus, ModuleDigest, ScheduleId, ScheduleRun, Timestamp,
    Transition,
};
use crate::store::{Error, Result};

/// The columns of a job, in the order each backend's `row::job` reads
/// them. `seq` (the queue position) is read apart; the quota names and the
/// schedule link follow it.
pub(crate) const JOB_COLUMNS: &str = "id, queue, status, module, module_name, function, args, \
     limits, begin_after, scheduled, begin_by_ms, result, failure, awaiting, parent, attempts, \
     dispatcher, agent, created_at, started_at, completed_at, stdout, stderr, seq, quota_names, \
     schedule_id, occurrence, retry, priority";

/// The largest `begin_by_ms` stored: about 73 million years, as good as
/// "never", and small enough that `begin_after + begin_by_ms` (the
/// deadline, computed in SQL) never overflows a 64-bit integer.
pub(crate) const BEGIN_BY_STORED_MAX: i64 = i64::MAX / 4;

/// `begin_by_ms` as stored: capped at [`BEGIN_BY_STORED_MAX`].
pub(crate) fn begin_by(ms: Option<u64>) -> Option<i64> {
    ms.map(|v| {
        i64::try_from(v)
            .unwrap_or(i64::MAX)
            .min(BEGIN_BY_STORED_MAX)
    })
}

/// A status as an SQL string literal, e.g. `'pending'`.
///
/// Statuses are written into the statement text rather than bound: the
/// partial indexes (`WHERE status = 'pending'`) are only usable when the
/// planner sees the value. A bound value that selects a partial index
/// makes SQLite re-prepare the statement at every execution, and once
/// PostgreSQL switches a prepared statement to its generic plan, a bound
/// status no longer selects the index at all. The literal still comes
/// from [`Transition::from`] / [`Transition::to`], so no status is spelled
/// by hand in SQL.
pub(crate) fn lit(status: JobStatus) -> String {
    format!("'{}'", status.as_str())
}

/// Milliseconds since the epoch: how every backend stores a time.
pub(crate) fn ms(t: Timestamp) -> i64 {
    clock::to_millis(t)
}

/// A `u64` as the `i64` with the same bits, for values SQL only stores and
/// never compares (caps, intervals).
pub(crate) fn u64_bits(v: u64) -> i64 {
    v as i64
}

/// The inverse of [`u64_bits`].
pub(crate) fn from_u64_bits(v: i64) -> u64 {
    v as u64
}

/// A [`Error::Corrupt`] for `table`.
pub(crate) fn corrupt(table: &'static str, message: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        table,
        message: message.to_string(),
    }
}

/// Parses a stored digest.
pub(crate) fn digest(table: &'static str, text: String) -> Result<ModuleDigest> {
    text.parse().map_err(|e| corrupt(table, e))
}

/// A non-negative integer column as `u32`.
pub(crate) fn to_u32(table: &'static str, column: &str, v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(table, format!("{column} out of range: {v}")))
}

/// A `priority` column as the `i32` it was stored from.
pub(crate) fn priority(v: i64) -> Result<i32> {
    i32::try_from(v).map_err(|_| corrupt("jobs", format!("priority out of range: {v}")))
}

/// A job row (as selected with [`JOB_COLUMNS`]) and its queue position,
/// from either backend.
pub(crate) fn job_of(r: &SqlRow) -> Result<(i64, Job)> {
    const T: &str = "jobs";
    let job = Job {
        id: JobId(r.id(0)?),
        queue: r.text(1)?,
        status: r.text(2)?.parse().map_err(|e| corrupt(T, e))?,
        module: digest(T, r.text(3)?)?,
        module_name: r.opt_text(4)?,
        function: r.text(5)?,
        args: r.json(6)?,
        limits: r.opt_json(7)?.unwrap_or_default(),
        begin_after: clock::from_millis(r.int(8)?),
        scheduled: r.bool(9)?,
        begin_by_ms: r
            .opt_int(10)?
            .map(|v| u64::try_from(v).map_err(|_| corrupt(T, "negative begin_by_ms")))
            .transpose()?,
        result: r.opt_json(11)?,
        failure: r.opt_json(12)?,
        awaiting: r.opt_id(13)?.map(JobId),
        parent: r.opt_id(14)?.map(JobId),
        attempts: to_u32(T, "attempts", r.int(15)?)?,
        dispatcher: r.opt_id(16)?.map(DispatcherId),
        agent: r.opt_text(17)?,
        created_at: clock::from_millis(r.int(18)?),
        started_at: r.opt_int(19)?.map(clock::from_millis),
        completed_at: r.opt_int(20)?.map(clock::from_millis),
        stdout: r.opt_output(21)?,
        stderr: r.opt_output(22)?,
        quota_names: r.opt_texts(24)?.unwrap_or_default(),
        quota_keys: Default::default(),
        schedule: r
            .opt_id(25)?
            .zip(r.opt_int(26)?)
            .map(|(id, occurrence)| ScheduleRun {
                schedule_id: ScheduleId(id),
                occurrence: clock::from_millis(occurrence),
            }),
        retry: r.opt_json(27)?,
        priority: priority(r.int(28)?)?,
    };
    Ok((r.int(23)?, job.with_quota_keys()))
}

/// Job rows without their positions.
pub(crate) fn jobs_of(rows: &[SqlRow]) -> Result<Vec<Job>> {
    rows.iter().map(|r| job_of(r).map(|(_, j)| j)).collect()
}

/// How errors name a queue: "the default queue", "queue `video`".
pub(crate) fn queue_what(name: &str) -> String {
    if name == crate::model::DEFAULT_QUEUE {
        "the default queue".to_owned()
    } else {
        format!("queue `{name}`")
    }
}

/// A failure count read back as the count including one more failure (the
/// run being decided), saturating.
pub(crate) fn one_more(count: i64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX - 1) + 1
}

/// "A callback of `job` that is not completed (nor cancelled)": while one
/// is, the `…WithCallbacks` twin of a transition applies.
pub(crate) fn callbacks_pending(job: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM jobs AS cb WHERE cb.callback_of = {job}.id \
         AND cb.status NOT IN ({done}))",
        done = [JobStatus::Completed, JobStatus::Cancelled]
            .map(lit)
            .join(", ")
    )
}

/// The status a job gets from `t`: its `…WithCallbacks` twin when a
/// callback of it is not completed.
pub(crate) fn settled_status(t: Transition, job: &str) -> String {
    format!(
        "CASE WHEN {pending} THEN {with} ELSE {without} END",
        pending = callbacks_pending(job),
        with = lit(t.with_callbacks().to()),
        without = lit(t.to()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        for v in [0, 1, i64::MAX as u64, u64::MAX] {
            assert_eq!(from_u64_bits(u64_bits(v)), v);
        }
        assert_eq!(lit(JobStatus::Pending), "'pending'");
        assert_eq!(JOB_COLUMNS.split(", ").count(), 29);
        assert_eq!(begin_by(Some(u64::MAX)), Some(BEGIN_BY_STORED_MAX));
        assert!(BEGIN_BY_STORED_MAX.checked_add(4_000_000_000_000).is_some());
        assert_eq!(one_more(0), 1);
        assert_eq!(one_more(i64::MAX), u32::MAX);
    }
}
