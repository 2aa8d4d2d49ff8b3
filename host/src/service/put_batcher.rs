//! Group commit of puts: concurrent puts are inserted together, one
//! transaction per batch, and each caller is answered only once its job is
//! durably committed.
//!
//! Batches form by themselves: while one batch is being committed, new
//! puts queue up, and the next batch takes all of them (up to a maximum).
//! An idle system therefore commits each put alone, at once, and a busy one
//! pays one commit for many puts. The same commit claims for this
//! process's dispatcher when it has free slots in a batch's queues (see
//! [`super::put_claims`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreHealth;
use super::put_claims::PutClaimsSlot;
use crate::model::{Job, JobId, NewJob};
use crate::store::{self, Store};

/// The most jobs one insert transaction takes.
pub const PUT_BATCH_MAX_DEFAULT: usize = 512;

struct PendingPut {
    job: NewJob,
    reply: oneshot::Sender<store::Result<Inserted>>,
}

/// A put as committed.
#[derive(Debug)]
pub struct Inserted {
    /// The job (for a unique put whose key was held, the holder).
    pub job: Job,
    /// Whether its commit also started it on this process's dispatcher
    /// (nothing is left to claim for it).
    pub started: bool,
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
    /// Starts the writer task on the current tokio runtime; its commits
    /// claim what the dispatcher in `claims` offers.
    pub fn start(
        store: Arc<dyn Store>,
        health: Arc<StoreHealth>,
        max_batch: usize,
        claims: Arc<PutClaimsSlot>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let writer = Writer {
            store,
            health,
            claims,
        };
        tokio::spawn(writer.write_batches(rx, max_batch.max(1)));
        PutBatcher { tx }
    }

    /// Inserts `job`, returning once it is committed.
    pub async fn insert(&self, job: NewJob) -> Option<store::Result<Inserted>> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(PendingPut { job, reply }).await.ok()?;
        answer.await.ok()
    }
}

/// The batching writer task's parts.
struct Writer {
    store: Arc<dyn Store>,
    health: Arc<StoreHealth>,
    claims: Arc<PutClaimsSlot>,
}

impl Writer {
    async fn write_batches(self, mut rx: mpsc::Receiver<PendingPut>, max_batch: usize) {
        let mut batch = Vec::with_capacity(max_batch);
        while rx.recv_many(&mut batch, max_batch).await > 0 {
            let jobs: Vec<NewJob> = batch.iter().map(|p| p.job.clone()).collect();
            match crate::metrics::timed("put", self.insert_claiming(&jobs)).await {
                Ok(inserted) => {
                    self.health.wrote();
                    for (pending, inserted) in batch.drain(..).zip(inserted) {
                        let _ = pending.reply.send(Ok(inserted));
                    }
                }
                Err(store::Error::Fault(fault)) => {
                    // The database's condition, not one job's: every put of
                    // the batch gets the same answer, none is tried alone.
                    self.health.fault(&fault);
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
                        let result = self
                            .store
                            .job_insert_many(std::slice::from_ref(&pending.job))
                            .await
                            .map(|mut jobs| Inserted {
                                job: jobs.remove(0),
                                started: false,
                            });
                        let _ = pending.reply.send(result);
                    }
                }
            }
        }
    }

    /// Inserts `jobs`, claiming in the same transaction what the
    /// dispatcher offers; hands it what the claims took before the puts
    /// are answered, and answers a job started so as the claim left it.
    async fn insert_claiming(&self, jobs: &[NewJob]) -> store::Result<Vec<Inserted>> {
        let queues: BTreeSet<&str> = jobs.iter().map(|job| job.queue.as_str()).collect();
        let queues: Vec<&str> = queues.into_iter().collect();
        let Some(offer) = self.claims.offer(&queues, jobs.len()).await else {
            let inserted = self.store.job_insert_many(jobs).await?;
            return Ok(inserted
                .into_iter()
                .map(|job| Inserted {
                    job,
                    started: false,
                })
                .collect());
        };
        match self
            .store
            .job_insert_many_claiming(jobs, offer.claims())
            .await
        {
            Ok((inserted, claimed)) => {
                let mut started: HashMap<JobId, Job> = claimed
                    .iter()
                    .flatten()
                    .map(|job| (job.id, job.clone()))
                    .collect();
                offer.taken(Some(claimed)).await;
                Ok(inserted
                    .into_iter()
                    .map(|job| match started.remove(&job.id) {
                        Some(job) => Inserted { job, started: true },
                        None => Inserted {
                            job,
                            started: false,
                        },
                    })
                    .collect())
            }
            Err(error) => {
                offer.taken(None).await;
                Err(error)
            }
        }
    }
}
