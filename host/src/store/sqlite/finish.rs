//! `jobs`: how runs end. One `BEGIN IMMEDIATE` transaction per batch, and
//! a constant number of statements however large the batch:
//!
//! 1. (only if some job returned "await that job") one read of the awaited
//!    jobs and the chains they themselves await, to refuse a job awaiting
//!    itself, a job that does not exist, or a cycle;
//! 2. one `UPDATE … FROM json_each` completing the values and failures;
//! 3. one `UPDATE … FROM json_each` recording the awaits;
//! 4. one recursive `UPDATE` completing every active job that awaits a
//!    completed one, transitively, with that job's result.
//!
//! Every write is guarded by `status = 'active' AND dispatcher = <the
//! job's dispatcher> AND awaiting IS NULL`: a job that is no longer this
//! dispatcher's run (or already parked awaiting another) is left alone and
//! reported as `reassigned`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Value;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Row as _, Sqlite, Transaction};
use uuid::Uuid;

use super::SqliteStore;
use super::row::{self, hex, lit, ms};
use crate::model::{Failure, FailureKind, JobId, JobStatus, RunOutcome, Transition};
use crate::store::{FinishReport, JobFinishParams, Result};

/// A value or failure to record.
#[derive(Serialize)]
struct DoneRow<'a> {
    id: String,
    dispatcher: String,
    now: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<Cow<'a, Failure>>,
    stdout: &'a str,
    stderr: &'a str,
}

/// An await to record.
#[derive(Serialize)]
struct AwaitRow<'a> {
    id: String,
    dispatcher: String,
    target: String,
    stdout: &'a str,
    stderr: &'a str,
}

/// The guard every finish write shares.
fn guard() -> String {
    format!(
        "jobs.id = unhex(b.value ->> 'id') AND jobs.status = {active} \
         AND jobs.dispatcher = unhex(b.value ->> 'dispatcher') AND jobs.awaiting IS NULL",
        active = lit(JobStatus::Active)
    )
}

static FINISH: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Finish;
    debug_assert_eq!(t.from(), JobStatus::Active);
    format!(
        "UPDATE jobs SET status = {to}, result = b.value -> 'result', \
         failure = b.value -> 'failure', completed_at = b.value ->> 'now', \
         stdout = nullif(b.value ->> 'stdout', ''), stderr = nullif(b.value ->> 'stderr', '') \
         FROM json_each(?1) AS b WHERE {guard} RETURNING jobs.id",
        to = lit(t.to()),
        guard = guard(),
    )
});

/// Not a change of status: the job stays `active`, parked on `awaiting`.
static AWAIT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET awaiting = unhex(b.value ->> 'target'), \
         stdout = nullif(b.value ->> 'stdout', ''), stderr = nullif(b.value ->> 'stderr', '') \
         FROM json_each(?1) AS b WHERE {guard} RETURNING jobs.id",
        guard = guard(),
    )
});

/// The awaited jobs and, for those that are themselves awaiting, the chain
/// of jobs they wait for.
static WALK: LazyLock<String> = LazyLock::new(|| {
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
static CASCADE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::ResolveAwait;
    format!(
        "WITH RECURSIVE chain(id, root) AS ( \
           SELECT w.id, w.awaiting FROM jobs AS w JOIN jobs AS r ON r.id = w.awaiting \
           WHERE w.status = {from} AND w.awaiting IN (SELECT unhex(value) FROM json_each(?1)) \
           AND r.status = {completed} \
           UNION \
           SELECT w.id, chain.root FROM chain JOIN jobs AS w ON w.awaiting = chain.id \
           WHERE w.status = {from}) \
         UPDATE jobs SET status = {to}, result = r.result, failure = r.failure, completed_at = ?2 \
         FROM chain JOIN jobs AS r ON r.id = chain.root \
         WHERE jobs.id = chain.id AND jobs.status = {from} \
         RETURNING jobs.id",
        from = lit(t.from()),
        to = lit(t.to()),
        completed = lit(JobStatus::Completed),
    )
});

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
        let failure = match &p.outcome {
            RunOutcome::Value(value) => {
                done.push(done_row(p, Some(value), None));
                continue;
            }
            RunOutcome::Failure(failure) => {
                done.push(done_row(p, None, Some(Cow::Borrowed(failure))));
                continue;
            }
            RunOutcome::Await(target) => refuse_await(p.id, *target, &graph, &accepted),
        };
        match (failure, &p.outcome) {
            (Some(failure), _) => done.push(done_row(p, None, Some(Cow::Owned(failure)))),
            (None, RunOutcome::Await(target)) => {
                accepted.insert(p.id, *target);
                awaits.push(AwaitRow {
                    id: hex(p.id.0),
                    dispatcher: hex(p.dispatcher.0),
                    target: hex(target.0),
                    stdout: &p.output.stdout,
                    stderr: &p.output.stderr,
                });
            }
            (None, _) => unreachable!("values and failures are handled above"),
        }
    }

    let finished = if done.is_empty() {
        HashSet::new()
    } else {
        ids(&mut tx, FINISH.as_str(), json(&done)?, None).await?
    };
    let parked = if awaits.is_empty() {
        HashSet::new()
    } else {
        ids(&mut tx, AWAIT.as_str(), json(&awaits)?, None).await?
    };
    let seeds: Vec<String> = finished
        .iter()
        .copied()
        .chain(parked.iter().filter_map(|id| accepted.get(id).copied()))
        .map(|id| hex(id.0))
        .collect();
    let cascaded = if seeds.is_empty() {
        HashSet::new()
    } else {
        let seeds = serde_json::to_string(&seeds).map_err(|e| row::corrupt("jobs", e))?;
        ids(&mut tx, CASCADE.as_str(), seeds, Some(ms(now))).await?
    };
    tx.commit().await?;

    Ok(report(params, &finished, &parked, &cascaded))
}

fn done_row<'a>(
    p: &'a JobFinishParams,
    result: Option<&'a Value>,
    failure: Option<Cow<'a, Failure>>,
) -> DoneRow<'a> {
    DoneRow {
        id: hex(p.id.0),
        dispatcher: hex(p.dispatcher.0),
        now: ms(p.now),
        result,
        failure,
        stdout: &p.output.stdout,
        stderr: &p.output.stderr,
    }
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

/// Runs a statement that returns job ids.
async fn ids(
    tx: &mut Transaction<'static, Sqlite>,
    sql: &'static str,
    batch: String,
    now: Option<i64>,
) -> Result<HashSet<JobId>> {
    let conn: &mut SqliteConnection = &mut *tx;
    let mut query = sqlx::query_scalar::<_, Uuid>(sql).bind(batch);
    if let Some(now) = now {
        query = query.bind(now);
    }
    Ok(query
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(JobId)
        .collect())
}

fn json<T: Serialize>(rows: &[T]) -> Result<String> {
    serde_json::to_string(rows).map_err(|e| row::corrupt("jobs", e))
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
