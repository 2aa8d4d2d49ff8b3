//! Queues and the operations on them: create, list,
//! delete, length, listing in order, `pull` and `remove`.

use super::names::{queue_from_alias, queue_what, validate_queue_name};
use super::{Error, Result, Service};
use crate::model::{Job, JobId, QueueInfo, Rate};
use crate::store::{JobDetachParams, JobPullParams, QueueCapsSetParams, QueueJobsParams};

/// The most jobs one listing returns.
pub const LIST_LIMIT_MAX: u32 = 1000;

impl Service {
    /// Creates a queue.
    pub async fn queue_create(&self, name: &str) -> Result<QueueInfo> {
        validate_queue_name(name)?;
        let queue = self.store().queue_create(name, self.clock().now()).await?;
        self.inner.lookups.forget_queues();
        Ok(queue)
    }

    /// A queue (`default` names the default queue `""`), with its rate's
    /// current window.
    pub async fn queue_get(&self, name: &str) -> Result<QueueInfo> {
        let queue = self.store().queue_get(queue_from_alias(name)).await?;
        Ok(queue.at(self.clock().now()))
    }

    /// Every queue with its length.
    pub async fn queue_list(&self) -> Result<Vec<QueueInfo>> {
        let now = self.clock().now();
        let queues = self.store().queue_list().await?;
        Ok(queues.into_iter().map(|q| q.at(now)).collect())
    }

    /// Sets (or clears, with `None`) a queue's rate: at most `limit` jobs
    /// start per window of `period_ms` (fixed windows: see
    /// [`Rate`]). Jobs over it stay pending and start when a window opens.
    pub async fn queue_rate_set(&self, name: &str, rate: Option<Rate>) -> Result<QueueInfo> {
        let rate = rate.map(Rate::check).transpose().map_err(Error::Invalid)?;
        let queue = self
            .store()
            .queue_rate_set(queue_from_alias(name), rate)
            .await?;
        // A rate cleared or raised may let jobs start now.
        self.events().work_available();
        Ok(queue.at(self.clock().now()))
    }

    /// Sets (or clears, with `None`) a queue's fan-out cap (the most jobs
    /// one run of its jobs may put) and pending cap (the most pending jobs
    /// it takes).
    pub async fn queue_caps_set(
        &self,
        name: &str,
        put_cap: Option<u64>,
        pending_cap: Option<u64>,
    ) -> Result<QueueInfo> {
        let queue = self
            .store()
            .queue_caps_set(QueueCapsSetParams {
                queue: queue_from_alias(name).to_owned(),
                put_cap,
                pending_cap,
            })
            .await?;
        self.inner.lookups.forget_queues();
        Ok(queue)
    }

    /// The fan-out cap of a queue, if it sets one (a running job's puts
    /// count against it instead of the server's `job_put_cap`). Read
    /// through the lookups' cache: another process's change is seen
    /// within its lifetime.
    pub async fn queue_put_cap(&self, queue: &str) -> Result<Option<u64>> {
        Ok(self.lookup_queue(queue).await?.put_cap)
    }

    /// Refuses a put into a queue at its pending cap, naming the cap. The
    /// count is read before the put: puts racing each other may each
    /// see room for one more, so a queue may pass its cap by as many puts
    /// as run at that instant.
    pub(super) async fn check_pending_cap(&self, queue: &QueueInfo) -> Result<()> {
        self.check_pending_room(queue, 1).await
    }

    /// Refuses `adding` puts into a queue unless all fit under its pending
    /// cap (a batch is put whole or not at all), naming the cap.
    pub(super) async fn check_pending_room(&self, queue: &QueueInfo, adding: u64) -> Result<()> {
        let Some(cap) = queue.pending_cap else {
            return Ok(());
        };
        let pending = self.store().queue_get(&queue.name).await?.length;
        if pending.saturating_add(adding) > cap {
            let batch = if adding > 1 {
                format!(" (this batch puts {adding} there)")
            } else {
                String::new()
            };
            return Err(Error::QueueFull(format!(
                "{} holds {pending} pending jobs, its pending cap is {cap}{batch}: \
                 no job is put until some have run",
                queue_what(&queue.name)
            )));
        }
        Ok(())
    }

    /// Deletes a queue: never the default one, and only when no job in it
    /// is still to complete.
    pub async fn queue_delete(&self, name: &str) -> Result<()> {
        self.store().queue_delete(queue_from_alias(name)).await?;
        self.inner.lookups.forget_queues();
        Ok(())
    }

    /// The pending jobs of a queue, in the order they will be claimed.
    pub async fn queue_jobs(&self, name: &str, offset: u64, limit: u32) -> Result<Vec<Job>> {
        let queue = queue_from_alias(name);
        self.store().queue_get(queue).await?;
        Ok(self
            .store()
            .queue_jobs(QueueJobsParams {
                queue: queue.to_owned(),
                offset,
                limit: limit.clamp(1, LIST_LIMIT_MAX),
            })
            .await?)
    }

    /// Takes the job at `index` (negative
    /// counts from the end) out of the queue. It keeps its id and status
    /// `new`, and may be put back.
    pub async fn queue_pull(&self, name: &str, index: i64) -> Result<Job> {
        let queue = queue_from_alias(name);
        self.store().queue_get(queue).await?;
        Ok(self
            .store()
            .job_pull(JobPullParams {
                queue: queue.to_owned(),
                index,
                now: self.clock().now(),
            })
            .await?)
    }

    /// Takes a given pending job out of its
    /// queue. Refused once a dispatcher has claimed it.
    pub async fn queue_remove(&self, name: Option<&str>, job: JobId) -> Result<Job> {
        Ok(self
            .store()
            .job_detach(JobDetachParams {
                id: job,
                queue: name.map(|n| queue_from_alias(n).to_owned()),
                now: self.clock().now(),
            })
            .await?)
    }
}
