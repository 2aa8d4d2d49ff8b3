//! Batch puts: many jobs put whole or not at all, in one transaction.
//!
//! A batch is checked item by item exactly as single puts are (scope,
//! module, quotas, arguments), its queues' pending caps once for all the
//! jobs it puts in each, and then inserted by the store in one
//! transaction: the caller is answered only once every job is committed,
//! and a refused batch stores nothing. It does not go through the put
//! batcher, whose group commit would answer each job on its own.

use std::collections::BTreeMap;

use super::{Error, Put, Putter, Service};
use crate::model::{JobSpec, NewJob, QueueInfo};

/// The most jobs one batch put takes. Bigger batches gain little (one
/// commit already serves thousands of jobs) and would hold the database's
/// writer, and the request's memory, for longer.
pub const PUT_MANY_MAX: usize = 10_000;

/// Why a batch put was refused: the item at `index` (counted from 0), or
/// the batch as a whole (`index` is `None`). Nothing of the batch is
/// stored either way.
#[derive(Debug, thiserror::Error)]
#[error("{}{error}", .index.map(|i| format!("item {i}: ")).unwrap_or_default())]
pub struct BatchError {
    /// The item refused, if one item is the cause.
    pub index: Option<usize>,
    /// What is wrong with it (or with the batch).
    pub error: Error,
}

impl BatchError {
    fn item(index: usize) -> impl FnOnce(Error) -> BatchError {
        move |error| BatchError {
            index: Some(index),
            error,
        }
    }

    fn whole(error: Error) -> BatchError {
        BatchError { index: None, error }
    }
}

impl Service {
    /// Puts `specs` all or none, in one transaction, and returns the
    /// jobs in the order asked once all are durably stored. Each spec is
    /// checked as [`Service::put`] checks it; the first refused names its
    /// index. At most [`PUT_MANY_MAX`] specs; callbacks are not taken
    /// (put such a job alone). A unique item whose key is held (by a job
    /// already there, or by an earlier item of the batch) is answered
    /// with that job, a duplicate; the rest of the batch is put.
    pub async fn put_many(&self, specs: Vec<JobSpec>, by: &Putter) -> Result<Vec<Put>, BatchError> {
        if specs.len() > PUT_MANY_MAX {
            return Err(BatchError::whole(too_many_in_batch(specs.len())));
        }
        let mut jobs: Vec<NewJob> = Vec::with_capacity(specs.len());
        // Per queue: the queue, how many jobs the batch puts there and the
        // index of its first job there (to name when the cap refuses).
        let mut queues: BTreeMap<String, (QueueInfo, u64, usize)> = BTreeMap::new();
        for (index, spec) in specs.into_iter().enumerate() {
            super::callbacks::refuse_host_function(&spec.function)
                .map_err(BatchError::item(index))?;
            super::broadcast::refuse_broadcast(&spec, "a batch's job")
                .map_err(BatchError::item(index))?;
            if !spec.callbacks.is_empty() {
                return Err(BatchError::item(index)(Error::Invalid(
                    "a batch takes no `callbacks`; put a job with callbacks alone \
                     (POST /v1/jobs)"
                        .into(),
                )));
            }
            let (job, queue) = self
                .resolve_put(spec, by, super::jobs::ArgsGiven::All)
                .await
                .map_err(BatchError::item(index))?;
            queues
                .entry(queue.name.clone())
                .or_insert((queue, 0, index))
                .1 += 1;
            jobs.push(job);
        }
        for (queue, count, first) in queues.values() {
            self.check_pending_room(queue, *count)
                .await
                .map_err(BatchError::item(*first))?;
        }
        // A fault is the database's, not the batch's: the API reports it
        // to the store's health with its answer, as for any request.
        let stored = crate::metrics::timed("put", self.store().job_insert_many(&jobs))
            .await
            .map_err(|e| BatchError::whole(e.into()))?;
        self.health().wrote();
        let puts: Vec<Put> = stored
            .into_iter()
            .zip(&jobs)
            .map(|(job, new)| Put {
                duplicate: job.id != new.id,
                job,
            })
            .collect();
        for put in puts.iter().filter(|p| !p.duplicate) {
            crate::metrics::job_put(&put.job.queue);
        }
        if puts.iter().any(|p| !p.duplicate) {
            self.events().work_available();
        }
        Ok(puts)
    }
}

/// The refusal of a batch past [`PUT_MANY_MAX`].
pub fn too_many_in_batch(count: usize) -> Error {
    Error::Invalid(format!(
        "a batch holds at most {PUT_MANY_MAX} jobs; this one holds {count} or more: \
         split it (`wasync put --from FILE` does)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_its_item() {
        let error = BatchError::item(3)(Error::Invalid("bad `args`".into()));
        assert_eq!(error.to_string(), "item 3: bad `args`");
        let whole = BatchError::whole(too_many_in_batch(PUT_MANY_MAX + 1));
        assert!(whole.to_string().starts_with("a batch holds at most 10000"));
    }
}
