//! Maintained job counts (migration 0027): after every kind of change of
//! `jobs` — puts single and batched, claims, starts, unstarts, finishes
//! with a value or a failure, retries, cancels, jobs taken out and put
//! back in another queue, callbacks, broadcasts gathered and stranded,
//! deletes by id, removal by status and retention — every count the
//! store gives equals the jobs as they are, counted afresh; and again
//! after the deltas are folded. Two stores (two processes) changing jobs
//! at once keep them exact too.

use std::collections::BTreeMap;

use serde_json::json;

use super::Harness;
use super::kit::{claim, dispatcher, finish, module, new_job, put, put_n, run, t};
use crate::model::{
    AgentSpec, CallbackOn, CapturedOutput, Failure, FailureKind, JobFilter, JobStatus, ModuleInfo,
    QueryState, RetryPolicy, RunOutcome,
};
use crate::store::{
    BroadcastPutParams, CallbackAddParams, HandBackParams, JobCancelParams, JobDetachParams,
    JobOrder, JobPutBackParams, JobQueryParams, JobRemoveParams, JobRetainParams, JobRetryParams,
    JobStartParams, JobUnstartParams, Store,
};

/// The jobs as they are, counted afresh: (queue, status, failed) → how
/// many.
async fn truth(s: &dyn Store) -> BTreeMap<(String, String, bool), u64> {
    let jobs = s
        .job_query(JobQueryParams {
            filter: JobFilter::default(),
            order: JobOrder::Created,
            after: None,
            limit: 100_000,
        })
        .await
        .expect("every job");
    let mut counts = BTreeMap::new();
    for job in jobs {
        let key = (job.queue, job.status.to_string(), job.failure.is_some());
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Every count the store gives against the jobs counted afresh, before
/// and after a fold.
async fn check(s: &dyn Store, step: &str) {
    for folded in [false, true] {
        if folded {
            s.job_counts_fold().await.expect("fold");
        }
        let step = format!("{step}{}", if folded { ", folded" } else { "" });
        let truth = truth(s).await;
        let mut by_status: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut by_state: BTreeMap<(String, String), u64> = BTreeMap::new();
        for ((queue, status, failed), n) in &truth {
            *by_status
                .entry((queue.clone(), status.clone()))
                .or_default() += n;
            let state = match (status.as_str(), *failed) {
                ("completed", true) => "failed".to_owned(),
                ("completed", false) => "succeeded".to_owned(),
                _ => status.clone(),
            };
            *by_state.entry((queue.clone(), state)).or_default() += n;
        }
        let gauges: BTreeMap<(String, String), u64> = s
            .job_counts()
            .await
            .expect("job counts")
            .into_iter()
            .map(|c| ((c.queue, c.status), c.count))
            .collect();
        assert_eq!(gauges, by_status, "gauges after {step}");
        let states: BTreeMap<(String, String), u64> = s
            .activity_states()
            .await
            .expect("activity")
            .into_iter()
            .map(|c| ((c.queue, c.state), c.count))
            .collect();
        assert_eq!(states, by_state, "activity after {step}");
        for queue in [None, Some(""), Some("q")] {
            for states in [
                vec![],
                vec![QueryState::Status(JobStatus::Pending)],
                vec![QueryState::Status(JobStatus::Completed)],
                vec![QueryState::Failed],
                vec![QueryState::Succeeded, QueryState::Status(JobStatus::Active)],
                vec![
                    QueryState::Status(JobStatus::Completed),
                    QueryState::Failed,
                    QueryState::Status(JobStatus::Cancelled),
                ],
            ] {
                let filter = JobFilter {
                    states: states.clone(),
                    queue: queue.map(str::to_owned),
                    ..JobFilter::default()
                };
                let expected: u64 = truth
                    .iter()
                    .filter(|((q, status, failed), _)| {
                        queue.is_none_or(|queue| queue == q.as_str())
                            && (states.is_empty()
                                || states.iter().any(|state| match state {
                                    QueryState::Status(s) => *status == s.to_string(),
                                    QueryState::Succeeded => status == "completed" && !failed,
                                    QueryState::Failed => status == "completed" && *failed,
                                }))
                    })
                    .map(|(_, n)| n)
                    .sum();
                let counted = s.job_count(&filter).await.expect("job count");
                assert_eq!(counted, expected, "count {filter:?} after {step}");
            }
        }
        for info in s.queue_list().await.expect("queues") {
            let pending = by_status
                .get(&(info.name.clone(), "pending".to_owned()))
                .copied()
                .unwrap_or(0);
            assert_eq!(
                info.length, pending,
                "length of `{}` after {step}",
                info.name
            );
        }
    }
}

fn trap() -> Failure {
    Failure::new(FailureKind::Trap, "boom")
}

fn retried(m: &ModuleInfo) -> crate::model::NewJob {
    let policy = json!({
        "max_attempts": 3,
        "backoff": {"initial_ms": 1_000, "increment_ms": 2_000, "max_ms": 60_000}
    });
    crate::model::NewJob {
        retry: Some(RetryPolicy::from_json(&policy).expect("policy")),
        ..new_job("", m, "retried", t(0))
    }
}

pub(crate) async fn job_counts_follow_every_change_of_jobs<H: Harness>(h: H) {
    let s = h.store();
    let s = &*s;
    let m = module(s, "m", None).await;
    s.queue_create("q", t(0)).await.unwrap();
    check(s, "nothing").await;

    let one = put(s, vec![new_job("", &m, "one", t(0))]).await[0].id;
    check(s, "a put").await;
    let batch = put_n(s, "", &m, 6).await;
    put_n(s, "q", &m, 3).await;
    let again = put(s, vec![retried(&m)]).await[0].id;
    check(s, "batch puts").await;

    let d = dispatcher(s).await;
    s.agent_upsert(d, AgentSpec::new("", "main")).await.unwrap();
    let claimed: Vec<_> = claim(s, d, "", 3, t(1))
        .await
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(claimed.len(), 3);
    check(s, "a claim").await;
    s.job_start_many(JobStartParams {
        dispatcher: d,
        ids: claimed.clone(),
        now: t(2),
    })
    .await
    .unwrap();
    check(s, "a start").await;
    s.job_unstart_many(JobUnstartParams {
        dispatcher: d,
        ids: vec![claimed[2]],
    })
    .await
    .unwrap();
    check(s, "an unstart").await;
    finish(s, d, claimed[0], RunOutcome::Value(json!(1)), t(3)).await;
    check(s, "a finish").await;
    finish(s, d, claimed[1], RunOutcome::Failure(trap()), t(4)).await;
    check(s, "a failed finish").await;

    // A retried job goes back pending (its failure in its history).
    let mut runs = Vec::new();
    while !runs.contains(&again) {
        let ran = run(s, d, "", 10, t(5)).await;
        assert!(!ran.is_empty(), "the retried job is due");
        runs.extend(ran);
    }
    s.job_retry(JobRetryParams {
        id: again,
        dispatcher: d,
        failure: trap(),
        output: CapturedOutput::default(),
        now: t(6),
    })
    .await
    .unwrap();
    check(s, "a retry").await;
    for id in runs.iter().filter(|id| **id != again) {
        finish(s, d, *id, RunOutcome::Value(json!(2)), t(7)).await;
    }
    check(s, "finishes of a batch").await;

    let pending = put_n(s, "", &m, 3).await;
    s.job_cancel(JobCancelParams {
        id: pending[0],
        now: t(8),
    })
    .await
    .unwrap();
    check(s, "a cancel").await;
    s.job_detach(JobDetachParams {
        id: pending[1],
        queue: None,
        now: t(9),
    })
    .await
    .unwrap();
    check(s, "a detach").await;
    s.job_put_back(JobPutBackParams {
        id: pending[1],
        queue: "q".to_owned(),
        now: t(10),
    })
    .await
    .unwrap();
    check(s, "a put back into another queue").await;

    // A callback: held (`new`), then pending once its job finished, which
    // waits in `callbacks` until the callback completes.
    let parent = put(s, vec![new_job("q", &m, "parent", t(11))]).await[0].id;
    s.callback_add(CallbackAddParams {
        job: parent,
        callback: new_job("", &m, "callback", t(11)),
        on: CallbackOn::Always,
        now: t(11),
    })
    .await
    .unwrap();
    check(s, "a callback added").await;
    s.agent_upsert(d, AgentSpec::new("q", "main"))
        .await
        .unwrap();
    for id in run_queue(s, d, "q", 12).await {
        finish(s, d, id, RunOutcome::Value(json!(3)), t(13)).await;
    }
    check(s, "a job with a callback finished").await;
    for id in run_queue(s, d, "", 14).await {
        finish(s, d, id, RunOutcome::Value(json!(4)), t(15)).await;
    }
    check(s, "the callbacks run").await;

    // A broadcast: copies pinned to the live dispatcher; one gathered,
    // then a second stranded when its dispatcher hands everything back.
    let copies = s
        .job_broadcast(BroadcastPutParams {
            job: new_job("", &m, "warm", t(20)),
            callbacks: Vec::new(),
            live_since: t(-60_000),
            now: t(20),
        })
        .await
        .unwrap();
    assert_eq!(copies, [d]);
    check(s, "a broadcast").await;
    for id in run_queue(s, d, "", 21).await {
        finish(s, d, id, RunOutcome::Value(json!(5)), t(22)).await;
    }
    check(s, "a broadcast gathered").await;
    s.job_broadcast(BroadcastPutParams {
        job: new_job("", &m, "warm", t(23)),
        callbacks: Vec::new(),
        live_since: t(-60_000),
        now: t(23),
    })
    .await
    .unwrap();
    s.dispatcher_hand_back(HandBackParams {
        dispatcher: d,
        job: None,
        reason: "its dispatcher stopped".into(),
        now: t(24),
    })
    .await
    .unwrap();
    check(s, "a broadcast stranded").await;

    let report = s.job_delete_finished(&[one, batch[3]]).await;
    assert!(!report.unwrap().deleted.is_empty());
    check(s, "a delete by id").await;
    let removed = s
        .job_remove_finished(JobRemoveParams {
            states: vec![QueryState::Failed],
            queue: None,
        })
        .await
        .unwrap();
    assert!(!removed.is_empty());
    check(s, "a removal by status").await;
    let retained = s
        .job_retain(JobRetainParams {
            completed_before: None,
            keep_latest: Some(2),
            limit: 1_000,
        })
        .await
        .unwrap();
    assert!(retained > 0);
    check(s, "retention").await;
}

/// Claims, starts and returns every due job of `queue`.
async fn run_queue(
    s: &dyn Store,
    d: crate::model::DispatcherId,
    queue: &str,
    at: i64,
) -> Vec<crate::model::JobId> {
    run(s, d, queue, 100, t(at)).await
}

pub(crate) async fn job_counts_stay_exact_under_two_processes<H: Harness>(h: H) {
    let (a, b) = (h.store(), h.another().await);
    let m = module(&*a, "m", None).await;
    let work = |s: std::sync::Arc<dyn Store>, m: ModuleInfo| async move {
        let d = dispatcher(&*s).await;
        s.agent_upsert(d, AgentSpec::new("", "main")).await.unwrap();
        for round in 0..20 {
            put_n(&*s, "", &m, 5).await;
            let ran = run(&*s, d, "", 4, t(round)).await;
            for (i, id) in ran.into_iter().enumerate() {
                let outcome = if i % 3 == 0 {
                    RunOutcome::Failure(trap())
                } else {
                    RunOutcome::Value(json!(i))
                };
                finish(&*s, d, id, outcome, t(round)).await;
            }
            if round % 5 == 0 {
                s.job_counts_fold().await.expect("fold");
            }
        }
    };
    let (x, y) = tokio::join!(
        tokio::spawn(work(a.clone(), m.clone())),
        tokio::spawn(work(b.clone(), m.clone()))
    );
    x.unwrap();
    y.unwrap();
    check(&*a, "two processes").await;
    check(&*b, "two processes, read by the other").await;
}
