//! The claim loop: where a job is claimed, and where jobs past their
//! deadline expire.
//!
//! Besides the wake-ups of [`super`] (a put, a freed slot, an agent change,
//! the poll interval), the loop sleeps until the next moment something in
//! its queues becomes due: the earliest future `begin_after` of a pending
//! job (a scheduled job starts when it is due, not up to a poll interval
//! later) and the earliest deadline (`begin_after + begin_by`), at which
//! the jobs not yet started expire (looking for work fails them: they
//! complete with a `timeout` failure and never run).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::{AgentSlots, Shared, pinger, runner};
use crate::model::{Job, JobId, POLLS_KEPT_DEFAULT, Timestamp, Transition};
use crate::service::expire_jobs;
use crate::store::{
    JobClaimParams, JobNextDueParams, JobStartParams, JobStarted, JobUnstartParams, NextDue,
    PollRecordParams,
};

/// The shortest sleep before looking at a due time again.
const AGAIN_MIN: Duration = Duration::from_millis(10);

/// Waits for work and claims it, until told to stop.
pub(super) async fn claim_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let events = shared.parts.events.clone();
    let work = events.work();
    let agents_changed = events.agents();
    let mut poll = tokio::time::interval(shared.config.poll_interval);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut due = NextDue::default();
    loop {
        let wake = wake_at(&shared, &due);
        let hand_back = hand_back_at(&shared);
        // Whether `due` must be read again after this round: it was reached.
        let mut stale = false;
        tokio::select! {
            // In this order: an agent changed just before a put (the API
            // answered the change first) is reloaded before the put's job
            // is claimed, whichever of the two wakes was stored first.
            biased;
            _ = stopped.changed() => return,
            _ = agents_changed.notified() => reload_agents(&shared).await,
            _ = work.notified() => {}
            _ = poll.tick() => {
                reload_agents(&shared).await;
                stale = true;
            }
            _ = sleep_until(wake) => stale = true,
            _ = sleep_until(hand_back) => hand_back_waiting(&shared, Some(Instant::now())).await,
        }
        if *stopped.borrow() {
            return;
        }
        let now = shared.parts.clock.now();
        if due.deadline.is_some_and(|deadline| deadline < now) {
            expire(&shared, now).await;
            stale = true;
        }
        // Ping before claiming: a dispatcher declared dead while it was
        // paused is reactivated before it takes new work.
        pinger::ping_if_due(&shared).await;
        if shared.taken_over.borrow().is_some() {
            return;
        }
        if claim_round(&shared).await || stale {
            due = next_due(&shared).await;
        }
    }
}

/// The queues this dispatcher has agents in.
fn queues(shared: &Shared) -> Vec<String> {
    let agents = shared.agents.read().unwrap().clone();
    let queues: BTreeSet<String> = agents.iter().map(|a| a.spec.queue.clone()).collect();
    queues.into_iter().collect()
}

/// When the next job of this dispatcher's queues becomes due or expires.
async fn next_due(shared: &Shared) -> NextDue {
    let params = JobNextDueParams {
        queues: queues(shared),
        now: shared.parts.clock.now(),
    };
    match shared.parts.store.job_next_due(params).await {
        Ok(due) => due,
        Err(error) => {
            shared.store_failed(&error, "could not read when the next jobs are due");
            NextDue::default()
        }
    }
}

/// The instant to wake at for `due` (the clock's time turned into the
/// runtime's), at most a poll interval away; `None`: nothing to wait for.
fn wake_at(shared: &Shared, due: &NextDue) -> Option<Instant> {
    let now = shared.parts.clock.now();
    // A deadline wakes the loop just after it passes (jobs expire once
    // their deadline is in the past).
    let deadline = due.deadline.map(|d| d + chrono::TimeDelta::milliseconds(1));
    let next: Timestamp = match (due.begin_after, deadline) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    // A time already reached (a due job no agent had room for, a job
    // another process holds while it expires) is looked at again shortly,
    // not in a busy loop.
    let wait = (next - now)
        .to_std()
        .unwrap_or(Duration::ZERO)
        .max(AGAIN_MIN)
        .min(shared.config.poll_interval);
    Some(Instant::now() + wait)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Expires the jobs of this dispatcher's queues past their deadline.
async fn expire(shared: &Shared, now: Timestamp) {
    for queue in queues(shared) {
        let expired = expire_jobs(&*shared.parts.store, &shared.parts.events, &queue, now).await;
        if let Err(error) = expired {
            let what = format!("could not expire the jobs of queue `{queue}` past their deadline");
            shared.store_failed(&error, &what);
        }
    }
}

/// Reads this dispatcher's agents from the store (they may be changed
/// over HTTP from any process).
pub(super) async fn reload_agents(shared: &Shared) {
    let version = shared.parts.events.agents_version();
    match shared.parts.store.agent_list(Some(shared.config.id)).await {
        Ok(agents) => {
            let specs = agents.into_iter().map(|a| a.spec).collect();
            let mut current = shared.agents.write().unwrap();
            *current = Arc::new(current.replaced(specs, version));
        }
        Err(error) => shared.store_failed(&error, "could not load this dispatcher's agents"),
    }
}

/// Claims for every agent that wants jobs (free slots, room ahead: see
/// [`super::agents`]), again and again while claims come back full (more
/// work may be waiting). Returns true when some agent still has free
/// slots: what becomes due next is then worth knowing.
async fn claim_round(shared: &Arc<Shared>) -> bool {
    loop {
        let agents = shared.agents.read().unwrap().clone();
        let mut maybe_more = false;
        for agent in agents.iter() {
            // Beyond the free slots, the jobs claimed ahead: handed back
            // if they wait too long (see `hand_back_waiting`).
            let wanted = agent.wanted();
            if wanted == 0 {
                continue;
            }
            let claimed = claim_and_start(shared, agent, wanted, agents.version()).await;
            agent.claimed(wanted, claimed);
            maybe_more |= claimed == wanted;
        }
        if !maybe_more {
            return agents.iter().any(|agent| agent.free() > 0);
        }
    }
}

/// The earliest moment a job claimed ahead is due to be handed back (see
/// [`super::agents::CLAIM_AHEAD_HAND_BACK`]).
fn hand_back_at(shared: &Shared) -> Option<Instant> {
    let agents = shared.agents.read().unwrap().clone();
    agents.iter().filter_map(|agent| agent.hand_back_at()).min()
}

/// Hands back the jobs claimed ahead that waited too long for a slot by
/// `now` (their agents' runs outlasted what recent runs promised) when
/// another dispatcher has room for them, or, with `None`, every job still
/// waiting (the dispatcher stops): their start undone, back at their
/// places in their queues, where any dispatcher with a free slot takes
/// them. A hand-back that fails leaves them to the self-check (see
/// [`super::held`]), which interrupts them.
pub(super) async fn hand_back_waiting(shared: &Shared, now: Option<Instant>) {
    let agents = shared.agents.read().unwrap().clone();
    let mut jobs: Vec<Job> = Vec::new();
    for agent in agents.iter() {
        match now {
            Some(now) if agent.hand_back_due(now) => {
                if room_elsewhere(shared, &agent.spec.queue).await {
                    jobs.extend(agent.overdue(now));
                } else {
                    agent.keep_waiting(now);
                }
            }
            Some(_) => {}
            None => jobs.extend(agent.drain_waiting()),
        }
    }
    if jobs.is_empty() {
        return;
    }
    let ids: Vec<JobId> = jobs.iter().map(|job| job.id).collect();
    if shared.taken_over.borrow().is_none() {
        let params = JobUnstartParams {
            dispatcher: shared.config.id,
            ids: ids.clone(),
        };
        match shared.parts.store.job_unstart_many(params).await {
            Ok(unstarted) => {
                tracing::info!(
                    jobs = unstarted.len(),
                    "handed back jobs claimed ahead that got no slot in time"
                );
                shared.parts.events.work_available();
            }
            Err(error) => {
                shared.store_failed(&error, "could not hand back jobs claimed ahead");
                shared.held.check_soon();
            }
        }
    }
    for id in ids {
        shared.held.let_go(id);
    }
}

/// Whether another dispatcher has an agent in `queue` with room for a job
/// handed back (see [`super::agents`]); not when the store cannot say
/// (a hand-back would fail too).
async fn room_elsewhere(shared: &Shared, queue: &str) -> bool {
    let store = &shared.parts.store;
    match store.agent_room_elsewhere(queue, shared.config.id).await {
        Ok(room) => room,
        Err(error) => {
            shared.store_failed(&error, "could not look for room for jobs claimed ahead");
            false
        }
    }
}

/// Claims and starts up to `limit` jobs for `agent`: first the jobs its
/// `prefer` policy names, then any its filter allows. A claim that fails
/// may have committed nonetheless (its answer lost with its connection):
/// a self-check is asked for, which hands back what this process does
/// not hold.
async fn claim(shared: &Shared, agent: &AgentSlots, limit: u32) -> Vec<Job> {
    let params = |preferred, limit| JobClaimParams {
        dispatcher: shared.config.id,
        queue: agent.spec.queue.clone(),
        agent: agent.spec.name.clone(),
        filter: agent.spec.filter.clone(),
        preferred,
        limit,
        now: shared.parts.clock.now(),
        start: true,
    };
    let store = &shared.parts.store;
    let mut claimed = Vec::new();
    let claim_many = |params| crate::metrics::timed("claim", store.job_claim_many(params));
    if let Some(prefer) = &agent.spec.prefer {
        match claim_many(params(Some(prefer.clone()), limit)).await {
            Ok(jobs) => claimed = jobs,
            Err(error) => {
                shared.store_failed(&error, &claim_failed(agent));
                shared.held.check_soon();
                return claimed;
            }
        }
    }
    let rest = limit - claimed.len() as u32;
    if rest > 0 {
        match claim_many(params(None, rest)).await {
            Ok(jobs) => claimed.extend(jobs),
            Err(error) => {
                shared.store_failed(&error, &claim_failed(agent));
                shared.held.check_soon();
            }
        }
    }
    start_claimed_apart(shared, agent, &mut claimed).await;
    claimed
}

/// Starts the jobs of `claimed` that their claim left `assigned` (a queue
/// with quotas is claimed apart: see [`JobClaimParams::start`]), at a time
/// read now, after their claim committed. Those the start did not find
/// (cancelled meanwhile) are dropped; if the start fails, all of them are
/// dropped and the self-check hands them back.
async fn start_claimed_apart(shared: &Shared, agent: &AgentSlots, claimed: &mut Vec<Job>) {
    let assigned = Transition::Start.from();
    let ids: Vec<JobId> = claimed
        .iter()
        .filter(|job| job.status == assigned)
        .map(|job| job.id)
        .collect();
    if ids.is_empty() {
        return;
    }
    let params = JobStartParams {
        dispatcher: shared.config.id,
        ids,
        now: shared.parts.clock.now(),
    };
    let store = &shared.parts.store;
    let started = match crate::metrics::timed("start", store.job_start_many(params)).await {
        Ok(started) => started,
        Err(error) => {
            shared.store_failed(&error, &claim_failed(agent));
            shared.held.check_soon();
            Vec::new()
        }
    };
    let started: HashMap<JobId, JobStarted> = started.into_iter().map(|s| (s.id, s)).collect();
    claimed.retain_mut(|job| {
        if job.status != assigned {
            return true;
        }
        let Some(start) = started.get(&job.id) else {
            return false;
        };
        job.status = Transition::Start.to();
        job.attempts = start.attempts;
        job.started_at = Some(start.started_at);
        true
    });
}

fn claim_failed(agent: &AgentSlots) -> String {
    format!(
        "claim failed (queue `{}`, agent `{}`)",
        agent.spec.queue, agent.spec.name
    )
}

/// Keeps what this claim took in the bounded record of recent polls (only
/// claims that took something are kept, so an idle dispatcher writes
/// nothing), through the recorder's batches.
fn record_poll(shared: &Shared, agent: &AgentSlots, jobs: Vec<JobId>) {
    let params = PollRecordParams {
        dispatcher: shared.config.id,
        queue: agent.spec.queue.clone(),
        agent: agent.spec.name.clone(),
        jobs,
        now: shared.parts.clock.now(),
        keep: POLLS_KEPT_DEFAULT,
    };
    shared.polls.record(params);
}

/// Claims and starts up to `limit` jobs for `agent` (one statement: see
/// [`JobClaimParams::start`]) and spawns the runs of those its free slots
/// take (the others wait for a slot: see [`super::agents`]). Returns how
/// many were claimed.
///
/// The claimed jobs are held (see [`super::held`]) from the claim on.
async fn claim_and_start(
    shared: &Arc<Shared>,
    agent: &Arc<AgentSlots>,
    limit: u32,
    version: u64,
) -> u32 {
    // One claim at a time: a put's commit may claim too (`put_claims`).
    let _turn = shared.claim_turn.lock().await;
    let _claiming = shared.held.claiming().await;
    let started = claim(shared, agent, limit).await;
    let count = started.len() as u32;
    run_claimed(shared, agent, started, version).await;
    count
}

/// Holds jobs just claimed and started for `agent` and spawns the runs of
/// those its free slots take; the others wait for a slot. Called while
/// claims are held off for the self-check (see [`super::held`]).
///
/// `version`: the agent changes announced before `agent` was loaded. When
/// more were announced by the time the claim returns, the claim may have
/// taken a job put after a change to this agent was acknowledged: the
/// agents are reloaded and the jobs run under the agent as it is now (its
/// caps), not as it was.
pub(super) async fn run_claimed(
    shared: &Arc<Shared>,
    agent: &Arc<AgentSlots>,
    started: Vec<Job>,
    version: u64,
) {
    if started.is_empty() {
        return;
    }
    let mut agent = agent.clone();
    if shared.parts.events.agents_version() != version {
        reload_agents(shared).await;
        let current = shared.agents.read().unwrap().clone();
        if let Some(now) = current.get(&agent.spec.queue, &agent.spec.name) {
            agent = now.clone();
        }
    }
    let agent = &agent;
    crate::metrics::claimed(&agent.spec.queue, started.len());
    let ids: Vec<JobId> = started.iter().map(|job| job.id).collect();
    shared.held.hold(&ids);
    for job in &started {
        let at = job.started_at.unwrap_or(job.begin_after);
        let waited = (at - job.begin_after).to_std().unwrap_or_default();
        crate::metrics::job_started(&job.queue, waited);
    }
    for job in agent.take(started) {
        runner::spawn(shared, agent, job);
    }
    record_poll(shared, agent, ids);
}
