//! Claims that ride on a put's commit.
//!
//! A put followed by a claim costs two durable commits before its job
//! runs. When this process's dispatcher wants jobs in the queue a batch
//! of puts goes to (free slots, or room ahead of them), the put batcher's
//! transaction claims for it too (`ClaimStore::job_insert_many_claiming`):
//! one commit puts the jobs and starts those it wants, the oldest due
//! jobs of the queue first, exactly as the dispatcher's own claim would.
//! The dispatcher offers the claims and runs what they took
//! ([`PutClaims`]); the service knows it only through this trait,
//! installed in the [`PutClaimsSlot`] while the dispatcher runs.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::model::Job;
use crate::store::JobClaimParams;

/// What a dispatcher offers a put: claims for its agents that want jobs.
#[async_trait]
pub trait PutClaims: Send + Sync + std::fmt::Debug {
    /// The claims to make in the transaction that puts `jobs` jobs into
    /// `queues`; `None` when the dispatcher claims nothing now (no agent
    /// wants jobs, a ping due first, or a claim of its own under way while
    /// the put is not a lone one meeting an idle agent).
    async fn offer(&self, queues: &[&str], jobs: usize) -> Option<Box<dyn ClaimOffer>>;
}

/// Claims offered for one put transaction. Until [`ClaimOffer::taken`],
/// the dispatcher makes no claim of its own and no self-check.
#[async_trait]
pub trait ClaimOffer: Send + std::fmt::Debug {
    /// The claims, for the store.
    fn claims(&self) -> &[JobClaimParams];
    /// The transaction committed and each claim took these jobs (in the
    /// order of [`Self::claims`]); `None`: it failed, and may have
    /// committed nonetheless (its answer lost with its connection).
    async fn taken(self: Box<Self>, claimed: Option<Vec<Vec<Job>>>);
}

/// Where the running dispatcher of this process offers its claims to the
/// put batcher (empty while none runs).
#[derive(Debug, Default)]
pub struct PutClaimsSlot(RwLock<Option<Arc<dyn PutClaims>>>);

impl PutClaimsSlot {
    /// Installs `claims` (a dispatcher started) or clears the slot.
    pub fn set(&self, claims: Option<Arc<dyn PutClaims>>) {
        *self.0.write().unwrap() = claims;
    }

    /// Clears the slot if `claims` is what it holds (a dispatcher stops;
    /// another one of the process may have installed its own since).
    pub fn clear(&self, claims: &Arc<dyn PutClaims>) {
        let mut slot = self.0.write().unwrap();
        if slot.as_ref().is_some_and(|held| Arc::ptr_eq(held, claims)) {
            *slot = None;
        }
    }

    /// The claims offered for a put of `jobs` jobs into `queues`, if any.
    pub async fn offer(&self, queues: &[&str], jobs: usize) -> Option<Box<dyn ClaimOffer>> {
        let claims = self.0.read().unwrap().clone()?;
        claims.offer(queues, jobs).await
    }
}
