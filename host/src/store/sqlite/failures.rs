//! The failed attempts a finish records, this backend's own statement (one
//! per chunk of jobs). Retries, rescue and hand-back, their steps, their
//! statements and their transactions, are written once in
//! `store/failures.rs`.

use sqlx::sqlite::SqliteConnection;

use crate::model::JobId;
use crate::store::Result;

/// Records the failed attempts of jobs a finish just completed with a
/// failure, from their rows: one statement per chunk.
pub(super) async fn record_finished_failures(
    tx: &mut SqliteConnection,
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
        query.execute(&mut *tx).await?;
    }
    Ok(())
}
