//! Dispatchers: the part of a `wasync` process that does work.
//!
//! One dispatcher per process, built by the composition root
//! (`crate::app`) from its parts ([`DispatchParts`]). It registers itself
//! in the store, makes sure it has an agent in the default queue (`main`),
//! then loops:
//!
//! 1. wait until work may be available — a put or a freed slot in this
//!    process (at once), an agent change, or the poll interval (work put by
//!    other processes);
//! 2. for every agent with free slots, claim and start up to that many due
//!    jobs in one statement, and, for agents of short runs, the jobs they
//!    will start within a few milliseconds ([`claimer`], [`agents`]);
//! 3. run each job in the sandbox ([`runner`]), with the agent's caps;
//! 4. hand each outcome to the [`completer`], the one road by which a run's
//!    end reaches the store: a failure's retry policy decides there whether
//!    the job goes back to its queue; the other outcomes are written in
//!    batches, waking whoever waits for those jobs.
//!
//! A dispatcher with no agent in a queue runs nothing from it.
//!
//! Beside the claim loop, the [`pinger`] records every `ping_interval`
//! that the dispatcher is alive and hands back the jobs of dispatchers
//! silent for longer than `death_interval`; and [`Dispatcher::stop`]
//! hands back, as interrupted, the jobs still running when the shutdown
//! grace period ends.
//!
//! When the database fails (a full disk, a server restarting), nothing is
//! forgotten: the completer keeps outcomes until they are written, and the
//! dispatcher's self-check ([`held`]) hands back any job the store says it
//! holds but it does not, once the database is back.

mod agents;
#[cfg(test)]
mod ahead_tests;
mod claimer;
pub mod completer;
mod context;
#[cfg(test)]
mod context_tests;
#[cfg(test)]
mod fault_tests;
mod guests;
mod held;
pub mod identity;
mod loader;
#[cfg(test)]
mod notify_tests;
mod pinger;
mod polls;
mod put_claims;
#[cfg(test)]
mod put_claims_tests;
mod runner;
mod runs;
mod stops;
#[cfg(test)]
mod tests;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

pub use agents::{AgentSet, AgentSlots};
pub use completer::{
    BatchCompleter, Completer, FINISH_BATCH_MAX_DEFAULT, Finished, InlineCompleter,
};
pub use context::{DispatchContext, JobContexts};
pub use guests::{GUEST_NICE_DEFAULT, GuestThreads};
pub use loader::ComponentLoader;
pub use polls::POLL_FLUSH_DELAY;
pub use stops::STOP_CHECK_INTERVAL;

use crate::clock::Clock;
use crate::model::{AgentSpec, DEFAULT_QUEUE, DispatcherId, MAIN_AGENT_NAME, Process};
use crate::runtime::Runtime;
use crate::service::{self, Events, StoreHealth};
use crate::store::{Activation, DispatcherActivateParams, HandBackParams, Store};

/// How often a dispatcher looks for work when nothing wakes it (work put
/// by other processes).
pub const POLL_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);

/// How long a stopping dispatcher lets running jobs finish before it
/// hands them back as interrupted: 30 s (as long as a ping interval, so a
/// stop takes no longer than a death would take to be noticed).
pub const SHUTDOWN_GRACE_DEFAULT: Duration = Duration::from_secs(30);

/// How often a dispatcher records that it is alive.
pub const PING_INTERVAL_DEFAULT: Duration = Duration::from_secs(30);

/// How long a dispatcher may stay silent before it is dead and its jobs
/// are handed back.
pub const DEATH_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);

/// Settings of a dispatcher.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Its id (see [`identity`]).
    pub id: DispatcherId,
    /// See [`POLL_INTERVAL_DEFAULT`].
    pub poll_interval: Duration,
    /// The agent to create in the default queue when the dispatcher has
    /// none there; `None` creates none. Default: `main`, size 3.
    pub main_agent: Option<AgentSpec>,
    /// The most outcomes one finish transaction takes. Default:
    /// [`FINISH_BATCH_MAX_DEFAULT`].
    pub finish_batch_max: usize,
    /// See [`SHUTDOWN_GRACE_DEFAULT`].
    pub shutdown_grace: Duration,
    /// See [`PING_INTERVAL_DEFAULT`].
    pub ping_interval: Duration,
    /// See [`DEATH_INTERVAL_DEFAULT`].
    pub death_interval: Duration,
    /// Threads guests run on. Default: one per CPU.
    pub guest_threads: usize,
    /// How much lower than the rest of the process guest threads run.
    /// Default: [`GUEST_NICE_DEFAULT`].
    pub guest_nice: i32,
    /// The process it runs in, as its row names it. Default: this one
    /// ([`this_process`]).
    pub process: Process,
    /// The process this one's data-directory lock proves gone (see
    /// [`DispatcherActivateParams::proven_gone`]). Default: none.
    pub proven_gone: Option<Process>,
}

impl DispatcherConfig {
    /// The defaults, for dispatcher `id`.
    pub fn new(id: DispatcherId) -> Self {
        DispatcherConfig {
            id,
            poll_interval: POLL_INTERVAL_DEFAULT,
            main_agent: Some(AgentSpec::new(DEFAULT_QUEUE, MAIN_AGENT_NAME)),
            finish_batch_max: FINISH_BATCH_MAX_DEFAULT,
            shutdown_grace: SHUTDOWN_GRACE_DEFAULT,
            ping_interval: PING_INTERVAL_DEFAULT,
            death_interval: DEATH_INTERVAL_DEFAULT,
            guest_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            guest_nice: GUEST_NICE_DEFAULT,
            process: this_process(),
            proven_gone: None,
        }
    }
}

/// What a dispatcher is built from; the composition root (`crate::app`)
/// hands it these, shared with the service of the same process.
#[derive(Debug, Clone)]
pub struct DispatchParts {
    /// The database: claims, starts, outcomes, pings.
    pub store: Arc<dyn Store>,
    /// The sandbox jobs run in.
    pub runtime: Runtime,
    /// The clock every timestamp it writes comes from.
    pub clock: Arc<dyn Clock>,
    /// This process's wake-ups: work to claim, jobs completed.
    pub events: Arc<Events>,
    /// Whether the store takes writes; faults are waited out through it.
    pub health: Arc<StoreHealth>,
    /// The `context` a running job's imports reach (its puts, callbacks
    /// and annotations go through the queue's validation).
    pub contexts: Arc<dyn JobContexts>,
    /// Where the dispatcher offers claims to this process's puts' commits
    /// while it runs (see [`service::put_claims`]).
    pub put_claims: Arc<service::PutClaimsSlot>,
}

/// What the dispatcher's tasks share.
#[derive(Debug)]
struct Shared {
    config: DispatcherConfig,
    parts: DispatchParts,
    loader: ComponentLoader,
    completer: Arc<dyn Completer>,
    agents: RwLock<Arc<AgentSet>>,
    /// Taken by each claim: the claim loop's, and those that ride on a
    /// put's commit ([`put_claims`]), so that two never count the same
    /// free slots.
    claim_turn: Arc<tokio::sync::Mutex<()>>,
    running: TaskTracker,
    guests: GuestThreads,
    /// When the last ping was recorded (see [`pinger::ping_if_due`]).
    last_ping: std::sync::Mutex<tokio::time::Instant>,
    /// The jobs it holds in memory (see [`held`]).
    held: held::HeldJobs,
    /// The process that took this dispatcher's id over while this one was
    /// silent, once a ping found it: from then on this dispatcher claims
    /// nothing and records no outcome (see [`Dispatcher::taken_over`]).
    taken_over: watch::Sender<Option<Process>>,
    polls: polls::PollRecorder,
    runs: runs::RunRecorder,
}

impl Shared {
    /// Reports a store operation that failed: a fault of the database to
    /// the store's health (which logs the episode once), anything else to
    /// the log, as `what` failed.
    fn store_failed(&self, error: &crate::store::Error, what: &str) {
        if self.parts.health.failed(error) {
            tracing::debug!(%error, "{what}");
        } else {
            tracing::error!(%error, "{what}");
        }
    }
}

/// A running dispatcher. Stop it with [`Dispatcher::stop`].
#[derive(Debug)]
pub struct Dispatcher {
    shared: Arc<Shared>,
    /// What it offers this process's puts (see [`put_claims`]).
    offers: Arc<dyn service::PutClaims>,
    stop: watch::Sender<bool>,
    loop_task: JoinHandle<()>,
    ping_task: JoinHandle<()>,
    stop_check_task: JoinHandle<()>,
}

impl Dispatcher {
    /// Registers and activates the dispatcher, gives it its main agent if
    /// it has no agent in the default queue, and starts its loop.
    ///
    /// Activation refuses ([`service::Error::Conflict`], naming the
    /// holder) an id a live process holds; it takes over an id whose
    /// holder is gone, handing back the jobs that one still held, in the
    /// same transaction (`store/identity.rs`). What can fail without
    /// touching the database (the guest threads) is set up first.
    pub async fn start(
        parts: DispatchParts,
        config: DispatcherConfig,
    ) -> service::Result<Dispatcher> {
        let guests = GuestThreads::new(config.guest_threads, config.guest_nice)
            .map_err(|e| service::Error::Invalid(format!("cannot start the guest threads: {e}")))?;
        let DispatchParts {
            store,
            clock,
            events,
            health,
            ..
        } = &parts;
        let activation = store
            .dispatcher_activate(DispatcherActivateParams {
                id: config.id,
                process: config.process.clone(),
                poll_interval_ms: config.poll_interval.as_millis() as u64,
                now: clock.now(),
                death_interval: config.death_interval,
                proven_gone: config.proven_gone.clone(),
            })
            .await?;
        report_takeover(events, &activation);
        let agents = store.agent_list(Some(config.id)).await?;
        if let Some(main) = &config.main_agent
            && !agents.iter().any(|a| a.spec.queue == DEFAULT_QUEUE)
        {
            store.agent_upsert(config.id, main.clone()).await?;
        }
        let completer: Arc<dyn Completer> = Arc::new(BatchCompleter::start(
            store.clone(),
            events.clone(),
            health.clone(),
            config.finish_batch_max,
        ));
        let shared = Arc::new(Shared {
            guests,
            polls: polls::PollRecorder::start(store.clone(), health.clone()),
            runs: runs::RunRecorder::start(store.clone(), health.clone()),
            loader: ComponentLoader::new(parts.runtime.clone(), store.clone(), health.clone()),
            completer,
            agents: RwLock::new(Arc::new(AgentSet::default())),
            claim_turn: Arc::new(tokio::sync::Mutex::new(())),
            running: TaskTracker::new(),
            last_ping: std::sync::Mutex::new(tokio::time::Instant::now()),
            held: held::HeldJobs::default(),
            taken_over: watch::Sender::new(None),
            config,
            parts,
        });
        claimer::reload_agents(&shared).await;
        let (stop, stopped) = watch::channel(false);
        let loop_task = tokio::spawn(claimer::claim_loop(shared.clone(), stopped.clone()));
        let ping_task = tokio::spawn(pinger::ping_loop(shared.clone(), stopped));
        let stop_check_task = tokio::spawn(stops::stop_check_loop(Arc::downgrade(&shared)));
        let offers = put_claims::offers(&shared);
        shared.parts.put_claims.set(Some(offers.clone()));
        tracing::info!(dispatcher = %shared.config.id, "dispatcher started");
        // Activation recorded its first sign of life.
        crate::metrics::pinged();
        crate::metrics::dispatcher_up(true);
        Ok(Dispatcher {
            shared,
            offers,
            stop,
            loop_task,
            ping_task,
            stop_check_task,
        })
    }

    /// Its id.
    pub fn id(&self) -> DispatcherId {
        self.shared.config.id
    }

    /// How often this dispatcher pings and looks for dead dispatchers.
    pub fn ping_interval(&self) -> Duration {
        self.shared.config.ping_interval
    }

    /// Waits until a ping finds that another process took this
    /// dispatcher's id over while this one was silent (a pause or a network
    /// partition longer than the death interval), and returns that
    /// process. The dispatcher has stopped claiming and drops the outcomes
    /// of the runs it still has (they were handed back); the process
    /// should stop ([`Dispatcher::stop`] then neither hands back nor
    /// deactivates anything: the id is no longer this process's).
    /// The future does not borrow the dispatcher.
    pub fn taken_over(&self) -> impl std::future::Future<Output = Process> + Send + 'static {
        let mut watch = self.shared.taken_over.subscribe();
        async move {
            let by = match watch.wait_for(Option::is_some).await {
                Ok(by) => by.clone(),
                Err(_) => None,
            };
            match by {
                Some(by) => by,
                // Gone with the dispatcher: never taken over.
                None => std::future::pending().await,
            }
        }
    }

    /// How many jobs it is running now.
    pub fn running_jobs(&self) -> usize {
        self.shared.running.len()
    }

    /// How many jobs it holds: claimed, running, or with an outcome not
    /// yet written.
    pub fn held_jobs(&self) -> usize {
        self.shared.held.len()
    }

    /// Hands back the jobs the store says this dispatcher holds and it
    /// does not (see [`held`]); it does so by itself every ping interval.
    /// Returns how many.
    pub async fn self_check(&self) -> usize {
        held::self_check(&self.shared).await
    }

    /// Stops claiming, lets running jobs finish within the shutdown grace
    /// period, hands back the jobs still running then (as interrupted:
    /// their retry policy decides, most go back to their queue for another
    /// dispatcher), and marks the dispatcher deactivated.
    pub async fn stop(self) {
        self.stop_or(std::future::pending()).await;
    }

    /// [`Dispatcher::stop`], cutting the grace period short when `hurry`
    /// completes (a second Ctrl-C or SIGTERM): the jobs still running are
    /// handed back at once.
    pub async fn stop_or(self, hurry: impl std::future::Future<Output = ()>) {
        let _ = self.stop.send(true);
        self.shared.parts.put_claims.clear(&self.offers);
        crate::metrics::dispatcher_up(false);
        let _ = self.loop_task.await;
        let _ = self.ping_task.await;
        // The jobs claimed ahead have not run: back to their queues at
        // once, not run during the grace period nor counted interrupted.
        claimer::hand_back_waiting(&self.shared, None).await;
        self.shared.running.close();
        // Runs of an id taken over have nothing left to record.
        let taken_over = self.shared.taken_over.borrow().is_some();
        let grace = if taken_over {
            Duration::ZERO
        } else {
            self.shared.config.shutdown_grace
        };
        let finished = tokio::select! {
            waited = tokio::time::timeout(grace, self.shared.running.wait()) => waited.is_ok(),
            _ = hurry => {
                tracing::warn!("asked again to stop: not waiting for running jobs any longer");
                false
            }
        };
        // Runs cancelled during the grace period were stopped meanwhile.
        self.stop_check_task.abort();
        if !finished && !taken_over {
            tracing::warn!(
                running = self.shared.running.len(),
                "jobs still running at the end of the shutdown grace period: handing them back"
            );
        }
        self.shared.polls.stop().await;
        let shared = &self.shared;
        let id = shared.config.id;
        // The id may have been taken over while this process was silent:
        // what it holds now is the new holder's, not to be touched.
        pinger::ping(&self.shared).await;
        if let Some(by) = self.shared.taken_over.borrow().clone() {
            tracing::warn!(dispatcher = %id, holder = %by, "dispatcher stopped; its id is another process's now");
            return;
        }
        let handed = shared
            .parts
            .store
            .dispatcher_hand_back(HandBackParams {
                dispatcher: id,
                job: None,
                reason: format!("its dispatcher {id} stopped before it finished"),
                now: shared.parts.clock.now(),
            })
            .await;
        match handed {
            Ok(report) => {
                if !report.is_empty() {
                    tracing::info!(
                        released = report.released.len(),
                        retried = report.retried.len(),
                        aborted = report.aborted.len(),
                        "handed back the jobs still held"
                    );
                }
                shared.parts.events.completed(&report.completed);
            }
            Err(error) => tracing::error!(%error, "could not hand back the jobs still held"),
        }
        let now = shared.parts.clock.now();
        if let Err(error) = shared.parts.store.dispatcher_deactivate(id, now).await {
            tracing::error!(%error, "could not mark the dispatcher deactivated");
        }
        tracing::info!(dispatcher = %id, "dispatcher stopped");
    }
}

/// Logs what activation took over and handed back, and wakes whoever the
/// jobs handed back concern.
fn report_takeover(events: &Events, activation: &Activation) {
    let Some(takeover) = &activation.takeover else {
        return;
    };
    let handed = &activation.handed_back;
    tracing::info!(
        dispatcher = %activation.info.id,
        previous = %takeover.previous,
        vacancy = ?takeover.vacancy,
        "took the dispatcher id over"
    );
    if !handed.is_empty() {
        tracing::warn!(
            released = handed.released.len(),
            retried = handed.retried.len(),
            aborted = handed.aborted.len(),
            "handed back the jobs of this dispatcher's previous run"
        );
        events.completed(&handed.completed);
        events.work_available();
    }
}

/// This process, as a dispatcher's row and a data directory's lock name
/// it.
pub fn this_process() -> Process {
    Process {
        hostname: hostname(),
        pid: std::process::id(),
    }
}

/// This machine's name, as dispatchers and schedulers record it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}
