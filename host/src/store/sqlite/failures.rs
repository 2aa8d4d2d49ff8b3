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
use crate::model::{JobId, Process};
use crate::store::Result;
use crate::store::identity::{self, DispatcherPingParams, Ping};

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
