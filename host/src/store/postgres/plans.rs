//! The query plans of the statements that run per job, checked on a table
//! loaded as a busy installation's is (and analyzed): none may read all of
//! `jobs` (or all of an index of it), and the claim reads `jobs_pending`.
//! Each statement is prepared and explained with its generic plan, the
//! plan made without the values: the store has PostgreSQL plan every run
//! with its values (`force_custom_plan`, see `mod.rs`), and a statement
//! whose plan is sound without them leaves the planner no excuse with
//! them.

use sqlx::{Connection as _, Row as _};

use super::testing::{self, TestSchema};
use super::{claim, dispatcher, finish, job, queue};

/// The number of parameters (`$n`) of `sql`.
fn parameters(sql: &str) -> usize {
    let mut max = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            max = max.max(n);
        }
    }
    max
}

/// The generic plan of `sql`, one line per step.
async fn plan(conn: &mut sqlx::PgConnection, name: &str, sql: &str) -> Vec<String> {
    sqlx::raw_sql(&format!("PREPARE {name} AS {sql}"))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("prepare {name}: {e}\n{sql}"));
    let nulls = vec!["NULL"; parameters(sql)].join(", ");
    let args = if nulls.is_empty() {
        String::new()
    } else {
        format!("({nulls})")
    };
    let rows = sqlx::raw_sql(&format!("EXPLAIN EXECUTE {name}{args}"))
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("explain {name}: {e}"));
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).expect("a plan line"))
        .collect()
}

/// A table as a busy installation has it: many completed jobs, a long
/// queue, some jobs in flight and a few awaiting; then statistics.
const LOAD: &str = "
    INSERT INTO modules (digest, size, exports, created_at, bytes)
      VALUES ('sha256:' || repeat('0', 64), 0, '[]', 0, '');
    INSERT INTO dispatchers (id, hostname, pid, poll_interval_ms, activated_at, last_ping_at)
      VALUES ('00000000-0000-0000-0000-000000000001', 'h', 1, 1000, 0, 0);
    INSERT INTO jobs (id, queue, status, module, function, args, begin_after, scheduled,
                      created_at, result, dispatcher, agent, attempts)
      SELECT gen_random_uuid(), '', CASE WHEN i <= 100000 THEN 'completed'
                                        WHEN i <= 101000 THEN 'active' ELSE 'pending' END,
             'sha256:' || repeat('0', 64), 'f', '[]', i, false, i,
             CASE WHEN i <= 100000 THEN '1'::json END,
             CASE WHEN i <= 101000 THEN '00000000-0000-0000-0000-000000000001'::uuid END,
             CASE WHEN i <= 101000 THEN 'main' END, 1
      FROM generate_series(1, 120000) AS i;
    UPDATE jobs SET awaiting = (SELECT id FROM jobs WHERE status = 'pending' LIMIT 1)
      WHERE id IN (SELECT id FROM jobs WHERE status = 'active' LIMIT 20);
    ANALYZE;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_statement_of_a_jobs_life_scans_the_jobs_table() {
    let Some(url) = testing::url() else {
        eprintln!("skipped: {} is not set", testing::URL_VAR);
        return;
    };
    let schema = TestSchema::new(&url);
    let store = schema.open().await;
    let mut conn = store.pool().acquire().await.unwrap().detach();
    sqlx::raw_sql(LOAD).execute(&mut conn).await.unwrap();
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
        .execute(&mut conn)
        .await
        .unwrap();
    let statements: Vec<(&str, &str)> = vec![
        ("claim", claim::CLAIM.as_str()),
        ("start", claim::START.as_str()),
        ("insert", job::INSERT.as_str()),
        ("get", job::GET.as_str()),
        ("pull", job::PULL.as_str()),
        ("pull_from_end", job::PULL_FROM_END.as_str()),
        ("detach", job::DETACH.as_str()),
        ("put_back", job::PUT_BACK.as_str()),
        ("pending_count", job::PENDING_COUNT.as_str()),
        ("queue_jobs", queue::JOBS.as_str()),
        ("agent_held_jobs", dispatcher::HELD.as_str()),
        ("finish", finish::FINISH.as_str()),
        ("await", finish::AWAIT.as_str()),
        ("await_lock", finish::LOCK),
        ("await_walk", finish::WALK.as_str()),
        ("cascade", finish::CASCADE.as_str()),
    ];
    let mut scanning = Vec::new();
    for (name, sql) in &statements {
        let steps = plan(&mut conn, name, sql).await;
        if steps.iter().any(|s| s.contains("Seq Scan on jobs")) {
            scanning.push(format!("{name}:\n  {}", steps.join("\n  ")));
        }
        let uses = |index: &str| steps.iter().any(|s| s.contains(index));
        if *name == "claim" {
            assert!(uses("jobs_pending"), "{name}:\n  {}", steps.join("\n  "));
        }
        if ["claim", "finish", "await", "cascade", "detach", "put_back"].contains(name) {
            assert!(uses("jobs_pkey"), "{name}:\n  {}", steps.join("\n  "));
        }
    }
    conn.close().await.unwrap();
    store.pool().close().await;
    assert!(
        scanning.is_empty(),
        "plans that scan jobs:\n{}",
        scanning.join("\n")
    );
}

#[test]
fn parameters_are_counted() {
    assert_eq!(parameters("SELECT 1"), 0);
    assert_eq!(parameters("SELECT $1, $12, $3::text"), 12);
}
