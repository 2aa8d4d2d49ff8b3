//! `jobs`: the batch writes of a finish, the statements behind
//! `store/finishes.rs` (the steps are there, once for both backends), in
//! one `READ COMMITTED` transaction per batch: the awaited jobs locked
//! (`FOR SHARE`, in id order), one `UPDATE … FROM unnest(…)` completing
//! the values and failures, one recording the awaits, and the await
//! cascade of settling: one recursive `UPDATE` completing every active job
//! that awaits a completed one, transitively, with that job's result,
//! which also announces the jobs completed by the batch that someone can
//! use (`pg_notify`, delivered on commit; see [`TELL`]).
//!
//! # Races between machines
//!
//! SQLite runs one writer at a time; here two batches run at once, and
//! each statement sees the database as it was when it started. Two races
//! could leave a job waiting forever, and the locks close them:
//!
//! - *An await and the completion it awaits.* The awaiting batch locks the
//!   awaited job `FOR SHARE` before reading it. If the completing batch
//!   updated it first, the lock waits for that commit and the read (a new
//!   statement) sees the job completed: the await resolves at once. If the
//!   lock came first, the completing `UPDATE` waits for the awaiting batch
//!   to commit, and its cascade (a later statement) sees the new waiter.
//! - *A waiter that appears while a cascade runs.* A cascade reads the
//!   chains of waiters when it starts; its `UPDATE` may then wait for a
//!   batch that parks a new waiter on a job the cascade completes. So a
//!   cascade that completed anything runs again from those jobs, until a
//!   round completes nothing (one more statement, only when awaits
//!   resolved).
//!
//! Two batches parking jobs on each other (a cycle split across machines)
//! lock in opposite orders; PostgreSQL aborts one with a deadlock error
//! and the batch runs again (`row::retrying`), now seeing the other's
//! await and refusing the cycle.

use std::collections::HashSet;
use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PgStore;
use super::notify::IDS_PER_PAYLOAD;
use super::row::{json_text, lit, ms, output, retrying};
use super::tx::PgTx;
use crate::model::{FailureKind, JobId, JobStatus, Transition};
use crate::store::finishes::{self, Await, Done, FinishTx, Written};
use crate::store::sql::settled_status;
use crate::store::{FinishReport, JobFinishParams, Result};

/// Whether a job just completed by a finish or a cascade is announced:
/// a client waits for it (`watched`, set by `job_watch` before the wait
/// reads the job), or it held quota slots, which another process may now
/// claim into. Nobody else uses the completion of a job whose own run
/// ended: its guest ran here, and its awaiters, callbacks and composites
/// are settled in this transaction. Announcing every completion made
/// every finish a notifying transaction, and PostgreSQL serializes the
/// commits of those behind one database-wide lock held through the WAL
/// flush: worker processes finished one after another (issue 16).
///
/// A waiter cannot miss the completion (see `watch.rs`): a job marked out
/// of its queue is marked on its row (`jobs.watched`), an `UPDATE` like the
/// finish, so either the finish (which re-reads a row changed under it)
/// sees the mark or the waiter's read after the mark sees the job
/// completed; a job marked while pending is marked in `job_watches`, which
/// the finish, issued after the job's claim committed, reads with a
/// snapshot that holds the mark.
const TELL: &str = "(jobs.watched OR jobs.quota_names IS NOT NULL \
     OR EXISTS (SELECT 1 FROM job_watches w WHERE w.job_id = jobs.id))";

/// `UPDATE jobs … FROM b WHERE <guard>`, the batch `b` being a
/// `MATERIALIZED` CTE that carries, with each row, the status the job must
/// have (`expected`). The guard (`status = 'active' AND dispatcher = <the
/// finisher> AND awaiting IS NULL`) compares each job with columns of the
/// batch only, and PostgreSQL checks it again on the latest version of a
/// row that another transaction changed meanwhile.
///
/// Why the status is a column of the batch rather than a literal: with
/// `jobs.status = 'active'` the planner may read the jobs side first,
/// through `jobs_in_flight`, and when it believes few jobs are active (a
/// table without statistics yet) it puts the batch inside a nested loop:
/// every in-flight job compared with every row of the batch, 65,280
/// comparisons and 24 ms for 256 jobs (measured), growing with the square
/// of the batch. A comparison with a column of the (opaque) CTE cannot
/// select a partial index, so the jobs are reached by `jobs_pkey`, one
/// lookup per row of the batch (`store/postgres/plans.rs` checks it).
///
/// Both writes built on it are sent unprepared, planned at each run: a
/// plan PostgreSQL keeps for a prepared statement is not made again as
/// the table grows, and one kept from a new installation's first finishes
/// (a few hundred jobs, no statistics) read all of `jobs` for each row of
/// the batch once it held 20,000: 3.4 s a finish of 1,024 jobs.
fn guarded_update(batch: &str, set: &str, returning: &str) -> String {
    format!(
        "WITH b AS MATERIALIZED (SELECT *, {active}::text AS expected FROM {batch}) \
         UPDATE jobs SET {set} FROM b \
         WHERE jobs.id = b.id AND jobs.status = b.expected AND jobs.dispatcher = b.dispatcher \
           AND jobs.awaiting IS NULL \
         RETURNING {returning}",
        active = lit(JobStatus::Active)
    )
}

pub(super) static FINISH: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Finish;
    debug_assert_eq!(t.from(), JobStatus::Active);
    guarded_update(
        "unnest($1::uuid[], $2::uuid[], $3::int8[], $4::text[], $5::text[], $6::bytea[], \
           $7::bytea[]) AS u(id, dispatcher, now, result, failure, stdout, stderr)",
        &format!(
            "status = {to}, result = b.result::json, failure = b.failure::json, \
             completed_at = b.now, stdout = b.stdout, stderr = b.stderr",
            to = settled_status(t, "jobs")
        ),
        &format!("{TELL}, {}", finishes::WRITTEN),
    )
});

/// Not a change of status: the job stays `active`, parked on `awaiting`.
pub(super) static AWAIT: LazyLock<String> = LazyLock::new(|| {
    guarded_update(
        "unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bytea[], $5::bytea[]) \
           AS u(id, dispatcher, target, stdout, stderr)",
        "awaiting = b.target, stdout = b.stdout, stderr = b.stderr",
        "jobs.id",
    )
});

/// Locks the awaited jobs against completion until this batch commits
/// (see the module doc), in id order.
pub(super) static LOCK: &str =
    "SELECT id FROM jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE";

/// Every active job awaiting one of the seeds (`$1`) that is completed, and
/// every active job awaiting those, and so on, completes with the result
/// or failure of the completed job at the root of its chain (guarded as
/// [`FINISH`] is: the expected status is a column of the CTE). Then the jobs
/// it completed that someone can use ([`TELL`]) and the jobs the caller
/// announces (`$3`) are announced (and their marks beside their rows,
/// `job_watches`, dropped: see `watch.rs`), at most [`IDS_PER_PAYLOAD`] ids a
/// notification (none at all when there is nothing to announce: the
/// transaction then takes no notification lock at commit). Returns the
/// ids it completed (or NULL) and the number of notifications.
pub(super) static CASCADE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::ResolveAwait;
    format!(
        "WITH RECURSIVE chain (id, root) AS ( \
           SELECT w.id, w.awaiting FROM jobs AS w JOIN jobs AS r ON r.id = w.awaiting \
           WHERE w.status = {from} AND w.awaiting IS NOT NULL AND w.awaiting = ANY($1::uuid[]) \
             AND r.status IN ({with_result}) \
           UNION \
           SELECT w.id, chain.root FROM chain JOIN jobs AS w ON w.awaiting = chain.id \
           WHERE w.status = {from} AND w.awaiting IS NOT NULL), \
         held AS MATERIALIZED ( \
           SELECT chain.id, r.result, r.failure, {from}::text AS expected \
           FROM chain JOIN jobs AS r ON r.id = chain.root), \
         resolved AS ( \
           UPDATE jobs SET status = {status}, result = held.result, failure = held.failure, \
             completed_at = $2 \
           FROM held WHERE jobs.id = held.id AND jobs.status = held.expected \
           RETURNING jobs.id, {TELL} AS tell), \
         done AS (SELECT id FROM resolved WHERE tell UNION ALL SELECT unnest($3::uuid[])), \
         unwatched AS ( \
           DELETE FROM job_watches WHERE job_id = ANY (ARRAY(SELECT id FROM done))), \
         sent AS ( \
           SELECT pg_notify($4, json_build_object('completed', json_agg(d.id))::text) \
           FROM (SELECT id, (row_number() OVER () - 1) / {IDS_PER_PAYLOAD} AS chunk FROM done) \
             AS d \
           GROUP BY d.chunk) \
         SELECT (SELECT array_agg(id) FROM resolved), (SELECT count(*) FROM sent)",
        from = lit(t.from()),
        status = settled_status(t, "jobs"),
        with_result = finishes::with_result(),
    )
});

/// Records how runs ended, in one transaction (see `store/finishes.rs`),
/// run again when PostgreSQL aborts it (a cycle of awaits split across
/// machines deadlocks; see the module doc).
pub(super) async fn finish_many(db: &PgStore, params: &[JobFinishParams]) -> Result<FinishReport> {
    if params.is_empty() {
        return Ok(FinishReport::default());
    }
    retrying(|| async {
        let mut tx = db.begin().await?;
        let report = finishes::finish(&mut PgTx::new(&mut tx, db, Vec::new()), params).await?;
        tx.commit().await?;
        Ok(report)
    })
    .await
}

#[async_trait]
impl FinishTx for PgTx<'_> {
    async fn lock_awaited(&mut self, targets: &[JobId]) -> Result<()> {
        let targets: Vec<Uuid> = targets.iter().map(|id| id.0).collect();
        sqlx::query(LOCK)
            .bind(targets)
            // Runs only for a batch that awaits: planned at each run, as
            // the walk of the awaited jobs is (`finishes.rs`), never kept
            // from a new installation's small table (`plans.rs`).
            .persistent(false)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn write_done(&mut self, done: &[Done<'_>]) -> Result<Vec<Written>> {
        let rows = write_done(self.conn, done).await?;
        rows.into_iter()
            .map(|(tell, id, status, callback_of, part_of)| {
                // Announced with the cascade, only those someone can use
                // (`TELL`).
                if tell {
                    self.announce.push(id);
                }
                // Whether a job awaits it is left to the cascade, which runs
                // anyway: it also announces, and sees awaiters parked
                // meanwhile.
                finishes::written(id, &status, callback_of, part_of, None)
            })
            .collect()
    }

    async fn write_awaits(&mut self, awaits: &[Await<'_>]) -> Result<Vec<JobId>> {
        write_awaits(self.conn, awaits).await
    }

    async fn record_failures(&mut self, failed: &[(JobId, FailureKind)]) -> Result<()> {
        let (ids, kinds): (Vec<Uuid>, Vec<&str>) = failed
            .iter()
            .map(|(id, kind)| (id.0, kind.as_str()))
            .unzip();
        super::failures::record_finished_failures(self.conn, &ids, &kinds).await
    }
}

/// A row the finish returns: whether the job's completion is to be
/// announced ([`TELL`]), then [`finishes::WRITTEN`].
type WrittenRow = (bool, Uuid, String, Option<Uuid>, Option<Uuid>);

/// Writes the values and failures; returns the jobs written.
async fn write_done(conn: &mut PgConnection, done: &[Done<'_>]) -> Result<Vec<WrittenRow>> {
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = done.iter().map(|d| d.params.id.0).collect();
    let dispatchers: Vec<Uuid> = done.iter().map(|d| d.params.dispatcher.0).collect();
    let nows: Vec<i64> = done.iter().map(|d| ms(d.params.now)).collect();
    let results: Vec<Option<String>> = done.iter().map(|d| d.result.map(json_text)).collect();
    let failures: Vec<Option<String>> = done
        .iter()
        .map(|d| d.failure.as_deref().map(json_text))
        .collect();
    let stdout: Vec<Option<&[u8]>> = done
        .iter()
        .map(|d| output(&d.params.output.stdout))
        .collect();
    let stderr: Vec<Option<&[u8]>> = done
        .iter()
        .map(|d| output(&d.params.output.stderr))
        .collect();
    Ok(sqlx::query_as(&FINISH)
        .bind(ids)
        .bind(dispatchers)
        .bind(nows)
        .bind(results)
        .bind(failures)
        .bind(stdout)
        .bind(stderr)
        // Planned at each run from the table as it is, never kept from the
        // first runs on a new installation's small table (see
        // `plans.rs`: the_finish_is_planned_from_the_table_as_it_grows).
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?)
}

async fn write_awaits(conn: &mut PgConnection, awaits: &[Await<'_>]) -> Result<Vec<JobId>> {
    if awaits.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = awaits.iter().map(|a| a.params.id.0).collect();
    let dispatchers: Vec<Uuid> = awaits.iter().map(|a| a.params.dispatcher.0).collect();
    let targets: Vec<Uuid> = awaits.iter().map(|a| a.target.0).collect();
    let stdout: Vec<Option<&[u8]>> = awaits
        .iter()
        .map(|a| output(&a.params.output.stdout))
        .collect();
    let stderr: Vec<Option<&[u8]>> = awaits
        .iter()
        .map(|a| output(&a.params.output.stderr))
        .collect();
    let ids: Vec<Uuid> = sqlx::query_scalar(&AWAIT)
        .bind(ids)
        .bind(dispatchers)
        .bind(targets)
        .bind(stdout)
        .bind(stderr)
        // As the finish's write: planned at each run.
        .persistent(false)
        .fetch_all(&mut *conn)
        .await?;
    Ok(ids.into_iter().map(JobId).collect())
}

/// Step 4: completes every active job awaiting one of `seeds` (jobs just
/// completed, by a finish or an expiry), transitively, round after round
/// (see the module doc), and announces them with `announce`. Returns what
/// it completed. The one path by which a completion reaches the jobs that
/// wait for it.
pub(super) async fn cascade_all(
    conn: &mut PgConnection,
    db: &PgStore,
    mut seeds: Vec<Uuid>,
    mut announce: Vec<Uuid>,
    now: i64,
) -> Result<HashSet<JobId>> {
    let mut cascaded = HashSet::new();
    if seeds.is_empty() && announce.is_empty() {
        return Ok(cascaded);
    }
    loop {
        let resolved = cascade(conn, db, &seeds, &announce, now).await?;
        cascaded.extend(resolved.iter().copied().map(JobId));
        if resolved.is_empty() {
            return Ok(cascaded);
        }
        seeds = resolved;
        announce.clear();
    }
}

/// One round of the cascade from `seeds`; announces what it completed and
/// `announce`. Returns the jobs it completed.
async fn cascade(
    conn: &mut PgConnection,
    db: &PgStore,
    seeds: &[Uuid],
    announce: &[Uuid],
    now: i64,
) -> Result<Vec<Uuid>> {
    let (resolved, _notes): (Option<Vec<Uuid>>, i64) = sqlx::query_as(&CASCADE)
        .bind(seeds)
        .bind(now)
        .bind(announce)
        .bind(&*db.channel)
        .fetch_one(&mut *conn)
        .await?;
    Ok(resolved.unwrap_or_default())
}
