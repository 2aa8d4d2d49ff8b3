//! `jobs`: how runs end. One `READ COMMITTED` transaction per batch, and a
//! constant number of statements however large the batch:
//!
//! 1. (only if some job returned "await that job") one statement locking
//!    the awaited jobs (`FOR SHARE`, in id order), then one read of them
//!    and of the chains they themselves await, to refuse a job awaiting
//!    itself, a job that does not exist, or a cycle;
//! 2. one `UPDATE … FROM unnest(…)` completing the values and failures;
//! 3. one `UPDATE … FROM unnest(…)` recording the awaits;
//! 4. one recursive `UPDATE` completing every active job that awaits a
//!    completed one, transitively, with that job's result, which also
//!    announces every job completed by the batch (`pg_notify`, delivered on
//!    commit);
//! 5. (only if some run failed) one `INSERT … SELECT` keeping those
//!    failures in the jobs' histories (`job_attempts`).
//!
//! Every write is guarded by `status = 'active' AND dispatcher = <the
//! job's dispatcher> AND awaiting IS NULL`: a job that is no longer this
//! dispatcher's run (or already parked awaiting another) is left alone and
//! reported as `reassigned`.
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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use super::PgStore;
use super::notify::IDS_PER_PAYLOAD;
use super::row::{self, json_text, lit, ms, output, retrying};
use super::tx::PgTx;
use crate::model::{Failure, FailureKind, JobId, JobStatus, RunOutcome, Transition};
use crate::store::sql::settled_status;
use crate::store::{FinishReport, JobFinishParams, Result, settle};

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
fn guarded_update(batch: &str, set: &str) -> String {
    format!(
        "WITH b AS MATERIALIZED (SELECT *, {active}::text AS expected FROM {batch}) \
         UPDATE jobs SET {set} FROM b \
         WHERE jobs.id = b.id AND jobs.status = b.expected AND jobs.dispatcher = b.dispatcher \
           AND jobs.awaiting IS NULL \
         RETURNING jobs.id",
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
    )
});

/// Not a change of status: the job stays `active`, parked on `awaiting`.
pub(super) static AWAIT: LazyLock<String> = LazyLock::new(|| {
    guarded_update(
        "unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bytea[], $5::bytea[]) \
           AS u(id, dispatcher, target, stdout, stderr)",
        "awaiting = b.target, stdout = b.stdout, stderr = b.stderr",
    )
});

/// Locks the awaited jobs against completion until this batch commits
/// (see the module doc), in id order.
pub(super) static LOCK: &str =
    "SELECT id FROM jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE";

/// The awaited jobs and, for those that are themselves awaiting, the chain
/// of jobs they wait for.
pub(super) static WALK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH RECURSIVE walk(id) AS ( \
           SELECT unnest($1::uuid[]) \
           UNION \
           SELECT j.awaiting FROM walk JOIN jobs AS j ON j.id = walk.id \
           WHERE j.status = {active} AND j.awaiting IS NOT NULL) \
         SELECT j.id, j.status, j.awaiting FROM walk JOIN jobs AS j ON j.id = walk.id",
        active = lit(JobStatus::Active)
    )
});

/// Every active job awaiting one of the seeds (`$1`) that is completed, and
/// every active job awaiting those, and so on, completes with the result
/// or failure of the completed job at the root of its chain (guarded as
/// [`FINISH`] is: the expected status is a column of the CTE). Then the jobs
/// it completed and the jobs the batch completed (`$3`) are announced, at
/// most [`IDS_PER_PAYLOAD`] ids a notification. Returns the ids it
/// completed (or NULL) and the number of notifications.
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
           RETURNING jobs.id), \
         done AS (SELECT id FROM resolved UNION ALL SELECT unnest($3::uuid[])), \
         sent AS ( \
           SELECT pg_notify($4, json_build_object('completed', json_agg(d.id))::text) \
           FROM (SELECT id, (row_number() OVER () - 1) / {IDS_PER_PAYLOAD} AS chunk FROM done) \
             AS d \
           GROUP BY d.chunk) \
         SELECT (SELECT array_agg(id) FROM resolved), (SELECT count(*) FROM sent)",
        from = lit(t.from()),
        status = settled_status(t, "jobs"),
        with_result = with_result(),
    )
});

/// What the walk found about a job: its status and, if active, what it
/// awaits.
/// The statuses of a job that has its result: an awaiter resolves as soon
/// as its job has it, while that job's callbacks run.
fn with_result() -> String {
    [
        JobStatus::Callbacks,
        JobStatus::Completed,
        JobStatus::Cancelled,
    ]
    .map(lit)
    .join(", ")
}

type Graph = HashMap<JobId, (JobStatus, Option<JobId>)>;

/// A value or failure to record.
struct Done<'a> {
    params: &'a JobFinishParams,
    result: Option<String>,
    failure: Option<String>,
}

/// An await to record.
struct Await<'a> {
    params: &'a JobFinishParams,
    target: JobId,
}

/// Records how runs ended; see the module doc.
pub(super) async fn finish_many(db: &PgStore, params: &[JobFinishParams]) -> Result<FinishReport> {
    if params.is_empty() {
        return Ok(FinishReport::default());
    }
    retrying(|| finish_once(db, params)).await
}

async fn finish_once(db: &PgStore, params: &[JobFinishParams]) -> Result<FinishReport> {
    let now = params.iter().map(|p| p.now).max().expect("not empty");
    let targets: Vec<Uuid> = params
        .iter()
        .filter_map(|p| match p.outcome {
            RunOutcome::Await(target) if target != p.id => Some(target.0),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let mut tx = db.begin().await?;
    let graph = if targets.is_empty() {
        Graph::new()
    } else {
        sqlx::query(LOCK).bind(&targets).execute(&mut *tx).await?;
        walk(&mut tx, &targets).await?
    };

    let mut done = Vec::new();
    let mut awaits = Vec::new();
    let mut accepted: HashMap<JobId, JobId> = HashMap::new();
    for p in params {
        let (result, failure) = match &p.outcome {
            RunOutcome::Value(value) => (Some(json_text(value)), None),
            RunOutcome::Failure(failure) => (None, Some(json_text(failure))),
            RunOutcome::Await(target) => match refuse_await(p.id, *target, &graph, &accepted) {
                Some(failure) => (None, Some(json_text(&failure))),
                None => {
                    accepted.insert(p.id, *target);
                    awaits.push(Await {
                        params: p,
                        target: *target,
                    });
                    continue;
                }
            },
        };
        done.push(Done {
            params: p,
            result,
            failure,
        });
    }

    let finished: HashSet<JobId> = write_done(&mut tx, &done).await?.into_iter().collect();
    // Every failed run is kept in the job's history (migration 0006).
    let (failed, kinds): (Vec<Uuid>, Vec<&str>) = done
        .iter()
        .filter(|d| d.failure.is_some() && finished.contains(&d.params.id))
        .map(|d| {
            let kind = match &d.params.outcome {
                RunOutcome::Failure(failure) => failure.kind,
                // An await refused at once (see `refuse_await`).
                _ => FailureKind::HostError,
            };
            (d.params.id.0, kind.as_str())
        })
        .unzip();
    if !failed.is_empty() {
        super::failures::record_finished_failures(&mut tx, &failed, &kinds).await?;
    }
    let parked: HashSet<JobId> = write_awaits(&mut tx, &awaits).await?.into_iter().collect();
    let seeds: Vec<Uuid> = finished
        .iter()
        .copied()
        .chain(parked.iter().filter_map(|id| accepted.get(id).copied()))
        .map(|id| id.0)
        .collect();
    let announce: Vec<Uuid> = finished.iter().map(|id| id.0).collect();
    let seeds: Vec<JobId> = seeds.into_iter().map(JobId).collect();
    let settled = settle::settle(&mut PgTx::new(&mut tx, db, announce), seeds, now).await?;
    let cascaded: HashSet<JobId> = settled.completed.into_iter().collect();
    tx.commit().await?;

    Ok(report(params, &finished, &parked, &cascaded))
}

async fn write_done(conn: &mut PgConnection, done: &[Done<'_>]) -> Result<Vec<JobId>> {
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = done.iter().map(|d| d.params.id.0).collect();
    let dispatchers: Vec<Uuid> = done.iter().map(|d| d.params.dispatcher.0).collect();
    let nows: Vec<i64> = done.iter().map(|d| ms(d.params.now)).collect();
    let results: Vec<Option<&str>> = done.iter().map(|d| d.result.as_deref()).collect();
    let failures: Vec<Option<&str>> = done.iter().map(|d| d.failure.as_deref()).collect();
    let stdout: Vec<Option<&[u8]>> = done
        .iter()
        .map(|d| output(&d.params.output.stdout))
        .collect();
    let stderr: Vec<Option<&[u8]>> = done
        .iter()
        .map(|d| output(&d.params.output.stderr))
        .collect();
    let ids: Vec<Uuid> = sqlx::query_scalar(&FINISH)
        .bind(ids)
        .bind(dispatchers)
        .bind(nows)
        .bind(results)
        .bind(failures)
        .bind(stdout)
        .bind(stderr)
        .fetch_all(&mut *conn)
        .await?;
    Ok(ids.into_iter().map(JobId).collect())
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

/// The failure a job gets instead of awaiting `target`, if it may not:
/// itself, a job that does not exist, or a job that waits (through any
/// number of others, including awaits accepted earlier in this batch) for
/// this one.
fn refuse_await(
    id: JobId,
    target: JobId,
    graph: &Graph,
    accepted: &HashMap<JobId, JobId>,
) -> Option<Failure> {
    let fail = |message: String| Some(Failure::new(FailureKind::HostError, message));
    if target == id {
        return fail(format!(
            "job {id} returned itself as the job to await: a job cannot wait for its own result"
        ));
    }
    if !graph.contains_key(&target) {
        return fail(format!(
            "job {id} returned job {target} to await, which does not exist"
        ));
    }
    let mut seen = HashSet::new();
    let mut current = target;
    while seen.insert(current) {
        if current == id {
            return fail(format!(
                "job {id} returned job {target} to await, which itself waits for job {id}: \
                 neither would ever complete"
            ));
        }
        let next = accepted
            .get(&current)
            .copied()
            .or_else(|| match graph.get(&current) {
                Some((JobStatus::Active, awaiting)) => *awaiting,
                _ => None,
            });
        match next {
            Some(next) => current = next,
            None => break,
        }
    }
    None
}

async fn walk(conn: &mut PgConnection, targets: &[Uuid]) -> Result<Graph> {
    let rows = sqlx::query(&WALK)
        .bind(targets)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get(1)?;
            Ok((
                JobId(r.try_get(0)?),
                (
                    status.parse().map_err(|e| row::corrupt("jobs", e))?,
                    r.try_get::<Option<Uuid>, _>(2)?.map(JobId),
                ),
            ))
        })
        .collect()
}

/// The report, in batch order; jobs completed by the cascade that were not
/// in the batch come last, by id.
fn report(
    params: &[JobFinishParams],
    finished: &HashSet<JobId>,
    parked: &HashSet<JobId>,
    cascaded: &HashSet<JobId>,
) -> FinishReport {
    let mut report = FinishReport::default();
    let mut seen = HashSet::new();
    for p in params {
        if !seen.insert(p.id) {
            continue;
        }
        if finished.contains(&p.id) || cascaded.contains(&p.id) {
            report.completed.push(p.id);
        } else if parked.contains(&p.id) {
            report.awaiting.push(p.id);
        } else {
            report.reassigned.push(p.id);
        }
    }
    let mut others: Vec<JobId> = cascaded.difference(&seen).copied().collect();
    others.sort();
    report.completed.extend(others);
    report
}
