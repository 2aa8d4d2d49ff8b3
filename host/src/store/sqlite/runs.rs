//! `job_runs`: the record of runs (migration 0013), see
//! [`crate::store::runs`].

use async_trait::async_trait;
use sqlx::Sqlite;

use super::SqliteStore;
use crate::model::{JobId, QueueUsage, RunRecord};
use crate::store::Result;
use crate::store::runs::{
    RUN_COLUMNS, RUNS_PER_STATEMENT, RunRow, RunStore, UsageRow, run_from_row, run_insert,
    usage_from_row,
};

#[async_trait]
impl RunStore for SqliteStore {
    async fn job_run_record_many(&self, runs: &[RunRecord]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in runs.chunks(RUNS_PER_STATEMENT) {
            // `VALUES` columns are `column1`...: the job is `column1`.
            run_insert::<Sqlite>(
                chunk,
                ") AS v WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.id = v.column1)",
            )
            .build()
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn job_runs(&self, id: JobId) -> Result<Vec<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM job_runs WHERE job = ?1 ORDER BY attempt");
        let rows: Vec<RunRow> = sqlx::query_as(&sql)
            .bind(id.0)
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(run_from_row).collect()
    }

    async fn queue_usage(&self, queue: &str) -> Result<QueueUsage> {
        let row: UsageRow = sqlx::query_as(
            "SELECT count(*), total(fuel_used), max(peak_memory), total(wall_ms), \
             total(output_bytes) FROM job_runs WHERE queue = ?1",
        )
        .bind(queue)
        .fetch_one(&self.reader)
        .await?;
        Ok(usage_from_row(row))
    }
}
