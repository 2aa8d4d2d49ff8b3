//! A running job's context over a real service and store: `put-many`
//! puts all or none with the batch's per-item answers, and callbacks and
//! parts take the priority of the job they hang on, as over HTTP.

use std::sync::Arc;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::context::DispatchContext;
use crate::app::App;
use crate::clock::SystemClock;
use crate::model::{CallbackOn, CallbackSpec, CompositeKind, Job, JobSpec, UniqueSpec};
use crate::runtime::{JobContext, Runtime, RuntimeConfig};
use crate::service::{Putter, Service, ServiceConfig};
use crate::store::conformance::{Harness, SqliteHarness};

/// A service on a fresh SQLite store with `hello` uploaded (by name), and
/// the context of a job of it put with `priority`, as the dispatcher would
/// make it (no dispatcher runs: the jobs put stay pending).
struct Setup {
    service: Service,
    context: DispatchContext,
    _harness: SqliteHarness,
}

async fn setup(priority: i32) -> Setup {
    let harness = SqliteHarness::fresh().await.expect("sqlite");
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let app = App::new(
        harness.store(),
        runtime,
        Arc::new(SystemClock),
        ServiceConfig::default(),
    );
    let service = app.service;
    service
        .module_upload(
            wasync_example_components::bytes("hello"),
            Some("hello".into()),
        )
        .await
        .expect("upload hello");
    let running = put(&service, spec("hello", json!([])).priority(priority)).await;
    let context = DispatchContext::new(service.clone(), running, CancellationToken::new());
    Setup {
        service,
        context,
        _harness: harness,
    }
}

/// A guest's request: no module, no queue (the running job's).
fn spec(function: &str, args: serde_json::Value) -> JobSpec {
    JobSpec {
        function: function.into(),
        args,
        ..JobSpec::default()
    }
}

trait WithPriority {
    fn priority(self, priority: i32) -> Self;
}

impl WithPriority for JobSpec {
    fn priority(self, priority: i32) -> Self {
        JobSpec { priority, ..self }
    }
}

async fn put(service: &Service, spec: JobSpec) -> Job {
    let spec = JobSpec {
        module: Some("hello".into()),
        ..spec
    };
    service.put(spec, &Putter::admin()).await.expect("put")
}

async fn job_count(service: &Service) -> usize {
    service
        .job_list(None, Vec::new(), None, 1000)
        .await
        .expect("list")
        .jobs
        .len()
}

fn unique(key: &str) -> Option<UniqueSpec> {
    Some(UniqueSpec {
        key: Some(key.into()),
        ..UniqueSpec::default()
    })
}

#[tokio::test]
async fn put_many_puts_every_job_in_the_running_jobs_module_and_queue() {
    let s = setup(0).await;
    let me = s.context.job_info();
    let answers = s
        .context
        .put_many(vec![
            spec("echo", json!([1])),
            spec("add", json!([1, 2])),
            spec("hello", json!([])).priority(5),
        ])
        .await
        .expect("put");
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(|a| !a.duplicate));
    let functions = ["echo", "add", "hello"];
    for (answer, function) in answers.iter().zip(functions) {
        let job = s.service.job_get(answer.id).await.unwrap();
        assert_eq!(job.function, function);
        assert_eq!((&job.module, &job.queue), (&me.module, &me.queue));
    }
    let last = s.service.job_get(answers[2].id).await.unwrap();
    assert_eq!(last.priority, 5);
    assert_eq!(job_count(&s.service).await, 4);
}

#[tokio::test]
async fn put_many_answers_unique_duplicates_per_item() {
    let s = setup(0).await;
    let holder = put(
        &s.service,
        JobSpec {
            unique: unique("held"),
            ..spec("hello", json!([]))
        },
    )
    .await;
    let answers = s
        .context
        .put_many(vec![
            JobSpec {
                unique: unique("k"),
                ..spec("echo", json!([1]))
            },
            JobSpec {
                unique: unique("k"),
                ..spec("echo", json!([2]))
            },
            JobSpec {
                unique: unique("held"),
                ..spec("hello", json!([]))
            },
            spec("hello", json!([])),
        ])
        .await
        .expect("put");
    let duplicate: Vec<bool> = answers.iter().map(|a| a.duplicate).collect();
    assert_eq!(duplicate, [false, true, true, false]);
    assert_eq!(answers[0].id, answers[1].id);
    assert_eq!(answers[2].id, holder.id);
    // The running job, the holder, and the two jobs inserted.
    assert_eq!(job_count(&s.service).await, 4);
}

#[tokio::test]
async fn a_refused_item_is_named_and_nothing_is_stored() {
    let s = setup(0).await;
    let before = job_count(&s.service).await;
    for (bad, says) in [
        (spec("nope", json!([])), "nope"),
        (spec("add", json!([1])), "add"),
        (
            JobSpec {
                quota_names: vec!["absent".into()],
                ..spec("hello", json!([]))
            },
            "absent",
        ),
        (
            JobSpec {
                queue: Some("absent-queue".into()),
                ..spec("hello", json!([]))
            },
            "absent-queue",
        ),
        (
            JobSpec {
                broadcast: true,
                ..spec("hello", json!([]))
            },
            "broadcast",
        ),
    ] {
        let error = s
            .context
            .put_many(vec![spec("hello", json!([])), bad])
            .await
            .unwrap_err();
        assert!(error.starts_with("item 1: "), "{error}");
        assert!(error.contains(says), "{says}: {error}");
    }
    assert_eq!(job_count(&s.service).await, before);
}

#[tokio::test]
async fn put_many_meets_the_queues_pending_cap_as_a_whole() {
    let s = setup(0).await;
    // The running job is pending too: room for two more.
    s.service.queue_caps_set("", None, Some(3)).await.unwrap();
    let three = vec![spec("hello", json!([])); 3];
    let error = s.context.put_many(three).await.unwrap_err();
    assert!(error.starts_with("item 0: "), "{error}");
    assert!(error.contains("pending"), "{error}");
    assert_eq!(job_count(&s.service).await, 1);
    let two = vec![spec("hello", json!([])); 2];
    assert_eq!(s.context.put_many(two).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_guest_callback_takes_the_priority_of_its_job_unless_it_sets_one() {
    let s = setup(7).await;
    let me = s.context.job_info().id;
    let other = put(&s.service, spec("hello", json!([])).priority(-3)).await;
    for (job, asked, expected) in [(me, 0, 7), (other.id, 0, -3), (me, 2, 2)] {
        let callback = CallbackSpec {
            on: CallbackOn::Always,
            job: spec("echo", json!([])).priority(asked),
        };
        let id = s.context.add_callback(job, callback).await.expect("added");
        let callback = s.service.job_get(id).await.unwrap();
        assert_eq!(callback.priority, expected, "on {job}, asked {asked}");
    }
}

#[tokio::test]
async fn a_guest_composites_parts_take_its_priority_unless_they_set_one() {
    let s = setup(0).await;
    let composite = s
        .context
        .put_composite(
            CompositeKind::Serial,
            vec![
                spec("hello", json!([])),
                spec("hello", json!([])).priority(1),
            ],
            spec("echo", json!([])).priority(4),
        )
        .await
        .expect("composite");
    let composite_job = s.service.job_get(composite).await.unwrap();
    assert_eq!(composite_job.priority, 4);
    let links = s.service.job_links(composite).await.unwrap();
    let priorities: Vec<i32> = links.parts.iter().map(|part| part.priority).collect();
    assert_eq!(priorities, [4, 1]);
    let added = s
        .context
        .add_part(composite, spec("hello", json!([])))
        .await
        .expect("part");
    assert_eq!(s.service.job_get(added).await.unwrap().priority, 4);
}
