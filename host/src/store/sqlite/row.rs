//! Reading rows back into domain types, and the small encodings every SQL
//! module shares: ids as 16-byte blobs (hex in JSON batches), times as
//! integer milliseconds, JSON as text, statuses as SQL literals.

use serde::de::DeserializeOwned;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::clock;
use crate::model::{DispatcherId, Job, JobId, ScheduleId, ScheduleRun};
use crate::store::Result;
pub(super) use crate::store::sql::{
    JOB_COLUMNS, begin_by, corrupt, digest, lit, ms, priority, to_u32,
};

/// A job's quota names as stored: a JSON array, or NULL for none.
pub(super) fn quota_names(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| serde_json::Value::from(names).to_string())
}

/// A job id as 32 lowercase hex digits, the form JSON batches carry
/// (`unhex()` in SQL turns it back into the stored blob).
pub(super) fn hex(id: Uuid) -> String {
    id.simple().to_string()
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
        quota_keys: Default::default(),
        schedule: schedule_run(row.try_get(25)?, row.try_get(26)?),
        retry: json_opt(T, "retry", row.try_get(27)?)?,
        priority: priority(row.try_get(28)?)?,
    };
    Ok((row.try_get(23)?, job.with_quota_keys()))
}

/// The schedule link of a job row (both columns or neither).
pub(super) fn schedule_run(id: Option<Uuid>, occurrence: Option<i64>) -> Option<ScheduleRun> {
    Some(ScheduleRun {
        schedule_id: ScheduleId(id?),
        occurrence: clock::from_millis(occurrence?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = Uuid::now_v7();
        assert_eq!(Uuid::parse_str(&hex(id)).unwrap(), id);
    }
}
