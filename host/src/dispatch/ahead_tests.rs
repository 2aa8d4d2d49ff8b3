//! Claiming ahead (see [`super::agents`]) next to another dispatcher: a
//! job claimed ahead behind a run far longer than the runs before it is
//! handed back, and a dispatcher with a free slot runs it. Each
//! dispatcher has an [`App`] of its own over the one store, as separate
//! processes on one SQLite file have: no wake-up of one reaches the other
//! (the other finds work by polling).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{Dispatcher, DispatcherConfig};
use crate::app::App;
use crate::clock::SystemClock;
use crate::model::{AgentSpec, DEFAULT_QUEUE, DispatcherId, JobSpec, JobStatus, MAIN_AGENT_NAME};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::service::{Putter, ServiceConfig};
use crate::store::conformance::{Harness, SqliteHarness};

/// How often a dispatcher looks for work put by another process: as
/// often as the end-to-end tests' processes do.
const POLL: Duration = Duration::from_millis(200);

/// A process's parts over `store`, with `hello` uploaded.
async fn app(store: Arc<dyn crate::store::Store>) -> App {
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let app = App::new(
        store,
        runtime,
        Arc::new(SystemClock),
        ServiceConfig::default(),
    );
    app.service
        .module_upload(
            wasync_example_components::bytes("hello"),
            Some("hello".into()),
        )
        .await
        .expect("upload hello");
    app
}

/// A dispatcher whose main agent has `size` slots.
async fn dispatcher(app: &App, size: u32) -> Dispatcher {
    let mut config = DispatcherConfig::new(DispatcherId::new());
    config.poll_interval = POLL;
    config.guest_threads = 1;
    config.shutdown_grace = Duration::from_millis(100);
    let mut main = AgentSpec::new(DEFAULT_QUEUE, MAIN_AGENT_NAME);
    main.size = size;
    config.main_agent = Some(main);
    app.start_dispatcher(config).await.expect("start")
}

/// Waits up to `within` for `done` to hold.
async fn wait_for<F, Fut>(what: &str, within: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One agent of one slot, used to short runs, claims a long job and a
/// short one together (the short one ahead, started, waiting for the
/// slot); the long run keeps the slot, so the short job is handed back
/// (its start undone) and the dispatcher started beside it runs it, long
/// before the long run ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_claimed_ahead_behind_a_long_run_goes_to_an_idle_dispatcher() {
    let harness = SqliteHarness::fresh().await.expect("sqlite");
    let app = app(harness.store()).await;
    let service = app.service.clone();
    let busy = dispatcher(&app, 1).await;
    let by = Putter::admin();
    let hello = || JobSpec::new("hello", "hello", json!([]));

    // Short runs measured: the agent claims ahead from now on. Enough of
    // them that the average forgets a slow first run (the component's
    // compilation) or a hand-back while the machine was busy.
    let warm = service.put_many(vec![hello(); 200], &by).await.unwrap();
    for job in &warm {
        let done = service.job_wait(job.job.id, Duration::from_secs(30)).await;
        assert_eq!(done.unwrap().status, JobStatus::Completed);
    }

    let jobs = service
        .put_many(
            vec![JobSpec::new("hello", "sleep", json!([20_000])), hello()],
            &by,
        )
        .await
        .unwrap();
    let (long, short) = (jobs[0].job.id, jobs[1].job.id);
    wait_for(
        "the busy dispatcher claims both",
        Duration::from_secs(10),
        || async {
            let short = service.job_get(short).await.unwrap();
            short.dispatcher == Some(busy.id())
        },
    )
    .await;
    let elsewhere = self::app(harness.store()).await;
    let idle = dispatcher(&elsewhere, 1).await;
    let done = service
        .job_wait(short, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    let long_now = service.job_get(long).await.unwrap();
    assert_eq!(
        done.dispatcher,
        Some(idle.id()),
        "run by the idle one: {done:?} {long_now:?}"
    );
    assert_eq!(done.attempts, 1, "the start undone is not counted");
    let long = service.job_get(long).await.unwrap();
    assert_eq!(
        (long.status, long.dispatcher),
        (JobStatus::Active, Some(busy.id())),
        "still running"
    );
    idle.stop().await;
    busy.stop().await;
}
