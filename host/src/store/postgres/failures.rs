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

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde_json::Value;
use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use super::PgStore;
use super::callbacks::{self, PgTx};
use super::notify;
use super::queue;
use super::row::{self, from_json, json_text, lit, ms, output};
use crate::clock;
use crate::model::{
    AfterInterruption, Attempt, DispatcherId, Failure, JobId, JobStatus, Process, RetryPolicy,
    Timestamp, Transition,
};
use crate::store::identity::{self, DispatcherPingParams, Ping};
use crate::store::settle;
use crate::store::{
    DispatcherRescueParams, Error, HandBackParams, HandBackReport, JobRetryParams, Result,
    RetryVerdict, effective_policy, interrupted, interruption_verdict,
};

const T: &str = "job_attempts";

fn policy(value: Option<Value>) -> Result<Option<RetryPolicy>> {
    value.map(|v| from_json("jobs", "retry", v)).transpose()
}

/// Records one failed attempt (the job's start count then).
async fn record_attempt(
    conn: &mut PgConnection,
    job: JobId,
    attempt: i64,
    dispatcher: DispatcherId,
    failure: &Failure,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
         VALUES ($1, $2, $3, $4, $5::json, $6)",
    )
    .bind(job.0)
    .bind(attempt)
    .bind(dispatcher.0)
    .bind(failure.kind.as_str())
    .bind(json_text(failure))
    .bind(ms(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
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
            AND a.kind <> 'interrupted') \
         FROM jobs LEFT JOIN queues ON queues.name = jobs.queue \
         WHERE jobs.id = $1 AND jobs.status = {active} AND jobs.dispatcher = $2 \
         AND jobs.awaiting IS NULL FOR UPDATE OF jobs",
        active = lit(JobStatus::Active)
    )
});

/// Back to the queue after a failed run, due after the backoff; announced
/// as a put (on commit).
static RETRY_LATER: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Retry;
    format!(
        "WITH moved AS (UPDATE jobs SET status = {to}, begin_after = $3, scheduled = true, \
           stdout = $4, stderr = $5 WHERE id = $1 AND status = {from} AND dispatcher = $2 \
           AND awaiting IS NULL RETURNING queue) \
         SELECT queue FROM moved",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

async fn announce_puts(conn: &mut PgConnection, db: &PgStore, queues: &[String]) -> Result<()> {
    if queues.is_empty() {
        return Ok(());
    }
    let payloads = notify::put_payloads(queues.iter().map(String::as_str));
    sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
        .bind(&*db.channel)
        .bind(payloads)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A run failed: retries the job if its policy says so.
pub(super) async fn retry(db: &PgStore, p: JobRetryParams) -> Result<RetryVerdict> {
    let mut tx = db.begin().await?;
    let Some(run) = sqlx::query(&RUN)
        .bind(p.id.0)
        .bind(p.dispatcher.0)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(RetryVerdict::Reassigned);
    };
    let policy = effective_policy(policy(run.try_get(0)?)?, policy(run.try_get(1)?)?);
    let attempt: i64 = run.try_get(2)?;
    let failures = u32::try_from(run.try_get::<i64, _>(3)?).unwrap_or(u32::MAX - 1) + 1;
    let Some(delay) = policy.after_failure(&p.failure, failures) else {
        return Ok(RetryVerdict::Final);
    };
    let at = p.now + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
    let at = clock::from_millis(ms(at));
    let queue: Option<String> = sqlx::query_scalar(&RETRY_LATER)
        .bind(p.id.0)
        .bind(p.dispatcher.0)
        .bind(ms(at))
        .bind(output(&p.output.stdout))
        .bind(output(&p.output.stderr))
        .fetch_optional(&mut *tx)
        .await?;
    let Some(queue) = queue else {
        return Ok(RetryVerdict::Reassigned);
    };
    record_attempt(&mut tx, p.id, attempt, p.dispatcher, &p.failure, p.now).await?;
    announce_puts(&mut tx, db, &[queue]).await?;
    tx.commit().await?;
    Ok(RetryVerdict::Retried { at, failures })
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
        to = callbacks::settled_status(t, "jobs"),
    )
});

/// Hands back every job of `p.dispatcher` inside the caller's transaction.
pub(super) async fn hand_back_in(
    conn: &mut PgConnection,
    db: &PgStore,
    p: &HandBackParams,
) -> Result<HandBackReport> {
    let mut report = HandBackReport {
        dispatcher: Some(p.dispatcher),
        ..HandBackReport::default()
    };
    let mut queues = BTreeSet::new();
    let only = p.job.map(|id| id.0);
    for r in sqlx::query(&RELEASE)
        .bind(p.dispatcher.0)
        .bind(only)
        .fetch_all(&mut *conn)
        .await?
    {
        report.released.push(JobId(r.try_get(0)?));
        queues.insert(r.try_get::<String, _>(1)?);
    }
    let running = sqlx::query(&RUNNING)
        .bind(p.dispatcher.0)
        .bind(only)
        .fetch_all(&mut *conn)
        .await?;
    let failure = interrupted(&p.reason);
    for r in running {
        let id = JobId(r.try_get(0)?);
        let queue: String = r.try_get(1)?;
        let attempt: i64 = r.try_get(2)?;
        let policy = effective_policy(policy(r.try_get(3)?)?, policy(r.try_get(4)?)?);
        let interruptions = u32::try_from(r.try_get::<i64, _>(5)?).unwrap_or(u32::MAX - 1) + 1;
        let (verdict, aborted) = interruption_verdict(&policy, interruptions);
        let moved = match verdict {
            AfterInterruption::Retry => sqlx::query(&RETRY_NOW)
                .bind(id.0)
                .bind(p.dispatcher.0)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
            AfterInterruption::Abort => sqlx::query(&ABORT)
                .bind(id.0)
                .bind(p.dispatcher.0)
                .bind(json_text(&aborted))
                .bind(ms(p.now))
                .execute(&mut *conn)
                .await?
                .rows_affected(),
        };
        if moved == 0 {
            continue;
        }
        record_attempt(conn, id, attempt, p.dispatcher, &failure, p.now).await?;
        match verdict {
            AfterInterruption::Retry => {
                report.retried.push(id);
                queues.insert(queue);
            }
            AfterInterruption::Abort => report.aborted.push(id),
        }
    }
    if !report.aborted.is_empty() {
        // The aborted jobs got their result: their waiters, callbacks and
        // composites move on as after any other completion.
        let announce: Vec<Uuid> = report.aborted.iter().map(|id| id.0).collect();
        let mut settle_tx = PgTx::on_connection(conn, db, announce);
        let settled = settle::settle(&mut settle_tx, report.aborted.clone(), p.now).await?;
        queues.extend(settled.queues);
        let mut completed: BTreeSet<JobId> = report.aborted.iter().copied().collect();
        completed.extend(settled.completed);
        report.completed = completed.into_iter().collect();
    }
    report.queues = queues.into_iter().collect();
    announce_puts(conn, db, &report.queues).await?;
    Ok(report)
}

/// Hands back every job a dispatcher holds, in one transaction.
pub(super) async fn hand_back(db: &PgStore, p: HandBackParams) -> Result<HandBackReport> {
    row::retrying(|| async {
        let mut tx = db.begin().await?;
        let report = hand_back_in(&mut tx, db, &p).await?;
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
    let cutoff = p.now - chrono::TimeDelta::from_std(p.death_interval).unwrap_or_default();
    let mut reports = Vec::new();
    // Dispatchers this round took already: one this transaction found with
    // nothing left to do is not taken again.
    let mut seen = BTreeSet::new();
    loop {
        let mut tx = db.begin().await?;
        let Some(dead) = sqlx::query(&DEAD)
            .bind(p.rescuer.0)
            .bind(ms(cutoff))
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(reports);
        };
        let id = DispatcherId(dead.try_get(0)?);
        if !seen.insert(id) {
            return Ok(reports);
        }
        let last_ping = clock::from_millis(dead.try_get(1)?);
        sqlx::query(
            "UPDATE dispatchers SET deactivated_at = coalesce(deactivated_at, $2), \
             rescued_by = CASE WHEN rescued_at IS NULL THEN $3 ELSE rescued_by END, \
             rescued_at = coalesce(rescued_at, $2) WHERE id = $1",
        )
        .bind(id.0)
        .bind(ms(p.now))
        .bind(p.rescuer.0)
        .execute(&mut *tx)
        .await?;
        let reason = format!(
            "its dispatcher {id} stopped pinging (last ping {last_ping}); dispatcher {} \
             rescued its jobs",
            p.rescuer
        );
        let params = HandBackParams {
            dispatcher: id,
            job: None,
            reason,
            now: p.now,
        };
        let report = hand_back_in(&mut tx, db, &params).await?;
        tx.commit().await?;
        if !report.is_empty() {
            reports.push(report);
        }
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
