//! The agents of this process's dispatcher: their settings, how many
//! jobs each is running now, and the started jobs each has waiting for a
//! slot.
//!
//! An agent's size caps how many of its jobs run at once, not how many it
//! claims: a claim takes its free slots' worth and, beyond them, the jobs
//! the agent is expected to start within [`CLAIM_AHEAD_HORIZON`] (judged
//! from how long its recent runs took). Those wait here, already started,
//! and a run that ends hands its slot straight to the next of them. The
//! next batch is so claimed while the previous one runs, and one claim
//! (one durable commit) serves many runs: a small agent is not a slow one.
//! An agent of long runs claims no more than its free slots, and an agent
//! with no free slot claims ahead only while its last claim came back full
//! (a backlog): jobs that trickle in stay in the queue, for any dispatcher
//! that is free first.
//!
//! Recent runs are no promise: a run far longer than those before it
//! keeps its slot while the jobs claimed behind it wait, and another
//! dispatcher may sit idle meanwhile. A job that has waited
//! [`CLAIM_AHEAD_HAND_BACK`] for a slot is so handed back (its start
//! undone, back at its place in its queue: `Transition::Unstart`), with
//! every job waiting behind it, if another dispatcher has an agent in the
//! queue with room (the store is asked); the agent then claims nothing
//! ahead until its runs are short again. While no other dispatcher has
//! room, the jobs keep their place here (handing them back would only
//! have them claimed again, two writes each, when a loaded machine
//! stalls every run at once), and the question is asked again every
//! [`CLAIM_AHEAD_HAND_BACK`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::model::{AgentSpec, Job, JobLimits};
use crate::runtime::Limits;

/// How far ahead an agent claims: the jobs it is expected to start within
/// this time, at the pace of its recent runs. Short enough that a job
/// waits at most a few milliseconds between its start and its run.
pub const CLAIM_AHEAD_HORIZON: Duration = Duration::from_millis(5);

/// The most jobs an agent keeps waiting beyond its slots: the most rows
/// one SQLite batch statement takes. It binds only for runs shorter than
/// the horizon over this many; then every claim and finish commit serves
/// up to this many jobs, and the commits' fixed costs (the sync, the
/// statements' round trips) are paid that much less often: 256 held
/// trivial jobs at ~17,000 jobs/s over HTTP, 1,024 at ~20,300 (issue 16,
/// `docs/configuration.md`). Finishes take as many
/// ([`super::completer::FINISH_BATCH_MAX_DEFAULT`]).
pub const CLAIM_AHEAD_MAX: u32 = 1024;

/// How long a job claimed ahead may wait for a slot before it is handed
/// back to its queue, if another dispatcher has room for it: ten
/// horizons, so that a claim that was right (its jobs start within the
/// horizon) is never undone by a busy machine's hiccup, and a job never
/// waits behind a long run much longer than the time another dispatcher
/// takes to see it. Also how often, while no other has room, the store is
/// asked again.
pub const CLAIM_AHEAD_HAND_BACK: Duration = Duration::from_millis(50);

/// One agent: its settings, its busy slots and its waiting jobs.
#[derive(Debug)]
pub struct AgentSlots {
    /// Its settings.
    pub spec: AgentSpec,
    /// Kept across reloads while the agent stays (same queue and name).
    state: Arc<AgentState>,
}

/// What an agent's reloads keep.
#[derive(Debug, Default)]
struct AgentState {
    running: AtomicU32,
    /// Started jobs waiting for a slot, in claim order, with the moment
    /// each began to wait. Its lock also orders slots: a slot is freed only
    /// while this is empty, and a job goes here only while no slot is free.
    waiting: Mutex<VecDeque<(Job, Instant)>>,
    /// A moving average of how long its runs take, in nanoseconds (0:
    /// none measured yet).
    run_nanos: AtomicU64,
    /// Whether its last claim came back full: more jobs may be waiting.
    backlog: AtomicBool,
    /// When the jobs waiting may be handed back at the earliest, after a
    /// look found no other dispatcher with room for them (see
    /// [`AgentSlots::keep_waiting`]).
    recheck: Mutex<Option<Instant>>,
}

impl AgentSlots {
    /// How many more jobs it may run now.
    pub fn free(&self) -> u32 {
        self.spec.size.saturating_sub(self.running())
    }

    /// How many jobs it is running.
    pub fn running(&self) -> u32 {
        self.state.running.load(Ordering::Acquire)
    }

    /// How many started jobs wait for a slot.
    pub fn waiting(&self) -> u32 {
        self.state.waiting.lock().unwrap().len() as u32
    }

    /// How many jobs a claim should take now: the free slots, and the room
    /// left ahead of them (see [`CLAIM_AHEAD_HORIZON`]). With no slot
    /// free: nothing unless the last claim came back full (a backlog; a
    /// job that trickles in goes to a dispatcher with a free slot, not to
    /// this one's waiting line), and nothing while the jobs waiting are at
    /// least half the room ahead, so that claims come in batches.
    pub fn wanted(&self) -> u32 {
        let ahead = self.ahead();
        let waiting = self.waiting();
        let free = self.free();
        let backlog = self.state.backlog.load(Ordering::Relaxed);
        if free == 0 && (!backlog || waiting * 2 > ahead) {
            return 0;
        }
        free + ahead.saturating_sub(waiting)
    }

    /// A claim asked for `asked` jobs and got `got`.
    pub fn claimed(&self, asked: u32, got: u32) {
        self.state.backlog.store(got >= asked, Ordering::Relaxed);
    }

    /// How many jobs it should keep waiting beyond its slots: as many as
    /// its slots start within [`CLAIM_AHEAD_HORIZON`] at the pace of its
    /// recent runs; none before a run was measured.
    fn ahead(&self) -> u32 {
        let run = self.state.run_nanos.load(Ordering::Relaxed);
        if run == 0 {
            return 0;
        }
        let per_slot = CLAIM_AHEAD_HORIZON.as_nanos() as u64 / run;
        let ahead = per_slot.saturating_mul(u64::from(self.spec.size));
        ahead.min(u64::from(CLAIM_AHEAD_MAX)) as u32
    }

    /// Takes started jobs: the first ones get free slots (returned, to be
    /// run now), the others wait for a slot.
    pub fn take(&self, jobs: Vec<Job>) -> Vec<Job> {
        let mut waiting = self.state.waiting.lock().unwrap();
        let free = self.free() as usize;
        let mut jobs = jobs;
        let rest = jobs.split_off(free.min(jobs.len()));
        self.state
            .running
            .fetch_add(jobs.len() as u32, Ordering::AcqRel);
        let now = Instant::now();
        waiting.extend(rest.into_iter().map(|job| (job, now)));
        jobs
    }

    /// A run ended after `took`: its slot goes to the next job waiting,
    /// returned to be run now, or is freed.
    pub fn next(&self, took: Duration) -> Option<Job> {
        self.measured(took);
        let mut waiting = self.state.waiting.lock().unwrap();
        let next = waiting.pop_front().map(|(job, _)| job);
        if next.is_none() {
            self.state.running.fetch_sub(1, Ordering::AcqRel);
        }
        next
    }

    /// When the job that has waited longest for a slot is due to be handed
    /// back (see [`CLAIM_AHEAD_HAND_BACK`]), or, if a look found no other
    /// dispatcher with room, due to be looked at again; `None` while none
    /// waits.
    pub fn hand_back_at(&self) -> Option<Instant> {
        let waiting = self.state.waiting.lock().unwrap();
        let due = waiting
            .front()
            .map(|(_, since)| *since + CLAIM_AHEAD_HAND_BACK)?;
        Some(match *self.state.recheck.lock().unwrap() {
            Some(recheck) => due.max(recheck),
            None => due,
        })
    }

    /// Whether jobs waiting are due to be handed back by `now`, if another
    /// dispatcher has room (see [`AgentSlots::hand_back_at`]).
    pub fn hand_back_due(&self, now: Instant) -> bool {
        self.hand_back_at().is_some_and(|at| at <= now)
    }

    /// No other dispatcher had room at `now`: the jobs waiting keep their
    /// place, and are looked at again [`CLAIM_AHEAD_HAND_BACK`] later.
    pub fn keep_waiting(&self, now: Instant) {
        *self.state.recheck.lock().unwrap() = Some(now + CLAIM_AHEAD_HAND_BACK);
    }

    /// Takes the jobs waiting for a slot if the first of them has waited
    /// [`CLAIM_AHEAD_HAND_BACK`] by `now` (all of them: they wait behind
    /// the same runs), to be handed back (the caller found a dispatcher
    /// with room for them); and claims nothing ahead until runs as short
    /// as the horizon are measured again: its runs are now known to last
    /// at least that long, and no claim since saw a backlog.
    pub fn overdue(&self, now: Instant) -> Vec<Job> {
        let mut waiting = self.state.waiting.lock().unwrap();
        let Some(waited) = waiting.front().map(|(_, since)| now - *since) else {
            return Vec::new();
        };
        if waited < CLAIM_AHEAD_HAND_BACK {
            return Vec::new();
        }
        let waited = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.state.run_nanos.fetch_max(waited, Ordering::Relaxed);
        self.state.backlog.store(false, Ordering::Relaxed);
        waiting.drain(..).map(|(job, _)| job).collect()
    }

    /// Frees one slot without a run having used it (its job's start
    /// failed).
    pub fn release(&self) {
        let _order = self.state.waiting.lock().unwrap();
        self.state.running.fetch_sub(1, Ordering::AcqRel);
    }

    /// Empties the waiting jobs (the dispatcher's id was taken over: they
    /// are not this process's to run).
    pub fn drain_waiting(&self) -> Vec<Job> {
        let mut waiting = self.state.waiting.lock().unwrap();
        waiting.drain(..).map(|(job, _)| job).collect()
    }

    /// Folds a run's duration into the moving average (weight 1/8).
    fn measured(&self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let old = self.state.run_nanos.load(Ordering::Relaxed);
        let new = if old == 0 {
            took
        } else {
            old - old / 8 + took / 8
        };
        self.state.run_nanos.store(new.max(1), Ordering::Relaxed);
    }

    /// The limits a job gets under this agent: what the job asks for,
    /// never more than the agent's caps.
    pub fn limits_for(&self, job: &JobLimits) -> Limits {
        Limits {
            fuel: min_some(job.fuel, self.spec.fuel_cap),
            memory_bytes: min_some(job.memory_bytes, self.spec.memory_cap),
            timeout: min_some(job.timeout_ms, self.spec.time_cap_ms).map(Duration::from_millis),
        }
    }
}

fn min_some(asked: Option<u64>, cap: Option<u64>) -> Option<u64> {
    match (asked, cap) {
        (Some(asked), Some(cap)) => Some(asked.min(cap)),
        (asked, cap) => asked.or(cap),
    }
}

/// The current agent set. Replacing it keeps the busy counts of agents
/// that stay (same queue and name), so running jobs are still counted.
#[derive(Debug, Default)]
pub struct AgentSet {
    agents: Vec<Arc<AgentSlots>>,
    /// The agent changes announced before this set was read from the
    /// store ([`crate::service::Events::agents_version`]).
    version: u64,
}

impl AgentSet {
    /// The agents, by queue and name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<AgentSlots>> {
        self.agents.iter()
    }

    /// The set after a reload from the store, read after `version`
    /// agent changes were announced.
    pub fn replaced(&self, mut specs: Vec<AgentSpec>, version: u64) -> AgentSet {
        specs.sort_by(|a, b| (&a.queue, &a.name).cmp(&(&b.queue, &b.name)));
        let old: HashMap<(&str, &str), &Arc<AgentSlots>> = self
            .agents
            .iter()
            .map(|a| ((a.spec.queue.as_str(), a.spec.name.as_str()), a))
            .collect();
        let agents = specs
            .into_iter()
            .map(|spec| {
                let state = old
                    .get(&(spec.queue.as_str(), spec.name.as_str()))
                    .map(|a| a.state.clone())
                    .unwrap_or_default();
                Arc::new(AgentSlots { spec, state })
            })
            .collect();
        AgentSet { agents, version }
    }

    /// The agent changes announced before this set was read.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The agent of `queue` named `name`, as this set has it.
    pub fn get(&self, queue: &str, name: &str) -> Option<&Arc<AgentSlots>> {
        self.agents
            .iter()
            .find(|a| a.spec.queue == queue && a.spec.name == name)
    }

    /// True when there is no agent.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModuleDigest, ModuleInfo};
    use crate::store::conformance::kit;

    fn job() -> Job {
        let module = ModuleInfo {
            digest: ModuleDigest::of(b"m"),
            name: None,
            size: 1,
            exports: Vec::new(),
            created_at: kit::t(0),
        };
        crate::store::jobs::inserted(&kit::new_job("", &module, "f", kit::t(0)))
    }

    #[test]
    fn an_agent_claims_ahead_only_of_short_runs() {
        let set = AgentSet::default().replaced(vec![AgentSpec::new("", "main")], 0);
        let agent = set.iter().next().unwrap();
        assert_eq!(agent.wanted(), 3, "nothing measured: its free slots");
        let running = agent.take(vec![job(), job(), job()]);
        assert_eq!(running.len(), 3);
        assert_eq!(agent.wanted(), 0, "no slot free, nothing ahead");
        // Runs of 1 ms: 5 ms ahead is 5 runs a slot, 15 for 3 slots.
        assert!(agent.next(Duration::from_millis(1)).is_none());
        assert_eq!(agent.free(), 1);
        assert_eq!(agent.wanted(), 1 + 15);
        let ran_now = agent.take((0..16).map(|_| job()).collect());
        assert_eq!(ran_now.len(), 1, "one free slot");
        assert_eq!(agent.waiting(), 15);
        assert_eq!(agent.wanted(), 0, "no slot free and no backlog seen");
        agent.claimed(16, 16);
        assert_eq!(agent.wanted(), 0, "more than half the room ahead is used");
        let first = agent.state.waiting.lock().unwrap()[0].0.id;
        let next = agent.next(Duration::from_millis(1));
        assert_eq!(next.map(|j| j.id), Some(first), "in claim order");
        assert_eq!(agent.running(), 3, "the slot went to the next job");
        // Long runs: the average climbs, nothing is claimed ahead.
        for _ in 0..40 {
            agent.measured(Duration::from_secs(1));
        }
        assert_eq!(agent.ahead(), 0);
    }

    #[test]
    fn jobs_waiting_too_long_for_a_slot_are_handed_back_and_stop_the_claims_ahead() {
        let set = AgentSet::default().replaced(vec![AgentSpec::new("", "main")], 0);
        let agent = set.iter().next().unwrap();
        agent.measured(Duration::from_millis(1));
        assert_eq!(agent.hand_back_at(), None, "nothing waits");
        let claimed = 3 + 15;
        let ran_now = agent.take((0..claimed).map(|_| job()).collect());
        assert_eq!(ran_now.len(), 3);
        agent.claimed(claimed, claimed);
        let since = Instant::now();
        let at = agent.hand_back_at().expect("jobs wait");
        assert!(at >= since && at <= since + CLAIM_AHEAD_HAND_BACK);
        assert!(agent.overdue(at - Duration::from_millis(1)).is_empty());
        let handed = agent.overdue(at);
        assert_eq!(handed.len(), 15, "every job waiting behind the same runs");
        assert_eq!((agent.waiting(), agent.running()), (0, 3));
        assert_eq!(agent.hand_back_at(), None);
        assert_eq!(agent.ahead(), 0, "its runs last at least that long");
        assert_eq!(agent.wanted(), 0, "no slot free: nothing claimed ahead");
        assert!(agent.next(Duration::from_millis(1)).is_none());
        assert_eq!(agent.wanted(), 1, "its free slot only");
    }

    #[test]
    fn a_job_never_gets_more_than_its_agent_allows() {
        let mut spec = AgentSpec::new("", "main");
        spec.fuel_cap = Some(1_000);
        spec.time_cap_ms = Some(100);
        let set = AgentSet::default().replaced(vec![spec], 0);
        let agent = set.iter().next().unwrap();
        let asked = JobLimits {
            fuel: Some(5_000),
            memory_bytes: Some(1 << 20),
            timeout_ms: Some(250),
        };
        let limits = agent.limits_for(&asked);
        assert_eq!(limits.fuel, Some(1_000));
        assert_eq!(limits.memory_bytes, Some(1 << 20));
        assert_eq!(limits.timeout, Some(Duration::from_millis(100)));
        let unasked = agent.limits_for(&JobLimits::default());
        assert_eq!(unasked.fuel, Some(1_000));
        assert_eq!(unasked.timeout, Some(Duration::from_millis(100)));
        // Without a cap the runtime's default applies (Limits's `None`).
        assert_eq!(unasked.memory_bytes, None);
    }

    #[test]
    fn reloading_keeps_the_busy_count_of_agents_that_stay() {
        let set = AgentSet::default().replaced(vec![AgentSpec::new("", "main")], 0);
        let jobs = vec![job(), job()];
        assert_eq!(set.iter().next().unwrap().take(jobs).len(), 2);
        let mut bigger = AgentSpec::new("", "main");
        bigger.size = 5;
        let set = set.replaced(vec![bigger, AgentSpec::new("video", "main")], 1);
        let main = set.iter().find(|a| a.spec.queue.is_empty()).unwrap();
        assert_eq!(main.running(), 2);
        assert_eq!(main.free(), 3);
        let video = set.iter().find(|a| a.spec.queue == "video").unwrap();
        assert_eq!(video.free(), 3);
    }
}
