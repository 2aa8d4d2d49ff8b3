//! How runs end, written once for both backends: a batch of finishes in
//! one transaction, with a constant number of statements however large
//! the batch.
//!
//! 1. (only if some job returned "await that job") the awaited jobs are
//!    locked where the backend locks rows, then one read of them and of
//!    the chains they themselves await refuses a job awaiting itself, a
//!    job that does not exist, or a cycle ([`refuse_await`]);
//! 2. one batch write completing the values and failures, which returns
//!    what settling would otherwise read again of those jobs (their status
//!    and links);
//! 3. the runs' records (`store/runs.rs`), which need nothing the write
//!    returned;
//! 4. (only if some run failed) one write keeping those failures in the
//!    jobs' histories (`job_attempts`);
//! 5. one batch write recording the awaits;
//! 6. settling (`store/settle.rs`): every active job awaiting a job that
//!    got its result completes with it, transitively; then the callbacks
//!    and composites of every job that got its result. For the jobs the
//!    batch write completed, settling reads neither their links nor (where
//!    no other writer runs meanwhile: SQLite) the callbacks of those it
//!    completed without one pending, nor the awaiters of those no job
//!    awaits: on SQLite a finish of plain jobs is two statements with
//!    `BEGIN` and `COMMIT` (the batch write, the runs' records). Each
//!    command is a round trip to the database's thread (issue 16), so for
//!    a small batch SQLite sends `BEGIN`, the batch write and the runs'
//!    records as one (`sqlite/finish.rs`: [`sort_without_awaits`], then
//!    [`after_write`]), and, when no run failed, ends that command with a
//!    gate that commits it unless the write left something to settle
//!    ([`left_to_settle`], then [`report_written`]).
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
use uuid::Uuid;

use super::settle::{self, Link, SettleTx};
use super::sql::{corrupt, lit};
use super::statement::{Arg, Sql};
use super::{FinishReport, JobFinishParams, Result};
use crate::model::{Failure, FailureKind, JobId, JobStatus, RunOutcome, RunRecord, Timestamp};

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
    /// returns the jobs written, as written. Where the backend announces
    /// completions, it announces those of the jobs written that someone
    /// can use (a client waits for the job, or it held quota slots): with
    /// the next cascade, on commit.
    async fn write_done(&mut self, done: &[Done<'_>]) -> Result<Vec<Written>>;
    /// Whether no other writer runs while this transaction does (SQLite's
    /// one writer), so that what one statement read still holds at the
    /// next: a job written `completed` then has no callback `new`, and one
    /// no job awaited has no awaiter, so settling need not look for
    /// either. Where writers run at once, a callback or an awaiter added
    /// meanwhile is seen only by a read of its own.
    fn writes_alone(&self) -> bool {
        false
    }
    /// Parks these jobs on the jobs they await; returns the jobs written.
    async fn write_awaits(&mut self, awaits: &[Await<'_>]) -> Result<Vec<JobId>>;
    /// Keeps the failures of these jobs, just completed, in their
    /// histories.
    async fn record_failures(&mut self, failed: &[(JobId, FailureKind)]) -> Result<()>;
}

/// The job another job's run awaits as its outcome (not itself). A
/// finish with any reads the awaited jobs before it writes; one without
/// starts with its batch write.
pub(crate) fn awaited_by_run(p: &JobFinishParams) -> Option<JobId> {
    match p.outcome {
        RunOutcome::Await(target) if target != p.id => Some(target),
        _ => None,
    }
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
    let sorted = sort(tx, params).await?;
    let written = if sorted.done.is_empty() {
        Vec::new()
    } else {
        tx.write_done(&sorted.done).await?
    };
    // The runs' records, in the same commit as their outcomes.
    let runs = runs_of(params);
    if !runs.is_empty() {
        super::runs::insert(tx, &runs).await?;
    }
    after_write(tx, params, sorted, written).await
}

/// A batch of finishes sorted for writing: the values and failures to
/// write, the awaits to park.
pub(crate) struct Sorted<'a> {
    /// Values and failures (an await refused is a failure), to write.
    pub done: Vec<Done<'a>>,
    awaits: Vec<Await<'a>>,
    /// The job each accepted await parks on.
    accepted: HashMap<JobId, JobId>,
    /// The batch's latest finish time.
    now: Timestamp,
}

/// Sorts a batch, reading the awaited jobs first (and locking them where
/// rows lock) when some run returned one to await.
pub(crate) async fn sort<'a, T: FinishTx + ?Sized>(
    tx: &mut T,
    params: &'a [JobFinishParams],
) -> Result<Sorted<'a>> {
    let targets: Vec<JobId> = params
        .iter()
        .filter_map(awaited_by_run)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let graph = if targets.is_empty() {
        Graph::new()
    } else {
        tx.lock_awaited(&targets).await?;
        walk(tx, &targets).await?
    };
    Ok(sort_by(params, &graph))
}

/// Sorts a batch in which no run returned a job to await (no
/// [`awaited_by_run`]): nothing to read first.
pub(crate) fn sort_without_awaits(params: &[JobFinishParams]) -> Sorted<'_> {
    debug_assert!(params.iter().all(|p| awaited_by_run(p).is_none()));
    sort_by(params, &Graph::new())
}

fn sort_by<'a>(params: &'a [JobFinishParams], graph: &Graph) -> Sorted<'a> {
    let now = params.iter().map(|p| p.now).max().expect("not empty");
    let mut done = Vec::new();
    let mut awaits = Vec::new();
    let mut accepted: HashMap<JobId, JobId> = HashMap::new();
    for p in params {
        let (result, failure) = match &p.outcome {
            RunOutcome::Value(value) => (Some(value), None),
            RunOutcome::Failure(failure) => (None, Some(Cow::Borrowed(failure))),
            RunOutcome::Await(target) => match refuse_await(p.id, *target, graph, &accepted) {
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
    Sorted {
        done,
        awaits,
        accepted,
        now,
    }
}

/// The records of the runs a batch ended.
pub(crate) fn runs_of(params: &[JobFinishParams]) -> Vec<RunRecord> {
    params.iter().filter_map(|p| p.run.clone()).collect()
}

/// What follows the batch write (`written`, what it returned) and the
/// runs' records: the failures kept, the awaits parked, settling.
pub(crate) async fn after_write<T: FinishTx + ?Sized>(
    tx: &mut T,
    params: &[JobFinishParams],
    sorted: Sorted<'_>,
    written: Vec<Written>,
) -> Result<FinishReport> {
    let Sorted {
        done,
        awaits,
        accepted,
        now,
    } = sorted;
    let finished: HashSet<JobId> = written.iter().map(|w| w.id).collect();
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
    let known = known(&written, tx.writes_alone(), &accepted);
    let settled = settle::settle_known(tx, seeds, known, now).await?;
    let cascaded: HashSet<JobId> = settled.completed.into_iter().collect();
    Ok(report(params, &finished, &parked, &cascaded))
}

/// A job the batch write completed, as the write left it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written {
    /// The job.
    pub id: JobId,
    /// Its status as written, and its links.
    pub link: Link,
    /// Whether an active job awaits it, where the write reads that
    /// ([`awaited`]).
    pub awaited: Option<bool>,
}

/// The columns a backend's batch write returns of each job it completed,
/// in [`written`]'s order.
pub(crate) const WRITTEN: &str = "jobs.id, jobs.status, jobs.callback_of, jobs.part_of";

/// Whether an active job awaits the job written (index `jobs_awaiting`):
/// the column a backend's write returns after [`WRITTEN`] where it writes
/// alone ([`FinishTx::writes_alone`]), the only place settling trusts it.
pub(crate) fn awaited() -> String {
    format!(
        "EXISTS (SELECT 1 FROM jobs AS w WHERE w.awaiting = jobs.id \
         AND w.status = {active} AND w.awaiting IS NOT NULL)",
        active = lit(JobStatus::Active)
    )
}

/// A job the batch write completed, from the row it returned.
pub(crate) fn written(
    id: Uuid,
    status: &str,
    callback_of: Option<Uuid>,
    part_of: Option<Uuid>,
    awaited: Option<bool>,
) -> Result<Written> {
    let link = Link {
        status: status.parse().map_err(|e| corrupt("jobs", e))?,
        callback_of: callback_of.map(JobId),
        part_of: part_of.map(JobId),
    };
    Ok(Written {
        id: JobId(id),
        link,
        awaited,
    })
}

/// What the finish's write read of the jobs it completed, for settling:
/// their links and, where no other writer runs meanwhile, which have no
/// callback left to fire and which no job awaits. A job that a job of
/// this batch just parked on (`accepted`, after the write read it) is
/// awaited whatever the write read.
fn known(
    written: &[Written],
    writes_alone: bool,
    accepted: &HashMap<JobId, JobId>,
) -> settle::Known {
    let mut known = settle::Known::default();
    let parked_on: HashSet<JobId> = accepted.values().copied().collect();
    for w in written {
        let linked = w.link.callback_of.is_some() || w.link.part_of.is_some();
        known.links.insert(w.id, linked.then_some(w.link));
        if !writes_alone {
            continue;
        }
        if w.link.status == JobStatus::Completed {
            known.without_callbacks.insert(w.id);
        }
        if w.awaited == Some(false) && !parked_on.contains(&w.id) {
            known.without_awaiters.insert(w.id);
        }
    }
    known
}

/// Whether a job among `ids` (an SQL list), once the batch write is done,
/// leaves settling something to do, as [`known`] tells from the write's
/// rows where the write runs alone: it has a link, a callback still to
/// fire (its status is not `completed`), or a job awaiting it. A job the
/// write left alone (reassigned) counts too: the caller then goes the
/// whole way, as for any batch. Read in the write's own transaction.
pub(crate) fn left_to_settle(ids: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM jobs WHERE jobs.id IN ({ids}) AND (jobs.status <> {completed} \
         OR jobs.callback_of IS NOT NULL OR jobs.part_of IS NOT NULL OR {awaited}))",
        completed = lit(JobStatus::Completed),
        awaited = awaited(),
    )
}

/// What [`after_write`] reports of a batch with no await and no failure
/// whose write, as [`left_to_settle`] read in its transaction, left
/// nothing to settle: the jobs written completed, the others were
/// reassigned.
pub(crate) fn report_written(params: &[JobFinishParams], written: &[Written]) -> FinishReport {
    debug_assert!(
        written.iter().all(|w| w.link.status == JobStatus::Completed
            && w.link.callback_of.is_none()
            && w.link.part_of.is_none()
            && w.awaited == Some(false)),
        "nothing left to settle: {written:?}"
    );
    let finished: HashSet<JobId> = written.iter().map(|w| w.id).collect();
    report(params, &finished, &HashSet::new(), &HashSet::new())
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
    // Runs only for a batch that awaits: planned each time (see the
    // method), which costs little there.
    let rows = tx
        .fetch_all_planned_each_run("jobs", sql, &[Arg::Text(&list)])
        .await?;
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
