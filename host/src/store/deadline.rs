//! Deadlines, written once for both backends: expiry at claim (a pending
//! job not started by `begin_after + begin_by` completes without running)
//! and when the next job of some queues becomes due, for the claimer's
//! sleep. The statements read `jobs_deadline` and `jobs_pending` (PostgreSQL
//! skips the jobs a claim in progress holds).

use std::sync::LazyLock;

use async_trait::async_trait;
use tracing::instrument;

use super::Result;
use super::settle;
use super::sql::{lit, ms, settled_status};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlTx, retrying};
use crate::clock;
use crate::model::{Failure, JobId, JobStatus, Timestamp, Transition};

/// Completes the pending jobs of a queue whose deadline has passed.
#[derive(Debug, Clone)]
pub struct JobExpireParams {
    /// The queue.
    pub queue: String,
    /// Now: jobs with `begin_after + begin_by_ms < now` expire.
    pub now: Timestamp,
    /// The most jobs to expire at once.
    pub limit: u32,
}

/// What [`DeadlineStore::job_expire_many`] completed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// The jobs that expired (completed with [`Failure::not_started`]), in
    /// deadline order.
    ///
    /// [`Failure::not_started`]: crate::model::Failure::not_started
    pub expired: Vec<JobId>,
    /// The jobs that were awaiting them, completed in cascade.
    pub cascaded: Vec<JobId>,
}

/// Asks when something next becomes due in some queues.
#[derive(Debug, Clone)]
pub struct JobNextDueParams {
    /// The queues.
    pub queues: Vec<String>,
    /// Now.
    pub now: Timestamp,
}

/// When the next pending job of some queues becomes due, and the earliest
/// deadline among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NextDue {
    /// The earliest `begin_after` later than now, or the end of a rate
    /// window in use (of a queue, or of a key with pending jobs), if
    /// sooner: when jobs may become claimable.
    pub begin_after: Option<Timestamp>,
    /// The earliest deadline (`begin_after + begin_by_ms`) of a pending
    /// job, past or future.
    pub deadline: Option<Timestamp>,
}

/// Deadlines: pending jobs that were not claimed in time, and when the
/// next job becomes due.
#[async_trait]
pub trait DeadlineStore: Send + Sync + std::fmt::Debug {
    /// Expiry at claim: completes (`Expire`) up to `limit`
    /// pending jobs of a queue whose deadline (`begin_after +
    /// begin_by_ms`) is before `now`, with [`Failure::not_started`], and,
    /// in the same transaction, every job awaiting them (as a finish
    /// does). They never run.
    ///
    /// [`Failure::not_started`]: crate::model::Failure::not_started
    async fn job_expire_many(&self, params: JobExpireParams) -> Result<ExpireReport>;
    /// When the next job of some queues becomes due, and the earliest
    /// deadline among their pending jobs: what a claimer sleeps until.
    async fn job_next_due(&self, params: JobNextDueParams) -> Result<NextDue>;
}

/// Completes a queue's pending jobs past their deadline, earliest first,
/// through `jobs_deadline`; returns each with its deadline. PostgreSQL
/// leaves the jobs another transaction holds (a claim in progress, which
/// will not take them) for the next time.
pub(crate) static EXPIRE: Sql = Sql::new(|d| {
    let t = Transition::Expire;
    let (from, status) = (lit(t.from()), settled_status(t, "jobs"));
    let due = format!(
        "status = {from} AND queue = ?1 AND begin_by_ms IS NOT NULL \
         AND begin_after + begin_by_ms < ?2 ORDER BY begin_after + begin_by_ms LIMIT ?4"
    );
    if d.locks_rows() {
        format!(
            "WITH expiring AS MATERIALIZED ( \
               SELECT id AS expiring_id FROM jobs WHERE {due}{skip}) \
             UPDATE jobs SET status = {status}, failure = ?3{json}, completed_at = ?2 \
             FROM expiring WHERE jobs.id = expiring.expiring_id \
             RETURNING jobs.id, jobs.begin_after + jobs.begin_by_ms",
            skip = d.skip_locked,
            json = d.json,
        )
    } else {
        format!(
            "UPDATE jobs SET status = {status}, failure = ?3, completed_at = ?2 \
             WHERE seq IN (SELECT seq FROM jobs WHERE {due}) AND status = {from} \
             RETURNING id, begin_after + begin_by_ms"
        )
    }
});

/// Per queue: the earliest future `begin_after` (the first entry of
/// `jobs_pending` after now), the earliest deadline (the first entry of
/// `jobs_deadline`) and the earliest end of a rate window in use (the
/// queue's, or a key's with pending jobs: the dispatcher wakes when it
/// opens).
pub(crate) static NEXT_DUE: Sql = Sql::new(|d| {
    let queues = if d.locks_rows() {
        "unnest(?1::text[]) AS q(value)"
    } else {
        "json_each(?1) AS q"
    };
    format!(
        "SELECT \
           (SELECT j.begin_after FROM jobs AS j \
            WHERE j.status = {pending} AND j.queue = q.value AND j.begin_after > ?2 \
            ORDER BY j.begin_after LIMIT 1), \
           (SELECT j.begin_after + j.begin_by_ms FROM jobs AS j \
            WHERE j.status = {pending} AND j.queue = q.value AND j.begin_by_ms IS NOT NULL \
            ORDER BY j.begin_after + j.begin_by_ms LIMIT 1), \
           (SELECT min(w.until) FROM ( \
              SELECT r.rate_until AS until FROM queues AS r \
              WHERE r.name = q.value AND r.rate_limit IS NOT NULL AND r.rate_until > ?2 \
              UNION ALL \
              SELECT s.rate_until FROM quota_slots AS s \
              WHERE s.queue = q.value AND s.pending > 0 AND s.rate_until > ?2) AS w) \
         FROM {queues}",
        pending = lit(JobStatus::Pending),
    )
});

/// The failure of an expired job, as stored.
static NOT_STARTED: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&Failure::not_started()).expect("a failure serializes to JSON")
});

/// Expires a queue's pending jobs past their deadline, and completes the
/// jobs awaiting them (announcing all of them), in the caller's
/// transaction.
async fn expire<T: SqlTx>(tx: &mut T, p: &JobExpireParams) -> Result<ExpireReport> {
    let mut conn = tx.conn();
    let args = [
        Arg::Text(&p.queue),
        Arg::Int(ms(p.now)),
        Arg::Json(&NOT_STARTED),
        Arg::Int(i64::from(p.limit)),
    ];
    let rows = conn
        .fetch_all("jobs", EXPIRE.text(conn.dialect()), &args)
        .await?;
    let mut expired = rows
        .iter()
        .map(|r| Ok((r.int(1)?, JobId(r.id(0)?))))
        .collect::<Result<Vec<_>>>()?;
    expired.sort();
    let expired: Vec<JobId> = expired.into_iter().map(|(_, id)| id).collect();
    if expired.is_empty() {
        return Ok(ExpireReport::default());
    }
    let ids: Vec<_> = expired.iter().map(|id| id.0).collect();
    conn.announce_completed(&ids);
    let mut cascaded = settle::settle(&mut conn, expired.clone(), p.now)
        .await?
        .completed;
    cascaded.sort();
    Ok(ExpireReport { expired, cascaded })
}

fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[async_trait]
impl<B: SqlBackend> DeadlineStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_expire_many(&self, p: JobExpireParams) -> Result<ExpireReport> {
        if p.limit == 0 {
            return Ok(ExpireReport::default());
        }
        retrying(|| async {
            let mut tx = self.transaction().await?;
            let report = expire(&mut tx, &p).await?;
            if !report.expired.is_empty() {
                tx.commit().await?;
            }
            Ok(report)
        })
        .await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_next_due(&self, p: JobNextDueParams) -> Result<NextDue> {
        if p.queues.is_empty() {
            return Ok(NextDue::default());
        }
        let mut conn = self.reads();
        let args = [Arg::Texts(&p.queues), Arg::Int(ms(p.now))];
        let rows = conn
            .fetch_all("jobs", NEXT_DUE.text(conn.dialect()), &args)
            .await?;
        let mut due = NextDue::default();
        for r in &rows {
            // begin_by_ms is capped so that the sum stays an integer; a
            // deadline beyond the calendar's range is as good as none.
            due.begin_after = earliest(due.begin_after, r.opt_int(0)?.map(clock::from_millis));
            // A rate window in use ends: jobs it held back may start.
            due.begin_after = earliest(due.begin_after, r.opt_int(2)?.map(clock::from_millis));
            due.deadline = earliest(
                due.deadline,
                r.opt_int(1)?
                    .and_then(chrono::DateTime::from_timestamp_millis),
            );
        }
        Ok(due)
    }
}
