//! `jobs`: time. Expiry (zc.async's `TimeoutError` at claim: a pending job
//! not started by `begin_after + begin_by` completes without running) and
//! when the next job of some queues becomes due, for the claimer's sleep.

use std::sync::LazyLock;

use sqlx::Row as _;
use uuid::Uuid;

use super::PgStore;
use super::row::{json_text, lit, ms, retrying};
use super::tx::PgTx;
use crate::clock;
use crate::model::{Failure, JobId, JobStatus, Transition};
use crate::store::sql::settled_status;
use crate::store::{ExpireReport, JobExpireParams, JobNextDueParams, NextDue, Result, settle};

/// Completes a queue's pending jobs past their deadline, earliest first,
/// through `jobs_deadline`; jobs another transaction holds (a claim in
/// progress, which will not take them) are left for the next time.
pub(super) static EXPIRE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Expire;
    format!(
        "WITH expiring AS MATERIALIZED ( \
           SELECT id AS expiring_id FROM jobs \
           WHERE status = {from} AND queue = $1 AND begin_by_ms IS NOT NULL \
             AND begin_after + begin_by_ms < $2 \
           ORDER BY begin_after + begin_by_ms LIMIT $4 \
           FOR UPDATE SKIP LOCKED) \
         UPDATE jobs SET status = {status}, failure = $3::json, completed_at = $2 \
         FROM expiring WHERE jobs.id = expiring.expiring_id \
         RETURNING jobs.id, jobs.begin_after + jobs.begin_by_ms",
        from = lit(t.from()),
        status = settled_status(t, "jobs"),
    )
});

/// Per queue: the earliest future `begin_after` (the first entry of
/// `jobs_pending` after now) and the earliest deadline (the first entry of
/// `jobs_deadline`).
pub(super) static NEXT_DUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT \
           (SELECT j.begin_after FROM jobs AS j \
            WHERE j.status = {pending} AND j.queue = q.name AND j.begin_after > $2 \
            ORDER BY j.begin_after LIMIT 1), \
           (SELECT j.begin_after + j.begin_by_ms FROM jobs AS j \
            WHERE j.status = {pending} AND j.queue = q.name AND j.begin_by_ms IS NOT NULL \
            ORDER BY j.begin_after + j.begin_by_ms LIMIT 1) \
         FROM unnest($1::text[]) AS q(name)",
        pending = lit(JobStatus::Pending),
    )
});

/// Expires a queue's pending jobs past their deadline, and completes the
/// jobs awaiting them (announcing all of them), in one transaction.
pub(super) async fn expire_many(db: &PgStore, p: JobExpireParams) -> Result<ExpireReport> {
    if p.limit == 0 {
        return Ok(ExpireReport::default());
    }
    retrying(|| expire_once(db, &p)).await
}

async fn expire_once(db: &PgStore, p: &JobExpireParams) -> Result<ExpireReport> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query(&EXPIRE)
        .bind(&p.queue)
        .bind(ms(p.now))
        .bind(json_text(&Failure::not_started()))
        .bind(i64::from(p.limit))
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(ExpireReport::default());
    }
    let mut expired = rows
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>(1)?, r.try_get::<Uuid, _>(0)?)))
        .collect::<Result<Vec<_>>>()?;
    expired.sort();
    let ids: Vec<Uuid> = expired.into_iter().map(|(_, id)| id).collect();
    let seeds: Vec<JobId> = ids.iter().copied().map(JobId).collect();
    let mut cascaded: Vec<JobId> =
        settle::settle(&mut PgTx::new(&mut tx, db, ids.clone()), seeds, p.now)
            .await?
            .completed;
    tx.commit().await?;
    cascaded.sort();
    Ok(ExpireReport {
        expired: ids.into_iter().map(JobId).collect(),
        cascaded,
    })
}

/// When the next job of some queues becomes due, and the earliest deadline.
pub(super) async fn next_due(db: &PgStore, p: JobNextDueParams) -> Result<NextDue> {
    if p.queues.is_empty() {
        return Ok(NextDue::default());
    }
    let rows = sqlx::query(&NEXT_DUE)
        .bind(&p.queues)
        .bind(ms(p.now))
        .fetch_all(&db.pool)
        .await?;
    let mut due = NextDue::default();
    for r in &rows {
        let begin_after: Option<i64> = r.try_get(0)?;
        let deadline: Option<i64> = r.try_get(1)?;
        due.begin_after = earliest(due.begin_after, begin_after.map(clock::from_millis));
        due.deadline = earliest(
            due.deadline,
            deadline.and_then(chrono::DateTime::from_timestamp_millis),
        );
    }
    Ok(due)
}

fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
