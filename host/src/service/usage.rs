//! Resource accounting as users see it: the runs of a job with
//! the limits each ran under and what each consumed, and a queue's runs
//! summed.

use super::names::queue_from_alias;
use super::{Result, Service};
use crate::model::{JobId, RunRecord, UsageTotals};

impl Service {
    /// A job's recorded runs, oldest first (none for an unknown job).
    pub async fn job_runs(&self, id: JobId) -> Result<Vec<RunRecord>> {
        Ok(self.store().job_runs(id).await?)
    }

    /// The runs of a queue's stored jobs, summed. An unknown queue is not
    /// found.
    pub async fn queue_usage(&self, name: &str) -> Result<UsageTotals> {
        let queue = queue_from_alias(name);
        self.store().queue_get(queue).await?;
        Ok(self.store().queue_usage(queue).await?)
    }
}
