//! The SQLite backend: the embedded default. One machine, one file, any
//! number of `wasync` processes sharing it through WAL.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wasync::store::Error> {
//! use wasync::store::{prelude::*, sqlite::SqliteStore};
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
//! - One **writer** connection: every write of this process goes through
//!   it, one after another (SQLite has one writer at a time anyway, and
//!   queueing in-process is cheaper than contending for the file lock). It
//!   is held between writes behind a fair lock (`writer.rs`), not returned
//!   to a pool after each: sqlx pings a connection as it is released, a
//!   round trip to SQLite's thread between any two writes. The **reader**
//!   pool has [`READER_CONNECTIONS`] connections; through WAL they read the
//!   last committed state while the writer writes.
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
//!   read locks. Single-statement writes take it at their start anyway, and
//!   so does a transaction whose first statement writes (a put's, a
//!   finish's without awaits): those open with a plain `BEGIN`, which
//!   costs one round trip less in sqlx.
//! - A put that claims, and a finish without awaits, of at most 16 jobs
//!   send `BEGIN` and their statements to the writer's thread as one
//!   command (`one_trip.rs`): a put that claims is one round trip instead
//!   of four, a finish of plain jobs two instead of four. Larger batches
//!   go a statement at a time, each statement prepared once.
//! - No transaction outlives an error: a connection that an error left
//!   inside a transaction (a commit that met a full disk) is closed at its
//!   next acquire and replaced (`store/fault.rs`).
//! - No ping before an acquire (sqlx's `test_before_acquire`, on by
//!   default): an embedded database's connection is not lost while idle,
//!   and each command to a connection is a round trip to the thread sqlx
//!   runs it on. (sqlx still pings a reader as it is released.) Only a
//!   connection still counted inside a transaction is pinged at acquire,
//!   to wait for the rollback a dropped transaction queued
//!   (`store/fault.rs`; the writer asks the same at each acquire).
//! - Migrations (`migrations/`, embedded in the binary) run at open inside
//!   one `BEGIN IMMEDIATE` transaction, so processes opening a new file at
//!   the same time apply them once.
//!
//! # Statements
//!
//! The operations whose logic and statements are the same on both backends
//! are written once in `store/` over this backend's `SqlBackend`
//! (`tx.rs`: the reader pool, the writer, and write transactions). Here are
//! the statements tuned for SQLite, one module per entity, each
//! implementing its entity's trait: `job.rs` ([`JobStore`]), `claim.rs`
//! ([`ClaimStore`]; `quota.rs` claims a queue that has quotas, `finish.rs`
//! finishes), `dispatcher.rs` ([`DispatcherStore`]), `failures.rs`
//! ([`FailureStore`]), `callbacks.rs` ([`LinkStore`]). Batches go in as bound parameters, one statement per
//! batch of up to 1024 rows (`batch.rs`), so a batch of any size costs the
//! same few statements.
//!
//! [`JobStore`]: crate::store::JobStore
//! [`ClaimStore`]: crate::store::ClaimStore
//! [`DispatcherStore`]: crate::store::DispatcherStore
//! [`FailureStore`]: crate::store::FailureStore
//! [`LinkStore`]: crate::store::LinkStore
//! `plans.rs` checks that no statement of a job's life scans `jobs`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection as _, Sqlite};
use tracing::instrument;

use super::{Error, Result, Store, StoreListener, no_open_transaction};
use writer::{WriteTx, Writer};

mod batch;
mod callbacks;
mod claim;
mod dispatcher;
mod failures;
mod finish;
#[cfg(test)]
mod finish_tests;
mod job;
mod one_trip;
#[cfg(test)]
mod plans;
mod queue;
mod quota;
#[cfg(test)]
mod rebuild_tests;
mod row;
mod tx;
mod writer;

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

/// The SQLite store. Cheap to clone (its connections are shared).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection, held between writes: every write.
    writer: Writer,
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
            .test_before_acquire(false)
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
            .test_before_acquire(false)
            .before_acquire(no_open_transaction::<Sqlite>)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            writer: Writer::new(writer),
            reader,
        })
    }

    /// A write transaction that holds the write lock from its start.
    async fn begin(&self) -> Result<WriteTx> {
        Ok(self.writer.begin(true).await?)
    }

    /// A write transaction whose first statement writes: it holds the
    /// write lock from that statement's start, taken as `BEGIN IMMEDIATE`
    /// takes it (waiting up to the busy timeout, before reading anything),
    /// with a plain `BEGIN`, which sqlx sends without the round trip it
    /// spends checking a `BEGIN` statement of the caller's.
    async fn begin_writing_first(&self) -> Result<WriteTx> {
        Ok(self.writer.begin(false).await?)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::QueueStore;

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
                .fetch_one(&mut *store.writer.acquire().await.unwrap())
                .await
                .unwrap();
            assert_eq!(sync, 2, "synchronous=FULL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut *store.writer.acquire().await.unwrap())
                .await
                .unwrap();
            assert_eq!(fk, 1);
        }
    }

    #[tokio::test]
    async fn sqlite_is_built_with_the_workspace_flags() {
        // `.cargo/config.toml` sets LIBSQLITE3_FLAGS (fdatasync for
        // commits, no memory statistics); SQLite reports the second.
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("w.db")).await.unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&store.reader)
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        store.close().await;
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_dropped_unfinished_is_rolled_back_on_the_same_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("w.db")).await.unwrap();
        // A temporary table lives as long as its connection.
        sqlx::query("CREATE TEMP TABLE marks (n INTEGER)")
            .execute(&mut *store.writer.acquire().await.unwrap())
            .await
            .unwrap();
        for _ in 0..20 {
            let mut tx = store.begin_writing_first().await.unwrap();
            sqlx::query("INSERT INTO marks VALUES (1)")
                .execute(&mut *tx)
                .await
                .unwrap();
            drop(tx);
            // The next transaction opens at once, whether the rollback
            // queued by the drop was run before the acquire or was waited
            // for, on the same connection (the table is still there).
            let mut tx = store.begin().await.expect("the connection is usable");
            let marks: i64 = sqlx::query_scalar("SELECT count(*) FROM marks")
                .fetch_one(&mut *tx)
                .await
                .expect("the same connection");
            assert_eq!(marks, 0, "rolled back");
            tx.commit().await.unwrap();
        }
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_put_opened_with_a_plain_begin_waits_for_another_process_writing() {
        use crate::store::conformance::kit;
        use crate::store::{ClaimStore as _, JobClaimParams};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let (first, second) = (
            SqliteStore::open(&path).await.unwrap(),
            SqliteStore::open(&path).await.unwrap(),
        );
        let module = kit::module(&second, "m", None).await;
        let dispatcher = kit::dispatcher(&second).await;
        // The first process holds the write lock.
        let held = first.begin().await.unwrap();
        let put = tokio::spawn(async move {
            let job = kit::new_job("", &module, "f", kit::t(0));
            let claim = JobClaimParams {
                dispatcher,
                queue: String::new(),
                agent: "main".into(),
                filter: None,
                preferred: None,
                limit: 1,
                now: kit::t(1),
                start: true,
            };
            second.job_insert_many_claiming(&[job], &[claim]).await
        });
        // The put waits for the lock (the busy timeout) instead of failing
        // with "database is locked" when its insert needs it.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(300);
        while tokio::time::Instant::now() < deadline {
            if put.is_finished() {
                panic!("the put did not wait: {:?}", put.await);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        held.commit().await.unwrap();
        let (jobs, claimed) = put.await.unwrap().expect("the put waited for the lock");
        assert_eq!(claimed.len(), 1);
        assert_eq!(kit::ids(&claimed[0]), kit::ids(&jobs), "put and claimed");
        first.close().await;
    }
}
