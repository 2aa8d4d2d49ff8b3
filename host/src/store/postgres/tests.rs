//! PostgreSQL-only behaviour: opening (schemas, concurrent migrations),
//! notifications scoped to their schema, a listener that survives losing
//! its connection, awaits racing their completion on two stores, a
//! unique put losing its key between reading it free and inserting, a
//! pending job's watch leaving its row alone, and the connections' planner
//! settings. The rest is the conformance suite's. Skipped without
//! `WASYNC_TEST_PG`.

use std::time::Duration;

use serde_json::json;

use super::PgStore;
use super::testing::{self, TestSchema};
use crate::model::{JobStatus, NewJob, RunOutcome, UniqueSpec};
use crate::store::conformance::kit::*;
use crate::store::prelude::*;
use crate::store::{Error, StoreEvent, StoreListener};

/// A fresh schema, or `None` (the test is skipped) without a server.
fn schema() -> Option<TestSchema> {
    let url = testing::url();
    if url.is_none() {
        eprintln!("skipped: {} is not set", testing::URL_VAR);
    }
    Some(TestSchema::new(&url?))
}

async fn next(listener: &mut Box<dyn StoreListener>) -> StoreEvent {
    tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("an announcement within the deadline")
        .expect("the listener's connection holds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_a_new_schema_at_once_migrate_it_once() {
    let Some(schema) = schema() else { return };
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let (url, name) = (schema.url.clone(), schema.name.clone());
            tokio::spawn(async move { PgStore::open_in_schema(&url, &name).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().expect("every open succeeds"));
    }
    for store in &stores {
        let queues = store.queue_list().await.unwrap();
        assert_eq!(queues.len(), 1, "one default queue");
        let path: String = sqlx::query_scalar("SHOW search_path")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(path, schema.name);
        assert_eq!(store.channel(), format!("wasync.{}", schema.name));
        assert_eq!(store.backend(), "postgres");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    assert_eq!(
        applied,
        super::MIGRATOR.migrations.len() as i64,
        "each migration applied once"
    );
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(stores[0].pool())
            .await
            .unwrap();
    assert_eq!(
        versions,
        [
            1, 2, 4, 5, 6, 7, 9, 12, 13, 14, 15, 16, 21, 22, 23, 24, 26, 27, 28, 29, 30, 31
        ],
        "sem-a's 0002, the schedules' 0004, the callbacks' 0005, the failures' 0006, the management tools' 0007, the faults' 0009, the agents' time caps 0012, the runs 0013, the tokens 0014, the runs by dispatcher 0015, the queue caps 0016, the priorities 0021, the unique jobs 0022, the partitioned quotas and rates 0023, the broadcasts 0024, the jobs by creation time 0026, the job counts 0027, the key seeks and counts in key order 0028, the derived keys and schedules' quota keys 0029, the watched jobs 0030, the pending jobs' watches 0031"
    );
    for store in &stores {
        store.close().await;
    }
}

#[tokio::test]
async fn schema_names_are_checked() {
    for bad in [
        "",
        "Upper",
        "1st",
        "pg_catalog",
        "a-b",
        "a;drop",
        &"x".repeat(64),
    ] {
        match PgStore::open_in_schema("postgres://localhost/none", bad).await {
            Err(Error::Config(message)) => assert!(message.contains("schema name")),
            other => panic!("`{bad}`: expected a configuration error, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_keep_installations_apart() {
    let (Some(a), Some(b)) = (schema(), schema()) else {
        return;
    };
    let (a, b) = (a.open().await, b.open().await);
    let mut heard_in_a = a.listen().await.unwrap().unwrap();
    let m = module(&b, "m", None).await;
    put_n(&b, "", &m, 3).await;
    assert_eq!(b.queue_get("").await.unwrap().length, 3);
    assert_eq!(a.queue_get("").await.unwrap().length, 0);
    assert!(a.module_list().await.unwrap().is_empty());
    // `a`'s listener does not hear `b`'s put: the next thing it hears is
    // `a`'s own.
    let m = module(&a, "m", None).await;
    put_n(&a, "", &m, 1).await;
    assert_eq!(
        next(&mut heard_in_a).await,
        StoreEvent::JobsPut {
            queues: vec![String::new()]
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_lost_its_connection_says_so_then_listens_again() {
    let Some(schema) = schema() else { return };
    let store = schema.open().await;
    let m = module(&store, "m", None).await;
    let mut heard = store.listen().await.unwrap().unwrap();
    let listen_sql = format!(r#"LISTEN "{}""#, store.channel());
    let listening = |store: &PgStore, sql: String| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT pid FROM pg_stat_activity WHERE starts_with(query, $1)",
            )
            .bind(sql)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let pids = listening(&store, listen_sql.clone()).await;
    assert_eq!(pids.len(), 1, "one listening connection");
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pids[0])
        .execute(store.pool())
        .await
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("the loss is reported at once");
    assert!(lost.is_err(), "{lost:?}");

    // The caller polls, then receives again: the listener listens on a new
    // connection and hears what is put from then on.
    let receiving = tokio::spawn(async move {
        let event = loop {
            // sqlx may report the loss once more while it reconnects.
            if let Ok(event) = heard.recv().await {
                break event;
            }
        };
        (event, heard)
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now_listening = listening(&store, listen_sql.clone()).await;
        if now_listening.iter().any(|pid| *pid != pids[0]) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no new listener");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    put_n(&store, "", &m, 1).await;
    let (event, _) = tokio::time::timeout(Duration::from_secs(10), receiving)
        .await
        .expect("heard after reconnecting")
        .unwrap();
    assert_eq!(
        event,
        StoreEvent::JobsPut {
            queues: vec![String::new()]
        }
    );
}

/// Waits until a connection tagged `tag` (see [`TestSchema::open_tagged`])
/// is waiting for a lock.
async fn blocked(observer: &PgStore, schema: &TestSchema, tag: &str) {
    waiting_or_done(observer, schema, tag, None).await
}

/// Waits until `task` has finished or a connection tagged `tag` is waiting
/// for a lock, whichever comes first.
async fn settled<T>(
    observer: &PgStore,
    schema: &TestSchema,
    tag: &str,
    task: &tokio::task::JoinHandle<T>,
) {
    waiting_or_done(observer, schema, tag, Some(&|| task.is_finished())).await
}

async fn waiting_or_done(
    observer: &PgStore,
    schema: &TestSchema,
    tag: &str,
    done: Option<&dyn Fn() -> bool>,
) {
    let name = schema.tag(tag);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if done.is_some_and(|done| done()) {
            return;
        }
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(&name)
        .fetch_one(observer.pool())
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{tag}` never waited for a lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_await_racing_the_completion_it_awaits_resolves() {
    // Machine B completes `inner` and, in the same transaction, cascades to
    // `early` (parked on `inner` before); its cascade is held up by another
    // transaction's lock on `early`. Meanwhile machine A parks `outer` on
    // `inner`. Without A's `FOR SHARE` lock on `inner`, A would read
    // `inner` as active (B has not committed), park `outer`, find nothing
    // to resolve and commit, and B's cascade, which read the waiters before
    // A committed, would never see `outer`: it would wait forever.
    let Some(schema) = schema() else { return };
    let observer = schema.open().await;
    let (a, b) = (schema.open_tagged("a").await, schema.open_tagged("b").await);
    let m = module(&observer, "m", None).await;
    let d = dispatcher(&observer).await;
    let [inner, early, outer] = put_n(&observer, "", &m, 3).await[..] else {
        unreachable!()
    };
    run(&observer, d, "", 3, t(1)).await;
    finish(&observer, d, early, RunOutcome::Await(inner), t(2)).await;

    let hold = observer.lock_jobs(&[early], "FOR UPDATE").await.unwrap();
    let completing =
        tokio::spawn(
            async move { finish(&b, d, inner, RunOutcome::Value(json!("v")), t(3)).await },
        );
    blocked(&observer, &schema, "b").await;
    let parking =
        tokio::spawn(async move { finish(&a, d, outer, RunOutcome::Await(inner), t(3)).await });
    settled(&observer, &schema, "a", &parking).await;
    hold.rollback().await.unwrap();
    let (completed, parked) = (completing.await.unwrap(), parking.await.unwrap());
    assert_eq!(completed.completed, [inner, early]);
    assert_eq!(parked.completed, [outer], "{parked:?}");
    for id in [early, outer] {
        let job = observer.job_get(id).await.unwrap();
        assert_eq!(
            (job.status, job.result),
            (JobStatus::Completed, Some(json!("v")))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_parked_while_a_cascade_runs_is_resolved() {
    // `y` awaits `inner`. Machine C parks `z` on `y`; its transaction has
    // locked `y` and is held up (another transaction locks `z`). Machine B
    // completes `inner`: its cascade reads the waiters (`y` only), then
    // waits for C's lock on `y`. C commits (its cascade sees `y` still
    // active); B then completes `y`, and must run its cascade again from
    // `y` to find `z`, which it could not see when it started.
    let Some(schema) = schema() else { return };
    let observer = schema.open().await;
    let (b, c) = (schema.open_tagged("b").await, schema.open_tagged("c").await);
    let m = module(&observer, "m", None).await;
    let d = dispatcher(&observer).await;
    let [inner, y, z] = put_n(&observer, "", &m, 3).await[..] else {
        unreachable!()
    };
    run(&observer, d, "", 3, t(1)).await;
    finish(&observer, d, y, RunOutcome::Await(inner), t(2)).await;

    let hold = observer.lock_jobs(&[z], "FOR UPDATE").await.unwrap();
    let parking = tokio::spawn(async move { finish(&c, d, z, RunOutcome::Await(y), t(3)).await });
    blocked(&observer, &schema, "c").await;
    let completing =
        tokio::spawn(
            async move { finish(&b, d, inner, RunOutcome::Value(json!("deep")), t(3)).await },
        );
    blocked(&observer, &schema, "b").await;
    hold.rollback().await.unwrap();
    let (parked, completed) = (parking.await.unwrap(), completing.await.unwrap());
    assert_eq!(parked.awaiting, [z]);
    assert_eq!(completed.completed, [inner, y, z]);
    let job = observer.job_get(z).await.unwrap();
    assert_eq!(
        (job.status, job.result),
        (JobStatus::Completed, Some(json!("deep")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_split_across_two_machines_is_refused() {
    // A parks x on y while B parks y on x, both past their first statement
    // before either writes (another transaction's share locks hold their
    // writes back). Each has locked the other's job: PostgreSQL aborts one
    // with a deadlock, it runs again, sees the other's await, and refuses
    // the cycle: both complete with the host error.
    let Some(schema) = schema() else { return };
    let observer = schema.open().await;
    let (a, b) = (schema.open_tagged("a").await, schema.open_tagged("b").await);
    let m = module(&observer, "m", None).await;
    let d = dispatcher(&observer).await;
    let [x, y] = put_n(&observer, "", &m, 2).await[..] else {
        unreachable!()
    };
    run(&observer, d, "", 2, t(1)).await;
    let hold = observer.lock_jobs(&[x, y], "FOR SHARE").await.unwrap();
    let first = tokio::spawn(async move { finish(&a, d, x, RunOutcome::Await(y), t(2)).await });
    let second = tokio::spawn(async move { finish(&b, d, y, RunOutcome::Await(x), t(2)).await });
    blocked(&observer, &schema, "a").await;
    blocked(&observer, &schema, "b").await;
    hold.rollback().await.unwrap();
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert!(first.reassigned.is_empty() && second.reassigned.is_empty());
    for id in [x, y] {
        let job = observer.job_get(id).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        let failure = job.failure.expect("a failure");
        assert!(failure.message.contains("waits for job"), "{failure:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_deleted_while_a_job_is_put_in_it_keeps_it_or_refuses_it() {
    // A put into queue `q` has read `q` and waits (another transaction
    // inserts the same id and holds it); meanwhile `q` is deleted. Either
    // the delete waits for the put and refuses (the queue holds a job), or
    // the put fails: never a job in a queue that no longer exists.
    let Some(schema) = schema() else { return };
    let observer = schema.open().await;
    let (putter, deleter) = (schema.open().await, schema.open_tagged("del").await);
    let m = module(&observer, "m", None).await;
    observer.queue_create("q", t(0)).await.unwrap();
    let job = new_job("q", &m, "f", t(1));
    let hold = observer.insert_uncommitted(&job).await.unwrap();
    let putting = {
        let job = job.clone();
        tokio::spawn(async move { putter.job_insert_many(&[job]).await })
    };
    let deleting = tokio::spawn(async move { deleter.queue_delete("q").await });
    settled(&observer, &schema, "del", &deleting).await;
    hold.rollback().await.unwrap();
    let (put, deleted) = (putting.await.unwrap(), deleting.await.unwrap());
    match (&put, &deleted) {
        (Ok(_), Err(Error::Conflict(message))) => {
            assert!(message.contains("1 pending"), "{message}");
            assert_eq!(observer.queue_get("q").await.unwrap().length, 1);
        }
        (Err(Error::NotFound { what }), Ok(())) => assert!(what.contains("queue `q`")),
        _ => panic!("put: {put:?}, delete: {deleted:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_by_url_alone_joins_the_installation_of_its_search_path() {
    // `open(url)` works in the connection's default schema: here the URL
    // names the test schema as its search path, so the two stores are one
    // installation (same data, same notification channel).
    let Some(schema) = schema() else { return };
    let made = schema.open().await;
    let sep = if schema.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options[search_path]={}", schema.url, schema.name);
    let joined = PgStore::open(&url).await.unwrap();
    assert_eq!(joined.channel(), made.channel());
    let mut heard = made.listen().await.unwrap().unwrap();
    let m = module(&joined, "m", Some("by-url")).await;
    put_n(&joined, "", &m, 2).await;
    assert_eq!(made.module_get("by-url").await.unwrap(), m);
    assert_eq!(made.queue_get("").await.unwrap().length, 2);
    assert_eq!(
        next(&mut heard).await,
        StoreEvent::JobsPut {
            queues: vec![String::new()]
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_taking_one_name_at_once_all_succeed_and_one_holds_it() {
    // Each upload moves the name to its module; run at once on several
    // stores, the later ones meet the earlier ones' committed name and run
    // again. Every upload succeeds and exactly one module ends with the
    // name.
    let Some(schema) = schema() else { return };
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(schema.open().await);
    }
    let go = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let uploads: Vec<_> = (0..8)
        .map(|i| {
            let (store, go) = (stores[i % 4].clone(), go.clone());
            tokio::spawn(async move {
                go.wait().await;
                module(&store, &format!("v{i}"), Some("tool")).await
            })
        })
        .collect();
    let mut digests = Vec::new();
    for upload in uploads {
        digests.push(upload.await.unwrap().digest);
    }
    let all = stores[0].module_list().await.unwrap();
    assert_eq!(all.len(), 8);
    let named: Vec<_> = all
        .iter()
        .filter(|m| m.name.as_deref() == Some("tool"))
        .collect();
    assert_eq!(named.len(), 1, "{all:?}");
    assert!(digests.contains(&named[0].digest));
    assert_eq!(
        stores[0].module_get("tool").await.unwrap().digest,
        named[0].digest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_put_that_loses_its_key_after_reading_it_free_is_answered_with_the_winner() {
    // A put with a key reads `jobs_unique` first and finds the key free;
    // another transaction has inserted the key and not committed, so the
    // put's insert waits on it. Once that commits, the insert fails on
    // `jobs_unique`, and the put is tried again skipping held keys: it is
    // answered with the winner and inserts nothing.
    let Some(schema) = schema() else { return };
    let observer = schema.open().await;
    let putter = schema.open_tagged("put").await;
    let m = module(&observer, "m", None).await;
    let keyed = |at| {
        let spec = UniqueSpec {
            key: Some("k".to_owned()),
            states: Vec::new(),
            period_ms: None,
        };
        NewJob {
            unique: Some(spec.resolve("m", "work", &json!([]), t(0)).unwrap()),
            ..new_job("", &m, "work", t(at))
        }
    };
    let (winner, loser) = (keyed(0), keyed(1));
    let hold = observer.insert_uncommitted(&winner).await.unwrap();
    let putting = {
        let loser = loser.clone();
        tokio::spawn(async move { putter.job_insert_many(&[loser]).await })
    };
    blocked(&observer, &schema, "put").await;
    hold.commit().await.unwrap();
    let answer = putting.await.unwrap().expect("the put is answered");
    assert_eq!(answer[0].id, winner.id, "answered with the key's holder");
    assert!(
        observer.job_get(loser.id).await.is_err(),
        "nothing inserted"
    );
    assert_eq!(queue_ids(&observer, "").await, [winner.id]);
}

/// A pending job is marked as waited for beside its row (`watch.rs`): a
/// mark that held the row made a claim running meanwhile (`FOR UPDATE SKIP
/// LOCKED`) skip the job and start one of lower priority first. Here the
/// row is held as a claim in flight holds it: the mark neither waits for
/// it nor takes it, and the job's finish, by another store, announces the
/// completion all the same.
#[tokio::test]
async fn a_pending_job_is_watched_without_taking_its_row() {
    let Some(schema) = schema() else { return };
    let observer = schema.open().await;
    let watcher = schema.open_tagged("watch").await;
    let mut heard = watcher.listen().await.unwrap().unwrap();
    let m = module(&observer, "m", None).await;
    let id = put_n(&observer, "", &m, 1).await[0];

    let mut claim_in_flight = observer.pool().begin().await.unwrap();
    sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .execute(&mut *claim_in_flight)
        .await
        .unwrap();
    let watching = {
        let watcher = watcher.clone();
        tokio::spawn(async move { watcher.job_watch(id).await })
    };
    settled(&observer, &schema, "watch", &watching).await;
    assert!(
        watching.is_finished(),
        "the mark of a pending job waits for no lock on its row"
    );
    watching.await.unwrap().expect("marked");
    let marks: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT job_id FROM job_watches")
        .fetch_all(observer.pool())
        .await
        .unwrap();
    assert_eq!(marks, [id.0], "marked beside its row");
    claim_in_flight.rollback().await.unwrap();

    let d = dispatcher(&observer).await;
    assert_eq!(run(&observer, d, "", 1, t(1)).await, [id]);
    finish(&observer, d, id, RunOutcome::Value(json!(1)), t(2)).await;
    let completed = loop {
        match next(&mut heard).await {
            StoreEvent::JobsCompleted { ids } => break ids,
            _put_or_agents => continue,
        }
    };
    assert_eq!(completed, [id], "the finish saw the mark beside the row");
    let marked: bool = sqlx::query_scalar("SELECT watched FROM jobs WHERE id = $1")
        .bind(id.0)
        .fetch_one(observer.pool())
        .await
        .unwrap();
    assert!(!marked, "marked beside its row, not on it");
    let marks: i64 = sqlx::query_scalar("SELECT count(*) FROM job_watches")
        .fetch_one(observer.pool())
        .await
        .unwrap();
    assert_eq!(
        marks, 0,
        "the mark is dropped as the completion is announced"
    );
}

/// Every connection plans as `mod.rs` sets it: random pages cost
/// `RANDOM_PAGE_COST`, no statement is JIT-compiled (`JIT`: with 10M
/// finished jobs, compiling the await cascade cost every finish ~20 ms)
/// nor starts parallel workers (`MAX_PARALLEL_WORKERS_PER_GATHER`: with
/// 10M, starting one cost every finish ~5 ms).
#[tokio::test]
async fn connections_carry_the_planner_settings() {
    let Some(schema) = schema() else { return };
    let store = schema.open().await;
    let (cost, jit, plans, workers): (String, String, String, String) = sqlx::query_as(
        "SELECT current_setting('random_page_cost'), current_setting('jit'), \
         current_setting('plan_cache_mode'), current_setting('max_parallel_workers_per_gather')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(cost, super::RANDOM_PAGE_COST);
    assert_eq!(jit, super::JIT);
    assert_eq!(plans, super::PLAN_CACHE_MODE);
    assert_eq!(workers, super::MAX_PARALLEL_WORKERS_PER_GATHER);
}
