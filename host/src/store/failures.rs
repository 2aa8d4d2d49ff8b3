//! The store's failure handling: retries of failed runs, dead
//! dispatchers' rescue, and jobs handed back at shutdown. The decisions
//! are the retry policy's ([`RetryPolicy`]); the steps that read what it
//! needs and write its verdict are written here once ([`retry`],
//! [`hand_back`], [`rescue_next`]), generic over [`FailureTx`], its
//! statements, which are also written once, over each backend's
//! [`SqlConn`]. Every write is guarded by the status a [`Transition`]
//! names and by the dispatcher.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use tracing::instrument;

pub(crate) mod records;
mod statements;

pub(crate) use records::{attempts, held_jobs, probe, queue_retry_get, queue_retry_set};

use super::broadcast;
use super::settle::{self, SettleTx};
use super::sql::one_more;
use super::statement::SqlConn;
use super::statement::{SqlBackend, SqlTx, retrying};
use super::{FailureStore, Result};
use crate::clock;
use crate::model::{
    AfterInterruption, Attempt, CapturedOutput, DispatcherId, Failure, FailureKind, JobId,
    RetryPolicy, Timestamp,
};

/// Looks for dead dispatchers and handles their jobs.
#[derive(Debug, Clone)]
pub struct DispatcherRescueParams {
    /// The live dispatcher doing it (never rescues itself).
    pub rescuer: DispatcherId,
    /// A dispatcher whose last ping is older than this is dead.
    pub death_interval: Duration,
    /// Now.
    pub now: Timestamp,
}

/// Hands back every job a dispatcher holds: its own at shutdown, or a
/// dead one's; or one job it no longer holds in memory (its self-check).
#[derive(Debug, Clone)]
pub struct HandBackParams {
    /// The dispatcher whose jobs go back.
    pub dispatcher: DispatcherId,
    /// Only this job, if it is still the dispatcher's (`None`: all).
    pub job: Option<JobId>,
    /// Why its active jobs were interrupted (the `interrupted` failure's
    /// message).
    pub reason: String,
    /// Now.
    pub now: Timestamp,
}

/// What handing back a dispatcher's jobs did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandBackReport {
    /// The dispatcher whose jobs went back.
    pub dispatcher: Option<DispatcherId>,
    /// Claimed but not started: back to their queue, no attempt counted
    /// (`Release`).
    pub released: Vec<JobId>,
    /// Interrupted while running, retried by their policy: back to their
    /// place at the front of their queue (`Retry`).
    pub retried: Vec<JobId>,
    /// Interrupted once too often for their policy: completed with an
    /// `aborted` failure (`Abort`).
    pub aborted: Vec<JobId>,
    /// Broadcast copies pinned to the dispatcher that it never ran (left
    /// in their queue, or handed back above): completed with an `aborted`
    /// failure (`Strand`), since no other dispatcher may run them.
    pub stranded: Vec<JobId>,
    /// Every job that completed: the aborted and stranded ones, and what
    /// completed with them (jobs that awaited them, broadcasts).
    pub completed: Vec<JobId>,
    /// The queues that got jobs back.
    pub queues: Vec<String>,
}

impl HandBackReport {
    /// True when no job moved.
    pub fn is_empty(&self) -> bool {
        self.released.is_empty()
            && self.retried.is_empty()
            && self.aborted.is_empty()
            && self.stranded.is_empty()
    }
}

/// Hands back jobs a dispatcher claimed and started ahead of a free slot
/// and never ran (see [`Transition::Unstart`](crate::model::Transition)).
#[derive(Debug, Clone)]
pub struct JobUnstartParams {
    /// The dispatcher that started them: a job no longer its (or no longer
    /// `active`) is left as it is.
    pub dispatcher: DispatcherId,
    /// The jobs.
    pub ids: Vec<JobId>,
}

/// A run failed: try the job again if its retry policy says so.
#[derive(Debug, Clone)]
pub struct JobRetryParams {
    /// The job.
    pub id: JobId,
    /// The dispatcher that ran it: nothing is written unless the job is
    /// still `active` and this dispatcher's.
    pub dispatcher: DispatcherId,
    /// How the run failed.
    pub failure: Failure,
    /// What the guest wrote.
    pub output: CapturedOutput,
    /// Now.
    pub now: Timestamp,
}

/// What [`FailureStore::job_retry`](super::FailureStore::job_retry) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryVerdict {
    /// Back to its queue, due at `at`; the failure is in its history.
    Retried {
        /// When it is due again.
        at: Timestamp,
        /// Its failed runs so far, this one included.
        failures: u32,
    },
    /// Its policy does not retry it: nothing written; record the failure
    /// as the job's outcome (a finish).
    Final,
    /// No longer this dispatcher's run: nothing written, the outcome is
    /// dropped.
    Reassigned,
}

/// The policy that applies to a job: its own, else its queue's, else the
/// default.
pub fn effective_policy(job: Option<RetryPolicy>, queue: Option<RetryPolicy>) -> RetryPolicy {
    job.or(queue).unwrap_or_default()
}

/// The failure recorded for an interrupted run.
pub fn interrupted(reason: &str) -> Failure {
    Failure::new(FailureKind::Interrupted, reason)
}

/// What becomes of an interrupted job under `policy`, interrupted
/// `interruptions` times (this one included), and the failure it
/// completes with if it is aborted.
pub fn interruption_verdict(
    policy: &RetryPolicy,
    interruptions: u32,
) -> (AfterInterruption, Failure) {
    let verdict = policy.after_interruption(interruptions);
    let aborted = Failure::new(
        FailureKind::Aborted,
        format!(
            "interrupted {interruptions} time(s); its retry policy ({}) retries {} \
             interruption(s)",
            policy.preset.as_str(),
            policy
                .max_interruptions
                .map_or_else(|| "all".to_owned(), |n| n.to_string())
        ),
    );
    (verdict, aborted)
}

/// A job's active run, as a retry decision reads it.
#[derive(Debug, Clone)]
pub(crate) struct ActiveRun {
    /// The job's own retry policy.
    pub job_policy: Option<RetryPolicy>,
    /// Its queue's default retry policy.
    pub queue_policy: Option<RetryPolicy>,
    /// Its start count: the attempt that failed.
    pub attempt: i64,
    /// Its failed runs so far, interruptions apart.
    pub failures: i64,
    /// Its queue.
    pub queue: String,
}

/// A running job being handed back, as the interruption verdict reads it.
#[derive(Debug, Clone)]
pub(crate) struct RunningJob {
    /// The job.
    pub id: JobId,
    /// Its queue.
    pub queue: String,
    /// Its start count: the attempt interrupted.
    pub attempt: i64,
    /// The job's own retry policy.
    pub job_policy: Option<RetryPolicy>,
    /// Its queue's default retry policy.
    pub queue_policy: Option<RetryPolicy>,
    /// Its interruptions so far.
    pub interruptions: i64,
}

/// A failed attempt, as recorded in a job's history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttemptRecord<'a> {
    /// The job.
    pub job: JobId,
    /// Its start count then.
    pub attempt: i64,
    /// The dispatcher that ran it.
    pub dispatcher: DispatcherId,
    /// How it failed.
    pub failure: &'a Failure,
    /// When.
    pub now: Timestamp,
}

/// The statements failure handling needs, run inside the caller's
/// transaction. Every write is guarded by the status a
/// [`Transition`](crate::model::Transition) names and by the dispatcher,
/// and reports whether it matched.
#[async_trait]
pub(crate) trait FailureTx: SettleTx + SqlConn {
    /// The active run of job `id` if `dispatcher` still runs it (and it is
    /// not parked awaiting another job), locked where the backend has row
    /// locks.
    async fn active_run(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
    ) -> Result<Option<ActiveRun>>;
    /// `active` → `pending` after a failed run, due at `at` and
    /// `scheduled` (once due it goes before plain jobs put since), keeping
    /// the run's output. False if the guard matched nothing.
    async fn retry_later(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
        at: Timestamp,
        output: &CapturedOutput,
    ) -> Result<bool>;
    /// Adds a failed attempt to a job's history.
    async fn record_attempt(&mut self, attempt: AttemptRecord<'_>) -> Result<()>;
    /// `assigned` → `pending` for the jobs `dispatcher` claimed but did not
    /// start (all, or only `only`), at the place they had; returns them
    /// with their queues.
    async fn release(
        &mut self,
        dispatcher: DispatcherId,
        only: Option<JobId>,
    ) -> Result<Vec<(JobId, String)>>;
    /// `active` → `pending` for the jobs `ids` started ahead by
    /// `dispatcher` and never run, in one statement: their starts undone,
    /// at the places they had; returns those the guard matched, each with
    /// its queue, in no particular order.
    async fn unstart(
        &mut self,
        ids: &[JobId],
        dispatcher: DispatcherId,
    ) -> Result<Vec<(JobId, String)>>;
    /// The jobs `dispatcher` runs (all, or only `only`), not those parked
    /// awaiting another job (their run is over), locked where the backend
    /// has row locks.
    async fn running(
        &mut self,
        dispatcher: DispatcherId,
        only: Option<JobId>,
    ) -> Result<Vec<RunningJob>>;
    /// `active` → `pending` after an interruption, back to its place at
    /// the front of its queue (`begin_after` and put order unchanged).
    async fn retry_now(&mut self, id: JobId, dispatcher: DispatcherId) -> Result<bool>;
    /// `active` → `completed` (or `callbacks`) with `failure`.
    async fn abort(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<bool>;
    /// The next dead dispatcher, locked so that no other rescuer takes it
    /// meanwhile: not `rescuer`, last ping before `cutoff`, and either
    /// still active or still holding jobs (one that claimed while wrongly
    /// declared dead, then died). Returns it with its last ping.
    async fn next_dead(
        &mut self,
        rescuer: DispatcherId,
        cutoff: Timestamp,
    ) -> Result<Option<(DispatcherId, Timestamp)>>;
    /// Marks a dead dispatcher deactivated and rescued by `rescuer` (both
    /// kept if already set).
    async fn mark_rescued(
        &mut self,
        id: DispatcherId,
        rescuer: DispatcherId,
        now: Timestamp,
    ) -> Result<()>;
}

/// A run failed: retries the job if its policy says so (see
/// [`Store::job_retry`](super::Store::job_retry)). Writes nothing unless
/// the verdict is [`RetryVerdict::Retried`].
pub(crate) async fn retry<T: FailureTx + ?Sized>(
    tx: &mut T,
    p: &JobRetryParams,
) -> Result<RetryVerdict> {
    let Some(run) = tx.active_run(p.id, p.dispatcher).await? else {
        return Ok(RetryVerdict::Reassigned);
    };
    let policy = effective_policy(run.job_policy, run.queue_policy);
    let failures = one_more(run.failures);
    let Some(delay) = policy.after_failure(&p.failure, failures) else {
        return Ok(RetryVerdict::Final);
    };
    let at = p.now + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
    // Stored in milliseconds: the verdict says the time as stored.
    let at = clock::from_millis(clock::to_millis(at));
    if !tx.retry_later(p.id, p.dispatcher, at, &p.output).await? {
        return Ok(RetryVerdict::Reassigned);
    }
    tx.record_attempt(AttemptRecord {
        job: p.id,
        attempt: run.attempt,
        dispatcher: p.dispatcher,
        failure: &p.failure,
        now: p.now,
    })
    .await?;
    tx.announce_puts(std::slice::from_ref(&run.queue)).await?;
    tracing::debug!(job = %p.id, queue = %run.queue, failures, "retry after a failed run");
    Ok(RetryVerdict::Retried { at, failures })
}

/// Hands back every job of `p.dispatcher` (or only `p.job`) inside the
/// caller's transaction (see
/// [`Store::dispatcher_hand_back`](super::Store::dispatcher_hand_back)).
pub(crate) async fn hand_back<T: FailureTx + ?Sized>(
    tx: &mut T,
    p: &HandBackParams,
) -> Result<HandBackReport> {
    let mut report = HandBackReport {
        dispatcher: Some(p.dispatcher),
        ..HandBackReport::default()
    };
    let mut queues = BTreeSet::new();
    for (id, queue) in tx.release(p.dispatcher, p.job).await? {
        report.released.push(id);
        queues.insert(queue);
    }
    let failure = interrupted(&p.reason);
    for run in tx.running(p.dispatcher, p.job).await? {
        let policy = effective_policy(run.job_policy, run.queue_policy);
        let interruptions = one_more(run.interruptions);
        let (verdict, aborted) = interruption_verdict(&policy, interruptions);
        let moved = match verdict {
            AfterInterruption::Retry => tx.retry_now(run.id, p.dispatcher).await?,
            AfterInterruption::Abort => tx.abort(run.id, p.dispatcher, &aborted, p.now).await?,
        };
        if !moved {
            continue;
        }
        tx.record_attempt(AttemptRecord {
            job: run.id,
            attempt: run.attempt,
            dispatcher: p.dispatcher,
            failure: &failure,
            now: p.now,
        })
        .await?;
        match verdict {
            AfterInterruption::Retry => {
                report.retried.push(run.id);
                queues.insert(run.queue);
            }
            AfterInterruption::Abort => report.aborted.push(run.id),
        }
    }
    if p.job.is_none() {
        // Its broadcast copies, those released or retried above included,
        // are for it alone: none will ever run.
        report.stranded = broadcast::strand(tx, p.dispatcher, &p.reason, p.now).await?;
    }
    if !report.aborted.is_empty() || !report.stranded.is_empty() {
        // The aborted jobs got their result: their waiters, callbacks and
        // composites move on as after any other completion.
        let done: Vec<JobId> = report
            .aborted
            .iter()
            .chain(&report.stranded)
            .copied()
            .collect();
        let settled = settle::settle(tx, done.clone(), p.now).await?;
        queues.extend(settled.queues);
        let mut completed: BTreeSet<JobId> = done.into_iter().collect();
        completed.extend(settled.completed);
        report.completed = completed.into_iter().collect();
    }
    report.queues = queues.into_iter().collect();
    tx.announce_puts(&report.queues).await?;
    Ok(report)
}

/// Rescues the next dead dispatcher inside the caller's transaction:
/// marks it rescued and hands its jobs back. `None` once no dead
/// dispatcher is left (or only ones in `seen`, taken earlier in this round
/// and found with nothing left to do). The caller commits after each, so
/// no transaction holds more than one dispatcher's jobs.
pub(crate) async fn rescue_next<T: FailureTx + ?Sized>(
    tx: &mut T,
    p: &DispatcherRescueParams,
    seen: &mut BTreeSet<DispatcherId>,
) -> Result<Option<HandBackReport>> {
    let cutoff = p.now - chrono::TimeDelta::from_std(p.death_interval).unwrap_or_default();
    let Some((id, last_ping)) = tx.next_dead(p.rescuer, cutoff).await? else {
        return Ok(None);
    };
    if !seen.insert(id) {
        return Ok(None);
    }
    tx.mark_rescued(id, p.rescuer, p.now).await?;
    let reason = format!(
        "its dispatcher {id} stopped pinging (last ping {last_ping}); dispatcher {} rescued \
         its jobs",
        p.rescuer
    );
    let params = HandBackParams {
        dispatcher: id,
        job: None,
        reason,
        now: p.now,
    };
    hand_back(tx, &params).await.map(Some)
}

/// Each operation in transactions of the backend, written once: a retry
/// commits only when it retried; a rescue takes one transaction per dead
/// dispatcher (SQLite's write lock, PostgreSQL's row locks are not held
/// longer than one dispatcher's jobs take); a hand-back that PostgreSQL
/// aborts (a deadlock with a finish) runs again.
#[async_trait]
impl<B: SqlBackend> FailureStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_rescue(&self, p: DispatcherRescueParams) -> Result<Vec<HandBackReport>> {
        let mut reports = Vec::new();
        // Dispatchers this round took already: one a transaction found
        // with nothing left to do is not taken again.
        let mut seen = BTreeSet::new();
        loop {
            let mut tx = self.transaction().await?;
            let Some(report) = rescue_next(&mut tx.conn(), &p, &mut seen).await? else {
                return Ok(reports);
            };
            tx.commit().await?;
            if !report.is_empty() {
                reports.push(report);
            }
        }
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_hand_back(&self, p: HandBackParams) -> Result<HandBackReport> {
        retrying(|| async {
            let mut tx = self.transaction().await?;
            let report = hand_back(&mut tx.conn(), &p).await?;
            tx.commit().await?;
            Ok(report)
        })
        .await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_unstart_many(&self, p: JobUnstartParams) -> Result<Vec<JobId>> {
        if p.ids.is_empty() {
            return Ok(Vec::new());
        }
        retrying(|| async {
            let mut tx = self.transaction().await?;
            let mut conn = tx.conn();
            let moved = conn.unstart(&p.ids, p.dispatcher).await?;
            let mut moved_ids: HashSet<JobId> = moved.iter().map(|(id, _)| *id).collect();
            // In the order asked, each once.
            let unstarted: Vec<JobId> = p
                .ids
                .iter()
                .copied()
                .filter(|id| moved_ids.remove(id))
                .collect();
            let queues: BTreeSet<String> = moved.into_iter().map(|(_, queue)| queue).collect();
            let queues: Vec<String> = queues.into_iter().collect();
            conn.announce_puts(&queues).await?;
            drop(conn);
            tx.commit().await?;
            Ok(unstarted)
        })
        .await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_retry(&self, p: JobRetryParams) -> Result<RetryVerdict> {
        let mut tx = self.transaction().await?;
        let verdict = retry(&mut tx.conn(), &p).await?;
        if matches!(verdict, RetryVerdict::Retried { .. }) {
            tx.commit().await?;
        }
        Ok(verdict)
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_held_jobs(&self, id: DispatcherId) -> Result<Vec<JobId>> {
        held_jobs(&mut self.reads(), id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn store_probe(&self, now: Timestamp) -> Result<()> {
        probe(&mut self.writes(), now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_attempts(&self, id: JobId) -> Result<Vec<Attempt>> {
        attempts(&mut self.reads(), id).await
    }
}
