//! The SQLite backend: the embedded default. One machine, one file, any
//! number of `wasync` processes sharing it through WAL.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wasync::store::Error> {
//! use wasync::store::{Store, sqlite::SqliteStore};
//!
//! let store = SqliteStore::open(std::path::Path::new("data/wasync.db")).await?;
//! let queues = store.queue_list().await?; // the default queue "" always exists
//! assert!(queues.iter().any(|q| q.name.is_empty()));
//! store.close().await;
//! # Ok(()) }
//! ```
//!
//! # Connections and settings
//!
//! - Two pools. The **writer** pool has a single connection: every write of
//!   this process goes through it, one after another (SQLite has one writer
//!   at a time anyway, and queueing in-process is cheaper than contending
//!   for the file lock). The **reader** pool has [`READER_CONNECTIONS`]
//!   connections; through WAL they read the last committed state while the
//!   writer writes.
//! - Pragmas on every connection: `journal_mode=WAL`, `synchronous=FULL`
//!   (a write acknowledged is on disk: an acknowledged put is never lost to
//!   a power cut), `foreign_keys=ON`, `busy_timeout` = [`BUSY_TIMEOUT`]
//!   (several processes' writers queue behind each other for the file's
//!   write lock; a generous timeout turns contention into waiting, not
//!   errors), `temp_store=MEMORY`. The page cache keeps SQLite's default
//!   size on purpose: a larger one made every commit slower, the more so
//!   the larger the database (see `docs/store.md`).
//! - Multi-statement write transactions start with `BEGIN IMMEDIATE`: they
//!   take the write lock first, so two processes never deadlock upgrading
//!   read locks. Single-statement writes take it at their start anyway.
//! - No transaction outlives an error: a connection that an error left
//!   inside a transaction (a commit that met a full disk) is closed at its
//!   next acquire and replaced (`store/fault.rs`).
//! - Migrations (`migrations/`, embedded in the binary) run at open inside
//!   one `BEGIN IMMEDIATE` transaction, so processes opening a new file at
//!   the same time apply them once.
//!
//! # Statements
//!
//! One SQL module per table or step (`module.rs`, `queue.rs`, `job.rs`,
//! `claim.rs`, `quota.rs`, `deadline.rs`, `finish.rs`, `annotation.rs`,
//! `dispatcher.rs`, `schedule.rs`, `failures.rs`). Batches go in as bound parameters,
//! one statement per batch of up to 1024 rows (`batch.rs`), so a batch of
//! any size costs the same few statements.
//! `plans.rs` checks that no statement of a job's life scans `jobs`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection as _, Sqlite, Transaction};
use tracing::instrument;

use super::{
    Activation, AnnotationSetParams, DispatcherActivateParams, DispatcherPingParams,
    DispatcherRescueParams, Error, ExpireReport, FinishReport, HandBackParams, HandBackReport,
    JobClaimParams, JobDetachParams, JobExpireParams, JobFinishParams, JobListParams,
    JobNextDueParams, JobPullParams, JobPutBackParams, JobRetryParams, JobStartParams, JobStarted,
    JobUpdateParams, ModuleInsertParams, NextDue, Ping, QueueJobsParams, QuotaCreateParams, Result,
    RetryVerdict, Store, StoreListener, no_open_transaction,
};
use crate::model::{
    Agent, AgentSpec, Attempt, DispatcherId, DispatcherInfo, Job, JobId, ModuleDigest, ModuleInfo,
    NewJob, QueueInfo, Quota, RetryPolicy, Timestamp,
};

mod annotation;
mod batch;
mod callbacks;
mod claim;
mod deadline;
mod dispatcher;
mod failures;
mod finish;
mod job;
mod manage;
mod module;
#[cfg(test)]
mod plans;
mod queue;
mod quota;
#[cfg(test)]
mod rebuild_tests;
mod row;
mod stats;
mod tx;

/// How long a connection waits for another process to release the write
/// lock before it fails with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an operation waits for a free connection of its pool. Longer
/// than [`BUSY_TIMEOUT`]: writes queue for the one writer connection, which
/// may itself be waiting for the file lock.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// Connections of the reader pool.
pub const READER_CONNECTIONS: u32 = 4;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/sqlite/migrations");

/// The SQLite store. Cheap to clone (the pools are shared).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write.
    writer: SqlitePool,
    /// Reads of committed state.
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if needed) the database
    /// file at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::Config(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        Self::connect(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens the database named by a URL such as `sqlite://data/wasync.db`
    /// (created if missing). In-memory databases are refused: the writer
    /// and reader pools must see the same data, and a job queue that
    /// forgets its jobs is not one.
    pub async fn open_url(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        let file = options.get_filename();
        if url.contains(":memory:") || url.contains("mode=memory") || file.as_os_str().is_empty() {
            return Err(Error::Config(format!(
                "`{url}` is an in-memory SQLite database; wasync needs a file"
            )));
        }
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::Config(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self> {
        // Processes opening a *new* file at once race to switch it to WAL,
        // which SQLite answers with "database is locked" without waiting
        // for the busy timeout. The race lasts milliseconds: try again.
        let mut attempt = 0u32;
        loop {
            match Self::try_connect(options.clone()).await {
                Err(Error::Fault(fault))
                    if attempt < 100 && fault.detail.contains("database is locked") =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(
                        5 * u64::from(attempt.min(20)),
                    ))
                    .await;
                }
                result => return result,
            }
        }
    }

    async fn try_connect(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("temp_store", "memory")
            .row_buffer_size(batch::MAX_ROWS);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .before_acquire(no_open_transaction::<Sqlite>)
            .connect_with(options.clone())
            .await?;
        {
            let mut conn = writer.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            // `run_direct`, not `run`: `run` takes an `Acquire`, which makes
            // this future not `Send` for callers that spawn it (sqlx documents
            // `run_direct` as the way around that).
            MIGRATOR.run_direct(&mut *tx).await?;
            tx.commit().await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .before_acquire(no_open_transaction::<Sqlite>)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { writer, reader })
    }

    /// A write transaction that holds the write lock from its start.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    #[instrument(level = "debug", skip_all)]
    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// SQLite has no notifications: other processes' puts are found by
    /// polling.
    async fn listen(&self) -> Result<Option<Box<dyn StoreListener>>> {
        Ok(None)
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_insert(&self, params: ModuleInsertParams) -> Result<ModuleInfo> {
        module::insert(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_get(&self, reference: &str) -> Result<ModuleInfo> {
        module::get(self, reference).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_bytes(&self, digest: &ModuleDigest) -> Result<Vec<u8>> {
        module::bytes(self, digest).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_list(&self) -> Result<Vec<ModuleInfo>> {
        module::list(self).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn module_delete(&self, digest: &ModuleDigest) -> Result<()> {
        module::delete(self, digest).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_create(&self, name: &str, now: Timestamp) -> Result<QueueInfo> {
        queue::create(self, name, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_get(&self, name: &str) -> Result<QueueInfo> {
        queue::get(self, name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_list(&self) -> Result<Vec<QueueInfo>> {
        queue::list(self).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_delete(&self, name: &str) -> Result<()> {
        queue::delete(self, name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_jobs(&self, params: QueueJobsParams) -> Result<Vec<Job>> {
        queue::jobs(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_insert_many(&self, jobs: &[NewJob]) -> Result<Vec<Job>> {
        job::insert_many(self, jobs).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_get(&self, id: JobId) -> Result<Job> {
        job::get(self, id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_list(&self, params: JobListParams) -> Result<Vec<Job>> {
        job::list(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_pull(&self, params: JobPullParams) -> Result<Job> {
        job::pull(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_detach(&self, params: JobDetachParams) -> Result<Job> {
        job::detach(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_put_back(&self, params: JobPutBackParams) -> Result<Job> {
        job::put_back(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_claim_many(&self, params: JobClaimParams) -> Result<Vec<Job>> {
        claim::claim_many(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_expire_many(&self, params: JobExpireParams) -> Result<ExpireReport> {
        deadline::expire_many(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_next_due(&self, params: JobNextDueParams) -> Result<NextDue> {
        deadline::next_due(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_update(&self, params: JobUpdateParams) -> Result<Job> {
        job::update(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_start_many(&self, params: JobStartParams) -> Result<Vec<JobStarted>> {
        claim::start_many(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_finish_many(&self, params: &[JobFinishParams]) -> Result<FinishReport> {
        finish::finish_many(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_create(&self, params: QuotaCreateParams) -> Result<Quota> {
        quota::create(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_get(&self, queue: &str, name: &str) -> Result<Quota> {
        quota::get(self, queue, name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_list(&self, queue: &str) -> Result<Vec<Quota>> {
        quota::list(self, queue).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_set_size(&self, queue: &str, name: &str, size: u32) -> Result<Quota> {
        quota::set_size(self, queue, name, size).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_delete(&self, queue: &str, name: &str) -> Result<()> {
        quota::delete(self, queue, name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn annotation_set(&self, params: AnnotationSetParams) -> Result<()> {
        annotation::set(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn annotation_get(&self, job: JobId, name: &str) -> Result<Option<Value>> {
        annotation::get(self, job, name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn annotation_list(&self, job: JobId) -> Result<Vec<(String, Value)>> {
        annotation::list(self, job).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_activate(&self, params: DispatcherActivateParams) -> Result<Activation> {
        dispatcher::activate(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_ping(&self, params: DispatcherPingParams) -> Result<Ping> {
        failures::ping(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_deactivate(&self, id: DispatcherId, now: Timestamp) -> Result<()> {
        dispatcher::deactivate(self, id, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_get(&self, id: DispatcherId) -> Result<DispatcherInfo> {
        dispatcher::get(self, id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_list(&self) -> Result<Vec<DispatcherInfo>> {
        dispatcher::list(self).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn agent_upsert(&self, dispatcher: DispatcherId, spec: AgentSpec) -> Result<Agent> {
        dispatcher::agent_upsert(self, dispatcher, spec).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn agent_list(&self, dispatcher: Option<DispatcherId>) -> Result<Vec<Agent>> {
        dispatcher::agent_list(self, dispatcher).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn agent_delete(&self, dispatcher: DispatcherId, queue: &str, name: &str) -> Result<()> {
        dispatcher::agent_delete(self, dispatcher, queue, name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_rescue(
        &self,
        params: DispatcherRescueParams,
    ) -> Result<Vec<HandBackReport>> {
        failures::rescue(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_hand_back(&self, params: HandBackParams) -> Result<HandBackReport> {
        failures::hand_back(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_retry(&self, params: JobRetryParams) -> Result<RetryVerdict> {
        failures::retry(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_held_jobs(&self, id: DispatcherId) -> Result<Vec<JobId>> {
        failures::held_jobs(self, id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn store_probe(&self, now: Timestamp) -> Result<()> {
        failures::probe(self, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_attempts(&self, id: JobId) -> Result<Vec<Attempt>> {
        failures::attempts(self, id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_retry_get(&self, queue: &str) -> Result<Option<RetryPolicy>> {
        failures::queue_retry_get(self, queue).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_retry_set(&self, queue: &str, policy: Option<RetryPolicy>) -> Result<()> {
        failures::queue_retry_set(self, queue, policy).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_insert_linked(
        &self,
        jobs: &[crate::model::LinkedJob],
        now: Timestamp,
    ) -> Result<()> {
        self.insert_linked(jobs, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn callback_add(&self, params: crate::store::CallbackAddParams) -> Result<JobId> {
        self.add_callback(params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn part_add(&self, params: crate::store::PartAddParams) -> Result<JobId> {
        self.add_part(params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn composite_start(&self, id: JobId, now: Timestamp) -> Result<JobId> {
        self.start_composite(id, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_links(&self, id: JobId) -> Result<crate::store::JobLinks> {
        self.links_of(id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_append_args(&self, params: crate::store::JobAppendArgsParams) -> Result<u32> {
        self.append_args(params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_opening_a_new_file_at_once_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/wasync.db");
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move { SqliteStore::open(&path).await })
            })
            .collect();
        let mut stores = Vec::new();
        for open in opens {
            stores.push(open.await.unwrap().expect("every open succeeds"));
        }
        for store in &stores {
            let queues = store.queue_list().await.unwrap();
            assert_eq!(queues.len(), 1, "one default queue");
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&store.reader)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&store.writer)
                .await
                .unwrap();
            assert_eq!(sync, 2, "synchronous=FULL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&store.writer)
                .await
                .unwrap();
            assert_eq!(fk, 1);
        }
    }

    #[tokio::test]
    async fn urls_name_files_not_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a/b.db").display());
        let store = SqliteStore::open_url(&url).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.close().await;
        assert!(dir.path().join("a/b.db").exists());
        for url in ["sqlite::memory:", "sqlite://file.db?mode=memory"] {
            match SqliteStore::open_url(url).await {
                Err(Error::Config(message)) => assert!(message.contains("in-memory")),
                other => panic!("{url}: expected a configuration error, got {other:?}"),
            }
        }
    }
}
