//! How runs end, written once for both backends: a batch of finishes in
//! one transaction, with a constant number of statements however large
//! the batch.
//!
//! 1. (only if some job returned "await that job") the awaited jobs are
//!    locked where the backend locks rows, then one read of them and of
//!    the chains they themselves await refuses a job awaiting itself, a
//!    job that does not exist, or a cycle ([`refuse_await`]);
//! 2. one batch write completing the values and failures;
//! 3. (only if some run failed) one write keeping those failures in the
//!    jobs' histories (`job_attempts`);
//! 4. one batch write recording the awaits;
//! 5. settling (`store/settle.rs`): every active job awaiting a job that
//!    got its result completes with it, transitively; then the callbacks
//!    and composites of every job that got its result.
//!
//! The batch writes are tuned per backend ([`FinishTx`]); each is guarded
//! by `status = 'active' AND dispatcher = <the job's dispatcher> AND
//! awaiting IS NULL`: a job that is no longer this dispatcher's run (or
//! already parked awaiting another) is left alone and reported as
//! `reassigned`.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use serde_json::Value;

use super::settle::{self, SettleTx};
use super::sql::{corrupt, lit};
use super::statement::{Arg, Sql};
use super::{FinishReport, JobFinishParams, Result};
use crate::model::{Failure, FailureKind, JobId, JobStatus, RunOutcome, RunRecord};

/// A value or failure to record.
pub(crate) struct Done<'a> {
    /// The finish.
    pub params: &'a JobFinishParams,
    /// The value, if the run returned one.
    pub result: Option<&'a Value>,
    /// The failure, if the run failed (or its await was refused).
    pub failure: Option<Cow<'a, Failure>>,
}

/// An await to record.
pub(crate) struct Await<'a> {
    /// The finish.
    pub params: &'a JobFinishParams,
    /// The job it awaits.
    pub target: JobId,
}

/// The batch writes of a finish, tuned per backend, inside the caller's
/// transaction.
#[async_trait]
pub(crate) trait FinishTx: SettleTx {
    /// Locks the awaited jobs against completion until the transaction
    /// ends, where rows lock (SQLite's one writer needs none).
    async fn lock_awaited(&mut self, _targets: &[JobId]) -> Result<()> {
        Ok(())
    }
    /// `active` → `completed` (or `callbacks`) with these outcomes;
    /// returns the jobs written. Where the backend announces completions,
    /// it announces those of the jobs written that someone can use (a
    /// client waits for the job, or it held quota slots): with the next
    /// cascade, on commit.
    async fn write_done(&mut self, done: &[Done<'_>]) -> Result<Vec<JobId>>;
    /// Parks these jobs on the jobs they await; returns the jobs written.
    async fn write_awaits(&mut self, awaits: &[Await<'_>]) -> Result<Vec<JobId>>;
    /// Keeps the failures of these jobs, just completed, in their
    /// histories.
    async fn record_failures(&mut self, failed: &[(JobId, FailureKind)]) -> Result<()>;
}

/// Records how runs ended inside `tx` (see the module doc); the caller
/// commits.
pub(crate) async fn finish<T: FinishTx + ?Sized>(
    tx: &mut T,
    params: &[JobFinishParams],
) -> Result<FinishReport> {
    if params.is_empty() {
        return Ok(FinishReport::default());
    }
    let now = params.iter().map(|p| p.now).max().expect("not empty");
    let targets: Vec<JobId> = params
        .iter()
        .filter_map(|p| match p.outcome {
            RunOutcome::Await(target) if target != p.id => Some(target),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let graph = if targets.is_empty() {
        Graph::new()
    } else {
        tx.lock_awaited(&targets).await?;
        walk(tx, &targets).await?
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

    let finished: HashSet<JobId> = if done.is_empty() {
        HashSet::new()
    } else {
        tx.write_done(&done).await?.into_iter().collect()
    };
    // Every failed run is kept in the job's history (migration 0006).
    let failed: Vec<(JobId, FailureKind)> = done
        .iter()
        .filter(|d| finished.contains(&d.params.id))
        .filter_map(|d| d.failure.as_ref().map(|f| (d.params.id, f.kind)))
        .collect();
    if !failed.is_empty() {
        tx.record_failures(&failed).await?;
    }
    let parked: HashSet<JobId> = if awaits.is_empty() {
        HashSet::new()
    } else {
        tx.write_awaits(&awaits).await?.into_iter().collect()
    };
    // The runs' records, in the same commit as their outcomes.
    let runs: Vec<RunRecord> = params.iter().filter_map(|p| p.run.clone()).collect();
    if !runs.is_empty() {
        super::runs::insert(tx, &runs).await?;
    }
    // The jobs finished here, and the jobs just awaited (already
    // completed ones resolve their new awaiters at once).
    let seeds: Vec<JobId> = finished
        .iter()
        .copied()
        .chain(parked.iter().filter_map(|id| accepted.get(id).copied()))
        .collect();
    // The jobs finished here are announced by `write_done`, only those
    // someone can use (a finish is the hot path: see PostgreSQL's
    // `finish.rs`).
    let settled = settle::settle(tx, seeds, now).await?;
    let cascaded: HashSet<JobId> = settled.completed.into_iter().collect();
    Ok(report(params, &finished, &parked, &cascaded))
}

/// The statuses of a job that has its result: an awaiter resolves as soon
/// as its job has it, while that job's callbacks run.
pub(crate) fn with_result() -> String {
    [
        JobStatus::Callbacks,
        JobStatus::Completed,
        JobStatus::Cancelled,
    ]
    .map(lit)
    .join(", ")
}

/// What the walk found about a job: its status and, if active, what it
/// awaits.
type Graph = HashMap<JobId, (JobStatus, Option<JobId>)>;

/// The awaited jobs and, for those that are themselves awaiting, the chain
/// of jobs they wait for.
pub(crate) static WALK: Sql = Sql::new(|d| {
    format!(
        "WITH RECURSIVE walk(id) AS ( \
           SELECT id FROM jobs WHERE {targets} \
           UNION \
           SELECT j.awaiting FROM walk JOIN jobs AS j ON j.id = walk.id \
           WHERE j.status = {active} AND j.awaiting IS NOT NULL) \
         SELECT j.id, j.status, j.awaiting FROM walk JOIN jobs AS j ON j.id = walk.id",
        targets = (d.in_ids)("id", "?1"),
        active = lit(JobStatus::Active)
    )
});

async fn walk<T: FinishTx + ?Sized>(tx: &mut T, targets: &[JobId]) -> Result<Graph> {
    let ids: Vec<_> = targets.iter().map(|id| id.0).collect();
    let list = (tx.dialect().id_list)(&ids);
    let sql = WALK.text(tx.dialect());
    let rows = tx.fetch_all("jobs", sql, &[Arg::Text(&list)]).await?;
    rows.iter()
        .map(|r| {
            let status = r.text(1)?.parse().map_err(|e| corrupt("jobs", e))?;
            Ok((JobId(r.id(0)?), (status, r.opt_id(2)?.map(JobId))))
        })
        .collect()
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
