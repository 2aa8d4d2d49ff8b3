//! How many jobs each queue holds in each status, for the metrics'
//! gauges (`wasync_jobs`): read at scrape time from the maintained
//! counters (`store/counts.rs`), written once for both backends.

use async_trait::async_trait;
use tracing::instrument;

use super::Result;
use super::counts;
use super::statement::SqlBackend;

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
    /// Folds the changes of the counts appended since the last fold into
    /// their base (PostgreSQL keeps them apart so that concurrent
    /// transactions never wait on a counter; SQLite has nothing to fold).
    /// The counts read the same before and after. Every dispatcher's ping
    /// runs it; any process may at any time.
    async fn job_counts_fold(&self) -> Result<()>;
}

#[async_trait]
impl<B: SqlBackend> JobCountStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_counts(&self) -> Result<Vec<JobCount>> {
        let counters = counts::read(&mut self.reads()).await?;
        Ok(counts::by_status(&counters)
            .into_iter()
            .map(|((queue, status), count)| JobCount {
                queue,
                status,
                count,
            })
            .collect())
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_counts_fold(&self) -> Result<()> {
        counts::fold(self).await
    }
}
