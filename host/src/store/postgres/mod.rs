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
//! One SQL module per table, like the SQLite backend. Batches are arrays
//! (`unnest($1::uuid[], $2::text[], …)`): one statement, one prepared text,
//! whatever the batch size. A batch write compares each job only with
//! columns of the batch (the expected status included), so the planner can
//! reach the jobs only by id (see `finish.rs` for the plan this avoids);
//! every connection sets `random_page_cost` to [`RANDOM_PAGE_COST`].
//! Transactions are `READ COMMITTED`; where two transactions could each
//! miss the other's write (an await racing the completion it awaits, a
//! queue deleted while a job is put in it) the statements take the row or
//! table locks that order them, see `finish.rs` and `queue.rs`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, Postgres, Transaction};
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
mod callbacks;
mod claim;
mod deadline;
mod dispatcher;
mod failures;
mod finish;
mod job;
mod manage;
mod module;
mod notify;
#[cfg(test)]
mod plans;
mod queue;
mod quota;
mod row;
mod stats;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod tx;

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
        let options = options.options([("random_page_cost", RANDOM_PAGE_COST)]);
        // Migrate on a connection of its own: sqlx's advisory lock is held
        // by the session, and closing the session releases it even if the
        // migration failed half-way.
        let mut conn = options.connect().await?;
        let migrated = migrate(&mut conn).await;
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
