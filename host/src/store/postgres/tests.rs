//! PostgreSQL-only behaviour: opening (schemas, concurrent migrations),
//! notifications scoped to their schema, a listener that survives losing
//! its connection, and awaits racing their completion on two stores. The
//! rest is the conformance suite's. Skipped without `WASYNC_TEST_PG`.

use std::time::Duration;

use serde_json::json;

use super::PgStore;
use super::testing::{self, TestSchema};
use crate::model::{JobStatus, NewJob, RunOutcome};
use crate::store::conformance::kit::*;
use crate::store::{Error, Store, StoreEvent, StoreListener};

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
    assert_eq!(applied, 1);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaits_racing_their_completion_on_two_stores_always_resolve() {
    // Store A parks `outer` on `inner` while store B completes `inner`, over
    // and over: whichever commits first, `outer` ends up completed with
    // `inner`'s value (never left waiting on a completed job).
    let Some(schema) = schema() else { return };
    let (a, b) = (schema.open().await, schema.open().await);
    let m = module(&a, "m", None).await;
    let d = dispatcher(&a).await;
    for round in 0..40 {
        let jobs: Vec<NewJob> = (0..2).map(|_| new_job("", &m, "f", t(round))).collect();
        let [outer, inner] = [jobs[0].id, jobs[1].id];
        put(&a, jobs).await;
        assert_eq!(run(&a, d, "", 2, t(round)).await, [outer, inner]);
        let park = {
            let a = a.clone();
            tokio::spawn(
                async move { finish(&a, d, outer, RunOutcome::Await(inner), t(round)).await },
            )
        };
        let complete = {
            let b = b.clone();
            tokio::spawn(async move {
                finish(&b, d, inner, RunOutcome::Value(json!(round)), t(round)).await
            })
        };
        let (parked, completed) = (park.await.unwrap(), complete.await.unwrap());
        assert_eq!(completed.completed[0], inner);
        assert!(parked.reassigned.is_empty(), "{parked:?}");
        let job = a.job_get(outer).await.unwrap();
        assert_eq!(
            (job.status, job.result),
            (JobStatus::Completed, Some(json!(round))),
            "round {round}: {parked:?} / {completed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_split_across_two_stores_is_refused() {
    // x awaits y on store A while y awaits x on store B: one of them sees
    // the other's await (after a deadlock retry, if they met) and fails
    // with a host error; the other completes with that failure.
    let Some(schema) = schema() else { return };
    let (a, b) = (schema.open().await, schema.open().await);
    let m = module(&a, "m", None).await;
    let d = dispatcher(&a).await;
    for round in 0..10 {
        let [x, y] = put_n(&a, "", &m, 2).await[..] else {
            unreachable!()
        };
        run(&a, d, "", 2, t(round)).await;
        let first = {
            let a = a.clone();
            tokio::spawn(async move { finish(&a, d, x, RunOutcome::Await(y), t(round)).await })
        };
        let second = {
            let b = b.clone();
            tokio::spawn(async move { finish(&b, d, y, RunOutcome::Await(x), t(round)).await })
        };
        first.await.unwrap();
        second.await.unwrap();
        for id in [x, y] {
            let job = a.job_get(id).await.unwrap();
            assert_eq!(job.status, JobStatus::Completed, "round {round}");
            let failure = job.failure.expect("a failure");
            assert!(failure.message.contains("waits for job"), "{failure:?}");
        }
    }
}
