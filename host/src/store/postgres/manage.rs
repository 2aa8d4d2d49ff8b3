//! The management tools on PostgreSQL ([`ManageStore`]): cancel, job
//! queries, removal and retention, pauses and named jobs are written once
//! in `store/` (`cancel.rs`, `job_query.rs`, `pauses.rs`, `job_names.rs`);
//! here are the transactions they run in, and the recent polls, whose
//! list of jobs each backend stores its own way. Statistics are in
//! `stats.rs`.

use async_trait::async_trait;
use sqlx::Row as _;
use tracing::instrument;
use uuid::Uuid;

use super::PgStore;
use super::row::ms;
use super::tx::PgTx;
use crate::clock;
use crate::model::{
    DispatcherId, DispatcherStats, Job, JobFilter, JobId, JobName, PollRecord, RemovalReport,
    Timestamp,
};
use crate::store::statement::SqlBackend;
use crate::store::{
    CancelReport, DispatcherStatsParams, JobCancelParams, JobQueryParams, JobRemoveParams,
    JobRetainParams, ManageStore, Pauses, PollRecordParams, Result,
};
use crate::store::{cancel, job_names, job_query, pauses};

/// True when a claim of `queue` by `dispatcher` must take nothing: the
/// queue or the dispatcher is paused. The plain claim statement tests the
/// same in itself; this is read before a quota claim.
static PAUSED: &str = "SELECT EXISTS (SELECT 1 FROM queue_pauses WHERE queue = $1) \
     OR EXISTS (SELECT 1 FROM dispatcher_pauses WHERE dispatcher = $2)";

/// Whether a claim must take nothing (see [`PAUSED`]).
pub(super) async fn paused(db: &PgStore, queue: &str, dispatcher: DispatcherId) -> Result<bool> {
    Ok(sqlx::query_scalar(PAUSED)
        .bind(queue)
        .bind(dispatcher.0)
        .fetch_one(&db.pool)
        .await?)
}

#[async_trait]
impl ManageStore for PgStore {
    #[instrument(level = "debug", skip_all)]
    async fn job_cancel(&self, p: JobCancelParams) -> Result<CancelReport> {
        let mut tx = self.begin().await?;
        let Some(report) = cancel::cancel(&mut PgTx::new(&mut tx, self, Vec::new()), &p).await?
        else {
            drop(tx);
            let job = super::job::get(self, p.id).await?;
            return Err(cancel::not_cancellable(&job));
        };
        tx.commit().await?;
        Ok(report)
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_query(&self, p: JobQueryParams) -> Result<Vec<Job>> {
        job_query::query(&mut self.reads(), &p).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_count(&self, filter: &JobFilter) -> Result<u64> {
        job_query::count(&mut self.reads(), filter).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_remove_finished(&self, p: JobRemoveParams) -> Result<RemovalReport> {
        let mut tx = self.begin().await?;
        let report =
            job_query::remove_finished(&mut PgTx::new(&mut tx, self, Vec::new()), &p).await?;
        tx.commit().await?;
        Ok(report)
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_retain(&self, p: JobRetainParams) -> Result<u64> {
        job_query::retain(&mut self.writes(), &p).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_pause(&self, queue: &str, now: Timestamp) -> Result<()> {
        pauses::queue_pause(&mut self.writes(), queue, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_resume(&self, queue: &str) -> Result<()> {
        pauses::queue_resume(&mut self.writes(), queue).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_pause(&self, id: DispatcherId, now: Timestamp) -> Result<()> {
        pauses::dispatcher_pause(&mut self.writes(), id, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_resume(&self, id: DispatcherId) -> Result<()> {
        pauses::dispatcher_resume(&mut self.writes(), id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn pause_list(&self) -> Result<Pauses> {
        pauses::list(&mut self.reads()).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_name_set(&self, n: &JobName) -> Result<JobName> {
        job_names::set(&mut self.writes(), n).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_name_get(&self, name: &str) -> Result<JobName> {
        job_names::get(&mut self.reads(), name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_name_list(&self) -> Result<Vec<JobName>> {
        job_names::list(&mut self.reads()).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_name_delete(&self, name: &str) -> Result<()> {
        job_names::delete(&mut self.writes(), name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn poll_record_many(&self, polls: &[PollRecordParams]) -> Result<Vec<i64>> {
        if polls.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let mut ids = Vec::with_capacity(polls.len());
        for p in polls {
            let jobs: Vec<Uuid> = p.jobs.iter().map(|id| id.0).collect();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO polls (dispatcher, queue, agent, polled_at, jobs) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(p.dispatcher.0)
            .bind(&p.queue)
            .bind(&p.agent)
            .bind(ms(p.now))
            .bind(jobs)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        let mut bounded: Vec<(DispatcherId, u32)> =
            polls.iter().map(|p| (p.dispatcher, p.keep)).collect();
        bounded.sort();
        bounded.dedup_by_key(|(dispatcher, _)| *dispatcher);
        for (dispatcher, keep) in bounded {
            sqlx::query(
                "DELETE FROM polls WHERE dispatcher = $1 AND id <= \
                   (SELECT id FROM polls WHERE dispatcher = $1 ORDER BY id DESC \
                    LIMIT 1 OFFSET $2)",
            )
            .bind(dispatcher.0)
            .bind(i64::from(keep))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    #[instrument(level = "debug", skip_all)]
    async fn poll_list(&self, dispatcher: DispatcherId, limit: u32) -> Result<Vec<PollRecord>> {
        let rows = sqlx::query(
            "SELECT id, dispatcher, queue, agent, polled_at, jobs FROM polls \
             WHERE dispatcher = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(dispatcher.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let jobs: Vec<Uuid> = r.try_get(5)?;
                Ok(PollRecord {
                    id: r.try_get(0)?,
                    dispatcher: DispatcherId(r.try_get(1)?),
                    queue: r.try_get(2)?,
                    agent: r.try_get(3)?,
                    polled_at: clock::from_millis(r.try_get(4)?),
                    jobs: jobs.into_iter().map(JobId).collect(),
                })
            })
            .collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn poll_of_job(&self, dispatcher: DispatcherId, job: JobId) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM polls WHERE dispatcher = $1 AND $2 = ANY (jobs) \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(dispatcher.0)
        .bind(job.0)
        .fetch_optional(&self.pool)
        .await?)
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_stats(&self, p: DispatcherStatsParams) -> Result<DispatcherStats> {
        super::stats::dispatcher_stats(self, p).await
    }
}
