//! The failed attempts a finish records, this backend's own statement.
//! Retries, rescue and hand-back, their steps, their statements and their
//! transactions, are written once in `store/failures.rs`.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::Result;

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
