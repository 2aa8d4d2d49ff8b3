//! Recurring schedules in the store: the parameters of the schedule
//! operations of [`Store`](super::Store), the conflict of a put for an
//! occurrence already put, and the operations themselves (definitions,
//! and the take / advance / fail cycle of a scheduler), written once for
//! both backends. Advance and fail are compare-and-set writes guarded by
//! the take (holder, lock and occurrence).

use async_trait::async_trait;
use tracing::instrument;

use super::sql::{JOB_COLUMNS, corrupt, jobs_of, ms};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow};
use super::{Error, Result};
use crate::clock;
use crate::model::{
    CatchUp, Job, JobId, JobLimits, JobSpec, NewSchedule, Schedule, ScheduleId, ScheduleRun,
    Timestamp, Timing,
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
    pub job: JobSpec,
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

/// Takes due schedules for one scheduler.
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
    /// The lock a take gave on `schedule` (as [`ScheduleStore::schedule_take_many`]
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

/// The schedule operations: recurring schedules and the take / advance /
/// fail cycle of a scheduler. Written once for every SQL backend (the
/// blanket implementation below); each backend gives only its connections
/// ([`SqlBackend`]).
#[async_trait]
pub trait ScheduleStore: Send + Sync + std::fmt::Debug {
    /// Stores a new schedule. [`Error::Conflict`] if its name is taken.
    async fn schedule_insert(&self, schedule: &NewSchedule) -> Result<Schedule>;
    /// A schedule by name.
    async fn schedule_get(&self, name: &str) -> Result<Schedule>;
    /// All schedules, by name.
    async fn schedule_list(&self) -> Result<Vec<Schedule>>;
    /// Replaces a schedule's definition if it is still at the version
    /// read ([`Error::Conflict`] otherwise; [`Error::NotFound`] if gone).
    async fn schedule_update(&self, params: ScheduleUpdateParams) -> Result<Schedule>;
    /// Deletes a schedule by name. The jobs it put stay (and keep its id).
    async fn schedule_delete(&self, name: &str) -> Result<()>;
    /// Takes up to `limit` due schedules, earliest first, in one atomic
    /// statement: each gets `retry_time = now + retry_delay_ms` and
    /// `holder`. No schedule is taken by two schedulers before its
    /// `retry_time`, whatever the number of processes. Returns them as
    /// taken ([`ScheduleLock::of`] gives each lock).
    async fn schedule_take_many(&self, params: ScheduleTakeParams) -> Result<Vec<Schedule>>;
    /// Sets the next call time of a taken schedule, clears its lock and
    /// its last error, records the last occurrence put. False (nothing
    /// written) if the take no longer holds: the lock expired and another
    /// scheduler took it, or an update moved or deleted it.
    async fn schedule_advance(&self, params: ScheduleAdvanceParams) -> Result<bool>;
    /// Records why putting a taken schedule's job failed, keeping the lock
    /// (the schedule is tried again after `retry_time`). False if the take
    /// no longer holds.
    async fn schedule_fail(&self, lock: &ScheduleLock, error: &str) -> Result<bool>;
    /// When the next active schedule becomes due (the later of its next
    /// call time and its lock's expiry); `None` if none is active.
    async fn schedule_next_due(&self) -> Result<Option<Timestamp>>;
    /// The jobs a schedule put, latest occurrence first.
    async fn schedule_runs(&self, schedule: ScheduleId, limit: u32) -> Result<Vec<Job>>;
    /// The job put for a schedule occurrence, if one was.
    async fn schedule_job(&self, run: ScheduleRun) -> Result<Option<JobId>>;
}

#[async_trait]
impl<B: SqlBackend> ScheduleStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn schedule_insert(&self, schedule: &NewSchedule) -> Result<Schedule> {
        insert(&mut self.writes(), schedule).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_get(&self, name: &str) -> Result<Schedule> {
        get(&mut self.reads(), name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_list(&self) -> Result<Vec<Schedule>> {
        list(&mut self.reads()).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_update(&self, params: ScheduleUpdateParams) -> Result<Schedule> {
        update(&mut self.writes(), &params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_delete(&self, name: &str) -> Result<()> {
        delete(&mut self.writes(), name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_take_many(&self, params: ScheduleTakeParams) -> Result<Vec<Schedule>> {
        take_many(&mut self.writes(), &params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_advance(&self, params: ScheduleAdvanceParams) -> Result<bool> {
        advance(&mut self.writes(), &params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_fail(&self, lock: &ScheduleLock, error: &str) -> Result<bool> {
        fail(&mut self.writes(), lock, error).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_next_due(&self) -> Result<Option<Timestamp>> {
        next_due(&mut self.reads()).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_runs(&self, schedule: ScheduleId, limit: u32) -> Result<Vec<Job>> {
        runs(&mut self.reads(), schedule, limit).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn schedule_job(&self, run: ScheduleRun) -> Result<Option<JobId>> {
        run_of(&mut self.reads(), run).await
    }
}

// ----- the operations, written once for both backends -----

const T: &str = "schedules";

/// The columns of a schedule, in the order [`schedule`] reads them.
const COLUMNS: &str = "id, name, queue, module, function, args, limits, begin_by_ms, timing, \
     catch_up, active, retry_delay_ms, next_call_time, retry_time, holder, last_call_time, \
     last_error, version, created_at, updated_at, priority, quota_keys";

/// A schedule row (as selected with [`COLUMNS`]).
fn schedule(r: &SqlRow) -> Result<Schedule> {
    let nonnegative = |column: &str, v: i64| {
        u64::try_from(v).map_err(|_| corrupt(T, format!("negative {column}")))
    };
    Ok(Schedule {
        id: ScheduleId(r.id(0)?),
        name: r.text(1)?,
        job: JobSpec {
            queue: Some(r.text(2)?),
            module: Some(r.text(3)?),
            function: r.text(4)?,
            args: r.json(5)?,
            limits: r.opt_json::<JobLimits>(6)?.unwrap_or_default(),
            begin_by_ms: r
                .opt_int(7)?
                .map(|v| nonnegative("begin_by_ms", v))
                .transpose()?,
            priority: super::sql::priority(r.int(20)?)?,
            quota_keys: r.opt_json(21)?.unwrap_or_default(),
            ..JobSpec::default()
        },
        timing: r.json(8)?,
        catch_up: r.text(9)?.parse::<CatchUp>().map_err(|e| corrupt(T, e))?,
        active: r.bool(10)?,
        retry_delay_ms: nonnegative("retry_delay_ms", r.int(11)?)?,
        next_call_time: r.opt_int(12)?.map(clock::from_millis),
        retry_time: r.opt_int(13)?.map(clock::from_millis),
        holder: r.opt_text(14)?,
        last_call_time: r.opt_int(15)?.map(clock::from_millis),
        last_error: r.opt_text(16)?,
        version: nonnegative("version", r.int(17)?)?,
        created_at: clock::from_millis(r.int(18)?),
        updated_at: clock::from_millis(r.int(19)?),
    })
}

fn what(name: &str) -> String {
    format!("schedule `{name}`")
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("schedule values serialize to JSON")
}

/// A schedule's job and timing as bound (`?3` … `?13` and `?16` of
/// insert and update).
struct Definition {
    args: String,
    limits: Option<String>,
    timing: String,
    quota_keys: Option<String>,
}

impl Definition {
    fn of(job: &JobSpec, timing: &Timing) -> Definition {
        Definition {
            args: json_text(&job.args),
            limits: (!job.limits.is_empty()).then(|| json_text(&job.limits)),
            timing: json_text(timing),
            quota_keys: (!job.quota_keys.is_empty()).then(|| json_text(&job.quota_keys)),
        }
    }
}

/// Stores a new schedule.
pub(crate) async fn insert<C: SqlConn + ?Sized>(conn: &mut C, s: &NewSchedule) -> Result<Schedule> {
    static INSERT: Sql = Sql::new(|d| {
        format!(
            "INSERT INTO schedules (id, name, queue, module, function, args, limits, \
             begin_by_ms, timing, catch_up, active, retry_delay_ms, next_call_time, version, \
             created_at, updated_at, priority, quota_keys) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6{json}, ?7{json}, ?8, ?9{json}, ?10, ?11, ?12, ?13, \
               1, ?14, ?14, ?15, ?16) \
             RETURNING {COLUMNS}",
            json = d.json
        )
    });
    let def = Definition::of(&s.job, &s.timing);
    let args = [
        Arg::Id(s.id.0),
        Arg::Text(&s.name),
        Arg::Text(s.job.queue_ref()),
        Arg::Text(s.job.module_ref()),
        Arg::Text(&s.job.function),
        Arg::Json(&def.args),
        Arg::OptText(def.limits.as_deref()),
        Arg::OptInt(s.job.begin_by_ms.map(to_i64)),
        Arg::Json(&def.timing),
        Arg::Text(s.catch_up.as_str()),
        Arg::Bool(s.active),
        Arg::Int(to_i64(s.retry_delay_ms)),
        Arg::OptInt(s.next_call_time.map(ms)),
        Arg::Int(ms(s.created_at)),
        Arg::Int(i64::from(s.job.priority)),
        Arg::OptText(def.quota_keys.as_deref()),
    ];
    let sql = INSERT.text(conn.dialect());
    match conn.fetch_optional(T, sql, &args).await {
        Ok(Some(r)) => schedule(&r),
        Ok(None) => Err(Error::not_found(what(&s.name))),
        Err(Error::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
            Err(Error::Conflict(format!("{} already exists", what(&s.name))))
        }
        Err(e) => Err(e),
    }
}

/// A schedule by name.
pub(crate) async fn get<C: SqlConn + ?Sized>(conn: &mut C, name: &str) -> Result<Schedule> {
    let sql = conn
        .dialect()
        .render(&format!("SELECT {COLUMNS} FROM schedules WHERE name = ?1"));
    let r = conn.fetch_optional(T, &sql, &[Arg::Text(name)]).await?;
    schedule(&r.ok_or_else(|| Error::not_found(what(name)))?)
}

/// Every schedule, by name.
pub(crate) async fn list<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Vec<Schedule>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM schedules ORDER BY name{}",
        conn.dialect().binary_order
    );
    let rows = conn.fetch_all(T, &sql, &[]).await?;
    rows.iter().map(schedule).collect()
}

/// Replaces a definition, if still at the version read. The lock stays
/// when the next call time does not change (a scheduler putting that
/// occurrence may advance it), and goes when it does (that scheduler's
/// advance is then refused).
pub(crate) async fn update<C: SqlConn + ?Sized>(
    conn: &mut C,
    p: &ScheduleUpdateParams,
) -> Result<Schedule> {
    static UPDATE: Sql = Sql::new(|d| {
        format!(
            "UPDATE schedules SET queue = ?3, module = ?4, function = ?5, args = ?6{json}, \
             limits = ?7{json}, begin_by_ms = ?8, timing = ?9{json}, catch_up = ?10, \
             active = ?11, retry_delay_ms = ?12, \
             retry_time = CASE WHEN next_call_time {same} ?13 THEN retry_time END, \
             next_call_time = ?13, version = version + 1, updated_at = ?14, priority = ?15, \
             quota_keys = ?16 \
             WHERE id = ?1 AND version = ?2 RETURNING {COLUMNS}",
            json = d.json,
            same = d.same,
        )
    });
    let def = Definition::of(&p.job, &p.timing);
    let args = [
        Arg::Id(p.id.0),
        Arg::Int(to_i64(p.version)),
        Arg::Text(p.job.queue_ref()),
        Arg::Text(p.job.module_ref()),
        Arg::Text(&p.job.function),
        Arg::Json(&def.args),
        Arg::OptText(def.limits.as_deref()),
        Arg::OptInt(p.job.begin_by_ms.map(to_i64)),
        Arg::Json(&def.timing),
        Arg::Text(p.catch_up.as_str()),
        Arg::Bool(p.active),
        Arg::Int(to_i64(p.retry_delay_ms)),
        Arg::OptInt(p.next_call_time.map(ms)),
        Arg::Int(ms(p.now)),
        Arg::Int(i64::from(p.job.priority)),
        Arg::OptText(def.quota_keys.as_deref()),
    ];
    let sql = UPDATE.text(conn.dialect());
    if let Some(r) = conn.fetch_optional(T, sql, &args).await? {
        return schedule(&r);
    }
    let sql = conn
        .dialect()
        .render("SELECT 1 FROM schedules WHERE id = ?1");
    Err(
        match conn.fetch_optional(T, &sql, &[Arg::Id(p.id.0)]).await? {
            Some(_) => Error::Conflict(format!(
                "schedule {} changed since version {} was read",
                p.id, p.version
            )),
            None => Error::not_found(format!("schedule {}", p.id)),
        },
    )
}

/// Deletes a schedule by name.
pub(crate) async fn delete<C: SqlConn + ?Sized>(conn: &mut C, name: &str) -> Result<()> {
    let sql = conn
        .dialect()
        .render("DELETE FROM schedules WHERE name = ?1");
    if conn.execute(&sql, &[Arg::Text(name)]).await? == 0 {
        return Err(Error::not_found(what(name)));
    }
    Ok(())
}

/// Takes due schedules, earliest first: active, `next_call_time <= now`,
/// lock free or expired; the new lock counts from now, not from the
/// occurrence. One statement: SQLite runs it
/// under its one write lock; PostgreSQL picks the rows `FOR UPDATE SKIP
/// LOCKED` in a `MATERIALIZED` CTE (as the job claim does), so a schedule
/// another scheduler is taking is skipped, never waited for, and one it
/// took and committed is no longer due when the row is re-checked.
pub(crate) async fn take_many<C: SqlConn + ?Sized>(
    conn: &mut C,
    p: &ScheduleTakeParams,
) -> Result<Vec<Schedule>> {
    static TAKE: Sql = Sql::new(|d| {
        if d.locks_rows() {
            format!(
                "WITH picked AS MATERIALIZED ( \
                   SELECT id AS picked_id FROM schedules \
                   WHERE active AND next_call_time <= ?1 \
                   AND (retry_time IS NULL OR retry_time <= ?1) \
                   ORDER BY next_call_time LIMIT ?3{skip}) \
                 UPDATE schedules SET retry_time = ?1 + retry_delay_ms, holder = ?2, \
                   version = version + 1 \
                 FROM picked WHERE schedules.id = picked.picked_id \
                 RETURNING {COLUMNS}",
                skip = d.skip_locked
            )
        } else {
            format!(
                "UPDATE schedules SET retry_time = ?1 + retry_delay_ms, holder = ?2, \
                 version = version + 1 \
                 WHERE id IN (SELECT id FROM schedules WHERE active = {truth} \
                   AND next_call_time <= ?1 AND (retry_time IS NULL OR retry_time <= ?1) \
                   ORDER BY next_call_time LIMIT ?3) \
                 RETURNING {COLUMNS}",
                truth = d.truth
            )
        }
    });
    let args = [
        Arg::Int(ms(p.now)),
        Arg::Text(&p.holder),
        Arg::Int(i64::from(p.limit)),
    ];
    let sql = TAKE.text(conn.dialect());
    let rows = conn.fetch_all(T, sql, &args).await?;
    let mut taken = rows.iter().map(schedule).collect::<Result<Vec<_>>>()?;
    taken.sort_by_key(|s| (s.next_call_time, s.id));
    Ok(taken)
}

/// The guard of a write by the scheduler that took a schedule (`?1` …
/// `?4`, [`held`]).
const HELD: &str = "id = ?1 AND holder = ?2 AND retry_time = ?3 AND next_call_time = ?4";

fn held(lock: &ScheduleLock) -> [Arg<'_>; 4] {
    [
        Arg::Id(lock.id.0),
        Arg::Text(&lock.holder),
        Arg::Int(ms(lock.retry_time)),
        Arg::Int(ms(lock.taken)),
    ]
}

/// Moves a taken schedule on, if the take still holds.
pub(crate) async fn advance<C: SqlConn + ?Sized>(
    conn: &mut C,
    p: &ScheduleAdvanceParams,
) -> Result<bool> {
    let sql = conn.dialect().render(&format!(
        "UPDATE schedules SET next_call_time = ?5, retry_time = NULL, last_call_time = ?6, \
         last_error = NULL, version = version + 1 WHERE {HELD}"
    ));
    let [a, b, c, d] = held(&p.lock);
    let args = [
        a,
        b,
        c,
        d,
        Arg::OptInt(p.next_call_time.map(ms)),
        Arg::Int(ms(p.last_call_time)),
    ];
    Ok(conn.execute(&sql, &args).await? == 1)
}

/// Records a failed put, if the take still holds.
pub(crate) async fn fail<C: SqlConn + ?Sized>(
    conn: &mut C,
    lock: &ScheduleLock,
    error: &str,
) -> Result<bool> {
    let sql = conn.dialect().render(&format!(
        "UPDATE schedules SET last_error = ?5, version = version + 1 WHERE {HELD}"
    ));
    let [a, b, c, d] = held(lock);
    Ok(conn.execute(&sql, &[a, b, c, d, Arg::Text(error)]).await? == 1)
}

/// When the next active schedule is due: the later of its next call time
/// and its lock's expiry.
pub(crate) async fn next_due<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Option<Timestamp>> {
    let d = conn.dialect();
    let sql = format!(
        "SELECT min({greatest}(next_call_time, coalesce(retry_time, next_call_time))) \
         FROM schedules WHERE active = {truth} AND next_call_time IS NOT NULL",
        greatest = d.greatest,
        truth = d.truth
    );
    let row = conn.fetch_optional(T, &sql, &[]).await?;
    Ok(row
        .map(|r| r.opt_int(0))
        .transpose()?
        .flatten()
        .map(clock::from_millis))
}

/// A schedule's jobs, latest occurrence first.
pub(crate) async fn runs<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: ScheduleId,
    limit: u32,
) -> Result<Vec<Job>> {
    let sql = conn.dialect().render(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE schedule_id = ?1 \
         ORDER BY occurrence DESC LIMIT ?2"
    ));
    let args = [Arg::Id(id.0), Arg::Int(i64::from(limit))];
    let rows = conn.fetch_all("jobs", &sql, &args).await?;
    jobs_of(&rows)
}

/// The job put for a schedule occurrence, if any.
pub(crate) async fn run_of<C: SqlConn + ?Sized>(
    conn: &mut C,
    run: ScheduleRun,
) -> Result<Option<JobId>> {
    let sql = conn
        .dialect()
        .render("SELECT id FROM jobs WHERE schedule_id = ?1 AND occurrence = ?2");
    let args = [Arg::Id(run.schedule_id.0), Arg::Int(ms(run.occurrence))];
    let row = conn.fetch_optional("jobs", &sql, &args).await?;
    row.map(|r| Ok(JobId(r.id(0)?))).transpose()
}
