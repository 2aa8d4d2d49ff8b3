//! Group commit of puts: concurrent puts are inserted together, one
//! transaction per batch, and each caller is answered only once its job is
//! durably committed.
//!
//! Batches form by themselves: while one batch is being committed, new
//! puts queue up, and the next batch takes all of them (up to a maximum).
//! An idle system therefore commits each put alone, at once, and a busy one
//! pays one commit for many puts.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreHealth;
use crate::model::{Job, NewJob};
use crate::store::{self, JobStore};

/// The most jobs one insert transaction takes.
pub const PUT_BATCH_MAX_DEFAULT: usize = 512;

struct PendingPut {
    job: NewJob,
    reply: oneshot::Sender<store::Result<Job>>,
}

/// The handle through which puts reach the batching writer task.
#[derive(Debug, Clone)]
pub struct PutBatcher {
    tx: mpsc::Sender<PendingPut>,
}

impl std::fmt::Debug for PendingPut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPut")
            .field("job", &self.job.id)
            .finish()
    }
}

impl PutBatcher {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Arc<dyn JobStore>, health: Arc<StoreHealth>, max_batch: usize) -> Self {
        let (tx, rx) = mpsc::channel(max_batch * 4);
        tokio::spawn(write_batches(store, health, rx, max_batch.max(1)));
        PutBatcher { tx }
    }

    /// Inserts `job`, returning once it is committed.
    pub async fn insert(&self, job: NewJob) -> Option<store::Result<Job>> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(PendingPut { job, reply }).await.ok()?;
        answer.await.ok()
    }
}

async fn write_batches(
    store: Arc<dyn JobStore>,
    health: Arc<StoreHealth>,
    mut rx: mpsc::Receiver<PendingPut>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let jobs: Vec<NewJob> = batch.iter().map(|p| p.job.clone()).collect();
        match crate::metrics::timed("put", store.job_insert_many(&jobs)).await {
            Ok(inserted) => {
                health.wrote();
                for (pending, job) in batch.drain(..).zip(inserted) {
                    let _ = pending.reply.send(Ok(job));
                }
            }
            Err(store::Error::Fault(fault)) => {
                // The database's condition, not one job's: every put of
                // the batch gets the same answer, none is tried alone.
                health.fault(&fault);
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(store::Error::Fault(fault.clone())));
                }
            }
            Err(error) if batch.len() == 1 => {
                let pending = batch.pop().expect("one");
                let _ = pending.reply.send(Err(error));
            }
            Err(_) => {
                // One bad job (its queue deleted meanwhile, say) must not
                // fail the others: insert them one by one so each caller
                // gets its own answer.
                for pending in batch.drain(..) {
                    let result = store
                        .job_insert_many(std::slice::from_ref(&pending.job))
                        .await
                        .map(|mut jobs| jobs.remove(0));
                    let _ = pending.reply.send(result);
                }
            }
        }
    }
}
