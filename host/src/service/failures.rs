//! Failures as users see them: a job's failed attempts and a queue's
//! default retry policy.

use super::names::queue_from_alias;
use super::{Result, Service};
use crate::model::{Attempt, JobId, RetryPolicy};

impl Service {
    /// A job's failed attempts, oldest first: every failed run and every
    /// interruption, with its time.
    pub async fn job_attempts(&self, id: JobId) -> Result<Vec<Attempt>> {
        Ok(self.store().job_attempts(id).await?)
    }

    /// A queue's default retry policy as set (`None`: not set) and the
    /// policy its jobs without one of their own get.
    pub async fn queue_retry(&self, queue: &str) -> Result<(Option<RetryPolicy>, RetryPolicy)> {
        let set = self
            .store()
            .queue_retry_get(queue_from_alias(queue))
            .await?;
        let effective = set.clone().unwrap_or_default();
        Ok((set, effective))
    }

    /// Sets (or clears, with `None`) a queue's default retry policy. Jobs
    /// with no policy of their own follow it from their next decision on.
    pub async fn set_queue_retry(&self, queue: &str, policy: Option<RetryPolicy>) -> Result<()> {
        Ok(self
            .store()
            .queue_retry_set(queue_from_alias(queue), policy)
            .await?)
    }
}
