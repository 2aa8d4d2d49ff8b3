//! Completions heard in another process, on PostgreSQL (issue 16): a
//! finish announces a job's completion only when someone can use it (see
//! `store/postgres/finish.rs`), and these are the two processes that can:
//! one whose client waits for the job, and one whose quota-limited agent
//! waits for a slot the job held. Each process is an [`App`] of its own,
//! on its own connections to one schema, as `serve` and `worker` processes
//! are: their only link is the store's notifications. Nothing else would
//! wake them in time (their waits and polls are ten minutes apart).
//! Skipped without `WASYNC_TEST_PG`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::{Dispatcher, DispatcherConfig};
use crate::app::App;
use crate::clock::SystemClock;
use crate::model::{
    AgentFilter, AgentSpec, DEFAULT_QUEUE, DispatcherId, JobSpec, JobStatus, MAIN_AGENT_NAME,
};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::service::{Putter, ServiceConfig};
use crate::store::Store;
use crate::store::conformance::{Harness, PgHarness};

/// Longer than any test runs: a wait or a poll this far apart never
/// ends a test in time.
const NEVER: Duration = Duration::from_secs(600);

/// How long a test waits for what a notification should bring at once.
const DEADLINE: Duration = Duration::from_secs(20);

/// A process over `store`, with `hello` uploaded, whose waits for a job
/// re-read it only every [`NEVER`].
async fn process(store: Arc<dyn Store>) -> App {
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let config = ServiceConfig {
        wait_poll: NEVER,
        ..ServiceConfig::default()
    };
    let app = App::new(store, runtime, Arc::new(SystemClock), config);
    app.service
        .module_upload(
            wasync_example_components::bytes("hello"),
            Some("hello".into()),
        )
        .await
        .expect("upload hello");
    app
}

/// A dispatcher polling every [`NEVER`], whose main agent runs only
/// `function`, `size` at a time.
async fn dispatcher(app: &App, function: &str, size: u32) -> Dispatcher {
    let mut config = DispatcherConfig::new(DispatcherId::new());
    config.poll_interval = NEVER;
    config.guest_threads = 1;
    config.shutdown_grace = Duration::from_millis(100);
    let mut main = AgentSpec::new(DEFAULT_QUEUE, MAIN_AGENT_NAME);
    main.size = size;
    main.filter = Some(AgentFilter {
        modules: Vec::new(),
        functions: vec![function.to_owned()],
    });
    config.main_agent = Some(main);
    app.start_dispatcher(config).await.expect("start")
}

/// A client of one process waits for a job another process runs: the
/// completion is announced (the wait marked the job) and wakes the wait,
/// which would otherwise read the job again only ten minutes later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_in_another_process_hears_the_completion() {
    let Some(harness) = PgHarness::fresh().await else {
        eprintln!("skipped: WASYNC_TEST_PG is not set");
        return;
    };
    let client = process(harness.store()).await;
    let worker = process(harness.another().await).await;
    let runner = dispatcher(&worker, "*", 4).await;
    // The worker hears of the put, the client of the completion, only by
    // notification: both must listen before the first put.
    harness.listeners(2).await;
    let by = Putter::admin();
    for _ in 0..3 {
        let job = client
            .service
            .put(JobSpec::new("hello", "sleep", json!([300])), &by)
            .await
            .unwrap();
        let began = Instant::now();
        let done = client.service.job_wait(job.id, DEADLINE).await.unwrap();
        assert_eq!(done.status, JobStatus::Completed, "{done:?}");
        assert_eq!(done.dispatcher, Some(runner.id()));
        assert!(
            began.elapsed() < DEADLINE / 2,
            "woken {:?} after the put: by the deadline, not the completion",
            began.elapsed()
        );
    }
    runner.stop().await;
}

/// A quota of one slot: a job of it runs in one process, the next waits
/// for the slot in another process, whose only agent that takes it polls
/// every ten minutes. The first job's completion is announced (it held
/// the slot), though nobody waits for it, and the second starts at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_freed_in_another_process_is_claimed_at_once() {
    let Some(harness) = PgHarness::fresh().await else {
        eprintln!("skipped: WASYNC_TEST_PG is not set");
        return;
    };
    let here = process(harness.store()).await;
    let there = process(harness.another().await).await;
    here.service
        .quota_create(DEFAULT_QUEUE, "one", Some(1), false, None)
        .await
        .unwrap();
    let sleeper = dispatcher(&there, "sleep", 1).await;
    let adder = dispatcher(&here, "add", 1).await;
    harness.listeners(2).await;
    let by = Putter::admin();
    let in_quota = |function: &str, args| {
        let mut spec = JobSpec::new("hello", function, args);
        spec.quota_names = vec!["one".into()];
        spec
    };

    let first = there
        .service
        .put(in_quota("sleep", json!([1_500])), &by)
        .await
        .unwrap();
    let deadline = Instant::now() + DEADLINE;
    while there.service.job_get(first.id).await.unwrap().status != JobStatus::Active {
        assert!(Instant::now() < deadline, "the first job starts");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Put here: this process's dispatcher looks at once and finds the
    // quota full.
    let second = here
        .service
        .put(in_quota("add", json!([1, 2])), &by)
        .await
        .unwrap();
    let began = Instant::now();
    // Its completion here wakes the wait here.
    let done = here.service.job_wait(second.id, DEADLINE).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    assert_eq!(done.result, Some(json!(3)));
    assert_eq!(done.dispatcher, Some(adder.id()));
    assert!(
        began.elapsed() < DEADLINE / 2,
        "started {:?} after the put: not when the slot was freed",
        began.elapsed()
    );
    let first = here.service.job_get(first.id).await.unwrap();
    assert_eq!(first.status, JobStatus::Completed);
    assert!(
        first.completed_at <= done.completed_at,
        "the second ran after the first freed the slot"
    );
    adder.stop().await;
    sleeper.stop().await;
}
