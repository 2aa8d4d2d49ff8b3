//! No forgotten claims, no dropped outcomes: a dispatcher hands
//! back the jobs the store says it holds and it does not, and its
//! completer keeps outcomes the database cannot take (a full disk, a
//! server gone away) until it takes them, on the connections the pool
//! opens again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wasync_faults::SmallDisk;

use super::completer::{BatchCompleter, Completer};
use crate::clock::{Clock, SystemClock};
use crate::model::JobSpec;
use crate::model::{AgentSpec, FailureKind, JobId, JobStatus, RunOutcome};
use crate::service::{Events, Putter, StoreHealth};
use crate::store::conformance::kit::{self, t};
use crate::store::postgres::testing;
use crate::store::sqlite::SqliteStore;
use crate::store::{FaultKind, JobStartParams, Store};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_the_store_says_a_dispatcher_holds_and_it_does_not_are_handed_back_and_run() {
    // Nothing is found by polling here: an agent added for the forgotten
    // jobs' queue wakes the dispatcher.
    let setup = super::tests::setup().await;
    let (service, dispatcher) = (&setup.service, setup.dispatcher);
    let store = setup.store.clone();
    let module = store.module_get("hello").await.unwrap();
    let id = dispatcher.id();

    // A job running here is held: the self-check leaves it alone.
    let running = service
        .put(
            JobSpec::new("hello", "sleep", json!([1_500])),
            &Putter::admin(),
        )
        .await
        .unwrap();
    wait_for(&*store, running.id, JobStatus::Active).await;

    // Put behind the dispatcher's back, then claimed for it and started,
    // as a claim whose answer was lost with its connection and a start
    // that committed though its answer never came would leave them. They
    // are in a queue the dispatcher has no agent for yet, so that its own
    // claim rounds (at start, after the put above) cannot take them first
    // however late they run.
    service.queue_create("forgotten").await.unwrap();
    let echo = |value: &str| crate::model::NewJob {
        args: json!([value]),
        ..kit::new_job("forgotten", &module, "echo", SystemClock.now())
    };
    let jobs = [echo("claimed"), echo("started")];
    let (claimed, started) = (jobs[0].id, jobs[1].id);
    store.job_insert_many(&jobs).await.unwrap();
    let taken = kit::claim(&*store, id, "forgotten", 2, SystemClock.now()).await;
    assert_eq!(kit::ids(&taken), [claimed, started]);
    store
        .job_start_many(JobStartParams {
            dispatcher: id,
            ids: vec![started],
            now: SystemClock.now(),
        })
        .await
        .unwrap();

    assert_eq!(dispatcher.self_check().await, 2, "the two forgotten jobs");
    let agent = AgentSpec::new("forgotten", "forgotten");
    service.agent_upsert(id, agent).await.unwrap();
    for (job, value, attempts) in [(claimed, "claimed", 1), (started, "started", 2)] {
        let done = service.job_wait(job, DEADLINE).await.unwrap();
        assert_eq!(done.status, JobStatus::Completed, "{done:?}");
        assert_eq!(done.result, Some(json!(value)));
        assert_eq!(done.attempts, attempts, "{done:?}");
    }
    let history = store.job_attempts(started).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].failure.kind, FailureKind::Interrupted);
    assert!(store.job_attempts(claimed).await.unwrap().is_empty());

    let running = service.job_wait(running.id, DEADLINE).await.unwrap();
    assert_eq!(running.status, JobStatus::Completed, "{running:?}");
    assert_eq!(running.attempts, 1, "never handed back: {running:?}");
    assert_eq!(dispatcher.self_check().await, 0);
    dispatcher.stop().await;
}

async fn wait_for(store: &dyn Store, job: JobId, status: JobStatus) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while store.job_get(job).await.unwrap().status != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{job} never {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Finishes `ids` through a batch completer while the database fails
/// (`fail`), and checks that none returns before it recovers (`recover`),
/// that each returns once it has, and that every outcome is written once.
async fn outcomes_survive(
    store: Arc<dyn Store>,
    kind: FaultKind,
    fail: impl FnOnce(),
    recover: impl FnOnce(),
) {
    let health = Arc::new(StoreHealth::new(Arc::new(SystemClock)));
    let events = Arc::new(Events::new());
    let completer = BatchCompleter::start(store.clone(), events, health.clone(), 8);
    let module = kit::module(&*store, "m", None).await;
    kit::put_n(&*store, "", &module, 20).await;
    let dispatcher = kit::dispatcher(&*store).await;
    let ids = kit::run(&*store, dispatcher, "", 20, t(1)).await;

    fail();
    let finishes: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let outcome = kit::outcome(dispatcher, *id, RunOutcome::Value(json!(i)), t(2));
            let completer = completer.clone();
            tokio::spawn(async move { completer.finish(outcome).await })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while health.degraded().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fault is never seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(health.degraded().unwrap().fault.kind, kind);
    // Several tries fail meanwhile; no outcome is given up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        finishes.iter().all(|f| !f.is_finished()),
        "an outcome was given up"
    );

    recover();
    for finish in finishes {
        tokio::time::timeout(DEADLINE, finish)
            .await
            .expect("written once the database is back")
            .unwrap()
            .expect("written");
    }
    assert!(health.degraded().is_none(), "the write ended the episode");
    for (i, id) in ids.iter().enumerate() {
        let job = store.job_get(*id).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.result, Some(json!(i)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_completer_keeps_outcomes_through_a_full_disk() {
    let Some(disk) = SmallDisk::mount_or_skip(16 << 20) else {
        return;
    };
    let store = Arc::new(
        SqliteStore::open(&disk.path().join("wasync.db"))
            .await
            .unwrap(),
    );
    outcomes_survive(
        store.clone(),
        FaultKind::StorageFull,
        || {
            disk.fill().expect("fill");
        },
        || disk.free().expect("free"),
    )
    .await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_completer_keeps_outcomes_through_a_server_gone_away_and_reconnects() {
    let Some((proxy, schema)) = testing::behind_proxy() else {
        return;
    };
    let store = Arc::new(schema.open().await);
    outcomes_survive(
        store.clone(),
        FaultKind::Unavailable,
        || proxy.cut(),
        || proxy.restore(),
    )
    .await;
    store.close().await;
}
