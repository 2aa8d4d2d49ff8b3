//! The store's failure handling: retries of failed runs, dead
//! dispatchers' rescue, and jobs handed back at shutdown. The decisions
//! are the retry policy's ([`RetryPolicy`]); the steps that read what it
//! needs and write its verdict are written here once ([`retry`],
//! [`hand_back`], [`rescue_next`]), generic over [`FailureTx`], its
//! statements, which are also written once, over each backend's
//! [`SqlConn`]. Every write is guarded by the status a [`Transition`]
//! names and by the dispatcher.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;

use super::settle::{self, SettleTx};
use super::sql::{lit, ms, one_more, queue_what, settled_status, to_u32};
use super::statement::{Arg, Sql, SqlConn, SqlRow};
use super::{Error, Result};
use crate::clock;
use crate::model::{
    AfterInterruption, Attempt, CapturedOutput, DispatcherId, Failure, FailureKind, JobId,
    JobStatus, RetryPolicy, Timestamp, Transition,
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
    /// Every job that completed: the aborted ones and the jobs that
    /// awaited them.
    pub completed: Vec<JobId>,
    /// The queues that got jobs back.
    pub queues: Vec<String>,
}

impl HandBackReport {
    /// True when no job moved.
    pub fn is_empty(&self) -> bool {
        self.released.is_empty() && self.retried.is_empty() && self.aborted.is_empty()
    }
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
    if !report.aborted.is_empty() {
        // The aborted jobs got their result: their waiters, callbacks and
        // composites move on as after any other completion.
        let settled = settle::settle(tx, report.aborted.clone(), p.now).await?;
        queues.extend(settled.queues);
        let mut completed: BTreeSet<JobId> = report.aborted.iter().copied().collect();
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

// ----- the statements, written once for both backends -----

/// The active run of a job, as a retry decision needs it: its own and its
/// queue's policies, its start count, its failures so far (failed runs
/// apart from interruptions) and its queue.
static RUN: Sql = Sql::new(|d| {
    format!(
        "SELECT jobs.retry, queues.retry, jobs.attempts, \
           (SELECT count(*) FROM job_attempts AS a WHERE a.job = jobs.id \
            AND a.kind <> 'interrupted'), jobs.queue \
         FROM jobs LEFT JOIN queues ON queues.name = jobs.queue \
         WHERE jobs.id = ?1 AND jobs.status = {active} AND jobs.dispatcher = ?2 \
         AND jobs.awaiting IS NULL{lock}",
        active = lit(JobStatus::Active),
        lock = d.lock_jobs,
    )
});

/// Back to the queue after a failed run: due after the backoff, and
/// `scheduled` so that once due it goes before plain jobs put since.
static RETRY_LATER: Sql = Sql::new(|_| {
    let t = Transition::Retry;
    format!(
        "UPDATE jobs SET status = {to}, begin_after = ?3, scheduled = true, stdout = ?4, \
         stderr = ?5 WHERE id = ?1 AND status = {from} AND dispatcher = ?2 \
         AND awaiting IS NULL",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

static RECORD_ATTEMPT: Sql = Sql::new(|d| {
    format!(
        "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5{json}, ?6)",
        json = d.json
    )
});

/// Claimed, not started: back to the queue at the place they had (all of
/// them, or only job `?2`).
static RELEASE: Sql = Sql::new(|d| {
    let t = Transition::Release;
    format!(
        "UPDATE jobs SET status = {to} WHERE dispatcher = ?1 AND status = {from} \
         AND (?2{uuid} IS NULL OR id = ?2) RETURNING id, queue",
        from = lit(t.from()),
        to = lit(t.to()),
        uuid = d.uuid,
    )
});

/// The running jobs of a dispatcher (not those parked awaiting another
/// job: their run is over, the awaited job's completion finishes them),
/// with what their retry policy needs (all of them, or only job `?2`).
static RUNNING: Sql = Sql::new(|d| {
    format!(
        "SELECT jobs.id, jobs.queue, jobs.attempts, jobs.retry, queues.retry, \
           (SELECT count(*) FROM job_attempts AS a WHERE a.job = jobs.id \
            AND a.kind = 'interrupted') \
         FROM jobs LEFT JOIN queues ON queues.name = jobs.queue \
         WHERE jobs.dispatcher = ?1 AND jobs.status = {active} AND jobs.awaiting IS NULL \
         AND (?2{uuid} IS NULL OR jobs.id = ?2) ORDER BY jobs.id{lock}",
        active = lit(JobStatus::Active),
        uuid = d.uuid,
        lock = d.lock_jobs,
    )
});

/// Back to its place at the front of its queue: `begin_after` and `seq`
/// are what they were, so it goes before every job put after it.
static RETRY_NOW: Sql = Sql::new(|_| {
    let t = Transition::Retry;
    format!(
        "UPDATE jobs SET status = {to} WHERE id = ?1 AND status = {from} AND dispatcher = ?2 \
         AND awaiting IS NULL",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

static ABORT: Sql = Sql::new(|d| {
    let t = Transition::Abort;
    format!(
        "UPDATE jobs SET status = {to}, failure = ?3{json}, completed_at = ?4 \
         WHERE id = ?1 AND status = {from} AND dispatcher = ?2 AND awaiting IS NULL",
        from = lit(t.from()),
        to = settled_status(t, "jobs"),
        json = d.json,
    )
});

/// Dead dispatchers: not the rescuer, last ping before the cutoff, and
/// either still active or still holding jobs. PostgreSQL skips one another
/// rescuer holds: once that one commits, it is deactivated with no job
/// left.
static DEAD: Sql = Sql::new(|d| {
    format!(
        "SELECT id, last_ping_at FROM dispatchers AS d WHERE id <> ?1 AND last_ping_at < ?2 \
         AND (deactivated_at IS NULL OR EXISTS (SELECT 1 FROM jobs \
              WHERE jobs.dispatcher = d.id AND jobs.status IN ({assigned}, {active}) \
              AND jobs.awaiting IS NULL)) \
         ORDER BY id LIMIT 1{skip}",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
        skip = d.skip_locked,
    )
});

static MARK_RESCUED: Sql = Sql::new(|_| {
    "UPDATE dispatchers SET deactivated_at = coalesce(deactivated_at, ?2), \
     rescued_by = CASE WHEN rescued_at IS NULL THEN ?3 ELSE rescued_by END, \
     rescued_at = coalesce(rescued_at, ?2) WHERE id = ?1"
        .to_owned()
});

fn running_job(r: &SqlRow) -> Result<RunningJob> {
    Ok(RunningJob {
        id: JobId(r.id(0)?),
        queue: r.text(1)?,
        attempt: r.int(2)?,
        job_policy: r.opt_json(3)?,
        queue_policy: r.opt_json(4)?,
        interruptions: r.int(5)?,
    })
}

#[async_trait]
impl<T: SqlConn + SettleTx + ?Sized> FailureTx for T {
    async fn active_run(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
    ) -> Result<Option<ActiveRun>> {
        let sql = RUN.text(self.dialect());
        let args = [Arg::Id(id.0), Arg::Id(dispatcher.0)];
        let Some(r) = self.fetch_optional("jobs", sql, &args).await? else {
            return Ok(None);
        };
        Ok(Some(ActiveRun {
            job_policy: r.opt_json(0)?,
            queue_policy: r.opt_json(1)?,
            attempt: r.int(2)?,
            failures: r.int(3)?,
            queue: r.text(4)?,
        }))
    }

    async fn retry_later(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
        at: Timestamp,
        output: &CapturedOutput,
    ) -> Result<bool> {
        let sql = RETRY_LATER.text(self.dialect());
        let args = [
            Arg::Id(id.0),
            Arg::Id(dispatcher.0),
            Arg::Int(ms(at)),
            Arg::Output(&output.stdout),
            Arg::Output(&output.stderr),
        ];
        Ok(self.execute(sql, &args).await? > 0)
    }

    async fn record_attempt(&mut self, a: AttemptRecord<'_>) -> Result<()> {
        let sql = RECORD_ATTEMPT.text(self.dialect());
        let failure = serde_json::to_string(a.failure).expect("a failure serializes to JSON");
        let args = [
            Arg::Id(a.job.0),
            Arg::Int(a.attempt),
            Arg::Id(a.dispatcher.0),
            Arg::Text(a.failure.kind.as_str()),
            Arg::Json(&failure),
            Arg::Int(ms(a.now)),
        ];
        self.execute(sql, &args).await?;
        Ok(())
    }

    async fn release(
        &mut self,
        dispatcher: DispatcherId,
        only: Option<JobId>,
    ) -> Result<Vec<(JobId, String)>> {
        let sql = RELEASE.text(self.dialect());
        let args = [Arg::Id(dispatcher.0), Arg::OptId(only.map(|id| id.0))];
        let rows = self.fetch_all("jobs", sql, &args).await?;
        rows.iter()
            .map(|r| Ok((JobId(r.id(0)?), r.text(1)?)))
            .collect()
    }

    async fn running(
        &mut self,
        dispatcher: DispatcherId,
        only: Option<JobId>,
    ) -> Result<Vec<RunningJob>> {
        let sql = RUNNING.text(self.dialect());
        let args = [Arg::Id(dispatcher.0), Arg::OptId(only.map(|id| id.0))];
        let rows = self.fetch_all("jobs", sql, &args).await?;
        rows.iter().map(running_job).collect()
    }

    async fn retry_now(&mut self, id: JobId, dispatcher: DispatcherId) -> Result<bool> {
        let sql = RETRY_NOW.text(self.dialect());
        Ok(self
            .execute(sql, &[Arg::Id(id.0), Arg::Id(dispatcher.0)])
            .await?
            > 0)
    }

    async fn abort(
        &mut self,
        id: JobId,
        dispatcher: DispatcherId,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<bool> {
        let sql = ABORT.text(self.dialect());
        let failure = serde_json::to_string(failure).expect("a failure serializes to JSON");
        let args = [
            Arg::Id(id.0),
            Arg::Id(dispatcher.0),
            Arg::Json(&failure),
            Arg::Int(ms(now)),
        ];
        let aborted = self.execute(sql, &args).await? > 0;
        if aborted {
            self.announce_completed(&[id.0]);
        }
        Ok(aborted)
    }

    async fn next_dead(
        &mut self,
        rescuer: DispatcherId,
        cutoff: Timestamp,
    ) -> Result<Option<(DispatcherId, Timestamp)>> {
        let sql = DEAD.text(self.dialect());
        let args = [Arg::Id(rescuer.0), Arg::Int(ms(cutoff))];
        let Some(r) = self.fetch_optional("dispatchers", sql, &args).await? else {
            return Ok(None);
        };
        Ok(Some((
            DispatcherId(r.id(0)?),
            clock::from_millis(r.int(1)?),
        )))
    }

    async fn mark_rescued(
        &mut self,
        id: DispatcherId,
        rescuer: DispatcherId,
        now: Timestamp,
    ) -> Result<()> {
        let sql = MARK_RESCUED.text(self.dialect());
        let args = [Arg::Id(id.0), Arg::Int(ms(now)), Arg::Id(rescuer.0)];
        self.execute(sql, &args).await?;
        Ok(())
    }
}

// ----- reads and writes outside the multi-step operations -----

/// A job's failed attempts, oldest first (see
/// [`Store::job_attempts`](super::Store::job_attempts)).
pub(crate) async fn attempts<C: SqlConn + ?Sized>(conn: &mut C, id: JobId) -> Result<Vec<Attempt>> {
    static ATTEMPTS: Sql = Sql::new(|d| {
        format!(
            "SELECT attempt, dispatcher, failure, failed_at FROM job_attempts WHERE job = ?1 \
             ORDER BY failed_at, {order}",
            order = d.row_order
        )
    });
    let sql = ATTEMPTS.text(conn.dialect());
    let rows = conn.fetch_all(T, sql, &[Arg::Id(id.0)]).await?;
    if rows.is_empty() && !job_exists(conn, id).await? {
        return Err(Error::not_found(format!("job {id}")));
    }
    rows.iter()
        .map(|r| {
            Ok(Attempt {
                attempt: to_u32(T, "attempt", r.int(0)?)?,
                dispatcher: r.opt_id(1)?.map(DispatcherId),
                failure: r.json(2)?,
                failed_at: clock::from_millis(r.int(3)?),
            })
        })
        .collect()
}

const T: &str = "job_attempts";

async fn job_exists<C: SqlConn + ?Sized>(conn: &mut C, id: JobId) -> Result<bool> {
    let sql = conn.dialect().render("SELECT 1 FROM jobs WHERE id = ?1");
    Ok(conn
        .fetch_optional("jobs", &sql, &[Arg::Id(id.0)])
        .await?
        .is_some())
}

/// A queue's default retry policy.
pub(crate) async fn queue_retry_get<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
) -> Result<Option<RetryPolicy>> {
    let sql = conn
        .dialect()
        .render("SELECT retry FROM queues WHERE name = ?1");
    match conn
        .fetch_optional("queues", &sql, &[Arg::Text(name)])
        .await?
    {
        Some(r) => r.opt_json(0),
        None => Err(Error::not_found(queue_what(name))),
    }
}

/// Sets or clears a queue's default retry policy.
pub(crate) async fn queue_retry_set<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
    policy: Option<RetryPolicy>,
) -> Result<()> {
    static SET: Sql = Sql::new(|d| {
        format!(
            "UPDATE queues SET retry = ?2{json} WHERE name = ?1",
            json = d.json
        )
    });
    let text = policy
        .as_ref()
        .map(|p| serde_json::to_string(p).expect("a retry policy serializes to JSON"));
    let sql = SET.text(conn.dialect());
    let args = match &text {
        Some(text) => [Arg::Text(name), Arg::Json(text)],
        None => [Arg::Text(name), Arg::OptText(None)],
    };
    if conn.execute(sql, &args).await? == 0 {
        return Err(Error::not_found(queue_what(name)));
    }
    Ok(())
}

/// The jobs the store says a dispatcher holds (see
/// [`Store::dispatcher_held_jobs`](super::Store::dispatcher_held_jobs)):
/// one range of `jobs_in_flight`.
pub(crate) static HELD_JOBS: Sql = Sql::new(|_| {
    format!(
        "SELECT id FROM jobs WHERE dispatcher = ?1 AND status IN ({assigned}, {active}) \
         AND (status = {assigned} OR awaiting IS NULL)",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// The jobs the store says a dispatcher holds.
pub(crate) async fn held_jobs<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: DispatcherId,
) -> Result<Vec<JobId>> {
    let sql = HELD_JOBS.text(conn.dialect());
    let rows = conn.fetch_all("jobs", sql, &[Arg::Id(id.0)]).await?;
    rows.iter().map(|r| Ok(JobId(r.id(0)?))).collect()
}

/// Rewrites the probe row (migration 0009) and commits.
pub(crate) async fn probe<C: SqlConn + ?Sized>(conn: &mut C, now: Timestamp) -> Result<()> {
    let sql = conn
        .dialect()
        .render("UPDATE probes SET probed_at = ?1 WHERE id = 1");
    conn.execute(&sql, &[Arg::Int(ms(now))]).await?;
    Ok(())
}
