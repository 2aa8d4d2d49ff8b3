//! Restart durability: close the store, open the same database again, and
//! everything is still there and still works.

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{AgentSpec, JobStatus, RunOutcome};
use crate::store::{AnnotationSetParams, Store};

async fn snapshot(s: &dyn Store) -> String {
    let jobs = s
        .job_list(crate::store::JobListParams {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{jobs:?}",
        s.queue_list().await.unwrap(),
        s.module_list().await.unwrap(),
        s.dispatcher_list().await.unwrap(),
        s.agent_list(None).await.unwrap(),
    )
}

pub(crate) async fn everything_survives_a_restart<H: Harness>(mut h: H) {
    let s = h.store();
    s.queue_create("video", t(0)).await.unwrap();
    let m = module(&*s, "m", Some("encoder")).await;
    let d = dispatcher(&*s).await;
    s.agent_upsert(d, AgentSpec::new("video", "encoders"))
        .await
        .unwrap();
    let [done, waiting, inner, later] = put_n(&*s, "video", &m, 4).await[..] else {
        unreachable!()
    };
    run(&*s, d, "video", 2, t(1)).await;
    finish(&*s, d, done, RunOutcome::Value(json!({"frames": 24})), t(2)).await;
    finish(&*s, d, waiting, RunOutcome::Await(inner), t(2)).await;
    s.annotation_set(AnnotationSetParams {
        job: waiting,
        name: "progress".to_owned(),
        value: json!("waiting for the encoder"),
        now: t(2),
    })
    .await
    .unwrap();
    let before = snapshot(&*s).await;
    drop(s);

    h.reopen().await;
    let s = h.store();
    assert_eq!(snapshot(&*s).await, before);
    assert_eq!(s.module_bytes(&m.digest).await.unwrap(), component("m"));
    assert_eq!(
        s.annotation_get(waiting, "progress").await.unwrap(),
        Some(json!("waiting for the encoder"))
    );
    assert_eq!(queue_ids(&*s, "video").await, [inner, later]);

    // And work goes on where it stopped.
    assert_eq!(run(&*s, d, "video", 1, t(3)).await, [inner]);
    let report = finish(&*s, d, inner, RunOutcome::Value(json!("encoded")), t(4)).await;
    assert_eq!(report.completed, [inner, waiting]);
    let job = s.job_get(waiting).await.unwrap();
    assert_eq!(
        (job.status, job.result),
        (JobStatus::Completed, Some(json!("encoded")))
    );
}
