//! The PostgreSQL backend: many machines sharing one database. Every
//! process that opens the same database (and schema) sees the same queues,
//! modules and jobs; claims never hand a job out twice and never wait for
//! each other (`FOR UPDATE SKIP LOCKED`), and writes announce themselves
//! through `LISTEN/NOTIFY` ([`Store::listen`]) so that a put on one machine
//! starts work on another without waiting for a poll.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wasync::store::Error> {
//! use wasync::store::{Store, StoreEvent, postgres::PgStore};
//!
//! let store = PgStore::open("postgres://wasync@db.internal/wasync").await?;
//! let mut listener = store.listen().await?.expect("PostgreSQL has notifications");
//! // ... another machine puts a job in queue "video" ...
//! if let StoreEvent::JobsPut { queues } = listener.recv().await? {
//!     println!("work in {queues:?}");
//! }
//! store.close().await;
//! # Ok(()) }
//! ```
//!
//! # Connections
//!
//! - A pool of [`POOL_CONNECTIONS`] connections for every operation
//!   (claims, finishes, puts and reads run side by side; PostgreSQL locks
//!   rows, not the database).
//! - A second pool, of up to [`LISTENER_CONNECTIONS`], for listeners: each
//!   [`Store::listen`] holds one connection for as long as it lives.
//! - [`PgStore::open_in_schema`] sets `search_path` on every connection (a
//!   startup option), so one database can hold several installations, or
//!   one per test.
//! - Migrations (`migrations/`, embedded, numbered like SQLite's) run at
//!   open on a connection of their own, under sqlx's advisory lock: several
//!   processes opening at once apply them once.
//!
//! # Statements
//!
//! As in the SQLite backend, the operations whose logic and statements are
//! the same on both are written once in `store/` over this backend's
//! `SqlBackend` (`tx.rs`); here are the statements tuned for PostgreSQL,
//! one module per entity, each implementing its entity's trait (`job.rs`,
//! `claim.rs`, `dispatcher.rs`, `failures.rs`, `callbacks.rs`).
//! Batches are arrays
//! (`unnest($1::uuid[], $2::text[], …)`): one statement, one prepared text,
//! whatever the batch size. A batch write compares each job only with
//! columns of the batch (the expected status included), so the planner can
//! reach the jobs only by id (see `finish.rs` for the plan this avoids);
//! every connection sets `random_page_cost` to [`RANDOM_PAGE_COST`],
//! turns JIT compilation off ([`JIT`]) and parallel workers too
//! ([`MAX_PARALLEL_WORKERS_PER_GATHER`]), and runs prepared statements
//! with their generic plans ([`PLAN_CACHE_MODE`]).
//! Transactions are `READ COMMITTED`; where two transactions could each
//! miss the other's write (an await racing the completion it awaits, a
//! queue deleted while a job is put in it) the statements take the row or
//! table locks that order them, see `finish.rs` and `store/queue.rs`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, Postgres, Transaction};
use tracing::instrument;

use super::{Error, Result, Store, StoreListener, no_open_transaction};

mod callbacks;
mod claim;
mod dispatcher;
mod failures;
mod finish;
mod job;
mod notify;
#[cfg(test)]
mod plans;
mod queue;
mod quota;
mod row;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod tx;
mod vacuum;
mod watch;

/// Connections of the main pool, per store (so per process). Enough for a
/// dispatcher's claimers, its completer, annotations and API reads at once;
/// a PostgreSQL server allows 100 by default, so a dozen processes fit.
pub const POOL_CONNECTIONS: u32 = 8;

/// The most listeners ([`Store::listen`]) one store has at once, each on
/// its own connection.
pub const LISTENER_CONNECTIONS: u32 = 4;

/// The planner's cost of reading a page out of order, set on every
/// connection (PostgreSQL's default is 4, for spinning disks). A queue's
/// working set is in memory or on SSD, where a lookup by id costs little
/// more than reading the next page; with 4, the planner judged 256 lookups
/// by id dearer than reading a whole table of 100,000 jobs, and chose the
/// scan.
pub const RANDOM_PAGE_COST: &str = "1.1";

/// PostgreSQL's JIT compilation of statements, off on every connection.
/// It compiles a statement whose estimated cost passes `jit_above_cost`,
/// and the estimates of the await cascade (a recursive CTE) grow with the
/// table's statistics: with 10,000,000 finished jobs, every finish of one
/// job compiled 72 functions, ~20 ms, for a statement that runs in well
/// under one (the growth bench: finish 1.4 → 22.5 ms, 16×). wasync's
/// statements touch few rows each; none gains from compilation.
pub const JIT: &str = "off";

/// Which plans PostgreSQL runs prepared statements with: always the
/// generic plan, made once per connection without the values. Those are
/// the plans `plans.rs` checks for every statement that runs per job.
/// With PostgreSQL's default (`auto`) it kept planning the put's insert
/// anew at every run, as the generic plan's estimate (ten rows for each
/// `unnest`) came out dearer than a one-job put's: the store bench's
/// one-job puts took 0.98 ms against 0.55–0.80 ms with generic plans,
/// unique ones 1.38 against 0.58–0.81 ms, batches of 256 8.7 against
/// 5.0–5.8 ms; and with 1,000,000 finished jobs a finish of one job
/// switched to a custom plan twice as dear (growth bench: 2.4 against
/// 1.3 ms).
pub const PLAN_CACHE_MODE: &str = "force_generic_plan";

/// How many parallel workers a statement may start, set on every
/// connection: none (PostgreSQL's default is 2). Starting a worker
/// process costs milliseconds, and the planner chose to once its
/// estimates grew with the table: with 10,000,000 finished jobs, the read
/// of the callbacks waiting for a finished job (an index lookup that found
/// nothing in 0.07 ms) ran under `Gather` with one worker, 4–7 ms, and
/// every finish of one job took 5.6× as long as on a small table (growth
/// bench: 1.11 → 6.21 ms; 1.05 → 1.57 ms without workers). wasync's
/// statements touch few rows each; none gains from a worker.
pub const MAX_PARALLEL_WORKERS_PER_GATHER: &str = "0";

/// How long an operation waits for a connection of the pool: a free one,
/// or a new one while the server is down or restarting (sqlx tries again
/// and again while connections are refused). Past it the operation fails
/// as [`FaultKind::Unavailable`](crate::store::FaultKind): a put answers
/// 503 `database_unavailable` within this time instead of hanging, and a
/// restart shorter than this is only a pause.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/postgres/migrations");

/// The PostgreSQL store. Cheap to clone (the pools are shared).
#[derive(Debug, Clone)]
pub struct PgStore {
    /// Every operation.
    pool: PgPool,
    /// One connection per listener.
    listeners: PgPool,
    /// The notification channel of this installation (see `notify.rs`).
    channel: Arc<str>,
}

impl PgStore {
    /// Opens the database named by a URL such as
    /// `postgres://user:password@host/database` and brings its schema up
    /// to date. The tables live in the connection's default schema (the
    /// first of its `search_path` that exists, usually `public`).
    pub async fn open(url: &str) -> Result<Self> {
        Self::connect(PgConnectOptions::from_str(url)?).await
    }

    /// Opens the database named by `url` with its tables in `schema`
    /// (created if needed): every connection gets `search_path = schema`.
    /// Schema names are lowercase letters, digits and `_`, starting with a
    /// letter or `_`, at most 63 bytes ([`Error::Config`] otherwise).
    pub async fn open_in_schema(url: &str, schema: &str) -> Result<Self> {
        check_schema_name(schema)?;
        let options = PgConnectOptions::from_str(url)?;
        let mut conn = options.connect().await?;
        let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&mut conn)
            .await;
        match created {
            Ok(_) => {}
            // Two processes creating it at once: one of them gets this.
            Err(e)
                if row::is(&e, row::sqlstate::UNIQUE)
                    || row::is(&e, row::sqlstate::DUPLICATE_SCHEMA) => {}
            Err(e) => return Err(e.into()),
        }
        conn.close().await?;
        Self::connect(options.options([("search_path", schema)])).await
    }

    /// Drops `schema` and everything in it (an installation made with
    /// [`PgStore::open_in_schema`]: for tests and benchmarks, or to remove
    /// one). Waits at most 10 s for locks held by connections still using
    /// it. Dropping a schema that does not exist succeeds.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        check_schema_name(schema)?;
        let mut conn = PgConnectOptions::from_str(url)?.connect().await?;
        sqlx::query("SET lock_timeout = '10s'")
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }

    async fn connect(options: PgConnectOptions) -> Result<Self> {
        let options = options.options([
            ("random_page_cost", RANDOM_PAGE_COST),
            ("jit", JIT),
            ("plan_cache_mode", PLAN_CACHE_MODE),
            (
                "max_parallel_workers_per_gather",
                MAX_PARALLEL_WORKERS_PER_GATHER,
            ),
        ]);
        // Migrate on a connection of its own: sqlx's advisory lock is held
        // by the session, and closing the session releases it even if the
        // migration failed half-way.
        let mut conn = options.connect().await?;
        let migrated = migrate(&mut conn).await;
        if migrated.is_ok() {
            vacuum::warn_if_off(&mut conn).await;
        }
        conn.close().await?;
        let schema = migrated?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .before_acquire(no_open_transaction::<Postgres>)
            .connect_with(options.clone())
            .await?;
        let listeners = PgPoolOptions::new()
            .max_connections(LISTENER_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        Ok(PgStore {
            pool,
            listeners,
            channel: notify::channel_for(&schema).into(),
        })
    }

    /// A transaction (`READ COMMITTED`).
    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

/// Applies the migrations and returns the schema they went to.
async fn migrate(conn: &mut PgConnection) -> Result<String> {
    MIGRATOR.run_direct(conn).await?;
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *conn)
        .await?;
    schema.ok_or_else(|| Error::Config("the connection has no schema to work in".to_owned()))
}

/// Refuses schema names that would need quoting.
fn check_schema_name(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 && !schema.starts_with("pg_") {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "`{schema}` is not a schema name wasync uses (lowercase letters, digits and `_`, \
             not starting with a digit or `pg_`, at most 63 bytes)"
        )))
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    #[instrument(level = "debug", skip_all)]
    async fn close(&self) {
        self.listeners.close().await;
        self.pool.close().await;
    }

    #[instrument(level = "debug", skip_all)]
    async fn listen(&self) -> Result<Option<Box<dyn StoreListener>>> {
        let listener =
            notify::PgStoreListener::start(self.listeners.clone(), self.channel.to_string())
                .await?;
        Ok(Some(Box::new(listener)))
    }
}
