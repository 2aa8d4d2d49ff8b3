//! Whether the server vacuums `jobs` at all, read when a store opens.
//!
//! A claim walks `jobs_pending` from its head, and every job claimed since
//! `jobs` was last vacuumed leaves a dead entry there that each later claim
//! steps over (`docs/operations.md`, "PostgreSQL: vacuum `jobs` often"):
//! with autovacuum off, server-wide or for the table, nothing removes them
//! and claims grow slower for as long as the server runs. wasync does not
//! vacuum for the operator; it says so at start, once per store opened.

use sqlx::PgConnection;

use crate::store::Result;

/// What the server says about vacuuming `jobs` on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Autovacuum {
    /// The server's `autovacuum` setting.
    pub server: bool,
    /// Whether `jobs` leaves it on (`autovacuum_enabled` among its storage
    /// parameters, true unless set false).
    pub jobs: bool,
}

impl Autovacuum {
    /// Reads both for the `jobs` of the connection's schema.
    pub async fn read(conn: &mut PgConnection) -> Result<Self> {
        let (server, jobs): (bool, bool) = sqlx::query_as(
            "SELECT current_setting('autovacuum')::boolean, \
                    NOT EXISTS (SELECT 1 FROM pg_options_to_table(c.reloptions) AS o \
                                WHERE o.option_name = 'autovacuum_enabled' \
                                  AND NOT o.option_value::boolean) \
             FROM pg_class AS c WHERE c.oid = to_regclass('jobs')",
        )
        .fetch_one(conn)
        .await?;
        Ok(Autovacuum { server, jobs })
    }

    /// What to tell the operator, if autovacuum never reaches `jobs`.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Autovacuum { server: false, .. } => Some(
                "the server's autovacuum is off: nothing vacuums `jobs`, so every claim \
                 steps over the jobs claimed before it and claims slow down as the server \
                 runs (docs/operations.md: PostgreSQL: vacuum `jobs` often)",
            ),
            Autovacuum { jobs: false, .. } => Some(
                "autovacuum is off for `jobs` (its autovacuum_enabled): every claim steps \
                 over the jobs claimed before it and claims slow down as the server runs \
                 (docs/operations.md: PostgreSQL: vacuum `jobs` often)",
            ),
            Autovacuum { .. } => None,
        }
    }
}

/// Logs [`Autovacuum::warning`] for the store opening on `conn`. A server
/// that will not say (a role that cannot read `pg_class`, say) is not a
/// reason to refuse to start: that is logged at debug level and passed.
pub(super) async fn warn_if_off(conn: &mut PgConnection) {
    match Autovacuum::read(conn).await {
        Ok(settings) => {
            if let Some(warning) = settings.warning() {
                tracing::warn!("{warning}");
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not read whether autovacuum reaches `jobs`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing;

    #[test]
    fn only_a_table_autovacuum_reaches_goes_without_a_warning() {
        let on = Autovacuum {
            server: true,
            jobs: true,
        };
        assert_eq!(on.warning(), None);
        let server_off = Autovacuum {
            server: false,
            ..on
        };
        assert!(
            server_off
                .warning()
                .unwrap()
                .contains("server's autovacuum is off")
        );
        let jobs_off = Autovacuum { jobs: false, ..on };
        assert!(jobs_off.warning().unwrap().contains("off for `jobs`"));
    }

    /// Reads what the server and the table say, against `SHOW autovacuum`
    /// and a table turned off and on again by hand.
    #[tokio::test]
    async fn the_settings_are_read_from_the_server_and_the_table() {
        let Some(url) = testing::url_or_skip() else {
            return;
        };
        let schema = testing::TestSchema::new(&url);
        let store = schema.open().await;
        let mut conn = store.pool().acquire().await.unwrap().detach();
        let shown: String = sqlx::query_scalar("SHOW autovacuum")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let read = Autovacuum::read(&mut conn).await.unwrap();
        assert_eq!(read.server, shown == "on");
        assert!(read.jobs, "a new `jobs` leaves autovacuum to the server");

        sqlx::query("ALTER TABLE jobs SET (autovacuum_enabled = off)")
            .execute(&mut conn)
            .await
            .unwrap();
        let off = Autovacuum::read(&mut conn).await.unwrap();
        assert_eq!(
            off,
            Autovacuum {
                jobs: false,
                ..read
            }
        );
        assert!(off.warning().is_some());

        sqlx::query("ALTER TABLE jobs RESET (autovacuum_enabled)")
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(Autovacuum::read(&mut conn).await.unwrap(), read);
    }
}
