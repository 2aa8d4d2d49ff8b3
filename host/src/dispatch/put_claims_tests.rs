//! Claims in a put's commit, through the service and a running dispatcher.

use std::time::Duration;

use serde_json::json;

use super::tests::setup;
use crate::model::{JobSpec, JobStatus};
use crate::service::Putter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_to_a_dispatcher_with_a_free_slot_starts_in_its_own_commit() {
    let s = setup().await;
    let job = s
        .service
        .put(JobSpec::new("hello", "hello", json!([])), &Putter::admin())
        .await
        .unwrap();
    // Answered as committed: already started, on this process's dispatcher.
    assert_eq!(job.status, JobStatus::Active, "{job:?}");
    assert_eq!(job.dispatcher, Some(s.dispatcher.id()));
    assert_eq!(job.attempts, 1);
    let done = s
        .service
        .job_wait(job.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    assert_eq!(done.attempts, 1);
    s.dispatcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_while_the_agent_is_busy_is_left_to_the_claim_loop() {
    let s = setup().await;
    let long = s
        .service
        .put(
            JobSpec::new("hello", "sleep", json!([500])),
            &Putter::admin(),
        )
        .await
        .unwrap();
    assert_eq!(long.status, JobStatus::Active, "{long:?}");
    let next = s
        .service
        .put(JobSpec::new("hello", "hello", json!([])), &Putter::admin())
        .await
        .unwrap();
    // The agent runs a job: its claim loop claims the next one.
    assert_eq!(next.status, JobStatus::Pending, "{next:?}");
    let done = s
        .service
        .job_wait(next.id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    assert_eq!(done.dispatcher, Some(s.dispatcher.id()));
    s.dispatcher.stop().await;
}
