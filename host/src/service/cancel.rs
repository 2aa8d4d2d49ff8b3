//! Cancelling a job, wherever it is: not yet claimed, claimed or running.

use super::{Result, Service};
use crate::model::Job;
use crate::store::JobCancelParams;

impl Service {
    /// Cancels a job that has not completed: it becomes `cancelled` with a
    /// failure of that kind; a pending one (or one out of its queue) never
    /// runs; a claimed or running one has its run stopped by its
    /// dispatcher (at once in this process, through the store's
    /// notifications or its stop check in another). Jobs awaiting it
    /// complete with its failure; waiters wake at once.
    pub async fn job_cancel(&self, id: crate::model::JobId) -> Result<Job> {
        let now = self.clock().now();
        let report = self.store().job_cancel(JobCancelParams { id, now }).await?;
        let mut done = report.cascaded;
        done.push(id);
        self.events().completed(&done);
        if !report.queues.is_empty() {
            // Its failure callbacks fired: wake this process's dispatcher.
            self.events().work_available();
        }
        Ok(report.job)
    }
}
