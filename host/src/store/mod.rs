//! The store: the one place with SQL.
//!
//! [`Store`] is every database operation the rest of the host needs: the
//! sum of one narrow trait per entity ([`ModuleStore`], [`QueueStore`],
//! [`JobStore`], [`ClaimStore`], …), each operation named
//! `<entity>_<verb>[_many]` (the shape of River's driver interface).
//! Callers that need one entity take its trait. An entity whose logic is
//! written once (`store/queue.rs`, `store/schedule.rs`, …) implements its
//! trait for every `SqlBackend` (`store/statement.rs`: a backend's
//! connections and transactions); one whose statements stay tuned per
//! backend (jobs, claims, finishes, dispatchers, failures, links)
//! implements it in the backend's file for that entity. Each backend lives
//! in its own folder with its own embedded migrations:
//!
//! - [`sqlite`]: the embedded default, one machine, several processes
//!   sharing one file through WAL.
//! - [`postgres`]: many machines sharing one PostgreSQL database; claims
//!   with `FOR UPDATE SKIP LOCKED`, wake-ups through `LISTEN/NOTIFY`
//!   ([`Store::listen`]).
//!
//! Rules every backend follows:
//! - Status changes go through [`Transition`](crate::model::Transition):
//!   the guard tests `from()`, the `SET` writes `to()` (SQLite writes them
//!   as literals generated from the transition, for its partial indexes).
//!   A guarded write that matches nothing is reported (e.g. as
//!   `reassigned` or [`Error::Conflict`]), never forced.
//! - Time comes in as a parameter (`now`), never from the database clock,
//!   so tests can inject a clock.
//! - Batch operations (`*_many`) take one statement per batch, not one
//!   per row: that is what lets a job's whole life cost a constant, small
//!   number of statements however many jobs run at once.
//! - Every backend passes the conformance suite (`store/conformance/`):
//!   each case is written once and run against each backend.
//!
//! `docs/store.md` describes the tables and why they are so;
//! `docs/lineage.md` maps the names kept from zc.async and m01.remote
//! (pull, remove, callbacks, quotas, …) to the operations here.

use async_trait::async_trait;

use crate::model::{
    Agent, AgentSpec, Attempt, DispatcherId, DispatcherInfo, Job, JobId, JobStatus, LinkedJob,
    NewJob, Timestamp,
};

mod activity;
mod annotation;
mod broadcast;
mod cancel;
mod claim_apart;
mod counts;
mod deadline;
mod dialect;
mod dispatchers;
mod failures;
mod fault;
pub(crate) mod finishes;
mod gauges;
mod identity;
mod job_names;
mod job_query;
pub(crate) mod jobs;
mod links;
mod module;
mod params;
mod pauses;
mod polls;
pub mod postgres;
pub(crate) mod puts;
mod queue;
mod quota;
mod quota_claim;
pub mod runs;
mod schedule;
pub(crate) mod settle;
mod settle_sql;
mod sql;
pub mod sqlite;
mod statement;
mod stats;
mod tokens;
pub(crate) mod unique;

pub use activity::{ActivityStore, ActivityWindow, FinishedBucket, StateCount};
pub use annotation::{AnnotationSetParams, AnnotationStore};
pub use broadcast::BroadcastPutParams;
pub use cancel::{CancelReport, CancelStore, JobCancelParams};
pub use deadline::{DeadlineStore, ExpireReport, JobExpireParams, JobNextDueParams, NextDue};
pub use failures::{
    DispatcherRescueParams, HandBackParams, HandBackReport, JobRetryParams, JobUnstartParams,
    RetryVerdict, effective_policy, interrupted, interruption_verdict,
};
pub(crate) use fault::no_open_transaction;
pub use fault::{Fault, FaultKind, classify};
pub use gauges::{JobCount, JobCountStore};
pub use identity::{
    Activation, DispatcherActivateParams, DispatcherPingParams, Ping, Takeover, Vacancy,
    ping_verdict, vacancy,
};
pub use job_names::JobNameStore;
pub use job_query::{
    JobOrder, JobQueryParams, JobQueryStore, JobRemoveParams, JobRetainParams, RetentionStore,
};
pub use links::{CallbackAddParams, JobAppendArgsParams, JobLinks, PartAddParams};
pub use module::{ModuleInsertParams, ModuleStore};
pub use params::{
    FinishReport, JobClaimParams, JobDetachParams, JobFinishParams, JobListParams, JobPullParams,
    JobPutBackParams, JobStartParams, JobStarted, JobUpdateParams,
};
pub use pauses::{PauseStore, Pauses};
pub use polls::{PollRecordParams, PollStore};
pub use queue::{QueueCapsSetParams, QueueJobsParams, QueueStore};
pub use quota::{QuotaCreateParams, QuotaStore};
pub use runs::RunStore;
pub use schedule::{
    ScheduleAdvanceParams, ScheduleLock, ScheduleStore, ScheduleTakeParams, ScheduleUpdateParams,
    occurrence_taken,
};
pub use stats::{DispatcherStatsParams, StatsStore};
pub use tokens::{ModuleUpload, TokenStore};

/// Every store trait, for code that holds a concrete store rather than a
/// `dyn Store` (whose methods need no import): `use wasync::store::prelude::*`.
pub mod prelude {
    pub use super::{
        ActivityStore, AnnotationStore, CancelStore, ClaimStore, DeadlineStore, DispatcherStore,
        FailureStore, JobCountStore, JobNameStore, JobQueryStore, JobStore, LinkStore, ModuleStore,
        PauseStore, PollStore, QueueStore, QuotaStore, RetentionStore, RunStore, ScheduleStore,
        StatsStore, Store, TokenStore,
    };
}

#[cfg(test)]
pub(crate) mod conformance;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod twins;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing does not exist. `what` names it: "job 0192…", "module
    /// `hello`", "queue `video`".
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The operation does not fit the current state: a job already
    /// claimed, a queue that is not empty, a name already taken.
    #[error("{0}")]
    Conflict(String),
    /// A change of a job's arguments derived a uniqueness key that another
    /// job of its queue holds (in one of that key's states): refused, the
    /// job unchanged. The database's index decided.
    #[error(
        "job {job} cannot take these arguments: its uniqueness key, derived from them, \
         is held by job {holder} of its queue"
    )]
    UniqueKeyHeld {
        /// The job whose change was refused.
        job: crate::model::JobId,
        /// The job holding the key.
        holder: crate::model::JobId,
    },
    /// The database failed: an error of the statement itself (a bug, a
    /// constraint no operation expected). Errors that are the database's
    /// condition — full storage, a server that cannot be reached — are
    /// [`Error::Fault`] instead (`store/fault.rs` tells them apart).
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database cannot take the operation now: its storage is full or
    /// it cannot be reached. Passes by itself once space returns or the
    /// server is back; nothing was written.
    #[error("{0}")]
    Fault(#[from] Fault),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store was opened with settings it cannot work with (e.g. an
    /// in-memory SQLite database, a directory that cannot be created).
    #[error("store configuration: {0}")]
    Config(String),
    /// A stored value could not be read back (a bug or a hand-edited row).
    #[error("corrupt row in {table}: {message}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl Error {
    /// A [`Error::NotFound`] for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// The fault this error is, if the database's condition caused it.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Fault(fault) => Some(fault),
            _ => None,
        }
    }
}

/// The store's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a job can no longer be changed: its status and, once claimed, who
/// holds it.
pub(crate) fn not_changeable(job: &Job) -> String {
    let holder = match (&job.dispatcher, &job.agent) {
        (Some(d), Some(a)) if job.status != JobStatus::Completed => {
            format!(" (held by dispatcher {d}, agent `{a}`)")
        }
        _ => String::new(),
    };
    format!(
        "job {} is {}{holder}: only a pending job (or one in no queue, status new) can be \
         changed",
        job.id, job.status
    )
}
/// Something another process (or this one) did to the shared database,
/// announced to every [`StoreListener`]. Announcements are hints that
/// save a poll, not a log: one may be lost (a dropped connection), so a
/// dispatcher still polls, only less often.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent {
    /// Jobs were put (or put back) in these queues, sorted, each once.
    /// Some of the jobs may be scheduled for later.
    JobsPut {
        /// The queues that got work.
        queues: Vec<String>,
    },
    /// These jobs completed (values, failures, and jobs completed in
    /// cascade because they awaited one of them). A large batch is
    /// announced in several events. A job completed by its own run (or
    /// in cascade) is announced only if a client waits for it
    /// ([`JobStore::job_watch`]) or it held quota slots; cancelled and
    /// expired jobs always are.
    JobsCompleted {
        /// The jobs.
        ids: Vec<JobId>,
    },
    /// The agents of this dispatcher changed (created, replaced, deleted,
    /// or deleted with their queue).
    AgentsChanged {
        /// The dispatcher whose agents changed.
        dispatcher: DispatcherId,
    },
}

/// Notifications from other processes sharing the database (see
/// [`Store::listen`]). Each listener has its own connection.
#[async_trait]
pub trait StoreListener: Send {
    /// The next notification, waiting for it. `Err` when the connection
    /// dropped: notifications sent meanwhile are lost, so the caller polls
    /// once and calls `recv` again, which listens again on a new connection
    /// (and fails again while the database cannot be reached).
    async fn recv(&mut self) -> Result<StoreEvent>;
}

/// Every database operation of wasync: the sum of the entity traits.
/// Implemented once per backend, and every backend passes the same
/// conformance suite (`store::conformance`).
#[async_trait]
pub trait Store:
    ModuleStore
    + QueueStore
    + JobStore
    + ClaimStore
    + DeadlineStore
    + QuotaStore
    + AnnotationStore
    + DispatcherStore
    + FailureStore
    + LinkStore
    + CancelStore
    + JobQueryStore
    + JobCountStore
    + ActivityStore
    + RetentionStore
    + PauseStore
    + JobNameStore
    + PollStore
    + StatsStore
    + ScheduleStore
    + RunStore
    + TokenStore
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
{
    /// The backend's name, e.g. `sqlite`.
    fn backend(&self) -> &'static str;

    /// Closes the store's connections, waiting for operations in progress
    /// to finish. Operations after `close` fail.
    async fn close(&self);

    /// Notifications from other processes sharing the database, if the
    /// backend has them (`None`: it has not, callers poll). Every write
    /// that announces something announces it on commit, in the same
    /// transaction: a listener never hears of a put that was rolled back.
    async fn listen(&self) -> Result<Option<Box<dyn StoreListener>>>;
}

/// Jobs: put, read, taken out of their queue and put back, changed.
#[async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug {
    /// Inserts new pending jobs, all or none, and returns them as stored.
    /// Every job's queue and module must exist ([`Error::NotFound`] names
    /// the missing one); an id already taken is a [`Error::Conflict`], and
    /// so is a schedule occurrence ([`NewJob::schedule`]) already put. A
    /// unique job ([`NewJob::unique`]) whose key a job of its queue holds
    /// in that job's key states is not inserted: its place in the answer
    /// holds that job (whose id differs from the one put).
    async fn job_insert_many(&self, jobs: &[NewJob]) -> Result<Vec<Job>>;
    /// A job.
    async fn job_get(&self, id: JobId) -> Result<Job>;
    /// Marks a job as one a client waits for; the wait calls it before it
    /// reads the job. Where the backend announces completions to other
    /// processes (PostgreSQL), the completion of a job by its own run is
    /// announced only if the job was marked (or held quota slots): either
    /// its finish sees the mark and announces it, or the read after the
    /// mark sees the job completed. Nothing for a job that is unknown or
    /// already completed, nor on a backend without announcements.
    async fn job_watch(&self, id: JobId) -> Result<()>;
    /// Jobs, oldest first, filtered and a page at a time.
    async fn job_list(&self, params: JobListParams) -> Result<Vec<Job>>;
    /// Pull: takes the job at an index of the queue order (see
    /// [`QueueStore::queue_jobs`]; negative counts from the end) out of its queue
    /// (it becomes `new`) and returns it. [`Error::NotFound`] when the
    /// index is out of range or the queue does not exist.
    async fn job_pull(&self, params: JobPullParams) -> Result<Job>;
    /// Remove: takes a given pending job out of its queue (it
    /// becomes `new`). [`Error::Conflict`] if it is not pending (already
    /// claimed, running, done, or already out of its queue), with a message
    /// naming its status and the dispatcher and agent holding it;
    /// [`Error::NotFound`] if it does not exist or is not in `queue`.
    async fn job_detach(&self, params: JobDetachParams) -> Result<Job>;
    /// Puts a `new` job back at the end of a queue: due `now`, not
    /// scheduled. [`Error::Conflict`] if it is not `new`;
    /// [`Error::NotFound`] for an unknown job or queue.
    async fn job_put_back(&self, params: JobPutBackParams) -> Result<Job>;
    /// Changes the arguments, due time, `begin_by` or quota names of a job
    /// no dispatcher holds (`pending` or `new`) and returns it.
    /// [`Error::Conflict`] naming its status otherwise;
    /// [`Error::NotFound`] for an unknown job.
    async fn job_update(&self, params: JobUpdateParams) -> Result<Job>;
}

/// A job's run: claimed, started, finished. Tuned per backend (the
/// statements of a job's life).
#[async_trait]
pub trait ClaimStore: Send + Sync + std::fmt::Debug {
    /// Claims up to `limit` due pending jobs of a queue that match the
    /// agent's filter (and `preferred`, if set), in queue order,
    /// atomically: no job is ever claimed twice, whatever the number of
    /// processes. They become `assigned`. Jobs past their deadline are
    /// never claimed (see [`DeadlineStore::job_expire_many`]). A job naming a
    /// quota of its queue that already holds `size` assigned or active
    /// jobs is skipped, and no claim, however many run at once on however
    /// many machines, takes a quota past its size.
    async fn job_claim_many(&self, params: JobClaimParams) -> Result<Vec<Job>>;
    /// Puts `jobs` as [`JobStore::job_insert_many`] does and, in the same
    /// transaction, claims for each of `claims` as [`Self::job_claim_many`]
    /// does in a queue claimed in one statement; a queue with quotas or a
    /// rate (claimed apart) gives nothing here. Returns the jobs put and
    /// what each claim took. One commit so both puts jobs and starts those
    /// a dispatcher of the putting process has free slots for, the jobs
    /// before them in their queue first: a put's job runs one durable
    /// commit sooner than when claimed after its put.
    async fn job_insert_many_claiming(
        &self,
        jobs: &[NewJob],
        claims: &[JobClaimParams],
    ) -> Result<(Vec<Job>, Vec<Vec<Job>>)>;
    /// Starts claimed jobs: `assigned` → `active`, one more attempt. Returns
    /// the jobs started (those still assigned to this dispatcher), in the
    /// order asked. The caller has the jobs from the claim; only what the
    /// start changed comes back (reading whole rows again costs more than
    /// the start itself).
    async fn job_start_many(&self, params: JobStartParams) -> Result<Vec<JobStarted>>;
    /// Records how runs ended, in one transaction: values and failures
    /// complete the job; "await that job" leaves it active awaiting the
    /// other, or completes it at once if the other is already completed
    /// (awaiting itself, a missing job or a job that awaits it fails it at
    /// once with a `host-error`); every job that awaited a job completed
    /// here completes too, in cascade. Each write is guarded by `active`,
    /// not parked on another job, and still this dispatcher's: the others
    /// are dropped and listed in [`FinishReport::reassigned`].
    async fn job_finish_many(&self, params: &[JobFinishParams]) -> Result<FinishReport>;
}

/// Dispatchers (one per process) and their agents.
#[async_trait]
pub trait DispatcherStore: Send + Sync + std::fmt::Debug {
    /// Registers a dispatcher id for a process, or takes a known one over
    /// if its holder is gone, handing back the jobs it still holds, in one
    /// transaction; refuses ([`Error::Conflict`], naming the holder,
    /// writing nothing) an id a live process holds (`store/identity.rs`).
    async fn dispatcher_activate(&self, params: DispatcherActivateParams) -> Result<Activation>;
    /// Records that a dispatcher's process is alive, and reactivates it if
    /// it was declared dead meanwhile (a long pause: its jobs were handed
    /// back; their outcomes, if its runs end, are dropped). Writes nothing
    /// if another process took the id over meanwhile ([`Ping::TakenOver`]).
    async fn dispatcher_ping(&self, params: DispatcherPingParams) -> Result<Ping>;
    /// Marks a dispatcher stopped.
    async fn dispatcher_deactivate(&self, id: DispatcherId, now: Timestamp) -> Result<()>;
    /// A dispatcher.
    async fn dispatcher_get(&self, id: DispatcherId) -> Result<DispatcherInfo>;
    /// All dispatchers, by id.
    async fn dispatcher_list(&self) -> Result<Vec<DispatcherInfo>>;
    /// Creates or replaces an agent of a dispatcher (replacing one that
    /// holds jobs is allowed: its jobs stay its). The dispatcher and the
    /// queue must exist ([`Error::NotFound`]).
    async fn agent_upsert(&self, dispatcher: DispatcherId, spec: AgentSpec) -> Result<Agent>;
    /// Agents, of one dispatcher or of all, by dispatcher, queue and name.
    async fn agent_list(&self, dispatcher: Option<DispatcherId>) -> Result<Vec<Agent>>;
    /// Deletes an agent. [`Error::Conflict`] while it holds assigned or
    /// active jobs.
    async fn agent_delete(&self, dispatcher: DispatcherId, queue: &str, name: &str) -> Result<()>;
    /// Whether a dispatcher other than `dispatcher`, active and not
    /// paused, has an agent in `queue` that holds fewer jobs than its size:
    /// one that could take a job handed back to the queue now. (Its filter
    /// is not read: it may refuse the job.)
    async fn agent_room_elsewhere(&self, queue: &str, dispatcher: DispatcherId) -> Result<bool>;
}

/// Failures: retries, dead dispatchers, shutdown, and the probe of a
/// degraded store.
#[async_trait]
pub trait FailureStore: Send + Sync + std::fmt::Debug {
    /// Finds every dispatcher (but the rescuer) whose last ping is older
    /// than the death interval and that is active or still holds jobs,
    /// marks it deactivated and rescued by `rescuer`, and hands its jobs
    /// back (see [`FailureStore::dispatcher_hand_back`]), each in one
    /// transaction: however many dispatchers race, exactly one handles a
    /// dead dispatcher's jobs.
    async fn dispatcher_rescue(
        &self,
        params: DispatcherRescueParams,
    ) -> Result<Vec<HandBackReport>>;
    /// Hands back every job a dispatcher holds, by state, in one
    /// transaction: `assigned` → `pending` with no attempt counted;
    /// `active` (and not awaiting another job) → an `interrupted` failure
    /// in its history, then its retry policy decides: back to its place in
    /// its queue, or completed with an `aborted` failure (and the jobs
    /// awaiting it complete too).
    async fn dispatcher_hand_back(&self, params: HandBackParams) -> Result<HandBackReport>;
    /// Hands back jobs the dispatcher claimed and started ahead of a free
    /// slot and never ran, in one transaction: `active` (and still its,
    /// not awaiting another job) → `pending` at the place they had, their
    /// start undone (the attempt not counted, no failure recorded)
    /// ([`Transition::Unstart`](crate::model::Transition::Unstart)).
    /// Returns the jobs moved, in the order asked; the others are left as
    /// they are.
    async fn job_unstart_many(&self, params: JobUnstartParams) -> Result<Vec<JobId>>;
    /// A run failed: if the job is still `active` and the dispatcher's and
    /// its retry policy tries it again, records the failure in its
    /// history and puts it back, due after the policy's backoff. Writes
    /// nothing when the failure is final (the caller finishes the job).
    async fn job_retry(&self, params: JobRetryParams) -> Result<RetryVerdict>;
    /// The jobs the store says a dispatcher holds: `assigned`, and
    /// `active` not awaiting another job (what [`FailureStore::dispatcher_hand_back`]
    /// would move). A dispatcher's self-check compares them with the jobs
    /// it holds in memory; one range of the in-flight index.
    async fn dispatcher_held_jobs(&self, id: DispatcherId) -> Result<Vec<JobId>>;
    /// Rewrites one row and commits: succeeds only once the database takes
    /// writes again (how a store reported degraded learns it recovered).
    async fn store_probe(&self, now: Timestamp) -> Result<()>;
    /// A job's failed attempts, oldest first. [`Error::NotFound`] for an
    /// unknown job.
    async fn job_attempts(&self, id: JobId) -> Result<Vec<Attempt>>;
}

/// Callbacks and composites (`store/links.rs`, `store/settle.rs`).
#[async_trait]
pub trait LinkStore: Send + Sync + std::fmt::Debug {
    /// Inserts jobs with their links in one transaction: jobs not `held`
    /// as `pending` (or `completed`, or `callbacks`, when already expired),
    /// held ones `new` (callbacks, parts, postprocesses). Queues and
    /// modules must exist. An expired job's callbacks fire at once.
    async fn job_insert_linked(&self, jobs: &[LinkedJob], now: Timestamp) -> Result<()>;
    /// Adds a callback to a job: held `new` until the job has its result,
    /// or, when it has it already (`callbacks`, `completed`), fired (or
    /// passed through) at once. [`Error::NotFound`] for an unknown job.
    async fn callback_add(&self, params: CallbackAddParams) -> Result<JobId>;
    /// Adds a part to a composite, last: held until its turn, or put at
    /// once when the composite runs its parts in parallel and has started.
    /// [`Error::Conflict`] if the job is not a composite or has already
    /// put its postprocess; [`Error::NotFound`] for an unknown job.
    async fn part_add(&self, params: PartAddParams) -> Result<JobId>;
    /// Starts a composite the dispatcher holds (`active`): puts its parts
    /// (all, or the first) or, with none, its postprocess; returns the
    /// postprocess, which the composite then awaits.
    async fn composite_start(&self, id: JobId, now: Timestamp) -> Result<JobId>;
    /// A job's callbacks and parts. [`Error::NotFound`] for an unknown job.
    async fn job_links(&self, id: JobId) -> Result<JobLinks>;
    /// Appends values to the positional arguments of a held job (`new`,
    /// neither a callback nor a part) and puts it once it has `put_when`
    /// arguments, in one transaction; returns its number of arguments.
    /// [`Error::Conflict`] for a job not held or linked.
    async fn job_append_args(&self, params: JobAppendArgsParams) -> Result<u32>;
    /// Puts a broadcast in one transaction: the broadcast job (held `new`)
    /// and a copy of its job for each live dispatcher with an agent that
    /// may take it, pinned to it; returns those dispatchers, in copy
    /// order. With none, the broadcast completes at once with an empty
    /// map (see `store/broadcast.rs`).
    async fn job_broadcast(&self, params: BroadcastPutParams) -> Result<Vec<DispatcherId>>;
}
