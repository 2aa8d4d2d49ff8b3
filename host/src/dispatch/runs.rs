//! The record of runs (resource accounting): the limits each run
//! ran under and what it consumed. The runner hands each record to one
//! writer task and waits for it before the outcome is written, so that
//! whoever sees a job complete also finds its run; runs that end while a
//! write is in flight go in the next transaction together.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::model::RunRecord;
use crate::service::StoreHealth;
use crate::store::RunStore;

/// The most runs one write takes.
const RECORD_BATCH_MAX: usize = 512;

type Written = oneshot::Sender<()>;

/// Hands run records to the writer task.
#[derive(Debug, Clone)]
pub(super) struct RunRecorder {
    sender: mpsc::Sender<(RunRecord, Written)>,
}

impl RunRecorder {
    /// Starts the writer task on the current tokio runtime. The database's
    /// faults are waited out; a record the store refuses otherwise is
    /// logged and dropped (accounting must not hold an outcome back).
    pub(super) fn start(store: Arc<dyn RunStore>, health: Arc<StoreHealth>) -> Self {
        let (sender, mut receiver) = mpsc::channel::<(RunRecord, Written)>(RECORD_BATCH_MAX * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(RECORD_BATCH_MAX);
            while receiver.recv_many(&mut batch, RECORD_BATCH_MAX).await > 0 {
                let runs: Vec<RunRecord> = batch.iter().map(|(run, _)| run.clone()).collect();
                match health
                    .through_faults(|| store.job_run_record_many(&runs))
                    .await
                {
                    Ok(()) => health.wrote(),
                    Err(error) => {
                        tracing::error!(%error, runs = runs.len(), "could not record runs");
                    }
                }
                for (_, written) in batch.drain(..) {
                    let _ = written.send(());
                }
            }
        });
        RunRecorder { sender }
    }

    /// Records `run`; returns once it is written (or could not be).
    pub(super) async fn record(&self, run: RunRecord) {
        let (written, done) = oneshot::channel();
        if self.sender.send((run, written)).await.is_ok() {
            let _ = done.await;
        }
    }
}
