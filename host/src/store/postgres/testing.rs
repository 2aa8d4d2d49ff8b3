//! Test support: a fresh schema per test on the server named by
//! `WASYNC_TEST_PG`, dropped when the test ends (even by a panic); schemas
//! left behind by a killed run are dropped by the next run once they are an
//! hour old.

use std::str::FromStr;
use std::sync::Once;
use std::time::{Duration, SystemTime};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::PgStore;
use crate::model::JobId;
use crate::store::Result;

/// The variable that names the test server, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub(crate) const URL_VAR: &str = "WASYNC_TEST_PG";

/// The prefix of every test schema: `wasync_test_<uuid v7>`.
const PREFIX: &str = "wasync_test_";

/// How old a test schema must be for a later run to drop it.
const STALE: Duration = Duration::from_secs(3600);

/// The test server's URL, if configured.
pub(crate) fn url() -> Option<String> {
    std::env::var(URL_VAR).ok().filter(|u| !u.is_empty())
}

/// The test server's URL, or `None` after saying the test is skipped.
pub(crate) fn url_or_skip() -> Option<String> {
    let url = url();
    if url.is_none() {
        eprintln!("skipped: {URL_VAR} is not set");
    }
    url
}

/// A fresh schema on the test server reached through a proxy the test
/// controls (to cut every connection, as a server going away does), or
/// `None` after saying the test is skipped. Keep the proxy until the
/// schema is dropped: the schema is dropped through it.
pub(crate) fn behind_proxy() -> Option<(wasync_faults::Proxy, TestSchema)> {
    let url = url_or_skip()?;
    let proxy = wasync_faults::Proxy::start(address(&url)).expect("a proxy");
    let schema = TestSchema::new(&url_through(&url, proxy.address()));
    Some((proxy, schema))
}

/// The test server's address (for a proxy in front of it).
pub(crate) fn address(url: &str) -> std::net::SocketAddr {
    let options = PgConnectOptions::from_str(url).expect("a PostgreSQL URL");
    let host = match options.get_host() {
        "localhost" => "127.0.0.1",
        host => host,
    };
    format!("{host}:{}", options.get_port())
        .parse()
        .expect("the test server is named by its IP address")
}

/// The test server's URL with its address replaced by `address` (a proxy
/// in front of it).
pub(crate) fn url_through(url: &str, address: std::net::SocketAddr) -> String {
    let options = PgConnectOptions::from_str(url).expect("a PostgreSQL URL");
    format!(
        "postgres://{}@{address}/{}",
        options.get_username(),
        options.get_database().unwrap_or("postgres")
    )
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own:
/// usable from `Drop` and from inside any test's runtime.
fn block_on_own_runtime<F: Future<Output = ()> + Send + 'static>(f: F) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f)
    })
    .join()
    .expect("the cleanup thread does not panic");
}

/// A schema that exists for one test and is dropped with this value.
#[derive(Debug)]
pub(crate) struct TestSchema {
    /// The server.
    pub(crate) url: String,
    /// The schema's name.
    pub(crate) name: String,
}

impl TestSchema {
    /// A new schema name (the schema is created by the first open), after
    /// dropping stale ones once per process.
    pub(crate) fn new(url: &str) -> Self {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(|| {
            let url = url.to_owned();
            block_on_own_runtime(async move {
                if let Err(e) = drop_stale(&url).await {
                    eprintln!("could not drop stale test schemas: {e}");
                }
            });
        });
        TestSchema {
            url: url.to_owned(),
            name: format!("{PREFIX}{}", Uuid::now_v7().simple()),
        }
    }

    /// Opens a store in this schema.
    pub(crate) async fn open(&self) -> PgStore {
        PgStore::open_in_schema(&self.url, &self.name)
            .await
            .expect("open a PostgreSQL store in a test schema")
    }

    /// Opens a store in this schema whose connections carry the
    /// application name `<schema>_<tag>`, so a test can see in
    /// `pg_stat_activity` what they are doing.
    pub(crate) async fn open_tagged(&self, tag: &str) -> PgStore {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        let url = format!("{}{sep}application_name={}", self.url, self.tag(tag));
        PgStore::open_in_schema(&url, &self.name)
            .await
            .expect("open a tagged PostgreSQL store in a test schema")
    }

    /// The application name of [`TestSchema::open_tagged`]`(tag)`.
    pub(crate) fn tag(&self, tag: &str) -> String {
        format!("{}_{tag}", self.name)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        block_on_own_runtime(async move {
            if let Err(e) = PgStore::drop_schema(&url, &name).await {
                eprintln!("could not drop test schema {name} (a later run will): {e}");
            }
        });
    }
}

/// Drops the test schemas created more than [`STALE`] ago (their names
/// carry a UUID v7, so their creation time).
async fn drop_stale(url: &str) -> Result<()> {
    let store_less = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)")
            .bind(PREFIX)
            .fetch_all(&store_less)
            .await?;
    store_less.close().await;
    let cutoff = SystemTime::now() - STALE;
    for name in names {
        let created = Uuid::parse_str(&name[PREFIX.len()..])
            .ok()
            .and_then(|id| id.get_timestamp())
            .map(|ts| {
                let (secs, nanos) = ts.to_unix();
                SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
            });
        if created.is_some_and(|c| c < cutoff) {
            PgStore::drop_schema(url, &name).await?;
        }
    }
    Ok(())
}

impl PgStore {
    /// Locks `ids` (`mode`: `FOR UPDATE`, `FOR SHARE`, …) in a transaction
    /// of its own, as a claimer or a finish on another machine would; the
    /// locks last until the transaction ends.
    pub(crate) async fn lock_jobs(
        &self,
        ids: &[JobId],
        mode: &str,
    ) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
        let locked: Vec<Uuid> = sqlx::query_scalar(&format!(
            "SELECT id FROM jobs WHERE id = ANY($1::uuid[]) ORDER BY id {mode}"
        ))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        assert_eq!(locked.len(), ids.len(), "every job to lock exists");
        Ok(tx)
    }

    /// Inserts `job` in a transaction of its own and leaves it open: a put
    /// of the same id elsewhere waits for it to end (the primary key).
    pub(crate) async fn insert_uncommitted(
        &self,
        job: &crate::model::NewJob,
    ) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::new();
        let jobs = std::slice::from_ref(job);
        let held = super::job::Held::in_transaction(jobs);
        super::job::insert_chunk(&mut tx, &self.channel, jobs, held, &mut ids).await?;
        Ok(tx)
    }

    /// The pool, for tests that look at the server's state.
    pub(crate) fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// The notification channel.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }
}
