//! Failures: retries of failed runs, the history of failed attempts
//! (`job_attempts`), dead dispatchers' rescue and jobs handed back at
//! shutdown: the same operations as SQLite's `failures.rs` (migration
//! 0006). The retry policy decides (`model::retry`); these statements
//! read what it needs and write its verdict.
//!
//! # Races between machines
//!
//! Several live dispatchers look for dead ones at once. Each takes a dead
//! dispatcher's row `FOR UPDATE SKIP LOCKED`: while one handles it, the
//! others skip it, and once it committed they find it deactivated with no
//! job left. The jobs themselves are locked (`FOR UPDATE`) before their
//! fate is decided, and every write is guarded by status and dispatcher,
//! so a job is handed back once whatever interleaving happens; a
//! dispatcher that comes back from a pause and finishes a run meanwhile
//! either wins the row first (its outcome stands, the job is no longer
//! active) or finds it handed back (its outcome is dropped).

use std::sync::LazyLock;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use super::PgStore;
use super::notify;
use super::queue;
use super::row::{self, from_json, json_text, lit, ms, output};
use super::tx::PgTx;
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

fn policy(value: Option<Value>) -> Result<Option<RetryPolicy>> {
    value.map(|v| from_json("jobs", "retry", v)).transpose()
}

/// Records the failed attempts of jobs a finish just completed with a
/// failure, from their rows: one statement. The kinds come along (rather
/// than `failure->>'kind'`, which PostgreSQL refuses for a failure holding
/// `\u0000`).
pub(super) async fn record_finished_failures(
    conn: &mut PgConnection,
    ids: &[Uuid],
    kinds: &[&str],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
         SELECT j.id, j.attempts, j.dispatcher, k.kind, j.failure, j.completed_at \
         FROM unnest($1::uuid[], $2::text[]) AS k(id, kind) JOIN jobs AS j ON j.id = k.id \
         WHERE j.failure IS NOT NULL",
    )
    .bind(ids)
    .bind(kinds)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The active run of a job, locked, as a retry decision needs it.
static RUN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT jobs.retry, queues.retry, jobs.attempts, \
           (SELECT count(*) FROM job_attempts AS a WHERE a.job = jobs.id \
            AND a.kind <> 'interrupted'), jobs.queue \
         FROM jobs LEFT JOIN queues ON queues.name = jobs.queue \
         WHERE jobs.id = $1 AND jobs.status = {active} AND jobs.dispatcher = $2 \
         AND jobs.awaiting IS NULL FOR UPDATE OF jobs",
        active = lit(JobStatus::Active)
    )
});

/// Back to the queue after a failed run, due after the backoff.
static RETRY_LATER: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Retry;
    format!(
        "UPDATE jobs SET status = {to}, begin_after = $3, scheduled = true, stdout = $4, \
         stderr = $5 WHERE id = $1 AND status = {from} AND dispatcher = $2 \
         AND awaiting IS NULL",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

/// A run failed: retries the job if its policy says so.
pub(super) async fn retry(db: &PgStore, p: JobRetryParams) -> Result<RetryVerdict> {
    let mut tx = db.begin().await?;
    let verdict = failures::retry(&mut PgTx::new(&mut tx, db, Vec::new()), &p).await?;
    if matches!(verdict, RetryVerdict::Retried { .. }) {
        tx.commit().await?;
    }
    Ok(verdict)
}

/// A job's failed attempts, oldest first.
pub(super) async fn attempts(db: &PgStore, id: JobId) -> Result<Vec<Attempt>> {
    let rows = sqlx::query(
        "SELECT attempt, dispatcher, failure, failed_at FROM job_attempts WHERE job = $1 \
         ORDER BY failed_at, ctid",
    )
    .bind(id.0)
    .fetch_all(&db.pool)
    .await?;
    if rows.is_empty() {
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&db.pool)
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
                failure: from_json(T, "failure", r.try_get(2)?)?,
                failed_at: clock::from_millis(r.try_get(3)?),
            })
        })
        .collect()
}

/// A queue's default retry policy.
pub(super) async fn queue_retry_get(db: &PgStore, name: &str) -> Result<Option<RetryPolicy>> {
    let value: Option<Option<Value>> =
        sqlx::query_scalar("SELECT retry FROM queues WHERE name = $1")
            .bind(name)
            .fetch_optional(&db.pool)
            .await?;
    match value {
        Some(value) => policy(value),
        None => Err(Error::not_found(queue::what(name))),
    }
}

/// Sets or clears a queue's default retry policy.
pub(super) async fn queue_retry_set(
    db: &PgStore,
    name: &str,
    policy: Option<RetryPolicy>,
) -> Result<()> {
    let changed = sqlx::query("UPDATE queues SET retry = $2::json WHERE name = $1")
        .bind(name)
        .bind(policy.as_ref().map(json_text))
        .execute(&db.pool)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(Error::not_found(queue::what(name)));
    }
    Ok(())
}

/// Claimed, not started: back to the queue (all of them, or only job `$2`).
static RELEASE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Release;
    format!(
        "UPDATE jobs SET status = {to} WHERE dispatcher = $1 AND status = {from} \
         AND ($2::uuid IS NULL OR id = $2) RETURNING id, queue",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

/// The running jobs of a dispatcher (not those parked awaiting another
/// job), locked, with what their retry policy needs (all of them, or only
/// job `$2`).
static RUNNING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT jobs.id, jobs.queue, jobs.attempts, jobs.retry, queues.retry, \
           (SELECT count(*) FROM job_attempts AS a WHERE a.job = jobs.id \
            AND a.kind = 'interrupted') \
         FROM jobs LEFT JOIN queues ON queues.name = jobs.queue \
         WHERE jobs.dispatcher = $1 AND jobs.status = {active} AND jobs.awaiting IS NULL \
         AND ($2::uuid IS NULL OR jobs.id = $2) ORDER BY jobs.id FOR UPDATE OF jobs",
        active = lit(JobStatus::Active)
    )
});

static RETRY_NOW: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Retry;
    format!(
        "UPDATE jobs SET status = {to} WHERE id = $1 AND status = {from} AND dispatcher = $2 \
         AND awaiting IS NULL",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

static ABORT: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Abort;
    format!(
        "UPDATE jobs SET status = {to}, failure = $3::json, completed_at = $4 \
         WHERE id = $1 AND status = {from} AND dispatcher = $2 AND awaiting IS NULL",
        from = lit(t.from()),
        to = settled_status(t, "jobs"),
    )
});

/// Hands back every job a dispatcher holds, in one transaction.
pub(super) async fn hand_back(db: &PgStore, p: HandBackParams) -> Result<HandBackReport> {
    row::retrying(|| async {
        let mut tx = db.begin().await?;
        let report = failures::hand_back(&mut PgTx::new(&mut tx, db, Vec::new()), &p).await?;
        tx.commit().await?;
        Ok(report)
    })
    .await
}

/// The next dead dispatcher no other rescuer is handling.
static DEAD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, last_ping_at FROM dispatchers AS d WHERE id <> $1 AND last_ping_at < $2 \
         AND (deactivated_at IS NULL OR EXISTS (SELECT 1 FROM jobs \
              WHERE jobs.dispatcher = d.id AND jobs.status IN ({assigned}, {active}) \
              AND jobs.awaiting IS NULL)) \
         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// Finds dead dispatchers and hands their jobs back, one transaction each.
pub(super) async fn rescue(db: &PgStore, p: DispatcherRescueParams) -> Result<Vec<HandBackReport>> {
    let mut reports = Vec::new();
    // Dispatchers this round took already: one this transaction found with
    // nothing left to do is not taken again.
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let mut tx = db.begin().await?;
        let mut rescue_tx = PgTx::new(&mut tx, db, Vec::new());
        let Some(report) = failures::rescue_next(&mut rescue_tx, &p, &mut seen).await? else {
            return Ok(reports);
        };
        tx.commit().await?;
        if !report.is_empty() {
            reports.push(report);
        }
    }
}

static MARK_RESCUED: &str = "UPDATE dispatchers SET deactivated_at = coalesce(deactivated_at, $2), \
     rescued_by = CASE WHEN rescued_at IS NULL THEN $3 ELSE rescued_by END, \
     rescued_at = coalesce(rescued_at, $2) WHERE id = $1";

#[async_trait]
impl FailureTx for PgTx<'_> {
    async fn active_run(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
    ) -> Result<Option<ActiveRun>> {
        let Some(run) = sqlx::query(&RUN)
            .bind(id.0)
            .bind(dispatcher.0)
            .fetch_optional(&mut *self.conn)
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
        out: &CapturedOutput,
    ) -> Result<bool> {
        let moved = sqlx::query(&RETRY_LATER)
            .bind(id.0)
            .bind(dispatcher.0)
            .bind(ms(at))
            .bind(output(&out.stdout))
            .bind(output(&out.stderr))
            .execute(&mut *self.conn)
            .await?
            .rows_affected();
        Ok(moved > 0)
    }

    async fn record_attempt(&mut self, a: AttemptRecord<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
             VALUES ($1, $2, $3, $4, $5::json, $6)",
        )
        .bind(a.job.0)
        .bind(a.attempt)
        .bind(a.dispatcher.0)
        .bind(a.failure.kind.as_str())
        .bind(json_text(a.failure))
        .bind(ms(a.now))
        .execute(&mut *self.conn)
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
            .fetch_all(&mut *self.conn)
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
            .fetch_all(&mut *self.conn)
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
            .execute(&mut *self.conn)
            .await?
            .rows_affected();
        Ok(moved > 0)
    }

    /// Also announces the job as completed, with the next cascade.
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
            .bind(json_text(failure))
            .bind(ms(now))
            .execute(&mut *self.conn)
            .await?
            .rows_affected();
        if moved > 0 {
            self.announce.push(id.0);
        }
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
            .fetch_optional(&mut *self.conn)
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
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn announce_puts(&mut self, queues: &[String]) -> Result<()> {
        if queues.is_empty() {
            return Ok(());
        }
        let payloads = notify::put_payloads(queues.iter().map(String::as_str));
        sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(&*self.db.channel)
            .bind(payloads)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}

/// Records a ping if the row still names the process; reactivates a
/// dispatcher declared dead meanwhile (see [`identity::ping_verdict`]).
/// One statement: the row as it was, locked, and the write guarded by the
/// process it names.
pub(super) async fn ping(db: &PgStore, p: DispatcherPingParams) -> Result<Ping> {
    let current = sqlx::query(
        "WITH old AS (SELECT hostname, pid, rescued_at FROM dispatchers WHERE id = $1 \
           FOR UPDATE), \
         w AS (UPDATE dispatchers AS d SET last_ping_at = $2, \
           activated_at = CASE WHEN old.rescued_at IS NULL THEN d.activated_at ELSE $2 END, \
           deactivated_at = CASE WHEN old.rescued_at IS NULL THEN d.deactivated_at ELSE NULL \
           END, rescued_at = NULL, rescued_by = NULL \
           FROM old WHERE d.id = $1 AND old.hostname = $3 AND old.pid = $4) \
         SELECT hostname, pid, rescued_at IS NOT NULL FROM old",
    )
    .bind(p.id.0)
    .bind(ms(p.now))
    .bind(&p.process.hostname)
    .bind(i64::from(p.process.pid))
    .fetch_optional(&db.pool)
    .await?
    .map(|r| -> Result<(Process, bool)> {
        let process = Process {
            hostname: r.try_get(0)?,
            pid: row::to_u32("dispatchers", "pid", r.try_get(1)?)?,
        };
        Ok((process, r.try_get(2)?))
    })
    .transpose()?;
    identity::ping_verdict(current, &p)
}

/// The jobs the store says a dispatcher holds (see
/// [`crate::store::Store::dispatcher_held_jobs`]): one range of
/// `jobs_in_flight`.
pub(super) static HELD_JOBS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id FROM jobs WHERE dispatcher = $1 AND status IN ({assigned}, {active}) \
         AND (status = {assigned} OR awaiting IS NULL)",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// The jobs the store says a dispatcher holds.
pub(super) async fn held_jobs(db: &PgStore, id: DispatcherId) -> Result<Vec<JobId>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(&HELD_JOBS)
        .bind(id.0)
        .fetch_all(&db.pool)
        .await?;
    Ok(ids.into_iter().map(JobId).collect())
}

/// Rewrites the probe row (migration 0009) and commits.
pub(super) async fn probe(db: &PgStore, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE probes SET probed_at = $1 WHERE id = 1")
        .bind(ms(now))
        .execute(&db.pool)
        .await?;
    Ok(())
}
