//! Reading rows back into domain types, and the small encodings every SQL
//! module shares: ids as 16-byte blobs (hex in JSON batches), times as
//! integer milliseconds, JSON as text, statuses as SQL literals.

use serde::de::DeserializeOwned;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::clock;
use crate::model::{
    DispatcherId, Job, JobId, JobStatus, ModuleDigest, ScheduleId, ScheduleRun, Timestamp,
};
use crate::store::{Error, Result};

/// The columns of a job, in the order [`job`] reads them. `seq` (the
/// queue position) is read apart; the quota names and the schedule link
/// follow it.
pub(super) const JOB_COLUMNS: &str = "id, queue, status, module, module_name, function, args, \
     limits, begin_after, scheduled, begin_by_ms, result, failure, awaiting, parent, attempts, \
     dispatcher, agent, created_at, started_at, completed_at, stdout, stderr, seq, quota_names, \
     schedule_id, occurrence, retry";

/// The largest `begin_by_ms` stored: about 73 million years, as good as
/// "never", and small enough that `begin_after + begin_by_ms` (the
/// deadline, computed in SQL) never overflows.
pub(super) const BEGIN_BY_STORED_MAX: i64 = i64::MAX / 4;

/// `begin_by_ms` as stored: capped at [`BEGIN_BY_STORED_MAX`].
pub(super) fn begin_by(ms: Option<u64>) -> Option<i64> {
    ms.map(|v| {
        i64::try_from(v)
            .unwrap_or(i64::MAX)
            .min(BEGIN_BY_STORED_MAX)
    })
}

/// A job's quota names as stored: a JSON array, or NULL for none.
pub(super) fn quota_names(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| serde_json::Value::from(names).to_string())
}

/// A status as an SQL string literal, e.g. `'pending'`.
///
/// Statuses are written into the statement text rather than bound: the
/// partial indexes (`WHERE status = 'pending'`) are only usable when the
/// planner sees the value, and a bound value that selects a partial index
/// makes SQLite re-prepare the statement at every execution. The literal
/// still comes from [`Transition::from`](crate::model::Transition::from) /
/// [`Transition::to`](crate::model::Transition::to), so no status is
/// spelled by hand in SQL.
pub(super) fn lit(status: JobStatus) -> String {
    format!("'{}'", status.as_str())
}

/// A job id as 32 lowercase hex digits, the form JSON batches carry
/// (`unhex()` in SQL turns it back into the stored blob).
pub(super) fn hex(id: Uuid) -> String {
    id.simple().to_string()
}

/// Milliseconds since the epoch.
pub(super) fn ms(t: Timestamp) -> i64 {
    clock::to_millis(t)
}

/// A `u64` as the `i64` with the same bits, for values SQL only stores and
/// never compares (caps, intervals).
pub(super) fn u64_bits(v: u64) -> i64 {
    v as i64
}

/// The inverse of [`u64_bits`].
pub(super) fn from_u64_bits(v: i64) -> u64 {
    v as u64
}

/// A [`Error::Corrupt`] for `table`.
pub(super) fn corrupt(table: &'static str, message: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        table,
        message: message.to_string(),
    }
}

/// Parses a JSON text column.
pub(super) fn json<T: DeserializeOwned>(
    table: &'static str,
    column: &str,
    text: &str,
) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(table, format!("{column}: {e}")))
}

/// Parses an optional JSON text column.
fn json_opt<T: DeserializeOwned>(
    table: &'static str,
    column: &str,
    text: Option<String>,
) -> Result<Option<T>> {
    text.map(|t| json(table, column, &t)).transpose()
}

/// Parses a stored digest.
pub(super) fn digest(table: &'static str, text: String) -> Result<ModuleDigest> {
    text.parse().map_err(|e| corrupt(table, e))
}

/// A non-negative integer column as `u32`.
pub(super) fn to_u32(table: &'static str, column: &str, v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(table, format!("{column} out of range: {v}")))
}

/// A job row (as selected with [`JOB_COLUMNS`]) and its queue position.
pub(super) fn job(row: &SqliteRow) -> Result<(i64, Job)> {
    const T: &str = "jobs";
    let status: String = row.try_get(2)?;
    let job = Job {
        id: JobId(row.try_get(0)?),
        queue: row.try_get(1)?,
        status: status.parse().map_err(|e| corrupt(T, e))?,
        module: digest(T, row.try_get(3)?)?,
        module_name: row.try_get(4)?,
        function: row.try_get(5)?,
        args: json(T, "args", &row.try_get::<String, _>(6)?)?,
        limits: json_opt(T, "limits", row.try_get(7)?)?.unwrap_or_default(),
        begin_after: clock::from_millis(row.try_get(8)?),
        scheduled: row.try_get(9)?,
        begin_by_ms: row
            .try_get::<Option<i64>, _>(10)?
            .map(|v| u64::try_from(v).map_err(|_| corrupt(T, "negative begin_by_ms")))
            .transpose()?,
        result: json_opt(T, "result", row.try_get(11)?)?,
        failure: json_opt(T, "failure", row.try_get(12)?)?,
        awaiting: row.try_get::<Option<Uuid>, _>(13)?.map(JobId),
        parent: row.try_get::<Option<Uuid>, _>(14)?.map(JobId),
        attempts: to_u32(T, "attempts", row.try_get(15)?)?,
        dispatcher: row.try_get::<Option<Uuid>, _>(16)?.map(DispatcherId),
        agent: row.try_get(17)?,
        created_at: clock::from_millis(row.try_get(18)?),
        started_at: row.try_get::<Option<i64>, _>(19)?.map(clock::from_millis),
        completed_at: row.try_get::<Option<i64>, _>(20)?.map(clock::from_millis),
        stdout: row.try_get(21)?,
        stderr: row.try_get(22)?,
        quota_names: json_opt(T, "quota_names", row.try_get(24)?)?.unwrap_or_default(),
        schedule: schedule_run(row.try_get(25)?, row.try_get(26)?),
        retry: json_opt(T, "retry", row.try_get(27)?)?,
    };
    Ok((row.try_get(23)?, job))
}

/// The schedule link of a job row (both columns or neither).
pub(super) fn schedule_run(id: Option<Uuid>, occurrence: Option<i64>) -> Option<ScheduleRun> {
    Some(ScheduleRun {
        schedule_id: ScheduleId(id?),
        occurrence: clock::from_millis(occurrence?),
    })
}

/// Job rows without their positions.
pub(super) fn jobs(rows: &[SqliteRow]) -> Result<Vec<Job>> {
    rows.iter().map(|r| job(r).map(|(_, j)| j)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_bits_round_trip() {
        for v in [0, 1, i64::MAX as u64, u64::MAX] {
            assert_eq!(from_u64_bits(u64_bits(v)), v);
        }
        assert_eq!(lit(JobStatus::Pending), "'pending'");
        let id = Uuid::now_v7();
        assert_eq!(Uuid::parse_str(&hex(id)).unwrap(), id);
    }
}
