//! The claims this dispatcher offers to this process's puts: for each of
//! its agents in a put's queues that wants jobs (free slots, or room
//! ahead of them: [`AgentSlots::wanted`]), a claim of as many jobs as it
//! wants, made in the put's own transaction (see
//! [`crate::service::put_claims`]). What they take runs exactly as what
//! the claim loop takes ([`claimer::run_claimed`]).
//!
//! An offer takes the claim loop's turn and then, as the claim loop
//! does, the lock the self-check excludes claims with, and holds both
//! until it is taken, so free slots are never counted twice and a job
//! just claimed is held before the self-check can look. Nothing is
//! offered once the dispatcher has been silent for half its death
//! interval: it may have been declared dead while paused, and the claim
//! loop, which pings before it claims, must learn that before it takes
//! new work.
//!
//! Only a lone put (the put batcher gathered one job) that meets an idle
//! agent waits for a claim under way (one statement) to take the turn:
//! that is a put meeting an idle server, where its own claim saves a
//! commit on the way to the run, and at idle the claim under way is the
//! one that follows the last finish, which finds nothing. Every other
//! put takes the turn only if it is free and otherwise carries no claim:
//! under load, puts that waited for the claim loop's turn fell by a fifth
//! (measured when every agent with a free slot was offered), and a put
//! that carries the claim its agents want spares the claim loop a
//! transaction of its own (issue 16: single puts over HTTP 9,110 →
//! 9,555 jobs/s, means of nine alternating rounds, `docs/testing.md`).

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use tokio::sync::{OwnedMutexGuard, OwnedRwLockReadGuard};

use super::agents::AgentSlots;
use super::{Shared, claimer};
use crate::model::Job;
use crate::service::{ClaimOffer, PutClaims};
use crate::store::JobClaimParams;

/// This dispatcher's offers; weak, so the slot does not keep a stopped
/// dispatcher alive.
#[derive(Debug)]
struct Offers {
    shared: Weak<Shared>,
}

/// The offers of the dispatcher `shared`, for its process's put batcher.
pub(super) fn offers(shared: &Arc<Shared>) -> Arc<dyn PutClaims> {
    Arc::new(Offers {
        shared: Arc::downgrade(shared),
    })
}

#[async_trait]
impl PutClaims for Offers {
    async fn offer(&self, queues: &[&str], jobs: usize) -> Option<Box<dyn ClaimOffer>> {
        let shared = self.shared.upgrade()?;
        if shared.taken_over.borrow().is_some() || super::pinger::silent(&shared) {
            return None;
        }
        let offered = |agent: &&Arc<AgentSlots>| {
            queues.contains(&agent.spec.queue.as_str())
                // An agent's preferences take two claims: its own loop's.
                && agent.spec.prefer.is_none()
        };
        let (any_wants, any_idle) = {
            let agents = shared.agents.read().unwrap();
            let wanting: Vec<_> = agents
                .iter()
                .filter(offered)
                .filter(|agent| agent.wanted() > 0)
                .collect();
            let idle = |agent: &&Arc<AgentSlots>| agent.running() == 0 && agent.waiting() == 0;
            (!wanting.is_empty(), wanting.iter().any(idle))
        };
        if !any_wants {
            return None;
        }
        let (turn, claiming) = if jobs == 1 && any_idle {
            // Waits for a claim of the claim loop (one statement) to end.
            let turn = shared.claim_turn.clone().lock_owned().await;
            (turn, shared.held.claiming_owned().await)
        } else {
            let turn = shared.claim_turn.clone().try_lock_owned().ok()?;
            (turn, shared.held.try_claiming_owned()?)
        };
        let agents = shared.agents.read().unwrap().clone();
        let version = agents.version();
        let now = shared.parts.clock.now();
        let (agents, claims): (Vec<_>, Vec<_>) = agents
            .iter()
            .filter(offered)
            .filter_map(|agent| {
                // Read once: the slots it frees meanwhile wait for the
                // claim loop.
                let limit = agent.wanted();
                let params = JobClaimParams {
                    dispatcher: shared.config.id,
                    queue: agent.spec.queue.clone(),
                    agent: agent.spec.name.clone(),
                    filter: agent.spec.filter.clone(),
                    preferred: None,
                    limit,
                    now,
                    start: true,
                };
                (limit > 0).then(|| (agent.clone(), params))
            })
            .unzip();
        if claims.is_empty() {
            return None;
        }
        Some(Box::new(Offer {
            version,
            shared,
            agents,
            claims,
            _turn: turn,
            _claiming: claiming,
        }))
    }
}

/// Claims offered for one put transaction, holding the claim turn and the
/// self-check off until taken.
#[derive(Debug)]
struct Offer {
    shared: Arc<Shared>,
    agents: Vec<Arc<AgentSlots>>,
    claims: Vec<JobClaimParams>,
    /// The agents' version the offer was made under (see
    /// [`claimer::run_claimed`]).
    version: u64,
    _turn: OwnedMutexGuard<()>,
    _claiming: OwnedRwLockReadGuard<()>,
}

#[async_trait]
impl ClaimOffer for Offer {
    fn claims(&self) -> &[JobClaimParams] {
        &self.claims
    }

    async fn taken(self: Box<Self>, claimed: Option<Vec<Vec<Job>>>) {
        let Some(claimed) = claimed else {
            // It may have committed, its answer lost: the self-check
            // hands back what the store says this dispatcher holds.
            self.shared.held.check_soon();
            return;
        };
        for ((agent, params), jobs) in self.agents.iter().zip(&self.claims).zip(claimed) {
            agent.claimed(params.limit, jobs.len() as u32);
            claimer::run_claimed(&self.shared, agent, jobs, self.version).await;
        }
    }
}
