//! `jobs`: puts, reads, pull, remove and put back. Claims
//! and starts are in `claim.rs`, finishes in `finish.rs`.

use sqlx::Row as _;
use sqlx::sqlite::{SqliteArguments, SqliteConnection};

use super::SqliteStore;
use super::batch::{self, Statements};
use super::one_trip::bind;
use super::row::{self, lit, ms};
use super::tx::SqliteTx;
use super::writer::Writer;
use crate::model::{Failure, Job, NewJob, Transition};
use crate::store::Result;
use crate::store::jobs::{INSERTED_COLUMNS, SKIP_DUPLICATES};
use crate::store::puts::{Ids, PutTx};

/// A failure as the `failure` column stores it.
pub(super) fn job_failure_text(failure: &Failure) -> String {
    serde_json::to_string(failure).expect("a failure serializes to JSON")
}

/// Columns bound per inserted job (the last is its position in the batch).
const INSERT_COLUMNS: usize = 23;

/// Inserts a batch padded with NULL rows, returning the ids inserted: a
/// unique job whose key is held is skipped ([`SKIP_DUPLICATES`]). The queue is looked up in the
/// statement: a missing queue leaves `queue` NULL and the NOT NULL
/// constraint aborts the whole statement (the queue has no foreign key,
/// see the migration). A job carrying a failure (`column14`) is one whose
/// deadline had passed at put: it goes in `completed` at once (a put and
/// an `Expire` in one step) and never runs.
fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO jobs ({INSERTED_COLUMNS}) \
         SELECT v.column1, (SELECT q.name FROM queues AS q WHERE q.name = v.column2), \
         CASE WHEN v.column14 IS NULL THEN {pending} ELSE {expired} END, \
         v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, \
         v.column9, v.column10, v.column11, v.column12, v.column13, v.column14, \
         CASE WHEN v.column14 IS NULL THEN NULL ELSE v.column12 END, \
         v.column15, v.column16, v.column18, v.column19, v.column20, v.column21, v.column22, \
         v.column23 \
         FROM (VALUES {values}) AS v WHERE v.column1 IS NOT NULL ORDER BY v.column17 \
         {SKIP_DUPLICATES} RETURNING id",
        pending = lit(Transition::Put.to()),
        expired = lit(Transition::Expire.to()),
        values = batch::values(rows, INSERT_COLUMNS),
    )
}

pub(super) static INSERT: Statements = Statements::new(insert_sql);

/// A retry policy as the `retry` columns store it.
pub(super) fn retry_text(policy: Option<&crate::model::RetryPolicy>) -> Option<String> {
    policy.map(|p| serde_json::to_string(p).expect("a retry policy serializes to JSON"))
}

/// Binds one chunk's values for [`INSERT`] at its bucket's size (the
/// rows past the chunk NULL).
pub(super) fn bind_insert<'q>(
    args: &mut SqliteArguments<'q>,
    jobs: &'q [NewJob],
) -> Result<(), sqlx::Error> {
    let rows = batch::bucket(jobs.len());
    for (position, job) in jobs.iter().enumerate() {
        let limits = (!job.limits.is_empty())
            .then(|| serde_json::to_string(&job.limits).expect("limits serialize to JSON"));
        bind(args, job.id.0)?;
        bind(args, job.queue.as_str())?;
        bind(args, job.module.as_str())?;
        bind(args, job.module_name.as_deref())?;
        bind(args, job.function.as_str())?;
        bind(args, job.args.to_string())?;
        bind(args, limits)?;
        bind(args, ms(job.begin_after))?;
        bind(args, job.scheduled)?;
        bind(args, row::begin_by(job.begin_by_ms))?;
        bind(args, job.parent.map(|p| p.0))?;
        bind(args, ms(job.created_at))?;
        bind(args, row::quota_names(&job.quota_names))?;
        bind(
            args,
            job.expired
                .then(|| job_failure_text(&Failure::not_started())),
        )?;
        bind(args, job.schedule.map(|run| run.schedule_id.0))?;
        bind(args, job.schedule.map(|run| ms(run.occurrence)))?;
        bind(args, position as i64)?;
        bind(args, retry_text(job.retry.as_ref()))?;
        bind(args, job.token.map(|t| t.0))?;
        bind(args, job.priority)?;
        bind(args, job.unique.as_ref().map(|u| u.key.as_str()))?;
        bind(args, job.unique.as_ref().map_or(0, |u| u.states))?;
        bind(args, crate::store::unique::derived_column(job))?;
    }
    for _ in jobs.len() * INSERT_COLUMNS..rows * INSERT_COLUMNS {
        bind(args, None::<i64>)?;
    }
    Ok(())
}

/// Inserts one chunk (at most [`batch::MAX_ROWS`] jobs) in one statement,
/// adding the ids inserted to `inserted`.
async fn insert_chunk(
    conn: &mut SqliteConnection,
    jobs: &[NewJob],
    inserted: &mut Vec<uuid::Uuid>,
) -> Result<(), sqlx::Error> {
    let mut args = SqliteArguments::default();
    bind_insert(&mut args, jobs)?;
    let sql = INSERT.get(batch::bucket(jobs.len()));
    for row in sqlx::query_with(sql, args).fetch_all(&mut *conn).await? {
        inserted.push(row.try_get(0)?);
    }
    Ok(())
}

/// A put of one chunk and its claims in one trip (see
/// [`TunedJobs::insert_chunk_claiming`]).
async fn insert_chunk_claiming(
    writer: &Writer,
    jobs: &[NewJob],
    claims: &[JobClaimParams],
    ids: &mut Ids,
) -> Result<Vec<Vec<Job>>, PutFailed> {
    let inserts = !jobs.is_empty();
    let failed = |failed: TripFailed| match failed.statement {
        Some(0) if inserts => PutFailed::Insert(failed.error),
        _ => PutFailed::Other(failed.error.into()),
    };
    let mut trip = OneTrip::writing_first();
    if inserts {
        let sql = INSERT.get(batch::bucket(jobs.len()));
        trip.push(sql, |args| bind_insert(args, jobs))
            .map_err(failed)?;
    }
    // The pattern lists are bound by reference: they outlive the trip.
    let shapes: Vec<(usize, Vec<String>)> = claims.iter().map(filter_shape).collect();
    for (params, (shape, patterns)) in claims.iter().zip(&shapes) {
        let sql = &CLAIM[usize::from(params.start)][*shape];
        trip.push_numbered(sql, |args, n| bind_claim_param(args, params, patterns, n))
            .map_err(failed)?;
    }
    let mut answers = trip.run(writer).await.map_err(failed)?.into_iter();
    if inserts {
        for row in answers.next().unwrap_or_default() {
            ids.push(row.try_get(0).map_err(|e| PutFailed::Other(e.into()))?);
        }
    }
    answers
        .map(|rows| {
            let claimed = rows.iter().map(row::job).collect::<Result<Vec<_>>>()?;
            Ok(in_queue_order(claimed))
        })
        .collect::<Result<Vec<_>>>()
        .map_err(PutFailed::Other)
}

/// A put's statements in a write transaction (the insert's steps are
/// written once, in `store/puts.rs`).
#[async_trait]
impl PutTx for SqliteTx<'_> {
    async fn insert_chunk(&mut self, jobs: &[NewJob], ids: &mut Ids) -> Result<(), sqlx::Error> {
        insert_chunk(self.0, jobs, ids).await
    }

    async fn claim_in_one_statement(&mut self, params: &JobClaimParams) -> Result<Vec<(i64, Job)>> {
        super::claim::claim_in_one_statement(&mut *self.0, params).await
    }
}

use async_trait::async_trait;

use super::claim::{CLAIM, bind_claim_param, claim_in_one_statement, filter_shape, start_many};
use super::finish::finish_many;
use super::one_trip::{self, OneTrip, TripFailed};
use crate::store::jobs::TunedJobs;
use crate::store::puts::PutFailed;
use crate::store::queue::in_queue_order;
use crate::store::{FinishReport, JobClaimParams, JobFinishParams, JobStartParams, JobStarted};

/// The job statements this backend tunes; the rest of [`JobStore`] and
/// [`ClaimStore`] is written once over them (`store/jobs.rs`).
///
/// [`JobStore`]: crate::store::JobStore
/// [`ClaimStore`]: crate::store::ClaimStore
#[async_trait]
impl TunedJobs for SqliteStore {
    fn insert_rows_max(&self) -> usize {
        batch::MAX_ROWS
    }

    async fn insert_alone(&self, jobs: &[NewJob], ids: &mut Ids) -> Result<(), sqlx::Error> {
        insert_chunk(&mut *self.writer.acquire().await?, jobs, ids).await
    }

    /// `BEGIN`, the insert, each claim and `COMMIT` as one command to the
    /// writer's thread (`one_trip.rs`): one round trip instead of four,
    /// for a put of at most [`one_trip::ROWS_MAX`] jobs.
    async fn insert_chunk_claiming(
        &self,
        jobs: &[NewJob],
        claims: &[JobClaimParams],
        ids: &mut Ids,
    ) -> Option<Result<Vec<Vec<Job>>, PutFailed>> {
        if jobs.len() > one_trip::ROWS_MAX {
            return None;
        }
        Some(insert_chunk_claiming(&self.writer, jobs, claims, ids).await)
    }

    async fn claim_alone(&self, params: &JobClaimParams) -> Result<Vec<(i64, Job)>> {
        claim_in_one_statement(&mut *self.writer.acquire().await?, params).await
    }

    async fn claim_apart(&self, params: &JobClaimParams, limit: u32) -> Result<Vec<(i64, Job)>> {
        super::quota::claim(self, params, limit).await
    }

    async fn start_jobs(&self, params: JobStartParams) -> Result<Vec<JobStarted>> {
        start_many(self, params).await
    }

    async fn finish_jobs(&self, params: &[JobFinishParams]) -> Result<FinishReport> {
        finish_many(self, params).await
    }
}
