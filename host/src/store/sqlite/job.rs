//! `jobs`: puts, reads, pull, remove and put back. Claims
//! and starts are in `claim.rs`, finishes in `finish.rs`.

use sqlx::Row as _;
use sqlx::sqlite::SqliteConnection;

use super::SqliteStore;
use super::batch::{self, Statements};
use super::row::{self, lit, ms};
use super::tx::SqliteTx;
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

/// Inserts one chunk (at most [`batch::MAX_ROWS`] jobs) in one statement,
/// adding the ids inserted to `inserted`.
async fn insert_chunk(
    conn: &mut SqliteConnection,
    jobs: &[NewJob],
    inserted: &mut Vec<uuid::Uuid>,
) -> Result<(), sqlx::Error> {
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
            .bind(job.token.map(|t| t.0))
            .bind(job.priority)
            .bind(job.unique.as_ref().map(|u| u.key.as_str()))
            .bind(job.unique.as_ref().map_or(0, |u| u.states))
            .bind(crate::store::unique::derived_column(job));
    }
    for _ in jobs.len() * INSERT_COLUMNS..rows * INSERT_COLUMNS {
        query = query.bind(None::<i64>);
    }
    for row in query.fetch_all(&mut *conn).await? {
        inserted.push(row.try_get(0)?);
    }
    Ok(())
}

/// A put's statements in a write transaction (the insert's steps are
/// written once, in `store/puts.rs`).
#[async_trait]
impl PutTx for SqliteTx<'_> {
    async fn insert_chunk(&mut self, jobs: &[NewJob], ids: &mut Ids) -> Result<(), sqlx::Error> {
        insert_chunk(self.0, jobs, ids).await
    }

    async fn claim_in_one_statement(&mut self, params: &JobClaimParams) -> Result<Vec<(i64, Job)>> {
        super::claim::claim_in_one_statement(&mut **self.0, params).await
    }
}

use async_trait::async_trait;

use super::claim::{claim_in_one_statement, start_many};
use super::finish::finish_many;
use crate::store::jobs::TunedJobs;
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

    async fn claim_alone(&self, params: &JobClaimParams) -> Result<Vec<(i64, Job)>> {
        claim_in_one_statement(&self.writer, params).await
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
