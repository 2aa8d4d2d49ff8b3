//! Broadcast jobs as the API, the CLI and running jobs put them: a put
//! with `broadcast` set runs its job once on every live dispatcher that
//! has an agent for its queue. Validation here; the choice of the
//! dispatchers, the copies and their gathering in the store
//! (`store/broadcast.rs`). `docs/queue-features.md` describes them.

use super::jobs::ArgsGiven;
use super::{Error, Putter, Result, Service};
use crate::model::{BROADCAST_FUNCTION, CallbackSpec, Job, JobSpec, Timestamp};
use crate::store::BroadcastPutParams;

/// Refuses `broadcast` where only a plain job fits (`what`: a callback, a
/// part, a batch's job).
pub(super) fn refuse_broadcast(spec: &JobSpec, what: &str) -> Result<()> {
    if spec.broadcast {
        return Err(Error::Invalid(format!(
            "{what} cannot be a broadcast: put a broadcast on its own (POST /v1/jobs with \
             \"broadcast\": true)"
        )));
    }
    Ok(())
}

impl Service {
    /// Puts a broadcast (see [`Service::put`]): the broadcast job, held
    /// until every copy has its outcome, and one copy of the job for each
    /// dispatcher live now (pinged within the death interval, not stopped)
    /// with an agent that may take it, in one transaction. With no such
    /// dispatcher it completes at once with an empty map. Its callbacks
    /// hang on the broadcast. Returns the broadcast job.
    pub(super) async fn broadcast_put(&self, mut spec: JobSpec, by: &Putter) -> Result<Job> {
        let callbacks = std::mem::take(&mut spec.callbacks);
        let (module, queue) = (spec.module_ref().to_owned(), spec.queue_ref().to_owned());
        let priority = spec.priority;
        spec.broadcast = false;
        let job = self.new_job(spec, by, ArgsGiven::All).await?;
        let id = job.id;
        let callbacks = callbacks
            .into_iter()
            .map(|c| CallbackSpec {
                on: c.on,
                job: c.job.or_inherit_priority(priority),
            })
            .map(|c| c.or_inherit(&module, &queue))
            .collect();
        let mut linked = Vec::new();
        self.hold_callbacks(id, callbacks, by, &mut linked).await?;
        let now = self.clock().now();
        let death = chrono::TimeDelta::from_std(self.inner.config.death_interval)
            .unwrap_or(chrono::TimeDelta::MAX);
        let queue = job.queue.clone();
        let dispatchers = self
            .store()
            .job_broadcast(BroadcastPutParams {
                job,
                callbacks: linked,
                live_since: now.checked_sub_signed(death).unwrap_or(Timestamp::MIN_UTC),
                now,
            })
            .await?;
        tracing::debug!(job = %id, %queue, copies = dispatchers.len(), "broadcast put");
        crate::metrics::job_put(&queue);
        self.events().work_available();
        if dispatchers.is_empty() {
            self.events().completed(&[id]);
        }
        self.job_get(id).await
    }

    /// A broadcast's copies, in copy order (none for any other job).
    pub async fn broadcast_copies(&self, job: &Job) -> Result<Vec<Job>> {
        if job.function != BROADCAST_FUNCTION {
            return Ok(Vec::new());
        }
        Ok(self.store().job_links(job.id).await?.parts)
    }

    /// Refuses to put a broadcast job back: it is in no queue on purpose,
    /// and completes once its copies are done.
    pub(super) fn refuse_broadcast_put_back(job: &Job) -> Result<()> {
        if job.function == BROADCAST_FUNCTION {
            return Err(Error::Conflict(format!(
                "job {} is a broadcast: it waits for its copies and completes with their \
                 outcomes; it cannot be put in a queue",
                job.id
            )));
        }
        Ok(())
    }
}
