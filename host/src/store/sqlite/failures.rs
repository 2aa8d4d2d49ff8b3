//! Failures: retries of failed runs, the history of failed attempts
//! (`job_attempts`), dead dispatchers' rescue and jobs handed back at
//! shutdown (migration 0006). The retry policy decides (`model::retry`);
//! these statements read what it needs and write its verdict, each write
//! guarded by the status a [`Transition`] names and by the dispatcher.
//!
//! Every operation here is one `BEGIN IMMEDIATE` transaction: SQLite has
//! one writer at a time, so two processes rescuing the same dead
//! dispatcher run one after the other, and the second finds nothing left
//! to do.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::{Row as _, Sqlite, Transaction};
use uuid::Uuid;

use super::SqliteStore;
use super::job::{job_failure_text, retry_text};
use super::queue;
use super::row::{self, lit, ms};
use super::tx::SqliteTx;
use crate::clock;
use crate::model::{
    Attempt, CapturedOutput, DispatcherId, Failure, JobId, JobStatus, Process, RetryPolicy,
    Timestamp, Transition,
};
use crate::store::failures::{self, ActiveRun, AttemptRecord, FailureTx, RunningJob};
use crate::store::identity::{self, DispatcherPingParams, Ping};
use crate::store::sql::settled_status;
use crate::store::{
    DispatcherRescueParams, Error, HandBackParams, HandBackReport, JobRetryParams, Result,
    RetryVerdict,
};

const T: &str = "job_attempts";

fn policy(text: Option<String>) -> Result<Option<RetryPolicy>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| row::corrupt("jobs", e)))
        .transpose()
}

/// Records the failed attempts of jobs a finish just completed with a
/// failure, from their rows: one statement per chunk.
pub(super) async fn record_finished_failures(
    tx: &mut Transaction<'static, Sqlite>,
    ids: &[JobId],
) -> Result<()> {
    for chunk in ids.chunks(super::batch::MAX_ROWS) {
        let rows = super::batch::bucket(chunk.len());
        let sql = format!(
            "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
             SELECT id, attempts, dispatcher, json_extract(failure, '$.kind'), failure, \
             completed_at FROM jobs WHERE id IN ({}) AND failure IS NOT NULL",
            super::batch::placeholders(rows)
        );
        let mut query = sqlx::query(&sql);
        for id in super::batch::padded(chunk, rows) {
            query = query.bind(id.0);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The active run of a job, as a retry decision needs it: its own and its
/// queue's policies, its start count, and its failures so far (failed runs
/// apart from interruptions).
static RUN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT jobs.retry, queues.retry, jobs.attempts, \
           (SELECT count(*) FROM job_attempts AS a WHERE a.job = jobs.id \
            AND a.kind <> 'interrupted'), jobs.queue \
         FROM jobs LEFT JOIN queues ON queues.name = jobs.queue \
         WHERE jobs.id = ?1 AND jobs.status = {active} AND jobs.dispatcher = ?2 \
         AND jobs.awaiting IS NULL",
        active = lit(JobStatus::Active)
    )
});

/// Back to the queue after a failed run: due after the backoff, and
/// `scheduled` so that once due it goes before plain jobs put since.
static RETRY_LATER: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Retry;
    format!(
        "UPDATE jobs SET status = {to}, begin_after = ?3, scheduled = 1, stdout = ?4, \
         stderr = ?5 WHERE id = ?1 AND status = {from} AND dispatcher = ?2 \
         AND awaiting IS NULL",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

/// A run failed: retries the job if its policy says so (see
/// [`crate::store::Store::job_retry`]).
pub(super) async fn retry(db: &SqliteStore, p: JobRetryParams) -> Result<RetryVerdict> {
    let mut tx = db.begin().await?;
    let verdict = failures::retry(&mut SqliteTx(&mut tx), &p).await?;
    if matches!(verdict, RetryVerdict::Retried { .. }) {
        tx.commit().await?;
    }
    Ok(verdict)
}

/// A job's failed attempts, oldest first.
pub(super) async fn attempts(db: &SqliteStore, id: JobId) -> Result<Vec<Attempt>> {
    let rows = sqlx::query(
        "SELECT attempt, dispatcher, failure, failed_at, \
           (SELECT 1 FROM jobs WHERE id = ?1) FROM job_attempts WHERE job = ?1 \
         ORDER BY failed_at, rowid",
    )
    .bind(id.0)
    .fetch_all(&db.reader)
    .await?;
    if rows.is_empty() {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = ?1")
            .bind(id.0)
            .fetch_optional(&db.reader)
            .await?;
        if exists.is_none() {
            return Err(Error::not_found(format!("job {id}")));
        }
    }
    rows.iter()
        .map(|r| {
            Ok(Attempt {
                attempt: row::to_u32(T, "attempt", r.try_get(0)?)?,
                dispatcher: r.try_get::<Option<Uuid>, _>(1)?.map(DispatcherId),
                failure: row::json(T, "failure", &r.try_get::<String, _>(2)?)?,
                failed_at: clock::from_millis(r.try_get(3)?),
            })
        })
        .collect()
}

/// A queue's default retry policy.
pub(super) async fn queue_retry_get(db: &SqliteStore, name: &str) -> Result<Option<RetryPolicy>> {
    let text: Option<Option<String>> =
        sqlx::query_scalar("SELECT retry FROM queues WHERE name = ?1")
            .bind(name)
            .fetch_optional(&db.reader)
            .await?;
    match text {
        Some(text) => policy(text),
        None => Err(Error::not_found(queue::what(name))),
    }
}

/// Sets or clears a queue's default retry policy.
pub(super) async fn queue_retry_set(
    db: &SqliteStore,
    name: &str,
    policy: Option<RetryPolicy>,
) -> Result<()> {
    let changed = sqlx::query("UPDATE queues SET retry = ?2 WHERE name = ?1")
        .bind(name)
        .bind(retry_text(policy.as_ref()))
        .execute(&db.writer)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(Error::not_found(queue::what(name)));
    }
    Ok(())
}

/// Claimed, not started: back to the queue at the place they had (all of
/// them, or only job `?2`).
static RELEASE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Release;
    format!(
        "UPDATE jobs SET status = {to} WHERE dispatcher = ?1 AND status = {from} \
         AND (?2 IS NULL OR id = ?2) RETURNING id, queue",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

/// The running jobs of a dispatcher (not those parked awaiting another
/// job: their run is over, the awaited job's completion finishes them),
/// with what their retry policy needs (all of them, or only job `?2`).
static RUNNING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT jobs.id, jobs.queue, jobs.attempts, jobs.retry, queues.retry, \
           (SELECT count(*) FROM job_attempts AS a WHERE a.job = jobs.id \
            AND a.kind = 'interrupted') \
         FROM jobs LEFT JOIN queues ON queues.name = jobs.queue \
         WHERE jobs.dispatcher = ?1 AND jobs.status = {active} AND jobs.awaiting IS NULL \
         AND (?2 IS NULL OR jobs.id = ?2)",
        active = lit(JobStatus::Active)
    )
});

/// Back to its place at the front of its queue: `begin_after` and `seq`
/// are what they were, so it goes before every job put after it.
static RETRY_NOW: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Retry;
    format!(
        "UPDATE jobs SET status = {to} WHERE id = ?1 AND status = {from} AND dispatcher = ?2 \
         AND awaiting IS NULL",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

static ABORT: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Abort;
    format!(
        "UPDATE jobs SET status = {to}, failure = ?3, completed_at = ?4 \
         WHERE id = ?1 AND status = {from} AND dispatcher = ?2 AND awaiting IS NULL",
        from = lit(t.from()),
        to = settled_status(t, "jobs"),
    )
});

/// Hands back every job a dispatcher holds, in one transaction.
pub(super) async fn hand_back(db: &SqliteStore, p: HandBackParams) -> Result<HandBackReport> {
    let mut tx = db.begin().await?;
    let report = failures::hand_back(&mut SqliteTx(&mut tx), &p).await?;
    tx.commit().await?;
    Ok(report)
}

/// Dead dispatchers: not the rescuer, last ping before the cutoff, and
/// either still active or still holding jobs (a dispatcher that claimed
/// while wrongly declared dead, then died).
static DEAD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, last_ping_at FROM dispatchers AS d WHERE id <> ?1 AND last_ping_at < ?2 \
         AND (deactivated_at IS NULL OR EXISTS (SELECT 1 FROM jobs \
              WHERE jobs.dispatcher = d.id AND jobs.status IN ({assigned}, {active}) \
              AND jobs.awaiting IS NULL)) \
         ORDER BY id",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// Finds dead dispatchers and hands their jobs back, each in its own
/// transaction (see [`crate::store::Store::dispatcher_rescue`]): the
/// write lock is not held for longer than one dispatcher's jobs take.
pub(super) async fn rescue(
    db: &SqliteStore,
    p: DispatcherRescueParams,
) -> Result<Vec<HandBackReport>> {
    let mut reports = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let mut tx = db.begin().await?;
        let Some(report) = failures::rescue_next(&mut SqliteTx(&mut tx), &p, &mut seen).await?
        else {
            return Ok(reports);
        };
        tx.commit().await?;
        if !report.is_empty() {
            reports.push(report);
        }
    }
}

static MARK_RESCUED: &str = "UPDATE dispatchers SET deactivated_at = coalesce(deactivated_at, ?2), \
     rescued_by = CASE WHEN rescued_at IS NULL THEN ?3 ELSE rescued_by END, \
     rescued_at = coalesce(rescued_at, ?2) WHERE id = ?1";

#[async_trait]
impl FailureTx for SqliteTx<'_> {
    async fn active_run(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
    ) -> Result<Option<ActiveRun>> {
        let Some(run) = sqlx::query(&RUN)
            .bind(id.0)
            .bind(dispatcher.0)
            .fetch_optional(&mut **self.0)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(ActiveRun {
            job_policy: policy(run.try_get(0)?)?,
            queue_policy: policy(run.try_get(1)?)?,
            attempt: run.try_get(2)?,
            failures: run.try_get(3)?,
            queue: run.try_get(4)?,
        }))
    }

    async fn retry_later(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
        at: Timestamp,
        output: &CapturedOutput,
    ) -> Result<bool> {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let moved = sqlx::query(&RETRY_LATER)
            .bind(id.0)
            .bind(dispatcher.0)
            .bind(ms(at))
            .bind(text(&output.stdout))
            .bind(text(&output.stderr))
            .execute(&mut **self.0)
            .await?
            .rows_affected();
        Ok(moved > 0)
    }

    async fn record_attempt(&mut self, a: AttemptRecord<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(a.job.0)
        .bind(a.attempt)
        .bind(a.dispatcher.0)
        .bind(a.failure.kind.as_str())
        .bind(job_failure_text(a.failure))
        .bind(ms(a.now))
        .execute(&mut **self.0)
        .await?;
        Ok(())
    }

    async fn release(
        &mut self,
        dispatcher: DispatcherId,
        only: Option<JobId>,
    ) -> Result<Vec<(JobId, String)>> {
        let rows = sqlx::query(&RELEASE)
            .bind(dispatcher.0)
            .bind(only.map(|id| id.0))
            .fetch_all(&mut **self.0)
            .await?;
        rows.iter()
            .map(|r| Ok((JobId(r.try_get(0)?), r.try_get(1)?)))
            .collect()
    }

    async fn running(
        &mut self,
        dispatcher: DispatcherId,
        only: Option<JobId>,
    ) -> Result<Vec<RunningJob>> {
        let rows = sqlx::query(&RUNNING)
            .bind(dispatcher.0)
            .bind(only.map(|id| id.0))
            .fetch_all(&mut **self.0)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(RunningJob {
                    id: JobId(r.try_get(0)?),
                    queue: r.try_get(1)?,
                    attempt: r.try_get(2)?,
                    job_policy: policy(r.try_get(3)?)?,
                    queue_policy: policy(r.try_get(4)?)?,
                    interruptions: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn retry_now(&mut self, id: JobId, dispatcher: DispatcherId) -> Result<bool> {
        let moved = sqlx::query(&RETRY_NOW)
            .bind(id.0)
            .bind(dispatcher.0)
            .execute(&mut **self.0)
            .await?
            .rows_affected();
        Ok(moved > 0)
    }

    async fn abort(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<bool> {
        let moved = sqlx::query(&ABORT)
            .bind(id.0)
            .bind(dispatcher.0)
            .bind(job_failure_text(failure))
            .bind(ms(now))
            .execute(&mut **self.0)
            .await?
            .rows_affected();
        Ok(moved > 0)
    }

    async fn next_dead(
        &mut self,
        rescuer: DispatcherId,
        cutoff: Timestamp,
    ) -> Result<Option<(DispatcherId, Timestamp)>> {
        let row = sqlx::query(&DEAD)
            .bind(rescuer.0)
            .bind(ms(cutoff))
            .fetch_optional(&mut **self.0)
            .await?;
        row.map(|r| {
            Ok((
                DispatcherId(r.try_get(0)?),
                clock::from_millis(r.try_get(1)?),
            ))
        })
        .transpose()
    }

    async fn mark_rescued(
        &mut self,
        id: DispatcherId,
        rescuer: DispatcherId,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(MARK_RESCUED)
            .bind(id.0)
            .bind(ms(now))
            .bind(rescuer.0)
            .execute(&mut **self.0)
            .await?;
        Ok(())
    }

    /// SQLite has no announcements: other processes poll.
    async fn announce_puts(&mut self, _queues: &[String]) -> Result<()> {
        Ok(())
    }
}

/// Records a ping if the row still names the process; reactivates a
/// dispatcher declared dead meanwhile (see [`identity::ping_verdict`]).
pub(super) async fn ping(db: &SqliteStore, p: DispatcherPingParams) -> Result<Ping> {
    let mut tx = db.begin().await?;
    let current = sqlx::query("SELECT hostname, pid, rescued_at FROM dispatchers WHERE id = ?1")
        .bind(p.id.0)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| -> Result<(Process, bool)> {
            let process = Process {
                hostname: r.try_get(0)?,
                pid: row::to_u32("dispatchers", "pid", r.try_get(1)?)?,
            };
            Ok((process, r.try_get::<Option<i64>, _>(2)?.is_some()))
        })
        .transpose()?;
    let verdict = identity::ping_verdict(current, &p)?;
    match verdict {
        Ping::TakenOver { .. } => return Ok(verdict),
        Ping::Reactivated => sqlx::query(
            "UPDATE dispatchers SET last_ping_at = ?2, activated_at = ?2, \
             deactivated_at = NULL, rescued_at = NULL, rescued_by = NULL WHERE id = ?1",
        ),
        Ping::Alive => sqlx::query("UPDATE dispatchers SET last_ping_at = ?2 WHERE id = ?1"),
    }
    .bind(p.id.0)
    .bind(ms(p.now))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(verdict)
}

/// The jobs the store says a dispatcher holds (see
/// [`crate::store::Store::dispatcher_held_jobs`]): one range of
/// `jobs_in_flight`.
pub(super) static HELD_JOBS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id FROM jobs WHERE dispatcher = ?1 AND status IN ({assigned}, {active}) \
         AND (status = {assigned} OR awaiting IS NULL)",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// The jobs the store says a dispatcher holds.
pub(super) async fn held_jobs(db: &SqliteStore, id: DispatcherId) -> Result<Vec<JobId>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(&HELD_JOBS)
        .bind(id.0)
        .fetch_all(&db.reader)
        .await?;
    Ok(ids.into_iter().map(JobId).collect())
}

/// Rewrites the probe row (migration 0009) and commits.
pub(super) async fn probe(db: &SqliteStore, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE probes SET probed_at = ?1 WHERE id = 1")
        .bind(ms(now))
        .execute(&db.writer)
        .await?;
    Ok(())
}
