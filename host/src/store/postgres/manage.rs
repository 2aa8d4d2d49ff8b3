//! The management tools on PostgreSQL ([`ManageStore`]): cancel, job
//! queries, removal and retention of finished jobs, pauses (a resume is
//! announced, so every process's dispatcher looks again at once), named
//! jobs and the recent polls. Statistics are in `stats.rs`.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder, Row as _};
use uuid::Uuid;

use super::PgStore;
use super::callbacks::PgTx;
use super::claim::like_patterns;
use super::notify::put_payloads;
use super::row::{self, JOB_COLUMNS, json_text, lit, ms};
use crate::clock;
use crate::model::{
    DispatcherId, DispatcherStats, Failure, Job, JobFilter, JobId, JobName, JobStatus, PollRecord,
    QueryState, RemovalReport, TimeRange, Timestamp, Transition,
};
use crate::store::settle;
use crate::store::{
    CancelReport, DispatcherStatsParams, Error, JobCancelParams, JobOrder, JobQueryParams,
    JobRemoveParams, JobRetainParams, ManageStore, Pauses, PollRecordParams, Result,
};

/// Cancels a job that has not completed (pending, detached, claimed or
/// running): the four transitions end in the same status, so one guarded
/// statement serves them all.
static CANCEL: LazyLock<String> = LazyLock::new(|| {
    let (queued, detached) = (Transition::Cancel, Transition::CancelDetached);
    let (claimed, running) = (Transition::CancelClaimed, Transition::CancelRunning);
    debug_assert!(
        [detached, claimed, running]
            .iter()
            .all(|t| t.to() == queued.to())
    );
    // A job a dispatcher holds gets the failure that says its run stopped.
    format!(
        "UPDATE jobs SET status = {to}, completed_at = $3, \
         failure = CASE WHEN status IN ({claimed}, {running}) THEN $4::json ELSE $2::json END \
         WHERE id = $1 AND status IN ({queued}, {detached}, {claimed}, {running}) \
         RETURNING {JOB_COLUMNS}",
        to = lit(queued.to()),
        queued = lit(queued.from()),
        detached = lit(detached.from()),
        claimed = lit(claimed.from()),
        running = lit(running.from()),
    )
});

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

/// The SQL condition selecting a [`QueryState`] (statuses as literals).
fn state_condition(state: QueryState) -> String {
    let completed = lit(JobStatus::Completed);
    match state {
        QueryState::Status(status) => format!("status = {}", lit(status)),
        QueryState::Succeeded => format!("(status = {completed} AND failure IS NULL)"),
        QueryState::Failed => format!("(status = {completed} AND failure IS NOT NULL)"),
    }
}

/// The statuses retention and removal may delete.
fn finished() -> String {
    format!(
        "status IN ({}, {})",
        lit(JobStatus::Completed),
        lit(JobStatus::Cancelled)
    )
}

/// Our glob (`*`, `?`) as a `LIKE` pattern.
fn like(pattern: &str) -> String {
    like_patterns(&[pattern.to_owned()]).remove(0)
}

fn push_range(q: &mut QueryBuilder<'_, Postgres>, column: &str, range: &TimeRange) {
    if let Some(since) = range.since {
        q.push(format!(" AND {column} >= ")).push_bind(ms(since));
    }
    if let Some(before) = range.before {
        q.push(format!(" AND {column} < ")).push_bind(ms(before));
    }
}

/// Appends ` AND …` for every filter set.
fn push_filter(q: &mut QueryBuilder<'_, Postgres>, f: &JobFilter) {
    if !f.states.is_empty() {
        let states: Vec<String> = f.states.iter().map(|s| state_condition(*s)).collect();
        q.push(format!(" AND ({})", states.join(" OR ")));
    }
    if let Some(module) = &f.module {
        let pattern = like(module);
        q.push(" AND (module_name LIKE ")
            .push_bind(pattern.clone())
            .push(" OR module LIKE ")
            .push_bind(pattern)
            .push(")");
    }
    if let Some(function) = &f.function {
        q.push(" AND function LIKE ").push_bind(like(function));
    }
    if let Some(queue) = &f.queue {
        q.push(" AND queue = ").push_bind(queue.clone());
    }
    if let Some(agent) = &f.agent {
        q.push(" AND agent = ").push_bind(agent.clone());
    }
    if let Some(dispatcher) = f.dispatcher {
        q.push(" AND dispatcher = ").push_bind(dispatcher.0);
    }
    push_range(q, "begin_after", &f.requested_start);
    push_range(q, "started_at", &f.start);
    push_range(q, "completed_at", &f.end);
}

fn job_name(row: &sqlx::postgres::PgRow) -> Result<JobName> {
    Ok(JobName {
        name: row.try_get(0)?,
        module: row.try_get(1)?,
        function: row.try_get(2)?,
        queue: row.try_get(3)?,
        args: row.try_get(4)?,
        created_at: clock::from_millis(row.try_get(5)?),
        updated_at: clock::from_millis(row.try_get(6)?),
    })
}

const JOB_NAME_COLUMNS: &str = "name, module, function, queue, args, created_at, updated_at";

fn no_job_name(name: &str) -> Error {
    Error::not_found(format!("job name `{name}`"))
}

fn no_dispatcher(id: DispatcherId) -> Error {
    Error::not_found(format!("dispatcher {id}"))
}

async fn dispatcher_exists(db: &PgStore, id: DispatcherId) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM dispatchers WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&db.pool)
        .await?;
    found.map(|_| ()).ok_or_else(|| no_dispatcher(id))
}

#[async_trait]
impl ManageStore for PgStore {
    async fn job_cancel(&self, p: JobCancelParams) -> Result<CancelReport> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&CANCEL)
            .bind(p.id.0)
            .bind(json_text(&Failure::cancelled()))
            .bind(ms(p.now))
            .bind(json_text(&Failure::cancelled_while_held()))
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            drop(tx);
            let job = super::job::get(self, p.id).await?;
            return Err(Error::Conflict(format!(
                "job {} is {}: only a job that has not completed can be cancelled",
                job.id, job.status
            )));
        };
        let (_, job) = row::job(&row)?;
        // A cancelled job has its result (the `cancelled` failure): its
        // waiters complete with it and its failure callbacks run.
        let settled = settle::settle(
            &mut PgTx::new(&mut tx, self, vec![p.id.0]),
            vec![p.id],
            p.now,
        )
        .await?;
        tx.commit().await?;
        let mut cascaded = settled.completed;
        cascaded.sort();
        Ok(CancelReport {
            job,
            cascaded,
            queues: settled.queues.into_iter().collect(),
        })
    }

    async fn job_query(&self, p: JobQueryParams) -> Result<Vec<Job>> {
        let mut q = QueryBuilder::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1"));
        push_filter(&mut q, &p.filter);
        match p.order {
            JobOrder::Created => {
                if let Some(after) = p.after {
                    q.push(" AND id > ").push_bind(after.0);
                }
                q.push(" ORDER BY id");
            }
            JobOrder::LatestCompleted => {
                q.push(" ORDER BY completed_at DESC NULLS LAST, seq DESC");
            }
        }
        q.push(" LIMIT ").push_bind(i64::from(p.limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        row::jobs(&rows)
    }

    async fn job_count(&self, filter: &JobFilter) -> Result<u64> {
        let mut q = QueryBuilder::new("SELECT count(*) FROM jobs WHERE 1 = 1");
        push_filter(&mut q, filter);
        let count: i64 = q.build_query_scalar::<i64>().fetch_one(&self.pool).await?;
        Ok(count as u64)
    }

    async fn job_remove_finished(&self, p: JobRemoveParams) -> Result<RemovalReport> {
        let mut tx = self.begin().await?;
        let mut report = RemovalReport::new();
        for state in p.states {
            let mut q = QueryBuilder::new(format!(
                "DELETE FROM jobs WHERE {} AND {}",
                finished(),
                state_condition(state)
            ));
            if let Some(queue) = &p.queue {
                q.push(" AND queue = ").push_bind(queue.clone());
            }
            let removed = q.build().execute(&mut *tx).await?.rows_affected();
            *report.entry(state.to_string()).or_default() += removed;
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn job_retain(&self, p: JobRetainParams) -> Result<u64> {
        let mut removed = 0;
        if let Some(before) = p.completed_before {
            let sql = format!(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
                   WHERE {} AND completed_at < $1 ORDER BY completed_at LIMIT $2)",
                finished()
            );
            removed += sqlx::query(&sql)
                .bind(ms(before))
                .bind(i64::from(p.limit))
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        if let Some(keep) = p.keep_latest
            && removed < u64::from(p.limit)
        {
            let sql = format!(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE {} \
                   ORDER BY completed_at DESC, seq DESC LIMIT $1 OFFSET $2)",
                finished()
            );
            removed += sqlx::query(&sql)
                .bind(i64::from(p.limit) - removed as i64)
                .bind(i64::try_from(keep).unwrap_or(i64::MAX))
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }

    async fn queue_pause(&self, queue: &str, now: Timestamp) -> Result<()> {
        super::queue::exists(self, queue).await?;
        sqlx::query(
            "INSERT INTO queue_pauses (queue, paused_at) VALUES ($1, $2) \
             ON CONFLICT (queue) DO NOTHING",
        )
        .bind(queue)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| foreign_key_as_not_found(e, || super::queue::what(queue)))?;
        Ok(())
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        super::queue::exists(self, queue).await?;
        sqlx::query(
            "WITH gone AS (DELETE FROM queue_pauses WHERE queue = $1 RETURNING queue) \
             SELECT pg_notify($2, p) FROM gone, unnest($3::text[]) AS p",
        )
        .bind(queue)
        .bind(&*self.channel)
        .bind(put_payloads([queue]))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn dispatcher_pause(&self, id: DispatcherId, now: Timestamp) -> Result<()> {
        dispatcher_exists(self, id).await?;
        sqlx::query(
            "INSERT INTO dispatcher_pauses (dispatcher, paused_at) VALUES ($1, $2) \
             ON CONFLICT (dispatcher) DO NOTHING",
        )
        .bind(id.0)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| foreign_key_as_not_found(e, || format!("dispatcher {id}")))?;
        Ok(())
    }

    async fn dispatcher_resume(&self, id: DispatcherId) -> Result<()> {
        dispatcher_exists(self, id).await?;
        sqlx::query(
            "WITH gone AS (DELETE FROM dispatcher_pauses WHERE dispatcher = $1 \
               RETURNING dispatcher) \
             SELECT pg_notify($2, json_build_object('agents', gone.dispatcher)::text) FROM gone",
        )
        .bind(id.0)
        .bind(&*self.channel)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pause_list(&self) -> Result<Pauses> {
        let queues: Vec<(String, i64)> =
            sqlx::query_as("SELECT queue, paused_at FROM queue_pauses ORDER BY queue")
                .fetch_all(&self.pool)
                .await?;
        let dispatchers: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT dispatcher, paused_at FROM dispatcher_pauses ORDER BY dispatcher",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Pauses {
            queues: queues
                .into_iter()
                .map(|(q, t)| (q, clock::from_millis(t)))
                .collect(),
            dispatchers: dispatchers
                .into_iter()
                .map(|(d, t)| (DispatcherId(d), clock::from_millis(t)))
                .collect(),
        })
    }

    async fn job_name_set(&self, n: &JobName) -> Result<JobName> {
        let sql = format!(
            "INSERT INTO job_names ({JOB_NAME_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5::json, $6, $6) \
             ON CONFLICT (name) DO UPDATE SET module = excluded.module, \
               function = excluded.function, queue = excluded.queue, args = excluded.args, \
               updated_at = excluded.updated_at \
             RETURNING {JOB_NAME_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&n.name)
            .bind(&n.module)
            .bind(&n.function)
            .bind(&n.queue)
            .bind(json_text(&n.args))
            .bind(ms(n.updated_at))
            .fetch_one(&self.pool)
            .await?;
        job_name(&row)
    }

    async fn job_name_get(&self, name: &str) -> Result<JobName> {
        let sql = format!("SELECT {JOB_NAME_COLUMNS} FROM job_names WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| no_job_name(name))?;
        job_name(&row)
    }

    async fn job_name_list(&self) -> Result<Vec<JobName>> {
        let sql = format!("SELECT {JOB_NAME_COLUMNS} FROM job_names ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(job_name).collect()
    }

    async fn job_name_delete(&self, name: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM job_names WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(no_job_name(name));
        }
        Ok(())
    }

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

    async fn dispatcher_stats(&self, p: DispatcherStatsParams) -> Result<DispatcherStats> {
        super::stats::dispatcher_stats(self, p).await
    }
}

/// A foreign key failure (the queue or dispatcher went away between the
/// check and the write) as [`Error::NotFound`].
fn foreign_key_as_not_found(error: sqlx::Error, what: impl FnOnce() -> String) -> Error {
    match &error {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => Error::not_found(what()),
        _ => error.into(),
    }
}
