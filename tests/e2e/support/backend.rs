//! The store backend a test runs against and its database: a fresh
//! SQLite file or PostgreSQL schema per test, dropped at the end, so tests
//! never see each other's jobs; and the macro that runs a test on both.

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
