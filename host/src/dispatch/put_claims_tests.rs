//! Claims in a put's commit, through the service and a running dispatcher.

use std::time::{Duration, Instant};

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

/// An agent that runs a job but has slots free is offered a claim of
/// them too, whenever the claim turn is free: the claim loop need not
/// claim apart what a put's commit can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_busy_with_slots_free_is_offered_a_claim() {
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
    let offers = s.dispatcher.offers.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The claim loop may hold the turn a moment (a wake of its own):
    // the offer is then skipped, not waited for.
    let limit = loop {
        if let Some(offer) = offers.offer(&[""], 2).await {
            break offer.claims()[0].limit;
        }
        assert!(Instant::now() < deadline, "no offer while a slot is free");
        tokio::task::yield_now().await;
    };
    assert!(limit >= 2, "its free slots at least: {limit}");
    s.dispatcher.stop().await;
}

/// While a claim of the dispatcher's own holds the claim turn, only a lone
/// put meeting an idle agent waits for it; a put of several jobs, or one
/// meeting a busy agent, goes on without a claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_lone_put_at_an_idle_agent_waits_for_a_claim_under_way() {
    let s = setup().await;
    let offers = s.dispatcher.offers.clone();
    let deadline = Duration::from_secs(10);
    let turn = s.dispatcher.shared.claim_turn.clone().lock_owned().await;

    let several = tokio::time::timeout(deadline, offers.offer(&[""], 2)).await;
    assert!(matches!(several, Ok(None)), "no wait, no claim");

    let mut lone = tokio::spawn({
        let offers = offers.clone();
        async move {
            offers
                .offer(&[""], 1)
                .await
                .map(|offer| offer.claims()[0].limit)
        }
    });
    let waited = tokio::time::timeout(Duration::from_millis(100), &mut lone).await;
    assert!(waited.is_err(), "the lone put waits for the turn");
    drop(turn);
    let limit = tokio::time::timeout(deadline, lone).await.unwrap().unwrap();
    assert!(
        limit.is_some_and(|limit| limit >= 3),
        "the agent's free slots: {limit:?}"
    );

    // The agent busy (a long run), a lone put no longer waits.
    let long = s
        .service
        .put(
            JobSpec::new("hello", "sleep", json!([500])),
            &Putter::admin(),
        )
        .await
        .unwrap();
    assert_eq!(long.status, JobStatus::Active, "{long:?}");
    let turn = s.dispatcher.shared.claim_turn.clone().lock_owned().await;
    let lone = tokio::time::timeout(deadline, offers.offer(&[""], 1)).await;
    assert!(matches!(lone, Ok(None)), "no wait, no claim");
    drop(turn);
    s.dispatcher.stop().await;
}
