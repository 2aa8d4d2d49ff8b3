//! A job's reads and the moves of a job no dispatcher holds, written once
//! for both backends over [`SqlBackend`]: get, list, pull, remove
//! (detach), put back and update. Puts, claims, starts and finishes stay
//! per backend, each one tuned statement (or batch of them): the
//! backend's [`TunedJobs`]. [`JobStore`] and [`ClaimStore`] are
//! implemented once over the two.

use std::collections::HashSet;

use async_trait::async_trait;
use tracing::instrument;

use super::pauses::queue_exists;
use super::queue::{QUEUE_ORDER, QUEUE_ORDER_REVERSED};
use super::sql::{JOB_COLUMNS, begin_by, job_of, jobs_of, lit, ms, queue_what};
use super::statement::{Arg, Bind, Binds, Sql, SqlBackend, SqlConn};
use super::{
    ClaimStore, Error, FinishReport, JobClaimParams, JobDetachParams, JobFinishParams,
    JobListParams, JobPullParams, JobPutBackParams, JobStartParams, JobStarted, JobStore,
    JobUpdateParams, Result, not_changeable,
};
use crate::clock;
use crate::model::{Failure, Job, JobId, JobStatus, NewJob, ScheduleRun, Transition};

/// The columns a put inserts, in the order both backends' insert
/// statements give them.
pub(crate) const INSERTED_COLUMNS: &str = "id, queue, status, module, module_name, function, \
     args, limits, begin_after, scheduled, begin_by_ms, parent, created_at, quota_names, failure, \
     completed_at, schedule_id, occurrence, retry, token, priority, unique_key, unique_states, \
     unique_derived";

pub(crate) use super::unique::SKIP_DUPLICATES;

/// A job by id.
pub(crate) static GET: Sql = Sql::new(|_| format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"));

fn pull_sql(key: &str, order: &str) -> String {
    let t = Transition::Detach;
    format!(
        "UPDATE jobs SET status = {to} WHERE {key} = \
         (SELECT {key} FROM jobs WHERE status = {from} AND queue = ?1 \
          ORDER BY {order} LIMIT 1 OFFSET ?2) \
         AND status = {from} RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
    )
}

/// The job at an index of a queue becomes `new`.
pub(crate) static PULL: Sql = Sql::new(|d| pull_sql(d.job_key, QUEUE_ORDER));
/// The job at an index from the end of a queue becomes `new`.
pub(crate) static PULL_FROM_END: Sql = Sql::new(|d| pull_sql(d.job_key, QUEUE_ORDER_REVERSED));

/// A given pending job becomes `new`.
pub(crate) static DETACH: Sql = Sql::new(|d| {
    let t = Transition::Detach;
    format!(
        "UPDATE jobs SET status = {to} \
         WHERE id = ?1 AND status = {from} AND (?2{text} IS NULL OR queue = ?2) \
         RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
        text = d.text,
    )
});

/// Back at the end of the queue: due now, not scheduled, and the next put
/// position. A missing queue leaves `queue` NULL, which NOT NULL refuses.
pub(crate) static PUT_BACK: Sql = Sql::new(|d| {
    let t = Transition::Put;
    format!(
        "UPDATE jobs SET status = {to}, \
         queue = (SELECT q.name FROM queues q WHERE q.name = ?2), \
         begin_after = ?3, scheduled = ?4, seq = {next_seq} \
         WHERE id = ?1 AND status = {from} RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
        next_seq = d.next_seq,
    )
});

/// The pending jobs of a queue.
pub(crate) static PENDING_COUNT: Sql = Sql::new(|_| {
    format!(
        "SELECT count(*) FROM jobs WHERE status = {pending} AND queue = ?1",
        pending = lit(JobStatus::Pending)
    )
});

/// Changes a job no dispatcher holds: one guarded `UPDATE` (statuses
/// `pending` and `new` only). A new due time also takes the next put
/// position, as a put back does.
pub(crate) static UPDATE: Sql = Sql::new(|d| {
    format!(
        "UPDATE jobs SET \
           args = coalesce(?2{json}, args), \
           begin_after = CASE WHEN ?3 THEN ?4 ELSE begin_after END, \
           scheduled = CASE WHEN ?3 THEN ?5 ELSE scheduled END, \
           seq = CASE WHEN ?3 THEN {next_seq} ELSE seq END, \
           begin_by_ms = CASE WHEN ?6 THEN ?7 ELSE begin_by_ms END, \
           quota_names = CASE WHEN ?8 THEN {names} ELSE quota_names END, \
           priority = coalesce(?10, priority), \
           unique_key = coalesce(?11, unique_key) \
         WHERE id = ?1 AND status IN ({pending}, {new}) RETURNING {JOB_COLUMNS}",
        json = d.json,
        next_seq = d.next_seq,
        names = (d.quota_names)("?9"),
        pending = lit(JobStatus::Pending),
        new = lit(JobStatus::New),
    )
});

/// How many times a pull runs again when the job it chose was claimed (or
/// pulled) by another process in between.
const PULL_ATTEMPTS: usize = 5;

/// Whether `error` is a NOT NULL constraint refusing a write.
fn is_not_null(error: &Error) -> bool {
    matches!(error, Error::Database(sqlx::Error::Database(e))
        if e.kind() == sqlx::error::ErrorKind::NotNullViolation)
}

fn is_unique_violation(error: &Error) -> bool {
    matches!(error, Error::Database(sqlx::Error::Database(e))
        if e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// The jobs of a batch as inserted, in order: `None` for one whose id is
/// not among `ids` (a unique job skipped, its key held).
pub(crate) fn inserted_of(jobs: &[NewJob], ids: &[uuid::Uuid]) -> Vec<Option<Job>> {
    if ids.len() == jobs.len() {
        return jobs.iter().map(|job| Some(inserted(job))).collect();
    }
    let ids: HashSet<&uuid::Uuid> = ids.iter().collect();
    jobs.iter()
        .map(|job| ids.contains(&job.id.0).then(|| inserted(job)))
        .collect()
}

/// The job as a put stores it (and as reading it back gives it): due at
/// its time, or, when its deadline had passed at put, completed at once
/// with the failure that says it never started.
pub(crate) fn inserted(job: &NewJob) -> Job {
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
        begin_by_ms: begin_by(job.begin_by_ms).map(|v| v as u64),
        quota_names: job.quota_names.clone(),
        quota_keys: Default::default(),
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
        priority: job.priority,
    }
    .with_quota_keys()
}

/// A job, or [`Error::NotFound`].
pub(crate) async fn get<C: SqlConn + ?Sized>(conn: &mut C, id: JobId) -> Result<Job> {
    let sql = GET.text(conn.dialect());
    let row = conn.fetch_optional("jobs", sql, &[Arg::Id(id.0)]).await?;
    let row = row.ok_or_else(|| Error::not_found(format!("job {id}")))?;
    Ok(job_of(&row)?.1)
}

/// Jobs by id (creation order), filtered, a page at a time.
pub(crate) async fn list<C: SqlConn + ?Sized>(conn: &mut C, p: &JobListParams) -> Result<Vec<Job>> {
    let mut binds = Binds::default();
    let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
    if let Some(queue) = &p.queue {
        let q = binds.push(Bind::Text(queue.clone()));
        sql.push_str(&format!(" AND queue = {q}"));
    }
    if !p.statuses.is_empty() {
        let statuses: Vec<String> = p.statuses.iter().map(|s| lit(*s)).collect();
        sql.push_str(&format!(" AND status IN ({})", statuses.join(", ")));
    }
    if let Some(after) = p.after {
        let a = binds.push(Bind::Id(after.0));
        sql.push_str(&format!(" AND id > {a}"));
    }
    let limit = binds.push(Bind::Int(i64::from(p.limit)));
    sql.push_str(&format!(" ORDER BY id LIMIT {limit}"));
    let sql = conn.dialect().render(&sql);
    let rows = conn.fetch_all("jobs", &sql, &binds.args()).await?;
    jobs_of(&rows)
}

/// Pull: the job at an index of the queue order becomes `new`.
///
/// The statement picks the job and updates it only if it is still
/// pending; if another process claimed (or pulled) it in between, the
/// update matches nothing and the pull runs again on the queue as it now
/// is.
pub(crate) async fn pull<B: SqlBackend>(db: &B, p: &JobPullParams) -> Result<Job> {
    let (sql, offset) = if p.index >= 0 {
        (&PULL, p.index)
    } else {
        (&PULL_FROM_END, -(p.index + 1))
    };
    let args = [Arg::Text(&p.queue), Arg::Int(offset)];
    let mut attempt = 1;
    loop {
        let mut conn = db.writes();
        let sql = sql.text(conn.dialect());
        if let Some(row) = conn.fetch_optional("jobs", sql, &args).await? {
            return Ok(job_of(&row)?.1);
        }
        let mut conn = db.reads();
        queue_exists(&mut conn, &p.queue).await?;
        let sql = PENDING_COUNT.text(conn.dialect());
        let length = match conn
            .fetch_optional("jobs", sql, &[Arg::Text(&p.queue)])
            .await?
        {
            Some(row) => row.int(0)?,
            None => 0,
        };
        if length <= offset || attempt == PULL_ATTEMPTS {
            return Err(Error::not_found(format!(
                "job at index {} of {} (it holds {length} pending job(s))",
                p.index,
                queue_what(&p.queue)
            )));
        }
        attempt += 1;
    }
}

/// Remove: a given pending job becomes `new`.
pub(crate) async fn detach<B: SqlBackend>(db: &B, p: &JobDetachParams) -> Result<Job> {
    let mut conn = db.writes();
    let sql = DETACH.text(conn.dialect());
    let args = [Arg::Id(p.id.0), Arg::OptText(p.queue.as_deref())];
    if let Some(row) = conn.fetch_optional("jobs", sql, &args).await? {
        return Ok(job_of(&row)?.1);
    }
    let job = get(&mut db.reads(), p.id).await?;
    if let Some(queue) = p.queue.as_deref().filter(|q| *q != job.queue) {
        return Err(Error::not_found(format!(
            "job {} in {}",
            p.id,
            queue_what(queue)
        )));
    }
    Err(Error::Conflict(not_pending(&job, "pulled or removed")))
}

/// Puts a `new` job back at the end of a queue, and announces it.
pub(crate) async fn put_back<B: SqlBackend>(db: &B, p: &JobPutBackParams) -> Result<Job> {
    let mut conn = db.writes();
    let sql = PUT_BACK.text(conn.dialect());
    let args = [
        Arg::Id(p.id.0),
        Arg::Text(&p.queue),
        Arg::Int(ms(p.now)),
        Arg::Bool(false),
    ];
    let row = match conn.fetch_optional("jobs", sql, &args).await {
        Ok(row) => row,
        Err(e) if is_not_null(&e) => return Err(Error::not_found(queue_what(&p.queue))),
        Err(e) if is_unique_violation(&e) => {
            // Its uniqueness key (which does not hold in `new`) is held
            // by another job of that queue now.
            return Err(Error::Conflict(format!(
                "job {} cannot be put back: another job of {} holds its uniqueness key",
                p.id,
                queue_what(&p.queue)
            )));
        }
        Err(e) => return Err(e),
    };
    if let Some(row) = row {
        conn.announce_puts(std::slice::from_ref(&p.queue)).await?;
        return Ok(job_of(&row)?.1);
    }
    let job = get(&mut db.reads(), p.id).await?;
    Err(Error::Conflict(format!(
        "job {} is {}: only a job in no queue (status new) can be put back",
        job.id, job.status
    )))
}

/// Changes a pending or new job's arguments, schedule, quota names or
/// priority. New arguments derive a key derived from the old ones again:
/// the index `jobs_unique` refuses it while another job of the queue
/// holds it, and the change is refused naming that job
/// ([`Error::UniqueKeyHeld`]).
pub(crate) async fn update<B: SqlBackend>(db: &B, p: &JobUpdateParams) -> Result<Job> {
    let (move_it, begin_after, scheduled) = match p.begin_after {
        Some((at, scheduled)) => (true, ms(at), scheduled),
        None => (false, 0, false),
    };
    let args = p.args.as_ref().map(|a| a.to_string());
    let quota_names = p
        .quota_names
        .as_ref()
        .filter(|names| !names.is_empty())
        .map(|names| serde_json::Value::from(names.as_slice()).to_string());
    let key = match &p.args {
        Some(args) => super::unique::derived_again(db, p.id, args).await?,
        None => None,
    };
    let binds = [
        Arg::Id(p.id.0),
        Arg::OptText(args.as_deref()),
        Arg::Bool(move_it),
        Arg::Int(begin_after),
        Arg::Bool(scheduled),
        Arg::Bool(p.begin_by_ms.is_some()),
        Arg::OptInt(p.begin_by_ms.and_then(begin_by)),
        Arg::Bool(p.quota_names.is_some()),
        Arg::OptText(quota_names.as_deref()),
        Arg::OptInt(p.priority.map(i64::from)),
        Arg::OptText(key.as_deref()),
    ];
    for _ in 0..super::unique::ATTEMPTS {
        let mut conn = db.writes();
        let sql = UPDATE.text(conn.dialect());
        match conn.fetch_optional("jobs", sql, &binds).await {
            Ok(Some(row)) => return Ok(job_of(&row)?.1),
            Ok(None) => {
                let job = get(&mut db.reads(), p.id).await?;
                return Err(Error::Conflict(not_changeable(&job)));
            }
            Err(e) if is_unique_violation(&e) => {
                let key = key.as_deref().unwrap_or_default();
                if let Some(held) = super::unique::key_held(db, p.id, key).await? {
                    return Err(held);
                }
                // Its holder left its states in between: the key is free.
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict(format!(
        "job {}: the uniqueness key of its new arguments kept changing hands; change it again",
        p.id
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

/// Turns a failed put into the error that names its cause, in batch
/// order: a missing queue or module, an id already taken, or a schedule's
/// occurrence put already. Any other failure (or a failure to find the
/// cause) is returned as it came.
pub(crate) async fn explain_insert_failure<B: SqlBackend>(
    db: &B,
    jobs: &[NewJob],
    error: sqlx::Error,
) -> Error {
    use sqlx::error::ErrorKind;
    let Some(kind) = error.as_database_error().map(|e| e.kind()) else {
        return error.into();
    };
    let mut conn = db.reads();
    let explained = async {
        match kind {
            ErrorKind::NotNullViolation | ErrorKind::ForeignKeyViolation => {
                let mut seen = HashSet::new();
                for job in jobs {
                    if seen.insert(job.queue.as_str())
                        && let Err(e) = queue_exists(&mut conn, &job.queue).await
                    {
                        return Ok(Some(e));
                    }
                }
                let mut seen = HashSet::new();
                for job in jobs {
                    if seen.insert(job.module.as_str())
                        && !exists(
                            &mut conn,
                            "modules",
                            "digest",
                            Arg::Text(job.module.as_str()),
                        )
                        .await?
                    {
                        return Ok(Some(Error::not_found(format!("module {}", job.module))));
                    }
                }
                Ok(None)
            }
            ErrorKind::UniqueViolation => {
                for job in jobs {
                    if exists(&mut conn, "jobs", "id", Arg::Id(job.id.0)).await? {
                        return Ok(Some(Error::Conflict(format!(
                            "job {} already exists",
                            job.id
                        ))));
                    }
                    if let Some(run) = job.schedule
                        && let Some(put) = super::schedule::run_of(&mut conn, run).await?
                    {
                        return Ok(Some(super::occurrence_taken(run, put)));
                    }
                }
                Ok(None)
            }
            _ => Ok::<_, Error>(None),
        }
    };
    match explained.await {
        Ok(Some(e)) => e,
        Ok(None) | Err(_) => error.into(),
    }
}

/// Whether `table` has a row whose `column` is `value`.
async fn exists<C: SqlConn + ?Sized>(
    conn: &mut C,
    table: &'static str,
    column: &str,
    value: Arg<'_>,
) -> Result<bool> {
    let sql = conn
        .dialect()
        .render(&format!("SELECT 1 FROM {table} WHERE {column} = ?1"));
    Ok(conn.fetch_optional(table, &sql, &[value]).await?.is_some())
}

/// The job operations each backend tunes for itself, as River keeps one
/// query file per driver: the insert of a batch of puts, the claim, the
/// start and the finish batch. Everything around them is written once.
#[async_trait]
pub(crate) trait TunedJobs: Send + Sync {
    /// The most jobs one insert statement takes ([`PutTx::insert_chunk`]).
    ///
    /// [`PutTx::insert_chunk`]: super::puts::PutTx::insert_chunk
    fn insert_rows_max(&self) -> usize;
    /// Inserts up to [`Self::insert_rows_max`] jobs in one statement,
    /// committed on its own (see [`super::puts::insert_many`]).
    async fn insert_alone(
        &self,
        jobs: &[NewJob],
        ids: &mut Vec<uuid::Uuid>,
    ) -> Result<(), sqlx::Error>;
    /// A put of up to [`Self::insert_rows_max`] jobs and its claims in one
    /// transaction, as [`super::puts::insert_many`] runs them (the insert,
    /// then each claim in one statement), sent to the database as one
    /// command where each statement would otherwise be a round trip of
    /// its own to the database's thread (SQLite: `sqlite/one_trip.rs`).
    /// Adds the ids inserted to `ids` and returns what each claim took, in
    /// queue order; `None` where the backend runs the statements one by
    /// one (PostgreSQL: each is a round trip on the network either way).
    async fn insert_chunk_claiming(
        &self,
        _jobs: &[NewJob],
        _claims: &[JobClaimParams],
        _ids: &mut Vec<uuid::Uuid>,
    ) -> Option<Result<Vec<Vec<Job>>, super::puts::PutFailed>> {
        None
    }
    /// The claim of [`ClaimStore::job_claim_many`] in one statement, on
    /// its own (a queue with quotas or a rate gives nothing), with each
    /// job's `seq`.
    async fn claim_alone(&self, params: &JobClaimParams) -> Result<Vec<(i64, Job)>>;
    /// The claim of a queue with quotas or a rate, not paused, which
    /// counts their slots apart (`store/claim_apart.rs`), of up to `limit`
    /// jobs.
    async fn claim_apart(&self, params: &JobClaimParams, limit: u32) -> Result<Vec<(i64, Job)>>;
    /// See [`ClaimStore::job_start_many`].
    async fn start_jobs(&self, params: JobStartParams) -> Result<Vec<JobStarted>>;
    /// See [`ClaimStore::job_finish_many`].
    async fn finish_jobs(&self, params: &[JobFinishParams]) -> Result<FinishReport>;
}

#[async_trait]
impl<B: SqlBackend + TunedJobs> JobStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_insert_many(&self, jobs: &[NewJob]) -> Result<Vec<Job>> {
        let out = super::puts::insert_many(self, jobs, &[]).await?.jobs;
        with_duplicates_resolved(self, jobs, out).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_get(&self, id: JobId) -> Result<Job> {
        get(&mut self.reads(), id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_watch(&self, id: JobId) -> Result<()> {
        self.writes().mark_watched(id.0).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_list(&self, params: JobListParams) -> Result<Vec<Job>> {
        list(&mut self.reads(), &params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_pull(&self, params: JobPullParams) -> Result<Job> {
        pull(self, &params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_detach(&self, params: JobDetachParams) -> Result<Job> {
        detach(self, &params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_put_back(&self, params: JobPutBackParams) -> Result<Job> {
        put_back(self, &params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_update(&self, params: JobUpdateParams) -> Result<Job> {
        update(self, &params).await
    }
}

/// The jobs of a batch as put: each unique job skipped answered by the
/// job that holds its key.
async fn with_duplicates_resolved<B: SqlBackend + TunedJobs>(
    db: &B,
    jobs: &[NewJob],
    out: Vec<Option<Job>>,
) -> Result<Vec<Job>> {
    if out.iter().all(Option::is_some) {
        return Ok(out.into_iter().flatten().collect());
    }
    super::unique::resolve_skipped(db, jobs, out).await
}

/// Whether a claim's queue is claimed apart (it has quotas or a rate: the
/// one-statement claim gave nothing) and neither it nor the dispatcher is
/// paused (which the claim apart does not ask).
async fn claims_apart<B: SqlBackend>(db: &B, params: &JobClaimParams) -> Result<bool> {
    let mut conn = db.reads();
    let sql = super::quota_claim::CLAIMED_APART.text(conn.dialect());
    let apart = match conn
        .fetch_optional("queues", sql, &[Arg::Text(&params.queue)])
        .await?
    {
        Some(row) => row.bool(0)?,
        None => false,
    };
    Ok(apart && !super::pauses::paused(&mut conn, &params.queue, params.dispatcher).await?)
}

#[async_trait]
impl<B: SqlBackend + TunedJobs> ClaimStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_claim_many(&self, params: JobClaimParams) -> Result<Vec<Job>> {
        if params.limit == 0 {
            return Ok(Vec::new());
        }
        let mut claimed = self.claim_alone(&params).await?;
        // A queue with quotas or a rate gave nothing: it is claimed apart.
        if claimed.len() < params.limit as usize && claims_apart(self, &params).await? {
            let rest = params.limit - claimed.len() as u32;
            claimed.extend(self.claim_apart(&params, rest).await?);
        }
        Ok(super::queue::in_queue_order(claimed))
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_insert_many_claiming(
        &self,
        jobs: &[NewJob],
        claims: &[JobClaimParams],
    ) -> Result<(Vec<Job>, Vec<Vec<Job>>)> {
        let super::puts::Inserted { jobs: out, claimed } =
            super::puts::insert_many(self, jobs, claims).await?;
        Ok((with_duplicates_resolved(self, jobs, out).await?, claimed))
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_start_many(&self, params: JobStartParams) -> Result<Vec<JobStarted>> {
        self.start_jobs(params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_finish_many(&self, params: &[JobFinishParams]) -> Result<FinishReport> {
        self.finish_jobs(params).await
    }
}
