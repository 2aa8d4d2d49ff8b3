//! Pausing and resuming processing, per queue or per dispatcher: a paused
//! queue or dispatcher claims nothing until resumed; what runs goes on.

use serde::Serialize;

use super::names::queue_from_alias;
use super::{Result, Service};
use crate::model::{DispatcherId, Timestamp};

/// What is paused, as `GET /v1/processing` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProcessingView {
    /// Paused queues (`""`: the default queue) and since when.
    pub paused_queues: Vec<PausedQueue>,
    /// Paused dispatchers and since when.
    pub paused_dispatchers: Vec<PausedDispatcher>,
}

/// A paused queue.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PausedQueue {
    /// The queue.
    pub queue: String,
    /// Since when.
    #[schema(value_type = String, format = DateTime)]
    pub paused_at: Timestamp,
}

/// A paused dispatcher.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PausedDispatcher {
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// Since when.
    #[schema(value_type = String, format = DateTime)]
    pub paused_at: Timestamp,
}

impl Service {
    /// Pauses a queue: no dispatcher claims from it until it is resumed.
    pub async fn queue_pause(&self, queue: &str) -> Result<()> {
        let now = self.clock().now();
        Ok(self
            .store()
            .queue_pause(queue_from_alias(queue), now)
            .await?)
    }

    /// Resumes a queue; dispatchers look at it again at once.
    pub async fn queue_resume(&self, queue: &str) -> Result<()> {
        self.store().queue_resume(queue_from_alias(queue)).await?;
        self.events().work_available();
        Ok(())
    }

    /// Pauses a dispatcher: it claims nothing until resumed; what it runs
    /// goes on.
    pub async fn dispatcher_pause(&self, id: DispatcherId) -> Result<()> {
        let now = self.clock().now();
        Ok(self.store().dispatcher_pause(id, now).await?)
    }

    /// Resumes a dispatcher; it looks for work again at once.
    pub async fn dispatcher_resume(&self, id: DispatcherId) -> Result<()> {
        self.store().dispatcher_resume(id).await?;
        self.events().agents_changed();
        Ok(())
    }

    /// Everything paused.
    pub async fn processing(&self) -> Result<ProcessingView> {
        let pauses = self.store().pause_list().await?;
        Ok(ProcessingView {
            paused_queues: pauses
                .queues
                .into_iter()
                .map(|(queue, paused_at)| PausedQueue { queue, paused_at })
                .collect(),
            paused_dispatchers: pauses
                .dispatchers
                .into_iter()
                .map(|(dispatcher, paused_at)| PausedDispatcher {
                    dispatcher,
                    paused_at,
                })
                .collect(),
        })
    }

    /// Whether a queue is processed (not paused).
    pub async fn queue_processing(&self, queue: &str) -> Result<bool> {
        let queue = queue_from_alias(queue);
        self.store().queue_get(queue).await?;
        let pauses = self.store().pause_list().await?;
        Ok(!pauses.queues.iter().any(|(q, _)| q == queue))
    }

    /// Whether a dispatcher is processing (not paused).
    pub async fn dispatcher_processing(&self, id: DispatcherId) -> Result<bool> {
        self.store().dispatcher_get(id).await?;
        let pauses = self.store().pause_list().await?;
        Ok(!pauses.dispatchers.iter().any(|(d, _)| *d == id))
    }
}
