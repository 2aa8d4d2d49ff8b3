//! Reading rows back into domain types, the small encodings every SQL
//! module shares (times as BIGINT milliseconds, JSON as `json` text bound
//! as `text`, statuses as SQL literals), and the SQLSTATE codes the backend
//! turns into [`Error::Conflict`] / [`Error::NotFound`] or retries.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::clock;
use crate::model::{DispatcherId, Job, JobId, ScheduleId, ScheduleRun};
pub(super) use crate::store::sql::{JOB_COLUMNS, begin_by, corrupt, digest, lit, ms, to_u32};
use crate::store::{Error, Result};

/// A JSON value as the text bound for a `json` column (`$n::json`).
///
/// Bound as text, not as sqlx's JSON (which PostgreSQL would parse as
/// `jsonb` first, refusing `\u0000` in strings).
pub(super) fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("domain values serialize to JSON")
}

/// A `json` column read as a domain type.
pub(super) fn from_json<T: DeserializeOwned>(
    table: &'static str,
    column: &str,
    value: Value,
) -> Result<T> {
    serde_json::from_value(value).map_err(|e| corrupt(table, format!("{column}: {e}")))
}

/// A guest's output tail as stored: its UTF-8 bytes (`bytea`, since
/// `text` cannot hold NUL), `None` when empty.
pub(super) fn output(s: &str) -> Option<&[u8]> {
    (!s.is_empty()).then_some(s.as_bytes())
}

/// An output tail read back.
fn output_text(bytes: Option<Vec<u8>>) -> Result<Option<String>> {
    bytes
        .map(|b| String::from_utf8(b).map_err(|e| corrupt("jobs", format!("output: {e}"))))
        .transpose()
}

/// A job row (as selected with [`JOB_COLUMNS`]) and its queue position.
pub(super) fn job(row: &PgRow) -> Result<(i64, Job)> {
    const T: &str = "jobs";
    let status: String = row.try_get(2)?;
    let job = Job {
        id: JobId(row.try_get(0)?),
        queue: row.try_get(1)?,
        status: status.parse().map_err(|e| corrupt(T, e))?,
        module: digest(T, row.try_get(3)?)?,
        module_name: row.try_get(4)?,
        function: row.try_get(5)?,
        args: row.try_get(6)?,
        limits: row
            .try_get::<Option<Value>, _>(7)?
            .map(|v| from_json(T, "limits", v))
            .transpose()?
            .unwrap_or_default(),
        begin_after: clock::from_millis(row.try_get(8)?),
        scheduled: row.try_get(9)?,
        begin_by_ms: row
            .try_get::<Option<i64>, _>(10)?
            .map(|v| u64::try_from(v).map_err(|_| corrupt(T, "negative begin_by_ms")))
            .transpose()?,
        result: row.try_get(11)?,
        failure: row
            .try_get::<Option<Value>, _>(12)?
            .map(|v| from_json(T, "failure", v))
            .transpose()?,
        awaiting: row.try_get::<Option<Uuid>, _>(13)?.map(JobId),
        parent: row.try_get::<Option<Uuid>, _>(14)?.map(JobId),
        attempts: to_u32(T, "attempts", row.try_get(15)?)?,
        dispatcher: row.try_get::<Option<Uuid>, _>(16)?.map(DispatcherId),
        agent: row.try_get(17)?,
        created_at: clock::from_millis(row.try_get(18)?),
        started_at: row.try_get::<Option<i64>, _>(19)?.map(clock::from_millis),
        completed_at: row.try_get::<Option<i64>, _>(20)?.map(clock::from_millis),
        stdout: output_text(row.try_get(21)?)?,
        stderr: output_text(row.try_get(22)?)?,
        quota_names: row
            .try_get::<Option<Vec<String>>, _>(24)?
            .unwrap_or_default(),
        quota_keys: Default::default(),
        schedule: schedule_run(row.try_get(25)?, row.try_get(26)?),
        retry: row
            .try_get::<Option<Value>, _>(27)?
            .map(|v| from_json(T, "retry", v))
            .transpose()?,
        priority: row.try_get(28)?,
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

/// SQLSTATE codes this backend acts on.
pub(super) mod sqlstate {
    /// `unique_violation`.
    pub const UNIQUE: &str = "23505";
    /// `not_null_violation`.
    pub const NOT_NULL: &str = "23502";
    /// `duplicate_schema`.
    pub const DUPLICATE_SCHEMA: &str = "42P06";
    /// `serialization_failure`.
    pub const SERIALIZATION: &str = "40001";
    /// `deadlock_detected`.
    pub const DEADLOCK: &str = "40P01";
}

/// The SQLSTATE of a database error, and the constraint or column it names.
pub(super) fn db_error(e: &sqlx::Error) -> Option<(String, Option<String>)> {
    let db = e.as_database_error()?;
    let code = db.code()?.into_owned();
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
    let what = db
        .constraint()
        .map(str::to_owned)
        .or_else(|| pg.and_then(|p| p.column()).map(str::to_owned));
    Some((code, what))
}

/// True when `e` has SQLSTATE `code`.
pub(super) fn is(e: &sqlx::Error, code: &str) -> bool {
    db_error(e).is_some_and(|(c, _)| c == code)
}

/// True when `e` has SQLSTATE `code` and names `constraint`.
pub(super) fn names(e: &sqlx::Error, code: &str, constraint: &str) -> bool {
    db_error(e).is_some_and(|(c, what)| c == code && what.as_deref() == Some(constraint))
}

/// How many times a transaction that PostgreSQL aborted to break a
/// deadlock (or a serialization failure) is run again.
pub(super) const ATTEMPTS: usize = 5;

/// Runs `attempt` again (up to [`ATTEMPTS`] times in all) while it fails
/// with a deadlock or a serialization failure: PostgreSQL aborts one of two
/// transactions that wait for each other, and the second run sees what the
/// other committed.
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(Error::Database(e))
                if tries < ATTEMPTS
                    && (is(&e, sqlstate::DEADLOCK) || is(&e, sqlstate::SERIALIZATION)) =>
            {
                tracing::debug!(error = %e, tries, "transaction aborted by the database; retrying");
                tries += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(json_text(&serde_json::json!("a\u{0}b")), r#""a\u0000b""#);
        assert_eq!(output(""), None);
        assert_eq!(output("x\0"), Some(&b"x\0"[..]));
    }
}
