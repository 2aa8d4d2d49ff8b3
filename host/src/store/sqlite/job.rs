//! `jobs`: puts, reads, pull, remove and put back. Claims
//! and starts are in `claim.rs`, finishes in `finish.rs`.

use std::sync::LazyLock;

use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use super::batch::{self, Statements};
use super::queue::{self, QUEUE_ORDER, QUEUE_ORDER_REVERSED};
use super::row::{self, JOB_COLUMNS, lit, ms};
use crate::clock;
use crate::model::{Failure, Job, JobId, JobStatus, NewJob, ScheduleRun, Transition};
use crate::store::statement::SqlBackend;
use crate::store::{
    Error, JobDetachParams, JobListParams, JobPullParams, JobPutBackParams, JobUpdateParams, Result,
};

/// A failure as the `failure` column stores it.
pub(super) fn job_failure_text(failure: &Failure) -> String {
    serde_json::to_string(failure).expect("a failure serializes to JSON")
}

/// Columns bound per inserted job (the last is its position in the batch).
const INSERT_COLUMNS: usize = 19;

/// Inserts a batch padded with NULL rows. The queue is looked up in the
/// statement: a missing queue leaves `queue` NULL and the NOT NULL
/// constraint aborts the whole statement (the queue has no foreign key,
/// see the migration). A job carrying a failure (`column14`) is one whose
/// deadline had passed at put: it goes in `completed` at once (a put and
/// an `Expire` in one step) and never runs.
fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO jobs (id, queue, status, module, module_name, function, args, limits, \
         begin_after, scheduled, begin_by_ms, parent, created_at, quota_names, failure, \
         completed_at, schedule_id, occurrence, retry, token) \
         SELECT v.column1, (SELECT q.name FROM queues AS q WHERE q.name = v.column2), \
         CASE WHEN v.column14 IS NULL THEN {pending} ELSE {expired} END, \
         v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, \
         v.column9, v.column10, v.column11, v.column12, v.column13, v.column14, \
         CASE WHEN v.column14 IS NULL THEN NULL ELSE v.column12 END, \
         v.column15, v.column16, v.column18, v.column19 \
         FROM (VALUES {values}) AS v WHERE v.column1 IS NOT NULL ORDER BY v.column17",
        pending = lit(Transition::Put.to()),
        expired = lit(Transition::Expire.to()),
        values = batch::values(rows, INSERT_COLUMNS),
    )
}

pub(super) static INSERT: Statements = Statements::new(insert_sql);

/// The job as the insert stores it (and as reading it back gives it).
fn inserted(job: &NewJob) -> Job {
    let (status, failure, completed_at) = if job.expired {
        let at = clock::from_millis(ms(job.created_at));
        (
            Transition::Expire.to(),
            Some(Failure::not_started()),
            Some(at),
        )
    } else {
        (Transition::Put.to(), None, None)
    };
    Job {
        id: job.id,
        queue: job.queue.clone(),
        status,
        module: job.module.clone(),
        module_name: job.module_name.clone(),
        function: job.function.clone(),
        args: job.args.clone(),
        limits: job.limits.clone(),
        begin_after: clock::from_millis(ms(job.begin_after)),
        scheduled: job.scheduled,
        begin_by_ms: row::begin_by(job.begin_by_ms).map(|v| v as u64),
        quota_names: job.quota_names.clone(),
        result: None,
        failure,
        awaiting: None,
        parent: job.parent,
        attempts: 0,
        dispatcher: None,
        agent: None,
        created_at: clock::from_millis(ms(job.created_at)),
        started_at: None,
        completed_at,
        stdout: None,
        stderr: None,
        schedule: job.schedule.map(|run| ScheduleRun {
            occurrence: clock::from_millis(ms(run.occurrence)),
            ..run
        }),
        retry: job.retry.clone(),
    }
}

/// A retry policy as the `retry` columns store it.
pub(super) fn retry_text(policy: Option<&crate::model::RetryPolicy>) -> Option<String> {
    policy.map(|p| serde_json::to_string(p).expect("a retry policy serializes to JSON"))
}

/// Inserts one chunk (at most [`batch::MAX_ROWS`] jobs) in one statement.
async fn insert_chunk(conn: &mut SqliteConnection, jobs: &[NewJob]) -> Result<(), sqlx::Error> {
    let rows = batch::bucket(jobs.len());
    let mut query = sqlx::query(INSERT.get(rows));
    let expired = job_failure_text(&Failure::not_started());
    for (position, job) in jobs.iter().enumerate() {
        let limits = (!job.limits.is_empty())
            .then(|| serde_json::to_string(&job.limits).expect("limits serialize to JSON"));
        query = query
            .bind(job.id.0)
            .bind(&job.queue)
            .bind(job.module.as_str())
            .bind(job.module_name.as_deref())
            .bind(&job.function)
            .bind(job.args.to_string())
            .bind(limits)
            .bind(ms(job.begin_after))
            .bind(job.scheduled)
            .bind(row::begin_by(job.begin_by_ms))
            .bind(job.parent.map(|p| p.0))
            .bind(ms(job.created_at))
            .bind(row::quota_names(&job.quota_names))
            .bind(job.expired.then_some(expired.as_str()))
            .bind(job.schedule.map(|run| run.schedule_id.0))
            .bind(job.schedule.map(|run| ms(run.occurrence)))
            .bind(position as i64)
            .bind(retry_text(job.retry.as_ref()))
            .bind(job.token.map(|t| t.0));
    }
    for _ in jobs.len() * INSERT_COLUMNS..rows * INSERT_COLUMNS {
        query = query.bind(None::<i64>);
    }
    let inserted = query.execute(&mut *conn).await?.rows_affected();
    debug_assert_eq!(inserted, jobs.len() as u64);
    Ok(())
}

pub(super) static GET: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"));

fn pull_sql(order: &str) -> String {
    let t = Transition::Detach;
    format!(
        "UPDATE jobs SET status = {to} WHERE seq = \
         (SELECT seq FROM jobs WHERE status = {from} AND queue = ?1 \
          ORDER BY {order} LIMIT 1 OFFSET ?2) \
         AND status = {from} RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
    )
}

pub(super) static PULL: LazyLock<String> = LazyLock::new(|| pull_sql(QUEUE_ORDER));
pub(super) static PULL_FROM_END: LazyLock<String> =
    LazyLock::new(|| pull_sql(QUEUE_ORDER_REVERSED));

pub(super) static DETACH: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Detach;
    format!(
        "UPDATE jobs SET status = {to} \
         WHERE id = ?1 AND status = {from} AND (?2 IS NULL OR queue = ?2) \
         RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

/// Back at the end of the queue: due now, not scheduled, and the next put
/// position.
pub(super) static PUT_BACK: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Put;
    format!(
        "UPDATE jobs SET status = {to}, \
         queue = (SELECT q.name FROM queues q WHERE q.name = ?2), \
         begin_after = ?3, scheduled = 0, seq = (SELECT max(seq) + 1 FROM jobs) \
         WHERE id = ?1 AND status = {from} RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

pub(super) static PENDING_COUNT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT count(*) FROM jobs WHERE status = {pending} AND queue = ?1",
        pending = lit(JobStatus::Pending)
    )
});

/// Inserts new pending jobs: one statement for up to
/// [`batch::MAX_ROWS`] jobs, larger batches in one transaction.
pub(super) async fn insert_many(db: &SqliteStore, jobs: &[NewJob]) -> Result<Vec<Job>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let written = if jobs.len() <= batch::MAX_ROWS {
        let mut conn = db.writer.acquire().await?;
        insert_chunk(&mut conn, jobs).await
    } else {
        let mut tx = db.begin().await?;
        let mut written = Ok(());
        for chunk in jobs.chunks(batch::MAX_ROWS) {
            written = insert_chunk(&mut tx, chunk).await;
            if written.is_err() {
                break;
            }
        }
        match written {
            Ok(()) => tx.commit().await,
            Err(e) => Err(e),
        }
    };
    match written {
        Ok(()) => Ok(jobs.iter().map(inserted).collect()),
        Err(e) => Err(explain_insert_failure(db, jobs, e).await),
    }
}

/// Turns a failed insert into the error that names its cause: a missing
/// queue or module, or an id already taken.
async fn explain_insert_failure(db: &SqliteStore, jobs: &[NewJob], error: sqlx::Error) -> Error {
    let Some(kind) = error.as_database_error().map(|e| e.kind()) else {
        return error.into();
    };
    let explained = async {
        for job in jobs {
            match kind {
                sqlx::error::ErrorKind::NotNullViolation => {
                    if let Err(e) = queue::exists(db, &job.queue).await {
                        return Ok(Some(e));
                    }
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    let found: Option<i64> =
                        sqlx::query_scalar("SELECT 1 FROM modules WHERE digest = ?1")
                            .bind(job.module.as_str())
                            .fetch_optional(&db.reader)
                            .await?;
                    if found.is_none() {
                        return Ok(Some(Error::not_found(format!("module {}", job.module))));
                    }
                }
                sqlx::error::ErrorKind::UniqueViolation => {
                    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = ?1")
                        .bind(job.id.0)
                        .fetch_optional(&db.reader)
                        .await?;
                    if found.is_some() {
                        return Ok(Some(Error::Conflict(format!(
                            "job {} already exists",
                            job.id
                        ))));
                    }
                    if let Some(run) = job.schedule
                        && let Some(put) =
                            crate::store::schedule::run_of(&mut SqlBackend::reads(db), run).await?
                    {
                        return Ok(Some(crate::store::occurrence_taken(run, put)));
                    }
                }
                _ => return Ok(None),
            }
        }
        Ok::<_, Error>(None)
    };
    match explained.await {
        Ok(Some(e)) => e,
        Ok(None) | Err(_) => error.into(),
    }
}

/// A job.
pub(super) async fn get(db: &SqliteStore, id: JobId) -> Result<Job> {
    find(db, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("job {id}")))
}

async fn find(db: &SqliteStore, id: JobId) -> Result<Option<Job>> {
    let row = sqlx::query(&GET)
        .bind(id.0)
        .fetch_optional(&db.reader)
        .await?;
    row.map(|r| row::job(&r).map(|(_, j)| j)).transpose()
}

/// Jobs by id (creation order), filtered, a page at a time.
pub(super) async fn list(db: &SqliteStore, p: JobListParams) -> Result<Vec<Job>> {
    let mut q: QueryBuilder<'_, Sqlite> =
        QueryBuilder::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1"));
    if let Some(queue) = &p.queue {
        q.push(" AND queue = ").push_bind(queue.clone());
    }
    if !p.statuses.is_empty() {
        let statuses: Vec<&str> = p.statuses.iter().map(|s| s.as_str()).collect();
        let statuses = serde_json::to_string(&statuses).map_err(|e| row::corrupt("jobs", e))?;
        q.push(" AND status IN (SELECT value FROM json_each(")
            .push_bind(statuses)
            .push("))");
    }
    if let Some(after) = p.after {
        q.push(" AND id > ").push_bind(after.0);
    }
    q.push(" ORDER BY id LIMIT ").push_bind(i64::from(p.limit));
    let rows = q.build().fetch_all(&db.reader).await?;
    row::jobs(&rows)
}

/// Pull: the job at an index of the queue order becomes `new`.
pub(super) async fn pull(db: &SqliteStore, p: JobPullParams) -> Result<Job> {
    let (sql, offset) = if p.index >= 0 {
        (&*PULL, p.index)
    } else {
        (&*PULL_FROM_END, -(p.index + 1))
    };
    let row = sqlx::query(sql)
        .bind(&p.queue)
        .bind(offset)
        .fetch_optional(&db.writer)
        .await?;
    if let Some(row) = row {
        return Ok(row::job(&row)?.1);
    }
    queue::exists(db, &p.queue).await?;
    let length: i64 = sqlx::query_scalar(&PENDING_COUNT)
        .bind(&p.queue)
        .fetch_one(&db.reader)
        .await?;
    Err(Error::not_found(format!(
        "job at index {} of {} (it holds {length} pending job(s))",
        p.index,
        queue::what(&p.queue)
    )))
}

/// Remove: a given pending job becomes `new`.
pub(super) async fn detach(db: &SqliteStore, p: JobDetachParams) -> Result<Job> {
    let row = sqlx::query(&DETACH)
        .bind(p.id.0)
        .bind(&p.queue)
        .fetch_optional(&db.writer)
        .await?;
    if let Some(row) = row {
        return Ok(row::job(&row)?.1);
    }
    let job = get(db, p.id).await?;
    if let Some(queue) = p.queue.as_deref().filter(|q| *q != job.queue) {
        return Err(Error::not_found(format!(
            "job {} in {}",
            p.id,
            queue::what(queue)
        )));
    }
    Err(Error::Conflict(not_pending(&job, "pulled or removed")))
}

/// Puts a `new` job back at the end of a queue.
pub(super) async fn put_back(db: &SqliteStore, p: JobPutBackParams) -> Result<Job> {
    let result = sqlx::query(&PUT_BACK)
        .bind(p.id.0)
        .bind(&p.queue)
        .bind(ms(p.now))
        .fetch_optional(&db.writer)
        .await;
    let row = match result {
        Ok(row) => row,
        Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::NotNullViolation => {
            return Err(Error::not_found(queue::what(&p.queue)));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(row) = row {
        return Ok(row::job(&row)?.1);
    }
    let job = get(db, p.id).await?;
    Err(Error::Conflict(format!(
        "job {} is {}: only a job in no queue (status new) can be put back",
        job.id, job.status
    )))
}

/// Why a job that is not pending cannot be `verb`: its status and, once
/// claimed, the dispatcher and agent that hold it.
fn not_pending(job: &Job, verb: &str) -> String {
    let holder = match (&job.dispatcher, &job.agent) {
        (Some(d), Some(a)) => format!(" by dispatcher {d} (agent `{a}`)"),
        (Some(d), None) => format!(" by dispatcher {d}"),
        _ => String::new(),
    };
    match job.status {
        JobStatus::New => format!(
            "job {} is not in a queue (status new): it was pulled or removed already",
            job.id
        ),
        JobStatus::Pending => format!("job {} is pending", job.id),
        JobStatus::Assigned => format!(
            "job {} was already claimed{holder} (status assigned): it cannot be {verb}",
            job.id
        ),
        JobStatus::Active => format!(
            "job {} is running{holder} (status active): it cannot be {verb}",
            job.id
        ),
        JobStatus::Callbacks | JobStatus::Completed | JobStatus::Cancelled => format!(
            "job {} has already run{holder} (status {}): it cannot be {verb}",
            job.id, job.status
        ),
    }
}

/// Changes a job no dispatcher holds: one guarded `UPDATE` (statuses
/// `pending` and `new` only). A new due time also takes the next put
/// position, as a put back does.
pub(super) static UPDATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET \
           args = coalesce(?2, args), \
           begin_after = CASE WHEN ?3 THEN ?4 ELSE begin_after END, \
           scheduled = CASE WHEN ?3 THEN ?5 ELSE scheduled END, \
           seq = CASE WHEN ?3 THEN (SELECT max(seq) + 1 FROM jobs) ELSE seq END, \
           begin_by_ms = CASE WHEN ?6 THEN ?7 ELSE begin_by_ms END, \
           quota_names = CASE WHEN ?8 THEN ?9 ELSE quota_names END \
         WHERE id = ?1 AND status IN ({pending}, {new}) RETURNING {JOB_COLUMNS}",
        pending = lit(JobStatus::Pending),
        new = lit(JobStatus::New),
    )
});

/// Changes a pending or new job's arguments, schedule or quota names.
pub(super) async fn update(db: &SqliteStore, p: JobUpdateParams) -> Result<Job> {
    let (move_it, begin_after, scheduled) = match p.begin_after {
        Some((at, scheduled)) => (true, ms(at), scheduled),
        None => (false, 0, false),
    };
    let row = sqlx::query(&UPDATE)
        .bind(p.id.0)
        .bind(p.args.as_ref().map(|a| a.to_string()))
        .bind(move_it)
        .bind(begin_after)
        .bind(scheduled)
        .bind(p.begin_by_ms.is_some())
        .bind(p.begin_by_ms.and_then(row::begin_by))
        .bind(p.quota_names.is_some())
        .bind(p.quota_names.as_deref().and_then(row::quota_names))
        .fetch_optional(&db.writer)
        .await?;
    if let Some(row) = row {
        return Ok(row::job(&row)?.1);
    }
    let job = get(db, p.id).await?;
    Err(Error::Conflict(crate::store::not_changeable(&job)))
}

use async_trait::async_trait;
use tracing::instrument;

use crate::store::JobStore;

#[async_trait]
impl JobStore for SqliteStore {
    #[instrument(level = "debug", skip_all)]
    async fn job_insert_many(&self, jobs: &[NewJob]) -> Result<Vec<Job>> {
        insert_many(self, jobs).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_get(&self, id: JobId) -> Result<Job> {
        get(self, id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_list(&self, params: JobListParams) -> Result<Vec<Job>> {
        list(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_pull(&self, params: JobPullParams) -> Result<Job> {
        pull(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_detach(&self, params: JobDetachParams) -> Result<Job> {
        detach(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_put_back(&self, params: JobPutBackParams) -> Result<Job> {
        put_back(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_update(&self, params: JobUpdateParams) -> Result<Job> {
        update(self, params).await
    }
}
