//! A job's reads: show, list a page at a time, wait for its completion.

use std::time::Duration;

use super::names::queue_from_alias;
use super::queues::LIST_LIMIT_MAX;
use super::{Result, Service};
use crate::model::{Job, JobId, JobStatus};
use crate::store::JobListParams;

/// One page of a job listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobPage {
    /// The jobs, oldest first.
    pub jobs: Vec<Job>,
    /// The cursor for the next page, if there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<JobId>,
}

impl JobPage {
    /// A page read with `limit`: a full page may have a next one, which
    /// starts after its last job.
    pub(crate) fn of(jobs: Vec<Job>, limit: u32) -> Self {
        let next = (jobs.len() == limit as usize)
            .then(|| jobs.last().map(|j| j.id))
            .flatten();
        JobPage { jobs, next }
    }
}

impl Service {
    /// A job.
    pub async fn job_get(&self, id: JobId) -> Result<Job> {
        Ok(self.store().job_get(id).await?)
    }

    /// Jobs, oldest first, filtered by queue and statuses, a page at a time.
    pub async fn job_list(
        &self,
        queue: Option<&str>,
        statuses: Vec<JobStatus>,
        after: Option<JobId>,
        limit: u32,
    ) -> Result<JobPage> {
        let limit = limit.clamp(1, LIST_LIMIT_MAX);
        let jobs = self
            .store()
            .job_list(JobListParams {
                queue: queue.map(|q| queue_from_alias(q).to_owned()),
                statuses,
                after,
                limit,
            })
            .await?;
        Ok(JobPage::of(jobs, limit))
    }

    /// Waits up to `timeout` for a job to complete and returns it as it is
    /// then (completed, or still on its way). The job is marked as waited
    /// for before it is read, so that another process that completes it
    /// announces the completion (see [`Store::job_watch`]); a completion in
    /// this process wakes the wait directly.
    ///
    /// [`Store::job_watch`]: crate::store::JobStore::job_watch
    pub async fn job_wait(&self, id: JobId, timeout: Duration) -> Result<Job> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut watched = false;
        loop {
            let completed = self.events().on_completion(id);
            if !std::mem::replace(&mut watched, true) {
                self.store().job_watch(id).await?;
            }
            let job = self.store().job_get(id).await?;
            let now = tokio::time::Instant::now();
            if job.status.is_terminal() || now >= deadline {
                return Ok(job);
            }
            let pause = (deadline - now).min(self.inner.config.wait_poll);
            let _ = tokio::time::timeout(pause, completed).await;
        }
    }
}
