//! The store operations of the management tools:
//! cancel, job queries, removal and retention of finished jobs, pauses,
//! named jobs, the recent polls and dispatcher statistics.
//!
//! They form a trait of their own, [`ManageStore`], which every
//! [`Store`](super::Store) also implements (it is a supertrait), so callers
//! holding an `Arc<dyn Store>` reach them all; each backend implements it
//! in its `manage.rs` (and `stats.rs`).

use async_trait::async_trait;

use super::Result;
use crate::model::{
    DispatcherId, DispatcherStats, Job, JobFilter, JobId, JobName, PollRecord, QueryState,
    RemovalReport, Timestamp,
};

/// Cancels a job that has not completed: pending or detached (it never
/// runs), claimed or running (its dispatcher stops the run).
#[derive(Debug, Clone)]
pub struct JobCancelParams {
    /// The job.
    pub id: JobId,
    /// Now: its completion time.
    pub now: Timestamp,
}

/// What [`ManageStore::job_cancel`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelReport {
    /// The job, now `cancelled`.
    pub job: Job,
    /// The jobs that were awaiting it, completed in cascade with its
    /// failure.
    pub cascaded: Vec<JobId>,
    /// Queues that got a due job: its callbacks that fired with the
    /// failure, and what they moved on.
    pub queues: Vec<String>,
}

/// How a job query orders its jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobOrder {
    /// Oldest first (by id: ids are time-ordered), paged with `after`.
    #[default]
    Created,
    /// Latest completed first (jobs not completed last).
    LatestCompleted,
}

/// A page of a job query.
#[derive(Debug, Clone, Default)]
pub struct JobQueryParams {
    /// Which jobs.
    pub filter: JobFilter,
    /// In which order.
    pub order: JobOrder,
    /// With [`JobOrder::Created`]: only jobs created after this one.
    pub after: Option<JobId>,
    /// The most to return.
    pub limit: u32,
}

/// Removes finished jobs by state.
#[derive(Debug, Clone)]
pub struct JobRemoveParams {
    /// The states to remove, each one of
    /// [`REMOVABLE_STATES`](crate::model::REMOVABLE_STATES).
    pub states: Vec<QueryState>,
    /// Only jobs of this queue.
    pub queue: Option<String>,
}

/// Retention: removes the oldest finished (completed or cancelled) jobs.
#[derive(Debug, Clone)]
pub struct JobRetainParams {
    /// Remove jobs completed before this time.
    pub completed_before: Option<Timestamp>,
    /// Keep at most this many finished jobs (the latest completed).
    pub keep_latest: Option<u64>,
    /// The most jobs to remove in one call (the caller calls again while
    /// it removes this many).
    pub limit: u32,
}

/// Records a poll that claimed jobs.
#[derive(Debug, Clone)]
pub struct PollRecordParams {
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// The queue.
    pub queue: String,
    /// The agent.
    pub agent: String,
    /// The jobs claimed.
    pub jobs: Vec<JobId>,
    /// When.
    pub now: Timestamp,
    /// How many records the dispatcher keeps: older ones are deleted.
    pub keep: u32,
}

/// Asks for a dispatcher's statistics over a window.
#[derive(Debug, Clone)]
pub struct DispatcherStatsParams {
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// Jobs started from this time (inclusive; `None`: any time).
    pub since: Option<Timestamp>,
    /// Jobs started before this time (exclusive).
    pub before: Timestamp,
    /// Now: an active job's duration runs to now.
    pub now: Timestamp,
}

/// What is paused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pauses {
    /// Paused queues and since when, by name.
    pub queues: Vec<(String, Timestamp)>,
    /// Paused dispatchers and since when, by id.
    pub dispatchers: Vec<(DispatcherId, Timestamp)>,
}

/// The management tools' database operations (see the module doc).
#[async_trait]
pub trait ManageStore: Send + Sync {
    // ----- jobs -----

    /// Cancels a `pending` or `new` job: it becomes `cancelled` with
    /// [`Failure::cancelled`](crate::model::Failure::cancelled) and never
    /// runs; the jobs awaiting it complete with that failure.
    /// [`Error::Conflict`](super::Error::Conflict) naming its status once
    /// a dispatcher holds it or it has finished; `NotFound` if unknown.
    async fn job_cancel(&self, params: JobCancelParams) -> Result<CancelReport>;
    /// Jobs matching a filter, a page at a time.
    async fn job_query(&self, params: JobQueryParams) -> Result<Vec<Job>>;
    /// How many jobs match a filter.
    async fn job_count(&self, filter: &JobFilter) -> Result<u64>;
    /// Deletes finished jobs in the states asked for (with their
    /// annotations) and counts them per state. A job in two of the states
    /// asked (`completed` and `failed`) is counted under the first.
    async fn job_remove_finished(&self, params: JobRemoveParams) -> Result<RemovalReport>;
    /// Deletes up to `limit` finished jobs that retention no longer keeps:
    /// completed before `completed_before`, or beyond the latest
    /// `keep_latest`. Returns how many.
    async fn job_retain(&self, params: JobRetainParams) -> Result<u64>;

    // ----- pauses -----

    /// Pauses a queue: no dispatcher claims from it until it is resumed.
    /// Pausing a paused queue keeps its first pause time. `NotFound` for
    /// an unknown queue.
    async fn queue_pause(&self, queue: &str, now: Timestamp) -> Result<()>;
    /// Resumes a queue (announcing work in it to every process). Resuming a
    /// queue that is not paused does nothing. `NotFound` for an unknown
    /// queue.
    async fn queue_resume(&self, queue: &str) -> Result<()>;
    /// Pauses a dispatcher: it claims nothing until resumed (its running
    /// jobs go on). `NotFound` for an unknown dispatcher.
    async fn dispatcher_pause(&self, id: DispatcherId, now: Timestamp) -> Result<()>;
    /// Resumes a dispatcher (announcing it as an agent change, which wakes
    /// it). `NotFound` for an unknown dispatcher.
    async fn dispatcher_resume(&self, id: DispatcherId) -> Result<()>;
    /// Everything paused.
    async fn pause_list(&self) -> Result<Pauses>;

    // ----- named jobs -----

    /// Registers a named job, or replaces the one of that name (keeping
    /// its creation time). Returns it as stored.
    async fn job_name_set(&self, name: &JobName) -> Result<JobName>;
    /// A named job.
    async fn job_name_get(&self, name: &str) -> Result<JobName>;
    /// Every named job, by name.
    async fn job_name_list(&self) -> Result<Vec<JobName>>;
    /// Forgets a named job (jobs put by it stay).
    async fn job_name_delete(&self, name: &str) -> Result<()>;

    // ----- polls and statistics -----

    /// Records polls that claimed jobs, in order, in one transaction,
    /// deleting each dispatcher's records beyond the latest `keep`.
    /// Returns their ids.
    async fn poll_record_many(&self, polls: &[PollRecordParams]) -> Result<Vec<i64>>;
    /// A dispatcher's latest poll records, latest first.
    async fn poll_list(&self, dispatcher: DispatcherId, limit: u32) -> Result<Vec<PollRecord>>;
    /// The id of the latest kept poll of `dispatcher` that claimed `job`.
    async fn poll_of_job(&self, dispatcher: DispatcherId, job: JobId) -> Result<Option<i64>>;
    /// One dispatcher's statistics over a window: how many jobs of each
    /// class, the shortest and the longest.
    async fn dispatcher_stats(&self, params: DispatcherStatsParams) -> Result<DispatcherStats>;
}

/// Reads the rows of a statistics statement (one per class of job: class,
/// count, shortest id and ms, longest id and ms; the same columns on
/// every backend) into `stats`.
pub(crate) fn add_stats_rows<R>(stats: &mut crate::model::DispatcherStats, rows: &[R]) -> Result<()>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> uuid::Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use crate::model::{JobDuration, JobId};
    for r in rows {
        let class: String = r.try_get(0)?;
        let count = r.try_get::<i64, _>(1)? as u64;
        let shortest = JobDuration {
            id: JobId(r.try_get::<uuid::Uuid, _>(2)?),
            ms: r.try_get(3)?,
        };
        let longest = JobDuration {
            id: JobId(r.try_get::<uuid::Uuid, _>(4)?),
            ms: r.try_get(5)?,
        };
        stats.add_class(&class, count, shortest, longest);
    }
    Ok(())
}
