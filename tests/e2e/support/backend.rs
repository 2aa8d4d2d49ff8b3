//! The store backend a test runs against and its database: a fresh
//! SQLite file or PostgreSQL schema per test, dropped at the end, so tests
//! never see each other's jobs; and the macro that runs a test on both.

use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tempfile::TempDir;

/// The PostgreSQL URL tests may use (`WASYNC_TEST_PG`), if set.
pub fn postgres_url() -> Option<String> {
    std::env::var("WASYNC_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The store backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: each server's data directory, or a shared file.
    Sqlite,
    /// PostgreSQL (`WASYNC_TEST_PG`): a schema of the test's own.
    Postgres,
}

impl Backend {
    /// A fresh database that several servers of one test may share.
    pub fn database(self) -> Database {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite:{}", dir.path().join("shared.db").display());
                Database {
                    url,
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Postgres => {
                let base = postgres_url().expect("WASYNC_TEST_PG is set for PostgreSQL tests");
                let schema = format!("wasync_e2e_{}", uuid::Uuid::now_v7().simple());
                let separator = if base.contains('?') { '&' } else { '?' };
                Database {
                    url: format!("{base}{separator}schema={schema}"),
                    cleanup: Cleanup::Schema { base, schema },
                }
            }
        }
    }
}

/// One test's database; dropped (the file or the schema) at the end.
#[derive(Debug)]
pub struct Database {
    /// What `--database` takes.
    pub url: String,
    cleanup: Cleanup,
}

impl Database {
    /// On PostgreSQL, the server's clock now (as text), to pass to
    /// [`Database::transactions_end`]; `None` on SQLite.
    pub async fn clock(&self) -> Option<String> {
        let Cleanup::Schema { base, .. } = &self.cleanup else {
            return None;
        };
        let mut conn = sqlx::PgConnection::connect(base).await.expect("connect");
        let now: String = sqlx::query_scalar("SELECT clock_timestamp()::text")
            .fetch_one(&mut conn)
            .await
            .expect("clock");
        Some(now)
    }

    /// On PostgreSQL, whether every transaction that another connection
    /// had open on this database's schema at `at` (read with
    /// [`Database::clock`]) ends within `within`. A process paused (SIGSTOP)
    /// inside a transaction keeps its locks, a dispatcher's row say, until
    /// it continues: a statement waiting for one (another process's
    /// activation) waits as long. A write of another row goes through all
    /// the same, so only this shows it. True on SQLite, where a paused
    /// writer holds the file's lock instead, which any write shows.
    pub async fn transactions_end(&self, at: Option<&str>, within: Duration) -> bool {
        let (Cleanup::Schema { base, schema }, Some(at)) = (&self.cleanup, at) else {
            return true;
        };
        let mut conn = sqlx::PgConnection::connect(base).await.expect("connect");
        let deadline = Instant::now() + within;
        loop {
            // A transaction that touched the schema holds a lock on one of
            // its tables (at least `AccessShare`) until it ends.
            let open: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity AS a \
                 WHERE a.pid <> pg_backend_pid() AND a.xact_start < $2::timestamptz \
                   AND EXISTS (SELECT 1 FROM pg_locks AS l \
                     JOIN pg_class AS c ON c.oid = l.relation \
                     JOIN pg_namespace AS n ON n.oid = c.relnamespace \
                     WHERE l.pid = a.pid AND n.nspname = $1))",
            )
            .bind(schema)
            .bind(at)
            .fetch_one(&mut conn)
            .await
            .expect("open transactions");
            if !open {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[derive(Debug)]
enum Cleanup {
    Dir(#[allow(dead_code)] TempDir),
    Schema { base: String, schema: String },
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Cleanup::Schema { base, schema } = &self.cleanup {
            let (base, schema) = (base.clone(), schema.clone());
            // Drop is synchronous and may run inside the test's runtime:
            // drop the schema from a thread with a runtime of its own.
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(wasync::store::postgres::PgStore::drop_schema(
                        &base, &schema,
                    ))
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop a test schema: {dropped:?}");
            }
        }
    }
}

/// Declares each listed `async fn test(backend: Backend)` as two tests:
/// `sqlite::test`, and `postgres::test`, which is skipped (passes, saying
/// so) when `WASYNC_TEST_PG` is not set.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if $crate::support::postgres_url().is_none() {
                        eprintln!("skipped: WASYNC_TEST_PG is not set");
                        return;
                    }
                    super::$test($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}
