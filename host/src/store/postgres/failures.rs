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
use crate::model::Process;
use crate::store::Result;
use crate::store::identity::{self, DispatcherPingParams, Ping};

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
