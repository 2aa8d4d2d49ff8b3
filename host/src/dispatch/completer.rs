//! Recording how runs ended. Two implementations behind one trait, as
//! River's job completer has them: [`InlineCompleter`] writes each outcome
//! at once (one transaction per job), [`BatchCompleter`] gathers the
//! outcomes that arrive while a write is in flight and writes them all in
//! the next transaction — the road to many thousands of jobs a second.
//! Both wake this process's waiters for every job that completed, and
//! both keep an outcome the database cannot take now (a full disk, a
//! server restarting) and write it once it recovers: an outcome is never
//! dropped while this process lives (`service::health`).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::service::{Events, StoreHealth};
use crate::store::{self, FinishReport, JobFinishParams, Store};

/// The most outcomes one finish transaction takes.
pub const FINISH_BATCH_MAX_DEFAULT: usize = 512;

/// Records outcomes durably.
#[async_trait]
pub trait Completer: Send + Sync + std::fmt::Debug {
    /// Records how one run ended; returns once it is written. A fault of
    /// the database is waited out, never returned: an error means the
    /// outcome can never be written (a bug, a corrupt row).
    async fn finish(&self, params: JobFinishParams) -> store::Result<()>;
}

/// Writes each outcome in its own transaction.
#[derive(Debug)]
pub struct InlineCompleter {
    store: Arc<dyn Store>,
    events: Arc<Events>,
    health: Arc<StoreHealth>,
}

impl InlineCompleter {
    /// A completer writing to `store`, waking `events`, waiting out the
    /// faults `health` follows.
    pub fn new(store: Arc<dyn Store>, events: Arc<Events>, health: Arc<StoreHealth>) -> Self {
        InlineCompleter {
            store,
            events,
            health,
        }
    }
}

#[async_trait]
impl Completer for InlineCompleter {
    async fn finish(&self, params: JobFinishParams) -> store::Result<()> {
        let params = std::slice::from_ref(&params);
        let report = write(&*self.store, &self.health, params).await?;
        after_write(&self.events, &report);
        Ok(())
    }
}

/// Writes outcomes, waiting out the database's faults.
async fn write(
    store: &dyn Store,
    health: &StoreHealth,
    params: &[JobFinishParams],
) -> store::Result<FinishReport> {
    let mut tries = 0u32;
    let report = health
        .through_faults(|| {
            tries += 1;
            store.job_finish_many(params)
        })
        .await?;
    health.wrote();
    if tries > 1 && !report.reassigned.is_empty() {
        // A try that failed may have committed nonetheless (PostgreSQL's
        // connection dropped after its COMMIT): those jobs are completed
        // already, by this very outcome.
        tracing::info!(
            jobs = report.reassigned.len(),
            "outcomes written on a try that seemed to fail are not written twice"
        );
    }
    Ok(report)
}

fn after_write(events: &Events, report: &FinishReport) {
    for job in &report.reassigned {
        tracing::warn!(%job, "job was reassigned while it ran; its outcome was dropped");
    }
    events.completed(&report.completed);
    if !report.completed.is_empty() {
        // The slots of the quotas these jobs held are free only now that
        // the outcome is written: claim again.
        events.work_available();
    }
}

type Reply = oneshot::Sender<store::Result<()>>;

/// Writes outcomes in batches, one transaction per batch.
#[derive(Debug, Clone)]
pub struct BatchCompleter {
    tx: mpsc::Sender<(JobFinishParams, Reply)>,
}

impl BatchCompleter {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(
        store: Arc<dyn Store>,
        events: Arc<Events>,
        health: Arc<StoreHealth>,
        max_batch: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(max_batch * 4);
        tokio::spawn(write_batches(store, events, health, rx, max_batch.max(1)));
        BatchCompleter { tx }
    }
}

#[async_trait]
impl Completer for BatchCompleter {
    async fn finish(&self, params: JobFinishParams) -> store::Result<()> {
        let (reply, answer) = oneshot::channel();
        let closed = || store::Error::Conflict("the completer has stopped".into());
        self.tx.send((params, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    events: Arc<Events>,
    health: Arc<StoreHealth>,
    mut rx: mpsc::Receiver<(JobFinishParams, Reply)>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let params: Vec<JobFinishParams> = batch.iter().map(|(p, _)| p.clone()).collect();
        // An outcome must not be lost while this process lives: while the
        // database fails, keep it and try again (the jobs stay `active`
        // meanwhile, which is the truth); outcomes that arrive meanwhile
        // wait for the next batch.
        match write(&*store, &health, &params).await {
            Ok(report) => {
                after_write(&events, &report);
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(error) if batch.len() == 1 => {
                tracing::error!(%error, "cannot record a job's outcome");
                let (_, reply) = batch.pop().expect("one");
                let _ = reply.send(Err(error));
            }
            Err(_) => {
                // One outcome the store refuses must not cost the others
                // theirs: write them one by one, each caller gets its own
                // answer.
                for (params, reply) in batch.drain(..) {
                    let written = write(&*store, &health, std::slice::from_ref(&params)).await;
                    let answer = written.map(|report| after_write(&events, &report));
                    if let Err(error) = &answer {
                        tracing::error!(%error, job = %params.id, "cannot record a job's outcome");
                    }
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! One suite for both completers.

    use serde_json::json;

    use super::*;
    use crate::model::{JobStatus, RunOutcome};
    use crate::store::conformance::kit::{self, t};
    use crate::store::conformance::{Harness, SqliteHarness};

    type Make = fn(Arc<dyn Store>, Arc<Events>) -> Arc<dyn Completer>;

    fn health() -> Arc<StoreHealth> {
        Arc::new(StoreHealth::new(Arc::new(crate::clock::SystemClock)))
    }

    fn inline(store: Arc<dyn Store>, events: Arc<Events>) -> Arc<dyn Completer> {
        Arc::new(InlineCompleter::new(store, events, health()))
    }

    fn batched(store: Arc<dyn Store>, events: Arc<Events>) -> Arc<dyn Completer> {
        // A small batch, so that 40 concurrent outcomes need several.
        Arc::new(BatchCompleter::start(store, events, health(), 8))
    }

    async fn records_outcomes_and_wakes_waiters(make: Make) {
        let harness = SqliteHarness::fresh().await.expect("sqlite");
        let store = harness.store();
        let events = Arc::new(Events::new());
        let completer = make(store.clone(), events.clone());
        let module = kit::module(&*store, "a", None).await;
        kit::put_n(&*store, "", &module, 40).await;
        let dispatcher = kit::dispatcher(&*store).await;
        let ids = kit::run(&*store, dispatcher, "", 40, t(1)).await;
        let waiters: Vec<_> = ids.iter().map(|id| events.on_completion(*id)).collect();
        let finishes = ids.iter().enumerate().map(|(i, id)| {
            let outcome = kit::outcome(dispatcher, *id, RunOutcome::Value(json!(i)), t(2));
            let completer = completer.clone();
            async move { completer.finish(outcome).await }
        });
        for result in futures::future::join_all(finishes).await {
            result.expect("recorded");
        }
        for waiter in waiters {
            waiter.await.expect("the waiter is woken");
        }
        for (i, id) in ids.iter().enumerate() {
            let job = store.job_get(*id).await.unwrap();
            assert_eq!(job.status, JobStatus::Completed);
            assert_eq!(job.result, Some(json!(i)));
        }
    }

    async fn drops_the_outcome_of_a_job_no_longer_ours(make: Make) {
        let harness = SqliteHarness::fresh().await.expect("sqlite");
        let store = harness.store();
        let events = Arc::new(Events::new());
        let completer = make(store.clone(), events);
        let module = kit::module(&*store, "a", None).await;
        kit::put_n(&*store, "", &module, 1).await;
        let dispatcher = kit::dispatcher(&*store).await;
        let id = kit::run(&*store, dispatcher, "", 1, t(1)).await[0];
        let impostor = kit::dispatcher(&*store).await;
        let outcome = kit::outcome(impostor, id, RunOutcome::Value(json!("stolen")), t(2));
        completer.finish(outcome).await.expect("not an error");
        let job = store.job_get(id).await.unwrap();
        assert_eq!(
            job.status,
            JobStatus::Active,
            "the real run's outcome is still to come"
        );
        assert_eq!(job.result, None);
    }

    #[tokio::test]
    async fn inline_records_outcomes_and_wakes_waiters() {
        records_outcomes_and_wakes_waiters(inline).await;
    }

    #[tokio::test]
    async fn batched_records_outcomes_and_wakes_waiters() {
        records_outcomes_and_wakes_waiters(batched).await;
    }

    #[tokio::test]
    async fn inline_drops_the_outcome_of_a_job_no_longer_ours() {
        drops_the_outcome_of_a_job_no_longer_ours(inline).await;
    }

    #[tokio::test]
    async fn batched_drops_the_outcome_of_a_job_no_longer_ours() {
        drops_the_outcome_of_a_job_no_longer_ours(batched).await;
    }
}
