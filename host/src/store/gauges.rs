//! How many jobs each queue holds in each status, for the metrics'
//! gauges (`wasync_jobs`): one grouped count, read at scrape time, written
//! once for both backends.

use async_trait::async_trait;
use tracing::instrument;

use super::Result;
use super::statement::{SqlBackend, SqlConn};

/// The jobs of one queue in one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    /// The queue (`""` is the default queue).
    pub queue: String,
    /// The status, as stored (`pending`, `active`, …).
    pub status: String,
    /// How many.
    pub count: u64,
}

/// Counts of jobs by queue and status.
#[async_trait]
pub trait JobCountStore: Send + Sync + std::fmt::Debug {
    /// How many jobs each queue holds in each status (only the pairs that
    /// have jobs), ordered by queue and status.
    async fn job_counts(&self) -> Result<Vec<JobCount>>;
}

#[async_trait]
impl<B: SqlBackend> JobCountStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_counts(&self) -> Result<Vec<JobCount>> {
        let mut conn = self.reads();
        let sql = "SELECT queue, status, count(*) FROM jobs \
                   GROUP BY queue, status ORDER BY queue, status";
        let rows = conn.fetch_all("jobs", sql, &[]).await?;
        rows.iter()
            .map(|r| {
                Ok(JobCount {
                    queue: r.text(0)?,
                    status: r.text(1)?,
                    count: r.int(2)?.max(0) as u64,
                })
            })
            .collect()
    }
}
