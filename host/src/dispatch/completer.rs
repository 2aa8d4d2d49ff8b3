//! Recording how runs ended. Two implementations behind one trait, as
//! River's job completer has them: [`InlineCompleter`] writes each outcome
//! at once (one transaction per job), [`BatchCompleter`] gathers the
//! outcomes that arrive while a write is in flight and writes them all in
//! the next transaction — the road to many thousands of jobs a second.
//! Both wake this process's waiters for every job that completed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::service::Events;
use crate::store::{self, FinishReport, JobFinishParams, Store};

/// The most outcomes one finish transaction takes.
pub const FINISH_BATCH_MAX_DEFAULT: usize = 512;

/// Records outcomes durably.
#[async_trait]
pub trait Completer: Send + Sync + std::fmt::Debug {
    /// Records how one run ended; returns once it is written.
    async fn finish(&self, params: JobFinishParams) -> store::Result<()>;
}

/// Writes each outcome in its own transaction.
#[derive(Debug)]
pub struct InlineCompleter {
    store: Arc<dyn Store>,
    events: Arc<Events>,
}

impl InlineCompleter {
    /// A completer writing to `store` and waking `events`.
    pub fn new(store: Arc<dyn Store>, events: Arc<Events>) -> Self {
        InlineCompleter { store, events }
    }
}

#[async_trait]
impl Completer for InlineCompleter {
    async fn finish(&self, params: JobFinishParams) -> store::Result<()> {
        let report = self
            .store
            .job_finish_many(std::slice::from_ref(&params))
            .await?;
        after_write(&self.events, &report);
        Ok(())
    }
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
    pub fn start(store: Arc<dyn Store>, events: Arc<Events>, max_batch: usize) -> Self {
        let (tx, rx) = mpsc::channel(max_batch * 4);
        tokio::spawn(write_batches(store, events, rx, max_batch.max(1)));
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
    mut rx: mpsc::Receiver<(JobFinishParams, Reply)>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let params: Vec<JobFinishParams> = batch.iter().map(|(p, _)| p.clone()).collect();
        let mut attempt = 0u32;
        // An outcome must not be lost while this process lives: if the
        // database is unreachable, keep trying (the jobs stay `active`
        // meanwhile, which is the truth).
        let result = loop {
            match store.job_finish_many(&params).await {
                Ok(report) => break Ok(report),
                Err(error @ store::Error::Database(_)) if attempt < 60 => {
                    attempt += 1;
                    tracing::error!(%error, attempt, "could not record job outcomes; retrying");
                    tokio::time::sleep(Duration::from_millis(100) * attempt.min(50)).await;
                }
                Err(error) => break Err(error),
            }
        };
        match result {
            Ok(report) => {
                after_write(&events, &report);
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = batch.len(), "gave up recording job outcomes");
                let message = error.to_string();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(store::Error::Conflict(message.clone())));
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

    fn inline(store: Arc<dyn Store>, events: Arc<Events>) -> Arc<dyn Completer> {
        Arc::new(InlineCompleter::new(store, events))
    }

    fn batched(store: Arc<dyn Store>, events: Arc<Events>) -> Arc<dyn Completer> {
        // A small batch, so that 40 concurrent outcomes need several.
        Arc::new(BatchCompleter::start(store, events, 8))
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
