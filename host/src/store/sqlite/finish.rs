//! `jobs`: how runs end. One `BEGIN IMMEDIATE` transaction per batch, and
//! a constant number of statements however large the batch:
//!
//! 1. (only if some job returned "await that job") one read of the awaited
//!    jobs and the chains they themselves await, to refuse a job awaiting
//!    itself, a job that does not exist, or a cycle;
//! 2. one `UPDATE … FROM (VALUES …)` completing the values and failures;
//! 3. one `UPDATE … FROM (VALUES …)` recording the awaits;
//! 4. settling (`store/settle.rs`): one recursive `UPDATE` completing
//!    every active job that awaits a completed one, transitively, with
//!    that job's result; then the callbacks and composites of every job
//!    that got its result (two reads when there are none).
//!
//! A job with a callback not yet completed goes to `callbacks` rather than
//! `completed` (`FinishWithCallbacks`, `ResolveAwaitWithCallbacks`).
//! 5. (only if some run failed) one `INSERT … SELECT` keeping those
//!    failures in the jobs' histories (`job_attempts`).
//!
//! (Batches above [`batch::MAX_ROWS`] take one statement per chunk of
//! that size, in the same transaction.)
//!
//! Every write is guarded by `status = 'active' AND dispatcher = <the
//! job's dispatcher> AND awaiting IS NULL`: a job that is no longer this
//! dispatcher's run (or already parked awaiting another) is left alone and
//! reported as `reassigned`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde_json::Value;
use sqlx::{Row as _, Sqlite, Transaction};
use uuid::Uuid;

use super::SqliteStore;
use super::batch::{self, Statements};
use super::row::{self, hex, lit, ms};
use super::tx::SqliteTx;
use crate::model::{Failure, FailureKind, JobId, JobStatus, RunOutcome, Timestamp, Transition};
use crate::store::sql::settled_status;
use crate::store::{FinishReport, JobFinishParams, Result, settle};

/// A value or failure to record.
struct Done<'a> {
    params: &'a JobFinishParams,
    result: Option<&'a Value>,
    failure: Option<Cow<'a, Failure>>,
}

/// An await to record.
struct Await<'a> {
    params: &'a JobFinishParams,
    target: JobId,
}

/// The guard every finish write shares, `b` being the batch.
///
/// `jobs.id IN (SELECT b.id FROM b)` repeats the join condition on
/// purpose: without it SQLite (no statistics) may choose to scan all of
/// `jobs` and probe the batch, a cost that grows with the table; with it,
/// it looks the batch's jobs up by id.
fn guard() -> String {
    format!(
        "jobs.id = b.id AND jobs.id IN (SELECT b.id FROM b) AND jobs.status = {active} \
         AND jobs.dispatcher = b.dispatcher AND jobs.awaiting IS NULL",
        active = lit(JobStatus::Active)
    )
}

const FINISH_COLUMNS: usize = 7;

fn finish_sql(rows: usize) -> String {
    let t = Transition::Finish;
    debug_assert_eq!(t.from(), JobStatus::Active);
    format!(
        "WITH b (id, dispatcher, now, result, failure, stdout, stderr) AS (VALUES {values}) \
         UPDATE jobs SET status = {to}, result = b.result, failure = b.failure, \
         completed_at = b.now, stdout = b.stdout, stderr = b.stderr \
         FROM b WHERE {guard} RETURNING jobs.id",
        values = batch::values(rows, FINISH_COLUMNS),
        to = settled_status(t, "jobs"),
        guard = guard(),
    )
}

pub(super) static FINISH: Statements = Statements::new(finish_sql);

const AWAIT_COLUMNS: usize = 5;

/// Not a change of status: the job stays `active`, parked on `awaiting`.
fn await_sql(rows: usize) -> String {
    format!(
        "WITH b (id, dispatcher, target, stdout, stderr) AS (VALUES {values}) \
         UPDATE jobs SET awaiting = b.target, stdout = b.stdout, stderr = b.stderr \
         FROM b WHERE {guard} RETURNING jobs.id",
        values = batch::values(rows, AWAIT_COLUMNS),
        guard = guard(),
    )
}

pub(super) static AWAIT: Statements = Statements::new(await_sql);

/// The awaited jobs and, for those that are themselves awaiting, the chain
/// of jobs they wait for.
pub(super) static WALK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH RECURSIVE walk(id) AS ( \
           SELECT unhex(value) FROM json_each(?1) \
           UNION \
           SELECT j.awaiting FROM walk JOIN jobs AS j ON j.id = walk.id \
           WHERE j.status = {active} AND j.awaiting IS NOT NULL) \
         SELECT j.id, j.status, j.awaiting FROM walk JOIN jobs AS j ON j.id = walk.id",
        active = lit(JobStatus::Active)
    )
});

/// Every active job awaiting one of the seeds that is completed, and every
/// active job awaiting those, and so on, completes with the result or
/// failure of the completed job at the root of its chain.
///
/// Written as `WHERE id IN (SELECT … FROM chain)` rather than `UPDATE …
/// FROM chain`: with the latter SQLite may scan all of `jobs` and probe the
/// (small) chain, a cost that grows with the table.
fn cascade_sql(rows: usize) -> String {
    let t = Transition::ResolveAwait;
    format!(
        "WITH RECURSIVE chain (id, root) AS ( \
           SELECT w.id, w.awaiting FROM jobs AS w JOIN jobs AS r ON r.id = w.awaiting \
           WHERE w.status = {from} AND w.awaiting IN ({seeds}) \
             AND r.status IN ({with_result}) \
           UNION \
           SELECT w.id, chain.root FROM chain JOIN jobs AS w ON w.awaiting = chain.id \
           WHERE w.status = {from}) \
         UPDATE jobs SET status = {status}, \
           result = (SELECT r.result FROM chain JOIN jobs AS r ON r.id = chain.root \
                     WHERE chain.id = jobs.id), \
           failure = (SELECT r.failure FROM chain JOIN jobs AS r ON r.id = chain.root \
                      WHERE chain.id = jobs.id), \
           completed_at = ? \
         WHERE jobs.id IN (SELECT chain.id FROM chain) AND jobs.status = {from} \
         RETURNING jobs.id",
        seeds = batch::placeholders(rows),
        from = lit(t.from()),
        status = settled_status(t, "jobs"),
        with_result = with_result(),
    )
}

/// The statuses of a job that has its result: an awaiter resolves as soon
/// as its job has it, while that job's callbacks run.
pub(super) fn with_result() -> String {
    [
        JobStatus::Callbacks,
        JobStatus::Completed,
        JobStatus::Cancelled,
    ]
    .map(lit)
    .join(", ")
}

pub(super) static CASCADE: Statements = Statements::new(cascade_sql);

/// What the walk found about a job: its status and, if active, what it
/// awaits.
type Graph = HashMap<JobId, (JobStatus, Option<JobId>)>;

/// Records how runs ended; see the module doc.
pub(super) async fn finish_many(
    db: &SqliteStore,
    params: &[JobFinishParams],
) -> Result<FinishReport> {
    if params.is_empty() {
        return Ok(FinishReport::default());
    }
    let now = params.iter().map(|p| p.now).max().expect("not empty");
    let targets: Vec<String> = params
        .iter()
        .filter_map(|p| match p.outcome {
            RunOutcome::Await(target) if target != p.id => Some(hex(target.0)),
            _ => None,
        })
        .collect();

    let mut tx = db.begin().await?;
    let graph = if targets.is_empty() {
        Graph::new()
    } else {
        walk(&mut tx, &targets).await?
    };

    let mut done = Vec::new();
    let mut awaits = Vec::new();
    let mut accepted: HashMap<JobId, JobId> = HashMap::new();
    for p in params {
        let (result, failure) = match &p.outcome {
            RunOutcome::Value(value) => (Some(value), None),
            RunOutcome::Failure(failure) => (None, Some(Cow::Borrowed(failure))),
            RunOutcome::Await(target) => match refuse_await(p.id, *target, &graph, &accepted) {
                Some(failure) => (None, Some(Cow::Owned(failure))),
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

    let mut finished = HashSet::new();
    for chunk in done.chunks(batch::MAX_ROWS) {
        finished.extend(write_done(&mut tx, chunk).await?);
    }
    // Every failed run is kept in the job's history (migration 0006).
    let failed: Vec<JobId> = done
        .iter()
        .filter(|d| d.failure.is_some() && finished.contains(&d.params.id))
        .map(|d| d.params.id)
        .collect();
    if !failed.is_empty() {
        super::failures::record_finished_failures(&mut tx, &failed).await?;
    }
    let mut parked = HashSet::new();
    for chunk in awaits.chunks(batch::MAX_ROWS) {
        parked.extend(write_awaits(&mut tx, chunk).await?);
    }
    // The jobs finished here, and the jobs just awaited (already
    // completed ones resolve their new awaiters at once).
    let seeds: Vec<JobId> = finished
        .iter()
        .copied()
        .chain(parked.iter().filter_map(|id| accepted.get(id).copied()))
        .collect();
    let settled = settle::settle(&mut SqliteTx(&mut tx), seeds, now).await?;
    let cascaded: HashSet<JobId> = settled.completed.into_iter().collect();
    tx.commit().await?;

    Ok(report(params, &finished, &parked, &cascaded))
}

/// Step 4: completes every active job awaiting one of `seeds` (jobs that
/// just got their result), transitively, and returns them. The await step
/// of `store::settle`, the one path every completion takes.
pub(super) async fn cascade(
    tx: &mut Transaction<'static, Sqlite>,
    seeds: &[JobId],
    now: Timestamp,
) -> Result<HashSet<JobId>> {
    let mut cascaded = HashSet::new();
    for chunk in seeds.chunks(batch::MAX_ROWS) {
        let rows = batch::bucket(chunk.len());
        let mut query = sqlx::query_scalar::<_, Uuid>(CASCADE.get(rows));
        for id in batch::padded(chunk, rows) {
            query = query.bind(id.0);
        }
        let ids = query.bind(ms(now)).fetch_all(&mut **tx).await?;
        cascaded.extend(ids.into_iter().map(JobId));
    }
    Ok(cascaded)
}

/// Empty output is no output.
fn text(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

async fn write_done(
    tx: &mut Transaction<'static, Sqlite>,
    chunk: &[Done<'_>],
) -> Result<Vec<JobId>> {
    let rows = batch::bucket(chunk.len());
    let mut query = sqlx::query_scalar::<_, Uuid>(FINISH.get(rows));
    for d in chunk {
        let failure = d
            .failure
            .as_ref()
            .map(|f| serde_json::to_string(f).map_err(|e| row::corrupt("jobs", e)))
            .transpose()?;
        query = query
            .bind(d.params.id.0)
            .bind(d.params.dispatcher.0)
            .bind(ms(d.params.now))
            .bind(d.result.map(Value::to_string))
            .bind(failure)
            .bind(text(&d.params.output.stdout))
            .bind(text(&d.params.output.stderr));
    }
    for _ in chunk.len() * FINISH_COLUMNS..rows * FINISH_COLUMNS {
        query = query.bind(None::<i64>);
    }
    let ids = query.fetch_all(&mut **tx).await?;
    Ok(ids.into_iter().map(JobId).collect())
}

async fn write_awaits(
    tx: &mut Transaction<'static, Sqlite>,
    chunk: &[Await<'_>],
) -> Result<Vec<JobId>> {
    let rows = batch::bucket(chunk.len());
    let mut query = sqlx::query_scalar::<_, Uuid>(AWAIT.get(rows));
    for a in chunk {
        query = query
            .bind(a.params.id.0)
            .bind(a.params.dispatcher.0)
            .bind(a.target.0)
            .bind(text(&a.params.output.stdout))
            .bind(text(&a.params.output.stderr));
    }
    for _ in chunk.len() * AWAIT_COLUMNS..rows * AWAIT_COLUMNS {
        query = query.bind(None::<i64>);
    }
    let ids = query.fetch_all(&mut **tx).await?;
    Ok(ids.into_iter().map(JobId).collect())
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

async fn walk(tx: &mut Transaction<'static, Sqlite>, targets: &[String]) -> Result<Graph> {
    let targets = serde_json::to_string(targets).map_err(|e| row::corrupt("jobs", e))?;
    let rows = sqlx::query(&WALK)
        .bind(targets)
        .fetch_all(&mut **tx)
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
