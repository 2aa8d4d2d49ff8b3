//! A dispatcher over a real store and the real runtime, with a poll
//! interval far longer than the tests: what they see happen on time is
//! woken by the dispatcher itself (a due time, a deadline, a freed quota
//! slot), never by polling.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{Dispatcher, DispatcherConfig};
use crate::app::App;
use crate::clock::{Clock, SystemClock};
use crate::model::JobSpec;
use crate::model::{
    AgentFilter, AgentSpec, DispatcherId, DispatcherStatus, FailureKind, JobStatus, Process,
};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::service::{Putter, Service, ServiceConfig};
use crate::store::conformance::{Harness, SqliteHarness};
use crate::store::{DispatcherActivateParams, Store, Vacancy};

/// Far longer than any test here waits.
const POLL: Duration = Duration::from_secs(120);

/// A service on a fresh SQLite store with `hello` uploaded, and its
/// dispatcher (one guest thread, polling every [`POLL`]).
pub(super) struct Setup {
    pub(super) service: Service,
    pub(super) store: Arc<dyn Store>,
    pub(super) dispatcher: Dispatcher,
    _harness: SqliteHarness,
}

pub(super) async fn setup() -> Setup {
    setup_polling_every(POLL).await
}

async fn setup_polling_every(poll_interval: Duration) -> Setup {
    let harness = SqliteHarness::fresh().await.expect("sqlite");
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let app = App::new(
        harness.store(),
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
    let mut config = DispatcherConfig::new(DispatcherId::new());
    config.poll_interval = poll_interval;
    config.guest_threads = 1;
    let dispatcher = app.start_dispatcher(config).await.expect("start");
    Setup {
        service: app.service,
        store: app.store,
        dispatcher,
        _harness: harness,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_job_starts_when_due_not_a_poll_interval_later() {
    let s = setup().await;
    let due = SystemClock.now() + chrono::TimeDelta::milliseconds(400);
    let job = s
        .service
        .put(
            JobSpec {
                begin_after: Some(due),
                ..JobSpec::new("hello", "hello", json!([]))
            },
            &Putter::admin(),
        )
        .await
        .unwrap();
    assert!(job.scheduled);
    let done = s
        .service
        .job_wait(job.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    let started = done.started_at.unwrap();
    assert!(started >= due, "not before its time");
    assert!(
        started - due < chrono::TimeDelta::seconds(5),
        "started {} ms after it was due",
        (started - due).num_milliseconds()
    );
    s.dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_no_agent_takes_expires_at_its_deadline_and_wakes_its_waiter() {
    let s = setup().await;
    s.service.queue_create("picky").await.unwrap();
    let mut picky = AgentSpec::new("picky", "picky");
    picky.filter = Some(AgentFilter {
        modules: Vec::new(),
        functions: vec!["echo".into()],
    });
    s.service
        .agent_upsert(s.dispatcher.id(), picky)
        .await
        .unwrap();
    let job = s
        .service
        .put(
            JobSpec {
                queue: Some("picky".into()),
                begin_by_ms: Some(300),
                ..JobSpec::new("hello", "hello", json!([]))
            },
            &Putter::admin(),
        )
        .await
        .unwrap();
    let done = s
        .service
        .job_wait(job.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    assert_eq!(done.attempts, 0, "never run");
    assert_eq!(done.failure.as_ref().unwrap().kind, FailureKind::Timeout);
    let late = done.completed_at.unwrap() - done.deadline().unwrap();
    assert!(
        late >= chrono::TimeDelta::zero() && late < chrono::TimeDelta::seconds(5),
        "expired {} ms after its deadline",
        late.num_milliseconds()
    );
    s.dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_a_quota_of_one_run_one_after_another_without_polling() {
    let s = setup().await;
    s.service
        .quota_create("", "serial", None, false, None)
        .await
        .unwrap();
    let put = |ms: u64| {
        let service = s.service.clone();
        async move {
            service
                .put(
                    JobSpec {
                        quota_names: vec!["serial".into()],
                        ..JobSpec::new("hello", "sleep", json!([ms]))
                    },
                    &Putter::admin(),
                )
                .await
                .unwrap()
        }
    };
    let first = put(300).await;
    let second = put(10).await;
    let second = s
        .service
        .job_wait(second.id, Duration::from_secs(20))
        .await
        .unwrap();
    let first = s.service.job_get(first.id).await.unwrap();
    assert_eq!(second.status, JobStatus::Completed, "{second:?}");
    assert!(
        second.started_at.unwrap() >= first.completed_at.unwrap(),
        "one at a time: {first:?} {second:?}"
    );
    s.dispatcher.stop().await;
}

/// The last ping is the "last poll" the dispatcher status reads: an
/// idle dispatcher polling every 100 ms with the default 30 s ping
/// interval still pings on each poll, so it shows RUNNING, never STUCK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_dispatcher_pings_as_often_as_it_polls_and_shows_running() {
    let poll = Duration::from_millis(100);
    let s = setup_polling_every(poll).await;
    assert!(s.dispatcher.ping_interval() > poll * 10);
    let store = &s.store;
    let first = store.dispatcher_get(s.dispatcher.id()).await.unwrap();
    let mut pings = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pings.len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the dispatcher pinged {} times in 20 s while polling every 100 ms",
            pings.len()
        );
        tokio::time::sleep(poll / 2).await;
        let info = store.dispatcher_get(s.dispatcher.id()).await.unwrap();
        if info.last_ping_at > pings.last().copied().unwrap_or(first.last_ping_at) {
            pings.push(info.last_ping_at);
        }
    }
    let info = store.dispatcher_get(s.dispatcher.id()).await.unwrap();
    let status = DispatcherStatus::at(
        info.activated_at,
        info.last_ping_at,
        info.deactivated_at,
        info.poll_interval_ms,
        SystemClock.now(),
    );
    assert_eq!(status, DispatcherStatus::Running, "{info:?}");
    s.dispatcher.stop().await;
}

/// A dispatcher whose id another process took over (activated for
/// another process once this one looked dead: here, seen from 90 s later)
/// learns it at its next ping: `taken_over` names that process, and the
/// stop neither hands back nor deactivates what is now the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_whose_id_was_taken_over_leaves_it_alone() {
    let s = setup_polling_every(Duration::from_millis(100)).await;
    let store = s.store.clone();
    let id = s.dispatcher.id();
    let other = Process {
        hostname: "elsewhere".into(),
        pid: 1,
    };
    let refused = store
        .dispatcher_activate(DispatcherActivateParams {
            id,
            process: other.clone(),
            poll_interval_ms: 1_000,
            now: SystemClock.now(),
            death_interval: Duration::from_secs(60),
            proven_gone: None,
        })
        .await;
    assert!(
        matches!(refused, Err(crate::store::Error::Conflict(_))),
        "alive: {refused:?}"
    );
    let taken = store
        .dispatcher_activate(DispatcherActivateParams {
            id,
            process: other.clone(),
            poll_interval_ms: 1_000,
            now: SystemClock.now() + chrono::TimeDelta::seconds(90),
            death_interval: Duration::from_secs(60),
            proven_gone: None,
        })
        .await
        .expect("dead, seen from 90 s later");
    assert!(matches!(
        taken.takeover.map(|t| t.vacancy),
        Some(Vacancy::Dead { .. })
    ));
    let by = tokio::time::timeout(Duration::from_secs(20), s.dispatcher.taken_over())
        .await
        .expect("its next ping tells it");
    assert_eq!(by, other);
    let job = s
        .service
        .put(JobSpec::new("hello", "hello", json!([])), &Putter::admin())
        .await
        .unwrap();
    s.dispatcher.stop().await;
    let info = store.dispatcher_get(id).await.unwrap();
    assert_eq!(info.process(), other, "still the other process's");
    assert_eq!(info.deactivated_at, None, "not deactivated by the old one");
    let job = store.job_get(job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Pending, "never claimed: {job:?}");
}
