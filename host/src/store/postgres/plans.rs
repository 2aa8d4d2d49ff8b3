//! The query plans of the statements that run per job, checked on a table
//! loaded as a busy installation's is, first before any statistics exist
//! (a new installation, where the planner guesses) and then analyzed: none
//! may read all of `jobs`, the claim reads `jobs_pending` (once, to pick),
//! the finish's writes look their jobs up by `jobs_pkey`, never through
//! `jobs_in_flight` or `jobs_pending` (which would compare every in-flight
//! job with every row of the batch, see `finish.rs`), the cascade finds
//! waiters through `jobs_awaiting`, and none starts parallel workers, even
//! where the session makes them free. Each statement is
//! prepared and explained with its generic plan, the one PostgreSQL uses
//! after five runs, made without the values. Plans kept from a new
//! installation's first few hundred jobs are read again once the table has
//! grown: only known statements may scan `jobs` then (`KEPT_SCANS`).

use serde_json::json;
use sqlx::{Connection as _, Row as _};

use super::testing::{self, TestSchema};
use super::tx::PgTx;
use super::{PgStore, claim, finish, job, quota};
use crate::model::RunOutcome;
use crate::store::Store;
use crate::store::conformance::kit;
use crate::store::failures::records::HELD_JOBS;
use crate::store::statement::POSTGRES;
use crate::store::{deadline, dispatchers, finishes, jobs, queue};

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
    explain_prepared(conn, name, sql).await
}

/// The plan of the statement prepared as `name` (from `sql`), one line per
/// step: the one the connection keeps, if it keeps one.
async fn explain_prepared(conn: &mut sqlx::PgConnection, name: &str, sql: &str) -> Vec<String> {
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
    lines(&rows)
}

/// An `EXPLAIN`'s rows, one line per step.
fn lines(rows: &[sqlx::postgres::PgRow]) -> Vec<String> {
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).expect("a plan line"))
        .collect()
}

/// A store in a new schema of the test server, and a connection of its
/// own to it (the schema lives as long as the first); `None`, said on
/// stderr, when no server is set.
async fn new_schema() -> Option<(TestSchema, PgStore, sqlx::PgConnection)> {
    let Some(url) = testing::url() else {
        eprintln!("skipped: {} is not set", testing::URL_VAR);
        return None;
    };
    let schema = TestSchema::new(&url);
    let store = schema.open().await;
    let conn = store.pool().acquire().await.unwrap().detach();
    Some((schema, store, conn))
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
";

/// The statements checked: those that run per job, by name.
fn per_job_statements() -> Vec<(&'static str, &'static str)> {
    vec![
        ("claim", claim::CLAIM[0].as_str()),
        ("claim_start", claim::CLAIM[1].as_str()),
        ("start", claim::START.as_str()),
        ("insert", job::INSERT[0].as_str()),
        ("insert_keys_left_out", job::INSERT[1].as_str()),
        ("insert_keys_skipped", job::INSERT[2].as_str()),
        ("get", jobs::GET.text(&POSTGRES)),
        ("pull", jobs::PULL.text(&POSTGRES)),
        ("pull_from_end", jobs::PULL_FROM_END.text(&POSTGRES)),
        ("detach", jobs::DETACH.text(&POSTGRES)),
        ("put_back", jobs::PUT_BACK.text(&POSTGRES)),
        ("pending_count", jobs::PENDING_COUNT.text(&POSTGRES)),
        ("queue_jobs", queue::JOBS.text(&POSTGRES)),
        ("agent_held_jobs", dispatchers::HELD.text(&POSTGRES)),
        ("self_check", HELD_JOBS.text(&POSTGRES)),
        ("finish", finish::FINISH.as_str()),
        ("await", finish::AWAIT.as_str()),
        ("await_lock", finish::LOCK),
        ("await_walk", finishes::WALK.text(&POSTGRES)),
        ("cascade", finish::CASCADE.as_str()),
        ("update", jobs::UPDATE.text(&POSTGRES)),
        (
            "quota_lock",
            crate::store::claim_apart::QUOTAS.text(&POSTGRES),
        ),
        (
            "quota_slots",
            crate::store::quota::IN_FLIGHT.text(&POSTGRES),
        ),
        ("quota_walk", quota::WALK[0].as_str()),
        ("quota_walk_after", quota::WALK[1].as_str()),
        ("quota_heads", quota::HEADS.as_str()),
        ("claim_ids", quota::CLAIM_IDS.as_str()),
        ("expire", deadline::EXPIRE.text(&POSTGRES)),
        ("next_due", deadline::NEXT_DUE.text(&POSTGRES)),
        (
            "settle_waiting",
            crate::store::settle_sql::WAITING.text(&POSTGRES),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_statement_of_a_jobs_life_scans_the_jobs_table() {
    // Its `ANALYZE` (of every table of the database) would make the plans
    // the tests beside it keep again.
    let _alone = KEEPING_PLANS.lock().await;
    let Some((_schema, store, mut conn)) = new_schema().await else {
        return;
    };
    sqlx::raw_sql(LOAD).execute(&mut conn).await.unwrap();
    // Generic plans, as the store runs them; and parallel plans made as
    // cheap as they can be, so that a connection allowing them would take
    // one wherever a statement could (a worker process started for a
    // statement of a job's life costs milliseconds: see `mod.rs`,
    // `MAX_PARALLEL_WORKERS_PER_GATHER`).
    sqlx::raw_sql(
        "SET plan_cache_mode = force_generic_plan; \
         SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; \
         SET min_parallel_table_scan_size = 0; SET min_parallel_index_scan_size = 0",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let statements = per_job_statements();
    let mut wrong = Vec::new();
    for state in ["without statistics", "analyzed"] {
        if state == "analyzed" {
            sqlx::raw_sql("ANALYZE").execute(&mut conn).await.unwrap();
        }
        for (name, sql) in &statements {
            let prepared = format!("{}_{}", name, state.len());
            let steps = plan(&mut conn, &prepared, sql).await;
            eprintln!("== {name} ({state})\n{}", steps.join("\n"));
            let count = |what: &str| steps.iter().filter(|s| s.contains(what)).count();
            let mut problems = Vec::new();
            if count("Seq Scan on jobs") > 0 {
                problems.push("scans jobs");
            }
            if count("Gather") > 0 {
                problems.push("starts parallel workers");
            }
            match *name {
                "claim" if count("jobs_pending") != 1 || count("jobs_pkey") != 1 => {
                    problems.push("does not pick from jobs_pending, then update by id")
                }
                "finish" | "await" | "cascade" | "put_back" | "detach" | "update" | "claim_ids"
                    if count("jobs_pkey") == 0 =>
                {
                    problems.push("does not find its jobs by id")
                }
                "finish" | "await" | "claim_ids"
                    if count("jobs_in_flight") + count("jobs_pending") > 0 =>
                {
                    problems.push("reads a partial index of jobs")
                }
                "quota_walk" | "quota_walk_after" if count("jobs_pending_unslotted") == 0 => {
                    problems.push("does not walk jobs_pending_unslotted")
                }
                // One seek per key: never a walk of the queue's pending
                // jobs filtered by key.
                "quota_heads" if count("jobs_pending_slot") == 0 || count("jobs_pending ") > 0 => {
                    problems.push("does not seek jobs_pending_slot")
                }
                // A dispatcher's self-check reads its range of the jobs in
                // flight, however many jobs wait or are done.
                "self_check" if count("jobs_in_flight") == 0 => {
                    problems.push("does not read jobs_in_flight")
                }
                "quota_slots" if count("jobs_quota_in_flight") == 0 => {
                    problems.push("does not read jobs_quota_in_flight")
                }
                "expire" | "next_due" if count("jobs_deadline") == 0 => {
                    problems.push("does not read jobs_deadline")
                }
                // The cascade looks for waiters in `jobs_awaiting` (without
                // statistics, ANDed with `jobs_in_flight`: bounded by the
                // jobs running, not by the table).
                "cascade" if count("jobs_pending") > 0 || count("jobs_awaiting") == 0 => {
                    problems.push("does not find waiters by jobs_awaiting")
                }
                _ => {}
            }
            if !problems.is_empty() {
                wrong.push(format!(
                    "{name} ({state}): {problems:?}\n  {}",
                    steps.join("\n  ")
                ));
            }
        }
    }
    conn.close().await.unwrap();
    store.pool().close().await;
    assert!(wrong.is_empty(), "unsound plans:\n{}", wrong.join("\n"));
}

/// The tests of this file that read plans run one at a time: a schema
/// created meanwhile (another such test's) resets the plans a connection
/// keeps (`ResetPlanCache`), and so does an `ANALYZE` of the table, and
/// the plans are then made again on the grown table. Other tests' schemas
/// may still do so: a test whose kept plans do not show the trap tries
/// again on a new schema, up to [`ATTEMPTS`] times.
static KEEPING_PLANS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const ATTEMPTS: usize = 3;

/// A store in a new schema on which `shows` holds (`Err` says why not),
/// tried on up to [`ATTEMPTS`] new schemas, then failing with the last
/// reason; `None` when no server is set.
async fn a_schema_where(
    mut shows: impl AsyncFnMut(&mut sqlx::PgConnection) -> Result<(), String>,
) -> Option<(TestSchema, PgStore, sqlx::PgConnection)> {
    let mut why = String::new();
    for _ in 0..ATTEMPTS {
        let (schema, store, mut conn) = new_schema().await?;
        match shows(&mut conn).await {
            Ok(()) => return Some((schema, store, conn)),
            Err(reason) => why = reason,
        }
    }
    panic!("{why}");
}

/// A new installation's first jobs (400 of [`LOAD`]'s, and its other rows).
async fn first_jobs(conn: &mut sqlx::PgConnection) {
    let first = LOAD.replace(
        "generate_series(1, 120000)",
        "generate_series(100801, 101200)",
    );
    sqlx::raw_sql(&first).execute(conn).await.unwrap();
}

/// Grows `jobs` from [`first_jobs`] to 101,200 jobs.
async fn grow(conn: &mut sqlx::PgConnection) {
    let grown = LOAD
        .split_once("INSERT INTO jobs")
        .map(|(_, jobs)| format!("INSERT INTO jobs{jobs}"))
        .expect("LOAD inserts jobs");
    let grown = grown.replace("generate_series(1, 120000)", "generate_series(1, 100800)");
    sqlx::raw_sql(&grown).execute(conn).await.unwrap();
}

/// The finish's write as a connection keeps it: prepared on a new
/// installation's first jobs and run six times (PostgreSQL keeps a generic
/// plan after five), explained once the table has grown.
async fn finish_kept_from_a_small_table(conn: &mut sqlx::PgConnection) -> Vec<String> {
    first_jobs(conn).await;
    let nulls = vec!["NULL"; parameters(&finish::FINISH)].join(", ");
    sqlx::raw_sql(&format!("PREPARE kept AS {}", *finish::FINISH))
        .execute(&mut *conn)
        .await
        .unwrap();
    for _ in 0..6 {
        sqlx::raw_sql(&format!("EXECUTE kept({nulls})"))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    grow(conn).await;
    explain_prepared(conn, "kept", &finish::FINISH).await
}

/// The finish's write is planned at each run from the table as it is (it
/// is sent unprepared: `finish.rs`), never kept from its first runs. A plan
/// PostgreSQL keeps for a prepared statement is not made again as the
/// table grows; only new statistics (autovacuum's, a minute or more
/// later) discard it. Kept from a new installation's first finishes, on
/// a small table, the finish's plan compared every job with every row of
/// the batch: 3.4 s a finish of 1,024 jobs among 20,000, and `wasync
/// bench` on a new database processed ~500 jobs/s (issue 16). Here the
/// statement runs six times on a table of 400 jobs, as a connection would
/// run it (PostgreSQL keeps a generic plan after five), the table grows to
/// 101,200 jobs, and the plan made for a batch of the jobs in flight, its
/// values bound as the store binds them, must find them by `jobs_pkey`
/// without reading all of `jobs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finish_is_planned_from_the_table_as_it_grows() {
    let _alone = KEEPING_PLANS.lock().await;
    let Some((_schema, store, mut conn)) = a_schema_where(async |conn| {
        let kept = finish_kept_from_a_small_table(conn).await;
        eprintln!("== kept since the table was small\n{}", kept.join("\n"));
        if kept.iter().any(|s| s.contains("Seq Scan on jobs")) {
            Ok(())
        } else {
            Err(
                "a plan kept from a small table no longer reads all of jobs once it grew: \
                 this test no longer shows why the finish is sent unprepared"
                    .to_owned(),
            )
        }
    })
    .await
    else {
        return;
    };

    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE status = 'active' AND awaiting IS NULL ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let n = ids.len();
    let dispatcher = uuid::Uuid::from_u128(1);
    let made = sqlx::query(&format!("EXPLAIN {}", *finish::FINISH))
        .bind(ids)
        .bind(vec![dispatcher; n])
        .bind(vec![1_i64; n])
        .bind(vec![Some("1"); n])
        .bind(vec![None::<String>; n])
        .bind(vec![None::<Vec<u8>>; n])
        .bind(vec![None::<Vec<u8>>; n])
        .persistent(false)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let made = lines(&made);
    eprintln!("== made for a batch of {n}\n{}", made.join("\n"));
    let count = |what: &str| made.iter().filter(|s| s.contains(what)).count();
    assert!(
        count("Seq Scan on jobs") == 0 && count("jobs_pkey") > 0,
        "the finish's plan reads all of jobs:\n{}",
        made.join("\n")
    );
    conn.close().await.unwrap();
    store.pool().close().await;
}

/// The statements of [`per_job_statements`] whose generic plan, made on a
/// new installation's first jobs, scans `jobs` once the table has grown.
async fn kept_scans(conn: &mut sqlx::PgConnection) -> Vec<&'static str> {
    first_jobs(conn).await;
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();
    let statements = per_job_statements();
    for (name, sql) in &statements {
        plan(conn, name, sql).await;
    }
    grow(conn).await;
    let mut with_scans = Vec::new();
    for (name, sql) in &statements {
        let kept = explain_prepared(conn, name, sql).await;
        if kept.iter().any(|s| s.contains("Seq Scan on jobs")) {
            eprintln!(
                "== {name}, kept since the table was small\n{}",
                kept.join("\n")
            );
            with_scans.push(*name);
        }
    }
    with_scans
}

/// The statements whose generic plan, made on a new installation's small
/// table, still scans `jobs` once it has grown, and why each is borne.
/// The finish's and the await's writes, and the lock and the walk of
/// awaited jobs (which run only for a batch that awaits), are sent
/// unprepared, planned at each run ([`UNPREPARED`], checked by
/// `the_statements_planned_at_each_run_are_not_kept`). The cascade, which
/// runs at every finish, keeps its plan: its scans read one row when no
/// job awaits the finished ones (checked below), and its kept plan lasts
/// until autovacuum's first statistics of the table make it again.
const KEPT_SCANS: [&str; 5] = ["finish", "await", "await_lock", "await_walk", "cascade"];

/// The statements the store sends unprepared on PostgreSQL, by their
/// names in [`per_job_statements`].
const UNPREPARED: [&str; 4] = ["finish", "await", "await_lock", "await_walk"];

/// A connection keeps no plan of the statements of [`UNPREPARED`]: after a
/// finish that completes one job and parks another awaiting it (lock,
/// walk, both writes and the cascade, on one connection, through the
/// store's own finish), none is among the statements it prepared, and the
/// cascade, which the store does prepare, is: so the check reads what the
/// connection kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statements_planned_at_each_run_are_not_kept() {
    let Some((_schema, store, conn)) = new_schema().await else {
        return;
    };
    conn.close().await.unwrap();
    let s: &dyn Store = &store;
    let m = kit::module(s, "m", None).await;
    let d = kit::dispatcher(s).await;
    let [inner, outer] = kit::put_n(s, "", &m, 2).await[..] else {
        unreachable!("two jobs put")
    };
    assert_eq!(kit::run(s, d, "", 2, kit::t(1)).await, [inner, outer]);
    let batch = [
        kit::outcome(d, inner, RunOutcome::Value(json!(42)), kit::t(2)),
        kit::outcome(d, outer, RunOutcome::Await(inner), kit::t(2)),
    ];

    let mut tx = store.begin().await.unwrap();
    let report = finishes::finish(&mut PgTx::new(&mut tx, &store, Vec::new()), &batch)
        .await
        .unwrap();
    assert_eq!(report.completed, [inner, outer], "{report:?}");
    let prepared: Vec<String> = sqlx::query_scalar("SELECT statement FROM pg_prepared_statements")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let statements = per_job_statements();
    let text = |name: &str| {
        statements
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, sql)| *sql)
            .expect("a statement of per_job_statements")
    };
    assert!(
        prepared.iter().any(|p| p == text("cascade")),
        "the cascade is not among the statements kept: {prepared:#?}"
    );
    let kept: Vec<&str> = UNPREPARED
        .into_iter()
        .filter(|name| prepared.iter().any(|p| p == text(name)))
        .collect();
    assert!(kept.is_empty(), "prepared and kept: {kept:?}");
    store.pool().close().await;
}

/// Plans kept from a small table, read again once it has grown. A plan
/// PostgreSQL keeps for a prepared statement is made again only when the
/// table's statistics change (autovacuum's first, a minute or more after
/// a new installation's first jobs); the finish's write, kept so, took
/// 3.4 s a batch once the table had grown (`the_finish_is_planned_from_
/// the_table_as_it_grows`). Here every statement of a job's life gets its
/// generic plan on a table of 400 jobs, the table grows to 101,200, and
/// the plans kept must not scan `jobs`, except those of [`KEPT_SCANS`]: a
/// statement added with that trap fails here, and so does one of the list
/// once it is rid of it (then drop it from the list).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_kept_from_a_small_table_scan_jobs_only_where_known() {
    let _alone = KEEPING_PLANS.lock().await;
    let Some((_schema, store, mut conn)) = a_schema_where(async |conn| {
        let scanning = kept_scans(conn).await;
        assert!(
            scanning.iter().all(|name| KEPT_SCANS.contains(name)),
            "statements whose plan kept from a small table scans jobs: {scanning:?}"
        );
        // Fewer than known: the plans may have been reset meanwhile.
        if scanning == KEPT_SCANS {
            return Ok(());
        }
        let gone: Vec<_> = KEPT_SCANS
            .iter()
            .filter(|name| !scanning.contains(name))
            .collect();
        Err(format!(
            "no longer kept with a scan of jobs (drop them from KEPT_SCANS): {gone:?}"
        ))
    })
    .await
    else {
        return;
    };

    // The cascade runs at every finish: with no job awaiting the finished
    // ones, its scans stop at their first row (a hash join whose other
    // side is empty reads no further).
    sqlx::raw_sql("BEGIN").execute(&mut conn).await.unwrap();
    let ran = sqlx::raw_sql("EXPLAIN ANALYZE EXECUTE cascade('{}', 0, '{}', 'wasync_test')")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
    let ran = lines(&ran);
    let scans: Vec<&String> = ran
        .iter()
        .filter(|s| s.contains("Seq Scan on jobs"))
        .collect();
    assert!(
        !scans.is_empty()
            && scans
                .iter()
                .all(|s| s.contains("rows=1 loops=1") || s.contains("never executed")),
        "the cascade's kept scans read more than a row with no job awaiting:\n{}",
        ran.join("\n")
    );
    conn.close().await.unwrap();
    store.pool().close().await;
}

#[test]
fn parameters_are_counted() {
    assert_eq!(parameters("SELECT 1"), 0);
    assert_eq!(parameters("SELECT $1, $12, $3::text"), 12);
}
