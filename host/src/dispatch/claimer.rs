//! The claim loop: where a job is claimed.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::{AgentSlots, Shared, runner};
use crate::model::{Job, JobId, JobStatus};
use crate::store::{JobClaimParams, JobStartParams};

/// Waits for work and claims it, until told to stop.
pub(super) async fn claim_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let events = shared.service.events().clone();
    let work = events.work();
    let agents_changed = events.agents();
    let mut poll = tokio::time::interval(shared.config.poll_interval);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = work.notified() => {}
            _ = agents_changed.notified() => reload_agents(&shared).await,
            _ = poll.tick() => {
                ping(&shared).await;
                reload_agents(&shared).await;
            }
        }
        if *stopped.borrow() {
            return;
        }
        claim_round(&shared).await;
    }
}

/// Reads this dispatcher's agents from the store (they may be changed
/// over HTTP from any process).
pub(super) async fn reload_agents(shared: &Shared) {
    match shared
        .service
        .store()
        .agent_list(Some(shared.config.id))
        .await
    {
        Ok(agents) => {
            let specs = agents.into_iter().map(|a| a.spec).collect();
            let mut current = shared.agents.write().unwrap();
            *current = Arc::new(current.replaced(specs));
        }
        Err(error) => tracing::error!(%error, "could not load this dispatcher's agents"),
    }
}

async fn ping(shared: &Shared) {
    let now = shared.service.clock().now();
    if let Err(error) = shared
        .service
        .store()
        .dispatcher_ping(shared.config.id, now)
        .await
    {
        tracing::error!(%error, "could not record the dispatcher's ping");
    }
}

/// Claims for every agent with free slots, again and again while claims
/// come back full (more work may be waiting).
async fn claim_round(shared: &Arc<Shared>) {
    loop {
        let agents = shared.agents.read().unwrap().clone();
        let mut maybe_more = false;
        for agent in agents.iter() {
            let free = agent.free();
            if free == 0 {
                continue;
            }
            let claimed = claim_and_start(shared, agent, free).await;
            maybe_more |= claimed == free;
        }
        if !maybe_more {
            return;
        }
    }
}

/// Claims up to `free` jobs for `agent`, starts them and spawns their runs.
/// Returns how many were claimed.
async fn claim_and_start(shared: &Arc<Shared>, agent: &Arc<AgentSlots>, free: u32) -> u32 {
    let store = shared.service.store();
    let dispatcher = shared.config.id;
    let claimed = match store
        .job_claim_many(JobClaimParams {
            dispatcher,
            queue: agent.spec.queue.clone(),
            agent: agent.spec.name.clone(),
            filter: agent.spec.filter.clone(),
            limit: free,
            now: shared.service.clock().now(),
        })
        .await
    {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::error!(%error, queue = %agent.spec.queue, agent = %agent.spec.name, "claim failed");
            return 0;
        }
    };
    if claimed.is_empty() {
        return 0;
    }
    let count = claimed.len() as u32;
    agent.acquire(count);
    let started = match store
        .job_start_many(JobStartParams {
            dispatcher,
            ids: claimed.iter().map(|job| job.id).collect(),
            now: shared.service.clock().now(),
        })
        .await
    {
        Ok(started) => started,
        Err(error) => {
            tracing::error!(%error, jobs = count, "could not start claimed jobs; they stay assigned");
            Vec::new()
        }
    };
    for _ in started.len()..claimed.len() {
        agent.release();
    }
    let mut claimed: HashMap<JobId, Job> = claimed.into_iter().map(|job| (job.id, job)).collect();
    for start in started {
        let Some(mut job) = claimed.remove(&start.id) else {
            continue;
        };
        job.status = JobStatus::Active;
        job.attempts = start.attempts;
        job.started_at = Some(start.started_at);
        shared.running.spawn_on(
            runner::run_job(shared.clone(), agent.clone(), job),
            shared.guests.handle(),
        );
    }
    count
}
