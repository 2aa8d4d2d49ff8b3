//! Recording how runs ended: the one road by which a run's end reaches
//! the store. A failure goes first to its retry policy, which decides
//! whether the job goes back to its queue (the failure kept in its
//! history); every other outcome, and a failure the policy makes final,
//! completes the job. Two implementations behind one trait, as River's
//! job completer has them: [`InlineCompleter`] writes each outcome at
//! once (one transaction per job), [`BatchCompleter`] gathers the
//! outcomes that arrive while a write is in flight and writes them all in
//! the next transaction — the road to many thousands of jobs a second.
//! Both wake this process's waiters for every job that completed, and
//! both keep an outcome the database cannot take now (a full disk, a
//! server restarting) and write it once it recovers: an outcome is never
//! dropped while this process lives (`service::health`).

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::model::RunOutcome;
use crate::service::{Events, StoreHealth};
use crate::store::{self, FinishReport, JobFinishParams, JobRetryParams, RetryVerdict, Store};

/// The most outcomes one finish transaction takes: as many as an agent
/// claims ahead at most ([`super::agents::CLAIM_AHEAD_MAX`]). With half
/// as many, the outcomes of a full claim waited for two finishes, and a
/// 100,000-job burst peaked at ~200 MiB of server RSS against ~115 MiB.
pub const FINISH_BATCH_MAX_DEFAULT: usize = 1024;

/// Records outcomes durably.
#[async_trait]
pub trait Completer: Send + Sync + std::fmt::Debug {
    /// Records how one run ended; returns once it is written. A failure
    /// its retry policy tries again puts the job back in its queue; any
    /// other outcome completes it. A fault of the database is waited out,
    /// never returned: an error means the outcome can never be written (a
    /// bug, a corrupt row).
    async fn finish(&self, params: JobFinishParams) -> store::Result<Finished>;
}

/// What became of an outcome handed to a [`Completer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// A failure its retry policy tries again: the job went back to its
    /// queue (or was no longer this dispatcher's).
    Retried,
    /// Written: the job completed (or awaits the job it named), unless it
    /// was no longer this dispatcher's.
    Written,
}

/// What both completers write through.
#[derive(Debug)]
struct Writer {
    store: Arc<dyn Store>,
    events: Arc<Events>,
    health: Arc<StoreHealth>,
}

impl Writer {
    /// Asks the job's retry policy about a failed run: true when the job
    /// is taken care of (back in its queue, or no longer this
    /// dispatcher's), false when the outcome is still to be written (not
    /// a failure, or a failure the policy makes final).
    ///
    /// The run's record goes first, on its own, when a retry is asked for
    /// (a retry writes no finish that could carry it; the run is recorded
    /// before the job can run again), and is taken out of `params`.
    async fn retried(&self, params: &mut JobFinishParams) -> bool {
        let RunOutcome::Failure(failure) = &params.outcome else {
            return false;
        };
        if failure.permanent {
            // The job said so: never retried, whatever the policy.
            return false;
        }
        if let Some(run) = params.run.take() {
            let store = &self.store;
            let runs = std::slice::from_ref(&run);
            let recorded = self
                .health
                .through_faults(|| store.job_run_record_many(runs))
                .await;
            if let Err(error) = recorded {
                tracing::error!(%error, "could not record the run");
            }
        }
        let retry = JobRetryParams {
            id: params.id,
            dispatcher: params.dispatcher,
            failure: failure.clone(),
            output: params.output.clone(),
            now: params.now,
        };
        // Waits out the database's faults: a retry decided is not lost either.
        let store = &self.store;
        let verdict = self
            .health
            .through_faults(|| store.job_retry(retry.clone()))
            .await;
        match verdict {
            Ok(RetryVerdict::Retried { at, failures }) => {
                self.health.wrote();
                tracing::info!(%at, failures, "job goes back to its queue, as its retry policy says");
                self.events.work_available();
                true
            }
            Ok(RetryVerdict::Final) => false,
            Ok(RetryVerdict::Reassigned) => {
                tracing::warn!("job was reassigned while it ran; its failure was dropped");
                true
            }
            Err(error) => {
                // Better a failure recorded as final than one lost.
                tracing::error!(%error, "could not ask for a retry; recording the failure");
                false
            }
        }
    }

    /// Writes outcomes, waiting out the database's faults, and wakes
    /// whoever waits for the jobs completed.
    async fn write(&self, params: &[JobFinishParams]) -> store::Result<()> {
        let mut tries = 0u32;
        let store = &self.store;
        let report = self
            .health
            .through_faults(|| {
                tries += 1;
                crate::metrics::timed("finish", store.job_finish_many(params))
            })
            .await?;
        self.health.wrote();
        if tries > 1 && !report.reassigned.is_empty() {
            // A try that failed may have committed nonetheless (PostgreSQL's
            // connection dropped after its COMMIT): those jobs are completed
            // already, by this very outcome.
            tracing::info!(
                jobs = report.reassigned.len(),
                "outcomes written on a try that seemed to fail are not written twice"
            );
        }
        self.after_write(&report);
        Ok(())
    }

    fn after_write(&self, report: &FinishReport) {
        for job in &report.reassigned {
            tracing::warn!(%job, "job was reassigned while it ran; its outcome was dropped");
        }
        self.events.completed(&report.completed);
        if !report.completed.is_empty() {
            // The slots of the quotas these jobs held are free only now that
            // the outcome is written: claim again.
            self.events.work_available();
        }
    }
}

/// Writes each outcome in its own transaction.
#[derive(Debug)]
pub struct InlineCompleter {
    writer: Writer,
}

impl InlineCompleter {
    /// A completer writing to `store`, waking `events`, waiting out the
    /// faults `health` follows.
    pub fn new(store: Arc<dyn Store>, events: Arc<Events>, health: Arc<StoreHealth>) -> Self {
        InlineCompleter {
            writer: Writer {
                store,
                events,
                health,
            },
        }
    }
}

#[async_trait]
impl Completer for InlineCompleter {
    async fn finish(&self, mut params: JobFinishParams) -> store::Result<Finished> {
        if self.writer.retried(&mut params).await {
            return Ok(Finished::Retried);
        }
        self.writer.write(std::slice::from_ref(&params)).await?;
        Ok(Finished::Written)
    }
}

type Reply = oneshot::Sender<store::Result<()>>;

/// Writes outcomes in batches, one transaction per batch. A failure's
/// retry is asked for in the caller's task, beside the batches: retries
/// are rare, and each is a transaction of its own.
#[derive(Debug, Clone)]
pub struct BatchCompleter {
    writer: Arc<Writer>,
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
        let writer = Arc::new(Writer {
            store,
            events,
            health,
        });
        let (tx, rx) = mpsc::channel(max_batch * 4);
        tokio::spawn(write_batches(writer.clone(), rx, max_batch.max(1)));
        BatchCompleter { writer, tx }
    }
}

#[async_trait]
impl Completer for BatchCompleter {
    async fn finish(&self, mut params: JobFinishParams) -> store::Result<Finished> {
        if self.writer.retried(&mut params).await {
            return Ok(Finished::Retried);
        }
        let (reply, answer) = oneshot::channel();
        let closed = || store::Error::Conflict("the completer has stopped".into());
        self.tx.send((params, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())??;
        Ok(Finished::Written)
    }
}

async fn write_batches(
    writer: Arc<Writer>,
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
        match writer.write(&params).await {
            Ok(()) => {
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
                    let answer = writer.write(std::slice::from_ref(&params)).await;
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
    use crate::model::{Failure, FailureKind, JobStatus, NewJob, RetryPolicy, RunOutcome};
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

    /// A failure goes to the job's retry policy first: tried again while
    /// the policy allows (back in its queue, the failure in its history),
    /// then final (completed with it); a permanent failure is final at
    /// once, whatever the policy.
    async fn the_retry_policy_decides_a_failures_end(make: Make) {
        let harness = SqliteHarness::fresh().await.expect("sqlite");
        let store = harness.store();
        let events = Arc::new(Events::new());
        let completer = make(store.clone(), events);
        let module = kit::module(&*store, "a", None).await;
        let twice = RetryPolicy::from_json(&json!({
            "max_attempts": 2,
            "backoff": {"initial_ms": 0, "increment_ms": 0, "max_ms": 0}
        }))
        .expect("a valid policy");
        let job = |function: &str| NewJob {
            retry: Some(twice.clone()),
            ..kit::new_job("", &module, function, t(0))
        };
        let ids = kit::ids(&kit::put(&*store, vec![job("fails"), job("refuses")]).await);
        let (fails, refuses) = (ids[0], ids[1]);
        let dispatcher = kit::dispatcher(&*store).await;
        let failure = || RunOutcome::Failure(Failure::new(FailureKind::GuestError, "no"));
        let permanent = RunOutcome::Failure(Failure {
            permanent: true,
            ..Failure::new(FailureKind::GuestError, "never")
        });

        assert_eq!(kit::run(&*store, dispatcher, "", 2, t(1)).await, ids);
        let finish = |id, outcome| kit::outcome(dispatcher, id, outcome, t(2));
        completer.finish(finish(fails, failure())).await.unwrap();
        completer.finish(finish(refuses, permanent)).await.unwrap();
        let retried = store.job_get(fails).await.unwrap();
        assert_eq!(retried.status, JobStatus::Pending, "back in its queue");
        assert_eq!(store.job_attempts(fails).await.unwrap().len(), 1);
        let refused = store.job_get(refuses).await.unwrap();
        assert_eq!(refused.status, JobStatus::Completed, "permanent: final");

        assert_eq!(kit::run(&*store, dispatcher, "", 1, t(3)).await, [fails]);
        let last = kit::outcome(dispatcher, fails, failure(), t(4));
        completer.finish(last).await.unwrap();
        let last = store.job_get(fails).await.unwrap();
        assert_eq!(
            last.status,
            JobStatus::Completed,
            "the second failure is final"
        );
        assert_eq!(last.failure.map(|f| f.message), Some("no".to_owned()));
    }

    #[tokio::test]
    async fn inline_lets_the_retry_policy_decide_a_failures_end() {
        the_retry_policy_decides_a_failures_end(inline).await;
    }

    #[tokio::test]
    async fn batched_lets_the_retry_policy_decide_a_failures_end() {
        the_retry_policy_decides_a_failures_end(batched).await;
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
