//! The statements of the failure handling ([`FailureTx`]), written once
//! for both backends over [`SqlConn`]: each write guarded by the status a
//! [`Transition`] names and by the dispatcher, rows locked where the
//! backend locks them ([`Dialect`](crate::store::statement::Dialect)).

use async_trait::async_trait;

use super::{ActiveRun, AttemptRecord, FailureTx, RunningJob};
use crate::clock;
use crate::model::{
    CapturedOutput, DispatcherId, Failure, JobId, JobStatus, Timestamp, Transition,
};
use crate::store::Result;
use crate::store::settle::SettleTx;
use crate::store::sql::{lit, ms, settled_status};
use crate::store::statement::{Arg, Sql, SqlConn, SqlRow};

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

/// Started ahead, never run: back to their places in their queues with
/// their starts undone (the attempt not counted; a first start's time
/// cleared). One statement for the whole list `?1`: a dispatcher hands
/// back hundreds at once, and one statement a job held the transaction
/// open for as many round trips (and ran the jobs' statement-level
/// triggers as many times).
static UNSTART: Sql = Sql::new(|d| {
    let t = Transition::Unstart;
    format!(
        "UPDATE jobs SET status = {to}, attempts = attempts - 1, \
         started_at = CASE WHEN attempts = 1 THEN NULL ELSE started_at END \
         WHERE {ids} AND status = {from} AND dispatcher = ?2 AND awaiting IS NULL \
         RETURNING id, queue",
        ids = (d.in_ids)("id", "?1"),
        from = lit(t.from()),
        to = lit(t.to()),
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
/// either still active, still holding jobs, or still with a broadcast
/// copy pinned to it in a queue (put while it stopped, or just as it was
/// rescued: `store/broadcast.rs`). PostgreSQL skips one another rescuer
/// holds: once that one commits, it is deactivated with no job left.
static DEAD: Sql = Sql::new(|d| {
    format!(
        "SELECT id, last_ping_at FROM dispatchers AS d WHERE id <> ?1 AND last_ping_at < ?2 \
         AND (deactivated_at IS NULL OR EXISTS (SELECT 1 FROM jobs \
              WHERE jobs.dispatcher = d.id AND jobs.status IN ({assigned}, {active}) \
              AND jobs.awaiting IS NULL) \
              OR EXISTS (SELECT 1 FROM jobs WHERE jobs.pinned_to = d.id \
              AND jobs.status = {pending})) \
         ORDER BY id LIMIT 1{skip}",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
        pending = lit(JobStatus::Pending),
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

    async fn unstart(
        &mut self,
        ids: &[JobId],
        dispatcher: DispatcherId,
    ) -> Result<Vec<(JobId, String)>> {
        let sql = UNSTART.text(self.dialect());
        let list: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
        let args = [Arg::Ids(&list), Arg::Id(dispatcher.0)];
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
