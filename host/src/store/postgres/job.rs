//! `jobs`: puts, reads, pull, remove and put back. Claims
//! and starts are in `claim.rs`, finishes in `finish.rs`.

use std::collections::HashSet;
use std::sync::LazyLock;

use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::PgStore;
use super::notify;
use super::queue::{self, QUEUE_ORDER, QUEUE_ORDER_REVERSED};
use super::row::{self, JOB_COLUMNS, json_text, lit, ms, sqlstate};
use crate::clock;
use crate::model::{Failure, Job, JobId, JobStatus, NewJob, ScheduleRun, Transition};
use crate::store::statement::SqlBackend;
use crate::store::{
    Error, JobDetachParams, JobListParams, JobPullParams, JobPutBackParams, JobUpdateParams, Result,
};

/// The most jobs one insert statement takes; larger puts take one
/// statement per chunk of this size, in one transaction.
pub(super) const MAX_ROWS: usize = 16_384;

/// How many times a pull runs again when the job it chose was claimed (or
/// pulled) by another process in between.
const PULL_ATTEMPTS: usize = 5;

/// Inserts a batch, one array per column, in batch order (`seq` follows
/// it), and announces the queues on commit. The queue and the module are
/// looked up in the statement: a missing one leaves a NULL that the NOT
/// NULL constraint refuses, aborting the whole statement.
pub(super) static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH ins AS ( \
           INSERT INTO jobs (id, queue, status, module, module_name, function, args, limits, \
             begin_after, scheduled, begin_by_ms, parent, created_at, quota_names, failure, \
             completed_at, schedule_id, occurrence, retry, token) \
           SELECT v.id, q.name, \
             CASE WHEN v.failure IS NULL THEN {pending} ELSE {expired} END, \
             m.digest, v.module_name, v.function, v.args::json, \
             v.limits::json, v.begin_after, v.scheduled, v.begin_by_ms, v.parent, v.created_at, \
             (SELECT array_agg(n) FROM json_array_elements_text(v.quota_names::json) AS n), \
             v.failure::json, CASE WHEN v.failure IS NULL THEN NULL ELSE v.created_at END, \
             v.schedule_id, v.occurrence, v.retry::json, v.token \
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::int8[], $9::bool[], $10::int8[], $11::uuid[], $12::int8[], \
             $15::text[], $16::text[], $17::uuid[], $18::int8[], $19::text[], $20::uuid[]) \
             WITH ORDINALITY AS v(id, queue, module, module_name, function, args, limits, \
               begin_after, scheduled, begin_by_ms, parent, created_at, quota_names, failure, \
               schedule_id, occurrence, retry, token, pos) \
           LEFT JOIN queues q ON q.name = v.queue \
           LEFT JOIN modules m ON m.digest = v.module \
           ORDER BY v.pos \
           RETURNING 1), \
         sent AS (SELECT pg_notify($13, p) FROM unnest($14::text[]) AS p) \
         SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM sent)",
        pending = lit(Transition::Put.to()),
        expired = lit(Transition::Expire.to()),
    )
});

pub(super) static GET: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"));

fn pull_sql(order: &str) -> String {
    let t = Transition::Detach;
    format!(
        "UPDATE jobs SET status = {to} WHERE id = \
         (SELECT id FROM jobs WHERE status = {from} AND queue = $1 \
          ORDER BY {order} LIMIT 1 OFFSET $2) \
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
         WHERE id = $1 AND status = {from} AND ($2::text IS NULL OR queue = $2) \
         RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

/// Back at the end of the queue: due now, not scheduled, the next put
/// position; announced on commit.
pub(super) static PUT_BACK: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Put;
    format!(
        "WITH moved AS ( \
           UPDATE jobs SET status = {to}, \
             queue = (SELECT q.name FROM queues q WHERE q.name = $2), \
             begin_after = $3, scheduled = false, seq = nextval('jobs_seq_seq') \
           WHERE id = $1 AND status = {from} RETURNING {JOB_COLUMNS}), \
         sent AS (SELECT pg_notify($4, p) FROM moved, unnest($5::text[]) AS p) \
         SELECT {JOB_COLUMNS}, (SELECT count(*) FROM sent) FROM moved",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

pub(super) static PENDING_COUNT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT count(*) FROM jobs WHERE status = {pending} AND queue = $1",
        pending = lit(JobStatus::Pending)
    )
});

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

/// Inserts one chunk (at most [`MAX_ROWS`] jobs) in one statement.
pub(super) async fn insert_chunk(
    conn: &mut PgConnection,
    channel: &str,
    jobs: &[NewJob],
) -> Result<(), sqlx::Error> {
    let n = jobs.len();
    let (mut ids, mut queues, mut modules, mut names) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut functions, mut args, mut limits, mut begin_after) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut scheduled, mut begin_by_ms, mut parents, mut created_at) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut quota_names, mut failures) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut schedule_ids, mut occurrences) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut retries, mut tokens) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let expired = json_text(&Failure::not_started());
    for job in jobs {
        ids.push(job.id.0);
        queues.push(job.queue.as_str());
        modules.push(job.module.as_str());
        names.push(job.module_name.as_deref());
        functions.push(job.function.as_str());
        args.push(json_text(&job.args));
        limits.push((!job.limits.is_empty()).then(|| json_text(&job.limits)));
        begin_after.push(ms(job.begin_after));
        scheduled.push(job.scheduled);
        begin_by_ms.push(row::begin_by(job.begin_by_ms));
        parents.push(job.parent.map(|p| p.0));
        created_at.push(ms(job.created_at));
        quota_names.push((!job.quota_names.is_empty()).then(|| json_text(&job.quota_names)));
        failures.push(job.expired.then_some(expired.as_str()));
        schedule_ids.push(job.schedule.map(|run| run.schedule_id.0));
        occurrences.push(job.schedule.map(|run| ms(run.occurrence)));
        retries.push(job.retry.as_ref().map(json_text));
        tokens.push(job.token.map(|t| t.0));
    }
    let payloads = notify::put_payloads(queues.iter().copied());
    let (inserted, _): (i64, i64) = sqlx::query_as(&INSERT)
        .bind(ids)
        .bind(queues)
        .bind(modules)
        .bind(names)
        .bind(functions)
        .bind(args)
        .bind(limits)
        .bind(begin_after)
        .bind(scheduled)
        .bind(begin_by_ms)
        .bind(parents)
        .bind(created_at)
        .bind(channel)
        .bind(payloads)
        .bind(quota_names)
        .bind(failures)
        .bind(schedule_ids)
        .bind(occurrences)
        .bind(retries)
        .bind(tokens)
        .fetch_one(&mut *conn)
        .await?;
    debug_assert_eq!(inserted, n as i64);
    Ok(())
}

/// Inserts new pending jobs: one statement for up to [`MAX_ROWS`] jobs,
/// larger batches in one transaction.
pub(super) async fn insert_many(db: &PgStore, jobs: &[NewJob]) -> Result<Vec<Job>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let written = if jobs.len() <= MAX_ROWS {
        let mut conn = db.pool.acquire().await?;
        insert_chunk(&mut conn, &db.channel, jobs).await
    } else {
        let mut tx = db.begin().await?;
        let mut written = Ok(());
        for chunk in jobs.chunks(MAX_ROWS) {
            written = insert_chunk(&mut tx, &db.channel, chunk).await;
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
/// queue or module (in batch order), or an id already taken.
async fn explain_insert_failure(db: &PgStore, jobs: &[NewJob], error: sqlx::Error) -> Error {
    let Some((code, constraint)) = row::db_error(&error) else {
        return error.into();
    };
    let explained = async {
        match code.as_str() {
            sqlstate::NOT_NULL => {
                let mut seen = HashSet::new();
                for job in jobs {
                    if seen.insert(job.queue.as_str())
                        && let Err(e) = queue::exists(db, &job.queue).await
                    {
                        return Ok(Some(e));
                    }
                }
                let mut seen = HashSet::new();
                for job in jobs {
                    if !seen.insert(job.module.as_str()) {
                        continue;
                    }
                    let found: Option<i32> =
                        sqlx::query_scalar("SELECT 1 FROM modules WHERE digest = $1")
                            .bind(job.module.as_str())
                            .fetch_optional(&db.pool)
                            .await?;
                    if found.is_none() {
                        return Ok(Some(Error::not_found(format!("module {}", job.module))));
                    }
                }
                Ok(None)
            }
            sqlstate::UNIQUE if constraint.as_deref() == Some("jobs_schedule_occurrence") => {
                for job in jobs {
                    if let Some(run) = job.schedule
                        && let Some(put) =
                            crate::store::schedule::run_of(&mut SqlBackend::reads(db), run).await?
                    {
                        return Ok(Some(crate::store::occurrence_taken(run, put)));
                    }
                }
                Ok(None)
            }
            sqlstate::UNIQUE => {
                let ids: Vec<Uuid> = jobs.iter().map(|j| j.id.0).collect();
                let taken: Option<Uuid> = sqlx::query_scalar(
                    "SELECT u.id FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, i) \
                     JOIN jobs j ON j.id = u.id ORDER BY u.i LIMIT 1",
                )
                .bind(ids)
                .fetch_optional(&db.pool)
                .await?;
                Ok(taken.map(|id| Error::Conflict(format!("job {} already exists", JobId(id)))))
            }
            _ => Ok(None),
        }
    };
    match explained.await {
        Ok(Some(e)) => e,
        Ok(None) | Err::<_, Error>(_) => error.into(),
    }
}

/// A job.
pub(super) async fn get(db: &PgStore, id: JobId) -> Result<Job> {
    let row = sqlx::query(&GET)
        .bind(id.0)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::not_found(format!("job {id}")))?;
    Ok(row::job(&row)?.1)
}

/// Jobs by id (creation order), filtered, a page at a time.
pub(super) async fn list(db: &PgStore, p: JobListParams) -> Result<Vec<Job>> {
    let mut q: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE true"));
    if let Some(queue) = &p.queue {
        q.push(" AND queue = ").push_bind(queue.clone());
    }
    if !p.statuses.is_empty() {
        let statuses: Vec<&'static str> = p.statuses.iter().map(|s| s.as_str()).collect();
        q.push(" AND status = ANY(")
            .push_bind(statuses)
            .push("::text[])");
    }
    if let Some(after) = p.after {
        q.push(" AND id > ").push_bind(after.0);
    }
    q.push(" ORDER BY id LIMIT ").push_bind(i64::from(p.limit));
    let rows = q.build().fetch_all(&db.pool).await?;
    row::jobs(&rows)
}

/// Pull: the job at an index of the queue order becomes `new`.
///
/// The statement picks the job and updates it only if it is still
/// pending; if another process claimed (or pulled) it in between, the
/// update matches nothing and the pull runs again on the queue as it now
/// is.
pub(super) async fn pull(db: &PgStore, p: JobPullParams) -> Result<Job> {
    let (sql, offset) = if p.index >= 0 {
        (&*PULL, p.index)
    } else {
        (&*PULL_FROM_END, -(p.index + 1))
    };
    let mut attempt = 1;
    loop {
        let row = sqlx::query(sql)
            .bind(&p.queue)
            .bind(offset)
            .fetch_optional(&db.pool)
            .await?;
        if let Some(row) = row {
            return Ok(row::job(&row)?.1);
        }
        queue::exists(db, &p.queue).await?;
        let length: i64 = sqlx::query_scalar(&PENDING_COUNT)
            .bind(&p.queue)
            .fetch_one(&db.pool)
            .await?;
        if length <= offset || attempt == PULL_ATTEMPTS {
            return Err(Error::not_found(format!(
                "job at index {} of {} (it holds {length} pending job(s))",
                p.index,
                queue::what(&p.queue)
            )));
        }
        attempt += 1;
    }
}

/// Remove: a given pending job becomes `new`.
pub(super) async fn detach(db: &PgStore, p: JobDetachParams) -> Result<Job> {
    let row = sqlx::query(&DETACH)
        .bind(p.id.0)
        .bind(&p.queue)
        .fetch_optional(&db.pool)
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

/// Puts a `new` job back at the end of a queue, and announces it.
pub(super) async fn put_back(db: &PgStore, p: JobPutBackParams) -> Result<Job> {
    let result = sqlx::query(&PUT_BACK)
        .bind(p.id.0)
        .bind(&p.queue)
        .bind(ms(p.now))
        .bind(&*db.channel)
        .bind(notify::put_payloads([p.queue.as_str()]))
        .fetch_optional(&db.pool)
        .await;
    let row = match result {
        Ok(row) => row,
        Err(e) if row::is(&e, sqlstate::NOT_NULL) => {
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
           args = coalesce($2::json, args), \
           begin_after = CASE WHEN $3 THEN $4 ELSE begin_after END, \
           scheduled = CASE WHEN $3 THEN $5 ELSE scheduled END, \
           seq = CASE WHEN $3 THEN nextval('jobs_seq_seq') ELSE seq END, \
           begin_by_ms = CASE WHEN $6 THEN $7 ELSE begin_by_ms END, \
           quota_names = CASE WHEN $8 THEN $9 ELSE quota_names END \
         WHERE id = $1 AND status IN ({pending}, {new}) RETURNING {JOB_COLUMNS}",
        pending = lit(JobStatus::Pending),
        new = lit(JobStatus::New),
    )
});

/// Changes a pending or new job's arguments, schedule or quota names.
pub(super) async fn update(db: &PgStore, p: JobUpdateParams) -> Result<Job> {
    let (move_it, begin_after, scheduled) = match p.begin_after {
        Some((at, scheduled)) => (true, ms(at), scheduled),
        None => (false, 0, false),
    };
    let quota_names = p
        .quota_names
        .as_ref()
        .filter(|names| !names.is_empty())
        .cloned();
    let row = sqlx::query(&UPDATE)
        .bind(p.id.0)
        .bind(p.args.as_ref().map(json_text))
        .bind(move_it)
        .bind(begin_after)
        .bind(scheduled)
        .bind(p.begin_by_ms.is_some())
        .bind(p.begin_by_ms.and_then(row::begin_by))
        .bind(p.quota_names.is_some())
        .bind(quota_names)
        .fetch_optional(&db.pool)
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
impl JobStore for PgStore {
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
