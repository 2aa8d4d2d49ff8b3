//! Migration 0007 on a database that already holds jobs: SQLite rebuilds
//! `jobs` (and the tables referencing it) to add the `cancelled` status.

use std::borrow::Cow;

use sqlx::Connection as _;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;

use super::{MIGRATOR, SqliteStore};
use crate::model::{JobId, JobStatus};
use crate::store::JobCancelParams;
use crate::store::prelude::*;

/// The columns of `jobs`, its indexes, and the tables whose foreign
/// keys reference it.
async fn schema_of_jobs(
    conn: &mut sqlx::SqliteConnection,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let columns = sqlx::query_scalar("SELECT name FROM pragma_table_info('jobs')")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let indexes = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' \
         AND name NOT LIKE 'sqlite_autoindex%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let referencing = sqlx::query_scalar(
        "SELECT DISTINCT m.name FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f \
         WHERE m.type = 'table' AND f.\"table\" = 'jobs'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    (columns, indexes, referencing)
}

/// 0007 rebuilds `jobs` to add `cancelled`: a database migrated up to
/// 0006 with a job and its annotation keeps both, with every column,
/// and the new status is accepted afterwards.
#[tokio::test]
async fn the_jobs_rebuild_keeps_jobs_and_their_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wasync.db");
    let before_0007 = Migrator {
        migrations: Cow::Owned(
            MIGRATOR
                .migrations
                .iter()
                .filter(|m| m.version < 7)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .foreign_keys(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    before_0007.run_direct(&mut conn).await.unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let (done, waiting) = (JobId::new(), JobId::new());
    sqlx::query(
        "INSERT INTO modules (digest, name, size, exports, created_at, bytes) \
         VALUES (?1, 'm', 1, '[]', 0, x'00')",
    )
    .bind(&digest)
    .execute(&mut conn)
    .await
    .unwrap();
    for (id, status, result) in [(done, "completed", Some("42")), (waiting, "pending", None)] {
        sqlx::query(
            "INSERT INTO jobs (id, queue, status, module, module_name, function, args, \
               begin_after, scheduled, result, created_at, completed_at, quota_names) \
             VALUES (?1, '', ?2, ?3, 'm', 'f', '[1]', 5, 0, ?4, 5, 9, '[\"q\"]')",
        )
        .bind(id.0)
        .bind(status)
        .bind(&digest)
        .bind(result)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO annotations (job, name, value, updated_at) VALUES (?1, 'p', '7', 6)")
        .bind(done.0)
        .execute(&mut conn)
        .await
        .unwrap();
    // The failures' 0006: a retry policy and a failed attempt.
    sqlx::query("UPDATE jobs SET retry = '\"never\"' WHERE id = ?1")
        .bind(done.0)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO job_attempts (job, attempt, dispatcher, kind, failure, failed_at) \
         VALUES (?1, 1, NULL, 'interrupted', '{\"kind\":\"interrupted\",\"message\":\"m\"}', 7)",
    )
    .bind(done.0)
    .execute(&mut conn)
    .await
    .unwrap();
    let before = schema_of_jobs(&mut conn).await;
    conn.close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let after = schema_of_jobs(&mut conn).await;
    conn.close().await.unwrap();
    // A merge that adds jobs columns, indexes or tables referencing jobs
    // in an earlier migration must carry them through the rebuild.
    for (what, before, after) in [
        ("column", &before.0, &after.0),
        ("index", &before.1, &after.1),
        ("table referencing jobs", &before.2, &after.2),
    ] {
        for item in before {
            assert!(after.contains(item), "0007 lost the jobs {what} `{item}`");
        }
    }
    let job = store.job_get(done).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.result, Some(serde_json::json!(42)));
    assert_eq!(job.quota_names, ["q"]);
    assert_eq!(
        store.annotation_list(done).await.unwrap(),
        [("p".to_owned(), serde_json::json!(7))]
    );
    assert_eq!(
        job.retry.map(|p| p.preset),
        Some(crate::model::RetryPreset::Never)
    );
    let attempts = store.job_attempts(done).await.unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "the attempts history survives the rebuild"
    );
    assert_eq!(
        attempts[0].failure.kind,
        crate::model::FailureKind::Interrupted
    );
    let cancelled = store
        .job_cancel(JobCancelParams {
            id: waiting,
            now: crate::clock::from_millis(10),
        })
        .await
        .unwrap();
    assert_eq!(cancelled.job.status, JobStatus::Cancelled);
    // Every foreign key of the rebuilt tables still holds.
    let fk: i64 = sqlx::query_scalar("SELECT count(*) FROM pragma_foreign_key_check")
        .fetch_one(&store.reader)
        .await
        .unwrap();
    assert_eq!(fk, 0);
    store.close().await;
}
