//! The record of recent polls: what each
//! agent claimed in each poll that claimed something. The claim loop hands
//! each record to a task of its own, which writes whatever gathered in one
//! transaction every [`POLL_FLUSH_DELAY`]: the claim path never waits for
//! it, and a busy dispatcher pays one commit per flush, not one per claim.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::service::StoreHealth;
use crate::store::{PollRecordParams, PollStore};

/// How long records gather before they are written.
pub const POLL_FLUSH_DELAY: Duration = Duration::from_millis(200);

/// The most records one flush writes.
const FLUSH_MAX: usize = 1_024;

/// Hands poll records to the writer task.
#[derive(Debug)]
pub(super) struct PollRecorder {
    /// `None` once stopped.
    sender: Mutex<Option<mpsc::UnboundedSender<PollRecordParams>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl PollRecorder {
    /// Starts the writer task.
    /// Records the database cannot take now are dropped (they are a view
    /// of recent activity, not state), and the fault reported to `health`.
    pub(super) fn start(store: Arc<dyn PollStore>, health: Arc<StoreHealth>) -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel::<PollRecordParams>();
        let task = tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(first) = receiver.recv().await {
                batch.push(first);
                tokio::time::sleep(POLL_FLUSH_DELAY).await;
                while batch.len() < FLUSH_MAX {
                    match receiver.try_recv() {
                        Ok(record) => batch.push(record),
                        Err(_) => break,
                    }
                }
                if let Err(error) = store.poll_record_many(&batch).await
                    && !health.failed(&error)
                {
                    tracing::warn!(%error, polls = batch.len(), "could not record polls");
                }
                batch.clear();
            }
        });
        PollRecorder {
            sender: Mutex::new(Some(sender)),
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues a record (never waits; dropped once stopped).
    pub(super) fn record(&self, poll: PollRecordParams) {
        if let Some(sender) = &*self.sender.lock().unwrap() {
            let _ = sender.send(poll);
        }
    }

    /// Writes what is queued and stops.
    pub(super) async fn stop(&self) {
        drop(self.sender.lock().unwrap().take());
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
