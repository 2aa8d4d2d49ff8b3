//! Failures: the transactions of retries, rescue and hand-back (their
//! steps and statements are written once in `store/failures.rs`, with
//! this backend's row locks from its dialect), the attempts a finish
//! records, and the dispatcher's ping.
//!
//! # Races between machines
//!
//! Several live dispatchers look for dead ones at once. Each takes a dead
//! dispatcher's row `FOR UPDATE SKIP LOCKED`: while one handles it, the
//! others skip it, and once it committed they find it deactivated with no
//! job left. The jobs themselves are locked (`FOR UPDATE`) before their
//! fate is decided, and every write is guarded by status and dispatcher,
//! so a job is handed back once whatever interleaving happens; a
//! dispatcher that comes back from a pause and finishes a run meanwhile
//! either wins the row first (its outcome stands, the job is no longer
//! active) or finds it handed back (its outcome is dropped).

use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use super::PgStore;
use super::row::{self, ms};
use super::tx::{PgPoolConn, PgTx};
use crate::model::{Attempt, DispatcherId, JobId, Process, Timestamp};
use crate::store::failures;
use crate::store::identity::{self, DispatcherPingParams, Ping};
use crate::store::{
    DispatcherRescueParams, HandBackParams, HandBackReport, JobRetryParams, Result, RetryVerdict,
};

/// Records the failed attempts of jobs a finish just completed with a
/// failure, from their rows: one statement. The kinds come along (rather
/// than `failure->>'kind'`, which PostgreSQL refuses for a failure holding
/// `\u0000`).
pub(super) async fn record_finished_failures(
    conn: &mut PgConnection,
    ids: &[Uuid],
    kinds: &[&str],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
         SELECT j.id, j.attempts, j.dispatcher, k.kind, j.failure, j.completed_at \
         FROM unnest($1::uuid[], $2::text[]) AS k(id, kind) JOIN jobs AS j ON j.id = k.id \
         WHERE j.failure IS NOT NULL",
    )
    .bind(ids)
    .bind(kinds)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A run failed: retries the job if its policy says so.
pub(super) async fn retry(db: &PgStore, p: JobRetryParams) -> Result<RetryVerdict> {
    let mut tx = db.begin().await?;
    let verdict = failures::retry(&mut PgTx::new(&mut tx, db, Vec::new()), &p).await?;
    if matches!(verdict, RetryVerdict::Retried { .. }) {
        tx.commit().await?;
    }
    Ok(verdict)
}

/// A job's failed attempts, oldest first.
pub(super) async fn attempts(db: &PgStore, id: JobId) -> Result<Vec<Attempt>> {
    failures::attempts(&mut PgPoolConn(db), id).await
}

/// Hands back every job a dispatcher holds, in one transaction.
pub(super) async fn hand_back(db: &PgStore, p: HandBackParams) -> Result<HandBackReport> {
    row::retrying(|| async {
        let mut tx = db.begin().await?;
        let report = failures::hand_back(&mut PgTx::new(&mut tx, db, Vec::new()), &p).await?;
        tx.commit().await?;
        Ok(report)
    })
    .await
}

/// Finds dead dispatchers and hands their jobs back, one transaction each.
pub(super) async fn rescue(db: &PgStore, p: DispatcherRescueParams) -> Result<Vec<HandBackReport>> {
    let mut reports = Vec::new();
    // Dispatchers this round took already: one this transaction found with
    // nothing left to do is not taken again.
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let mut tx = db.begin().await?;
        let mut rescue_tx = PgTx::new(&mut tx, db, Vec::new());
        let Some(report) = failures::rescue_next(&mut rescue_tx, &p, &mut seen).await? else {
            return Ok(reports);
        };
        tx.commit().await?;
        if !report.is_empty() {
            reports.push(report);
        }
    }
}

/// Records a ping if the row still names the process; reactivates a
/// dispatcher declared dead meanwhile (see [`identity::ping_verdict`]).
/// One statement: the row as it was, locked, and the write guarded by the
/// process it names.
pub(super) async fn ping(db: &PgStore, p: DispatcherPingParams) -> Result<Ping> {
    let current = sqlx::query(
        "WITH old AS (SELECT hostname, pid, rescued_at FROM dispatchers WHERE id = $1 \
           FOR UPDATE), \
         w AS (UPDATE dispatchers AS d SET last_ping_at = $2, \
           activated_at = CASE WHEN old.rescued_at IS NULL THEN d.activated_at ELSE $2 END, \
           deactivated_at = CASE WHEN old.rescued_at IS NULL THEN d.deactivated_at ELSE NULL \
           END, rescued_at = NULL, rescued_by = NULL \
           FROM old WHERE d.id = $1 AND old.hostname = $3 AND old.pid = $4) \
         SELECT hostname, pid, rescued_at IS NOT NULL FROM old",
    )
    .bind(p.id.0)
    .bind(ms(p.now))
    .bind(&p.process.hostname)
    .bind(i64::from(p.process.pid))
    .fetch_optional(&db.pool)
    .await?
    .map(|r| -> Result<(Process, bool)> {
        let process = Process {
            hostname: r.try_get(0)?,
            pid: row::to_u32("dispatchers", "pid", r.try_get(1)?)?,
        };
        Ok((process, r.try_get(2)?))
    })
    .transpose()?;
    identity::ping_verdict(current, &p)
}

/// The jobs the store says a dispatcher holds.
pub(super) async fn held_jobs(db: &PgStore, id: DispatcherId) -> Result<Vec<JobId>> {
    failures::held_jobs(&mut PgPoolConn(db), id).await
}

/// Rewrites the probe row (migration 0009) and commits.
pub(super) async fn probe(db: &PgStore, now: Timestamp) -> Result<()> {
    failures::probe(&mut PgPoolConn(db), now).await
}

use async_trait::async_trait;
use tracing::instrument;

use crate::store::FailureStore;

#[async_trait]
impl FailureStore for PgStore {
    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_rescue(
        &self,
        params: DispatcherRescueParams,
    ) -> Result<Vec<HandBackReport>> {
        rescue(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_hand_back(&self, params: HandBackParams) -> Result<HandBackReport> {
        hand_back(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_retry(&self, params: JobRetryParams) -> Result<RetryVerdict> {
        retry(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_held_jobs(&self, id: DispatcherId) -> Result<Vec<JobId>> {
        held_jobs(self, id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn store_probe(&self, now: Timestamp) -> Result<()> {
        probe(self, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_attempts(&self, id: JobId) -> Result<Vec<Attempt>> {
        attempts(self, id).await
    }
}
