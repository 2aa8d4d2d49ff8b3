//! `schedules`: definitions, and the take / advance / fail cycle of a
//! scheduler, for many machines at once.
//!
//! The take picks due schedules `FOR UPDATE SKIP LOCKED` in a
//! `MATERIALIZED` CTE (as the job claim does) and locks them in the same
//! statement: a schedule another scheduler is taking right now is skipped,
//! never waited for, and one it took and committed is no longer due when
//! PostgreSQL re-checks the row it locks (`READ COMMITTED` re-reads the
//! latest version of a locked row). Advance and fail are compare-and-set
//! writes guarded by the take (holder, lock and occurrence).

use std::sync::LazyLock;

use serde_json::Value;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::PgStore;
use super::row::{self, JOB_COLUMNS, from_json, json_text, ms, sqlstate};
use crate::clock;
use crate::model::{
    CatchUp, Job, JobId, JobLimits, NewSchedule, Schedule, ScheduleId, ScheduleJob, ScheduleRun,
    Timestamp,
};
use crate::store::{
    Error, Result, ScheduleAdvanceParams, ScheduleLock, ScheduleTakeParams, ScheduleUpdateParams,
};

const T: &str = "schedules";

/// The columns of a schedule, in the order [`schedule`] reads them.
const COLUMNS: &str = "id, name, queue, module, function, args, limits, begin_by_ms, timing, \
     catch_up, active, retry_delay_ms, next_call_time, retry_time, holder, last_call_time, \
     last_error, version, created_at, updated_at";

static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO schedules (id, name, queue, module, function, args, limits, begin_by_ms, \
         timing, catch_up, active, retry_delay_ms, next_call_time, version, created_at, \
         updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6::json, $7::json, $8, $9::json, $10, $11, $12, $13, 1, \
           $14, $14) \
         RETURNING {COLUMNS}"
    )
});

static GET: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM schedules WHERE name = $1"));

static LIST: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {COLUMNS} FROM schedules ORDER BY name COLLATE \"C\""));

/// The lock stays when the next call time does not change (a scheduler
/// putting that occurrence may advance it), and goes when it does.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE schedules SET queue = $3, module = $4, function = $5, args = $6::json, \
         limits = $7::json, begin_by_ms = $8, timing = $9::json, catch_up = $10, active = $11, \
         retry_delay_ms = $12, \
         retry_time = CASE WHEN next_call_time IS NOT DISTINCT FROM $13 THEN retry_time END, \
         next_call_time = $13, version = version + 1, updated_at = $14 \
         WHERE id = $1 AND version = $2 RETURNING {COLUMNS}"
    )
});

/// Due: active, `next_call_time <= now`, lock free or expired. The new
/// lock counts from now.
static TAKE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH picked AS MATERIALIZED ( \
           SELECT id AS picked_id FROM schedules \
           WHERE active AND next_call_time <= $1 AND (retry_time IS NULL OR retry_time <= $1) \
           ORDER BY next_call_time LIMIT $3 \
           FOR UPDATE SKIP LOCKED) \
         UPDATE schedules SET retry_time = $1 + retry_delay_ms, holder = $2, \
           version = version + 1 \
         FROM picked WHERE schedules.id = picked.picked_id \
         RETURNING {COLUMNS}"
    )
});

const HELD: &str = "id = $1 AND holder = $2 AND retry_time = $3 AND next_call_time = $4";

static ADVANCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE schedules SET next_call_time = $5, retry_time = NULL, last_call_time = $6, \
         last_error = NULL, version = version + 1 WHERE {HELD}"
    )
});

static FAIL: LazyLock<String> = LazyLock::new(|| {
    format!("UPDATE schedules SET last_error = $5, version = version + 1 WHERE {HELD}")
});

static RUNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE schedule_id = $1 \
         ORDER BY occurrence DESC LIMIT $2"
    )
});

/// A schedule row (as selected with [`COLUMNS`]).
fn schedule(r: &PgRow) -> Result<Schedule> {
    let catch_up: String = r.try_get(9)?;
    let nonnegative = |column: &str, v: i64| {
        u64::try_from(v).map_err(|_| row::corrupt(T, format!("negative {column}")))
    };
    Ok(Schedule {
        id: ScheduleId(r.try_get(0)?),
        name: r.try_get(1)?,
        job: ScheduleJob {
            queue: r.try_get(2)?,
            module: r.try_get(3)?,
            function: r.try_get(4)?,
            args: r.try_get(5)?,
            limits: r
                .try_get::<Option<Value>, _>(6)?
                .map(|v| from_json::<JobLimits>(T, "limits", v))
                .transpose()?
                .unwrap_or_default(),
            begin_by_ms: r
                .try_get::<Option<i64>, _>(7)?
                .map(|v| nonnegative("begin_by_ms", v))
                .transpose()?,
        },
        timing: from_json(T, "timing", r.try_get(8)?)?,
        catch_up: catch_up
            .parse::<CatchUp>()
            .map_err(|e| row::corrupt(T, e))?,
        active: r.try_get(10)?,
        retry_delay_ms: nonnegative("retry_delay_ms", r.try_get(11)?)?,
        next_call_time: r.try_get::<Option<i64>, _>(12)?.map(clock::from_millis),
        retry_time: r.try_get::<Option<i64>, _>(13)?.map(clock::from_millis),
        holder: r.try_get(14)?,
        last_call_time: r.try_get::<Option<i64>, _>(15)?.map(clock::from_millis),
        last_error: r.try_get(16)?,
        version: nonnegative("version", r.try_get(17)?)?,
        created_at: clock::from_millis(r.try_get(18)?),
        updated_at: clock::from_millis(r.try_get(19)?),
    })
}

fn limits_text(limits: &JobLimits) -> Option<String> {
    (!limits.is_empty()).then(|| json_text(limits))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn what(name: &str) -> String {
    format!("schedule `{name}`")
}

/// Stores a new schedule.
pub(super) async fn insert(db: &PgStore, s: &NewSchedule) -> Result<Schedule> {
    let result = sqlx::query(&INSERT)
        .bind(s.id.0)
        .bind(&s.name)
        .bind(&s.job.queue)
        .bind(&s.job.module)
        .bind(&s.job.function)
        .bind(json_text(&s.job.args))
        .bind(limits_text(&s.job.limits))
        .bind(s.job.begin_by_ms.map(to_i64))
        .bind(json_text(&s.timing))
        .bind(s.catch_up.as_str())
        .bind(s.active)
        .bind(to_i64(s.retry_delay_ms))
        .bind(s.next_call_time.map(ms))
        .bind(ms(s.created_at))
        .fetch_one(&db.pool)
        .await;
    match result {
        Ok(r) => schedule(&r),
        Err(e) if row::is(&e, sqlstate::UNIQUE) => {
            Err(Error::Conflict(format!("{} already exists", what(&s.name))))
        }
        Err(e) => Err(e.into()),
    }
}

/// A schedule by name.
pub(super) async fn get(db: &PgStore, name: &str) -> Result<Schedule> {
    let r = sqlx::query(&GET)
        .bind(name)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::not_found(what(name)))?;
    schedule(&r)
}

/// Every schedule, by name.
pub(super) async fn list(db: &PgStore) -> Result<Vec<Schedule>> {
    let rows = sqlx::query(&LIST).fetch_all(&db.pool).await?;
    rows.iter().map(schedule).collect()
}

/// Replaces a definition, if still at the version read.
pub(super) async fn update(db: &PgStore, p: ScheduleUpdateParams) -> Result<Schedule> {
    let r = sqlx::query(&UPDATE)
        .bind(p.id.0)
        .bind(to_i64(p.version))
        .bind(&p.job.queue)
        .bind(&p.job.module)
        .bind(&p.job.function)
        .bind(json_text(&p.job.args))
        .bind(limits_text(&p.job.limits))
        .bind(p.job.begin_by_ms.map(to_i64))
        .bind(json_text(&p.timing))
        .bind(p.catch_up.as_str())
        .bind(p.active)
        .bind(to_i64(p.retry_delay_ms))
        .bind(p.next_call_time.map(ms))
        .bind(ms(p.now))
        .fetch_optional(&db.pool)
        .await?;
    match r {
        Some(r) => schedule(&r),
        None => {
            let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM schedules WHERE id = $1")
                .bind(p.id.0)
                .fetch_optional(&db.pool)
                .await?;
            Err(match exists {
                Some(_) => Error::Conflict(format!(
                    "schedule {} changed since version {} was read",
                    p.id, p.version
                )),
                None => Error::not_found(format!("schedule {}", p.id)),
            })
        }
    }
}

/// Deletes a schedule by name.
pub(super) async fn delete(db: &PgStore, name: &str) -> Result<()> {
    let deleted = sqlx::query("DELETE FROM schedules WHERE name = $1")
        .bind(name)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(Error::not_found(what(name)));
    }
    Ok(())
}

/// Takes due schedules, earliest first.
pub(super) async fn take_many(db: &PgStore, p: ScheduleTakeParams) -> Result<Vec<Schedule>> {
    let rows = sqlx::query(&TAKE)
        .bind(ms(p.now))
        .bind(&p.holder)
        .bind(i64::from(p.limit))
        .fetch_all(&db.pool)
        .await?;
    let mut taken = rows.iter().map(schedule).collect::<Result<Vec<_>>>()?;
    taken.sort_by_key(|s| (s.next_call_time, s.id));
    Ok(taken)
}

fn held<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    lock: &'q ScheduleLock,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(lock.id.0)
        .bind(&lock.holder)
        .bind(ms(lock.retry_time))
        .bind(ms(lock.taken))
}

/// Moves a taken schedule on, if the take still holds.
pub(super) async fn advance(db: &PgStore, p: ScheduleAdvanceParams) -> Result<bool> {
    let done = held(sqlx::query(&ADVANCE), &p.lock)
        .bind(p.next_call_time.map(ms))
        .bind(ms(p.last_call_time))
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(done == 1)
}

/// Records a failed put, if the take still holds.
pub(super) async fn fail(db: &PgStore, lock: &ScheduleLock, error: &str) -> Result<bool> {
    let done = held(sqlx::query(&FAIL), lock)
        .bind(error)
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(done == 1)
}

/// When the next active schedule is due (`GREATEST` ignores a NULL lock).
pub(super) async fn next_due(db: &PgStore) -> Result<Option<Timestamp>> {
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT min(GREATEST(next_call_time, retry_time)) FROM schedules \
         WHERE active AND next_call_time IS NOT NULL",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok(due.map(clock::from_millis))
}

/// A schedule's jobs, latest occurrence first.
pub(super) async fn runs(db: &PgStore, id: ScheduleId, limit: u32) -> Result<Vec<Job>> {
    let rows = sqlx::query(&RUNS)
        .bind(id.0)
        .bind(i64::from(limit))
        .fetch_all(&db.pool)
        .await?;
    row::jobs(&rows)
}

/// The job put for a schedule occurrence, if any.
pub(super) async fn run_of(db: &PgStore, run: ScheduleRun) -> Result<Option<JobId>> {
    let id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE schedule_id = $1 AND occurrence = $2")
            .bind(run.schedule_id.0)
            .bind(ms(run.occurrence))
            .fetch_optional(&db.pool)
            .await?;
    Ok(id.map(JobId))
}
