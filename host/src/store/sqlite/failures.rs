//! Failures: the transactions of retries, rescue and hand-back (their
//! steps and statements are written once in `store/failures.rs`), the
//! attempts a finish records, and the dispatcher's ping.
//!
//! Every operation here is one `BEGIN IMMEDIATE` transaction: SQLite has
//! one writer at a time, so two processes rescuing the same dead
//! dispatcher run one after the other, and the second finds nothing left
//! to do.

use sqlx::{Row as _, Sqlite, Transaction};

use super::SqliteStore;
use super::row::{self, ms};
use super::tx::{SqlitePoolConn, SqliteTx};
use crate::model::{Attempt, DispatcherId, JobId, Process, Timestamp};
use crate::store::failures;
use crate::store::identity::{self, DispatcherPingParams, Ping};
use crate::store::{
    DispatcherRescueParams, HandBackParams, HandBackReport, JobRetryParams, Result, RetryVerdict,
};

/// Records the failed attempts of jobs a finish just completed with a
/// failure, from their rows: one statement per chunk.
pub(super) async fn record_finished_failures(
    tx: &mut Transaction<'static, Sqlite>,
    ids: &[JobId],
) -> Result<()> {
    for chunk in ids.chunks(super::batch::MAX_ROWS) {
        let rows = super::batch::bucket(chunk.len());
        let sql = format!(
            "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
             SELECT id, attempts, dispatcher, json_extract(failure, '$.kind'), failure, \
             completed_at FROM jobs WHERE id IN ({}) AND failure IS NOT NULL",
            super::batch::placeholders(rows)
        );
        let mut query = sqlx::query(&sql);
        for id in super::batch::padded(chunk, rows) {
            query = query.bind(id.0);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// A run failed: retries the job if its policy says so (see
/// [`crate::store::Store::job_retry`]).
pub(super) async fn retry(db: &SqliteStore, p: JobRetryParams) -> Result<RetryVerdict> {
    let mut tx = db.begin().await?;
    let verdict = failures::retry(&mut SqliteTx(&mut tx), &p).await?;
    if matches!(verdict, RetryVerdict::Retried { .. }) {
        tx.commit().await?;
    }
    Ok(verdict)
}

/// A job's failed attempts, oldest first.
pub(super) async fn attempts(db: &SqliteStore, id: JobId) -> Result<Vec<Attempt>> {
    failures::attempts(&mut SqlitePoolConn(&db.reader), id).await
}

/// Hands back every job a dispatcher holds, in one transaction.
pub(super) async fn hand_back(db: &SqliteStore, p: HandBackParams) -> Result<HandBackReport> {
    let mut tx = db.begin().await?;
    let report = failures::hand_back(&mut SqliteTx(&mut tx), &p).await?;
    tx.commit().await?;
    Ok(report)
}

/// Finds dead dispatchers and hands their jobs back, each in its own
/// transaction (see [`crate::store::Store::dispatcher_rescue`]): the
/// write lock is not held for longer than one dispatcher's jobs take.
pub(super) async fn rescue(
    db: &SqliteStore,
    p: DispatcherRescueParams,
) -> Result<Vec<HandBackReport>> {
    let mut reports = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let mut tx = db.begin().await?;
        let Some(report) = failures::rescue_next(&mut SqliteTx(&mut tx), &p, &mut seen).await?
        else {
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
pub(super) async fn ping(db: &SqliteStore, p: DispatcherPingParams) -> Result<Ping> {
    let mut tx = db.begin().await?;
    let current = sqlx::query("SELECT hostname, pid, rescued_at FROM dispatchers WHERE id = ?1")
        .bind(p.id.0)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| -> Result<(Process, bool)> {
            let process = Process {
                hostname: r.try_get(0)?,
                pid: row::to_u32("dispatchers", "pid", r.try_get(1)?)?,
            };
            Ok((process, r.try_get::<Option<i64>, _>(2)?.is_some()))
        })
        .transpose()?;
    let verdict = identity::ping_verdict(current, &p)?;
    match verdict {
        Ping::TakenOver { .. } => return Ok(verdict),
        Ping::Reactivated => sqlx::query(
            "UPDATE dispatchers SET last_ping_at = ?2, activated_at = ?2, \
             deactivated_at = NULL, rescued_at = NULL, rescued_by = NULL WHERE id = ?1",
        ),
        Ping::Alive => sqlx::query("UPDATE dispatchers SET last_ping_at = ?2 WHERE id = ?1"),
    }
    .bind(p.id.0)
    .bind(ms(p.now))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(verdict)
}

/// The jobs the store says a dispatcher holds.
pub(super) async fn held_jobs(db: &SqliteStore, id: DispatcherId) -> Result<Vec<JobId>> {
    failures::held_jobs(&mut SqlitePoolConn(&db.reader), id).await
}

/// Rewrites the probe row (migration 0009) and commits.
pub(super) async fn probe(db: &SqliteStore, now: Timestamp) -> Result<()> {
    failures::probe(&mut SqlitePoolConn(&db.writer), now).await
}

use async_trait::async_trait;
use tracing::instrument;

use crate::store::FailureStore;

#[async_trait]
impl FailureStore for SqliteStore {
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
