//! Failures: retries by policy with their backoff, the history of failed
//! attempts, jobs handed back by state, and dead dispatchers rescued by
//! exactly one live dispatcher (migration 0006).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::Harness;
use super::kit::{self, assert_not_found, claim, dispatcher, module, new_job, put, run, t};
use crate::model::{
    CapturedOutput, DispatcherId, Failure, FailureKind, JobId, JobStatus, RetryPolicy, RetryPreset,
    RunOutcome,
};
use crate::store::{
    DispatcherRescueParams, HandBackParams, HandBackReport, JobRetryParams, Ping, RetryVerdict,
    Store,
};

fn policy(value: serde_json::Value) -> RetryPolicy {
    RetryPolicy::from_json(&value).expect("a valid policy")
}

fn guest_error() -> Failure {
    Failure::new(FailureKind::GuestError, "always fails")
}

async fn retry(
    s: &dyn Store,
    d: DispatcherId,
    id: JobId,
    failure: Failure,
    now: i64,
) -> RetryVerdict {
    s.job_retry(JobRetryParams {
        id,
        dispatcher: d,
        failure,
        output: CapturedOutput {
            stdout: String::new(),
            stderr: "tried".into(),
        },
        now: t(now),
    })
    .await
    .expect("retry")
}

fn kinds(attempts: &[crate::model::Attempt]) -> Vec<(u32, FailureKind)> {
    attempts
        .iter()
        .map(|a| (a.attempt, a.failure.kind))
        .collect()
}

/// m01.remote's retry counter and delay: a job allowed 3 attempts whose
/// runs always fail is tried again after 1 s, then after 1 s + 2 s, and
/// its third failure is final; the three failures are kept with their
/// times.
pub(crate) async fn a_failed_run_is_retried_by_its_policy_with_backoff<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let job = new_job("", &m, "fails", t(0));
    let job = crate::model::NewJob {
        retry: Some(policy(json!({
            "max_attempts": 3,
            "backoff": {"initial_ms": 1_000, "increment_ms": 2_000, "max_ms": 60_000}
        }))),
        ..job
    };
    let id = put(&*s, vec![job]).await[0].id;
    assert_eq!(
        s.job_get(id).await.unwrap().retry.unwrap().max_attempts,
        3,
        "the policy is stored with the job"
    );
    let d = dispatcher(&*s).await;

    assert_eq!(run(&*s, d, "", 1, t(10)).await, [id]);
    assert_eq!(
        retry(&*s, d, id, guest_error(), 100).await,
        RetryVerdict::Retried {
            at: t(1_100),
            failures: 1
        }
    );
    let job = s.job_get(id).await.unwrap();
    assert_eq!(
        (job.status, job.begin_after, job.stderr.as_deref()),
        (JobStatus::Pending, t(1_100), Some("tried"))
    );
    assert!(
        claim(&*s, d, "", 1, t(1_099)).await.is_empty(),
        "not before its backoff"
    );
    assert_eq!(run(&*s, d, "", 1, t(1_100)).await, [id]);
    assert_eq!(
        retry(&*s, d, id, guest_error(), 1_200).await,
        RetryVerdict::Retried {
            at: t(4_200),
            failures: 2
        }
    );
    assert_eq!(run(&*s, d, "", 1, t(4_200)).await, [id]);
    assert_eq!(
        retry(&*s, d, id, guest_error(), 4_300).await,
        RetryVerdict::Final,
        "the third failure is final: nothing written"
    );
    assert_eq!(s.job_get(id).await.unwrap().status, JobStatus::Active);
    kit::finish(&*s, d, id, RunOutcome::Failure(guest_error()), t(4_300)).await;

    let job = s.job_get(id).await.unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Completed, 3));
    let attempts = s.job_attempts(id).await.unwrap();
    assert_eq!(
        kinds(&attempts),
        [
            (1, FailureKind::GuestError),
            (2, FailureKind::GuestError),
            (3, FailureKind::GuestError)
        ]
    );
    let times: Vec<_> = attempts.iter().map(|a| a.failed_at).collect();
    assert_eq!(times, [t(100), t(1_200), t(4_300)]);
    assert!(attempts.iter().all(|a| a.dispatcher == Some(d)));
}

/// The default policy does not retry failed runs, a permanent error is
/// never retried, a queue's default applies to jobs without a policy of
/// their own, and a retry of a job that is not the dispatcher's writes
/// nothing.
pub(crate) async fn policies_come_from_the_job_or_its_queue<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("q", t(0)).await.unwrap();
    assert_eq!(s.queue_retry_get("q").await.unwrap(), None);
    assert_not_found(s.queue_retry_get("nope").await, &["nope"]);
    assert_not_found(s.queue_retry_set("nope", None).await, &["nope"]);
    let d = dispatcher(&*s).await;

    put(&*s, vec![new_job("q", &m, "f", t(0))]).await;
    let id = run(&*s, d, "q", 1, t(1)).await[0];
    assert_eq!(
        retry(&*s, d, id, guest_error(), 2).await,
        RetryVerdict::Final,
        "common-four-times does not retry guest errors"
    );
    kit::finish(&*s, d, id, RunOutcome::Failure(guest_error()), t(2)).await;

    let three = policy(json!({"max_attempts": 3}));
    s.queue_retry_set("q", Some(three.clone())).await.unwrap();
    assert_eq!(s.queue_retry_get("q").await.unwrap(), Some(three));
    put(
        &*s,
        vec![
            new_job("q", &m, "follows the queue", t(3)),
            crate::model::NewJob {
                retry: Some(RetryPreset::Never.policy()),
                ..new_job("q", &m, "has its own", t(3))
            },
        ],
    )
    .await;
    let ids = run(&*s, d, "q", 2, t(4)).await;
    assert!(matches!(
        retry(&*s, d, ids[0], guest_error(), 5).await,
        RetryVerdict::Retried { failures: 1, .. }
    ));
    assert_eq!(
        retry(&*s, d, ids[1], guest_error(), 5).await,
        RetryVerdict::Final
    );
    let stranger = kit::dispatcher(&*s).await;
    assert_eq!(
        retry(&*s, stranger, ids[1], guest_error(), 5).await,
        RetryVerdict::Reassigned
    );
    s.queue_retry_set("q", None).await.unwrap();
    assert_eq!(s.queue_retry_get("q").await.unwrap(), None);

    // Only failures are history; an unknown job has none to show.
    kit::finish(&*s, d, ids[1], RunOutcome::Value(json!(1)), t(6)).await;
    assert!(s.job_attempts(ids[1]).await.unwrap().is_empty());
    assert_not_found(s.job_attempts(JobId::new()).await, &["job"]);
}

async fn hand_back(s: &dyn Store, d: DispatcherId, now: i64) -> HandBackReport {
    s.dispatcher_hand_back(HandBackParams {
        dispatcher: d,
        job: None,
        reason: "its dispatcher stopped".into(),
        now: t(now),
    })
    .await
    .expect("hand back")
}

fn sorted(ids: &[JobId]) -> Vec<JobId> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// zc.async's handling by state: claimed but not started → back to the
/// queue, no attempt counted; running → an `interrupted` attempt, then
/// the policy: back to its place at the front of the queue, or aborted
/// (completing the jobs awaiting it); a job parked awaiting another is
/// left to that job.
pub(crate) async fn handing_back_goes_by_state_and_policy<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    let never = crate::model::NewJob {
        retry: Some(RetryPreset::Never.policy()),
        ..new_job("", &m, "never", t(0))
    };
    let jobs = put(
        &*s,
        vec![
            new_job("", &m, "running", t(0)),
            never,
            new_job("", &m, "parked", t(0)),
        ],
    )
    .await;
    let (running, never, parked) = (jobs[0].id, jobs[1].id, jobs[2].id);
    assert_eq!(run(&*s, d, "", 3, t(1)).await, [running, never, parked]);
    kit::finish(&*s, d, parked, RunOutcome::Await(never), t(2)).await;
    let claimed = kit::put_n(&*s, "", &m, 2).await;
    assert_eq!(kit::ids(&claim(&*s, d, "", 2, t(3)).await), claimed);
    let later = kit::put_n(&*s, "", &m, 1).await;

    let report = hand_back(&*s, d, 10).await;
    assert_eq!(sorted(&report.released), sorted(&claimed));
    assert_eq!(report.retried, [running]);
    assert_eq!(report.aborted, [never]);
    assert_eq!(sorted(&report.completed), sorted(&[never, parked]));
    assert_eq!(report.queues, [""]);

    let queue = kit::queue_ids(&*s, "").await;
    assert_eq!(
        queue,
        [running, claimed[0], claimed[1], later[0]],
        "back at their places, before the job put after them"
    );
    for id in &claimed {
        assert_eq!(s.job_get(*id).await.unwrap().attempts, 0, "never started");
        assert!(s.job_attempts(*id).await.unwrap().is_empty());
    }
    let history = s.job_attempts(running).await.unwrap();
    assert_eq!(kinds(&history), [(1, FailureKind::Interrupted)]);
    assert_eq!(history[0].failure.message, "its dispatcher stopped");
    assert_eq!(history[0].failed_at, t(10));
    let aborted = s.job_get(never).await.unwrap();
    assert_eq!(aborted.status, JobStatus::Completed);
    assert_eq!(aborted.failure.unwrap().kind, FailureKind::Aborted);
    assert_eq!(
        kinds(&s.job_attempts(never).await.unwrap()),
        [(1, FailureKind::Interrupted)]
    );
    let resolved = s.job_get(parked).await.unwrap();
    assert_eq!(resolved.status, JobStatus::Completed);
    assert_eq!(resolved.failure.unwrap().kind, FailureKind::Aborted);

    assert_eq!(
        hand_back(&*s, d, 11).await,
        HandBackReport {
            dispatcher: Some(d),
            ..HandBackReport::default()
        }
    );
}

/// A policy retrying one interruption aborts the job at the second.
pub(crate) async fn interruptions_beyond_the_policy_abort_the_job<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    let job = crate::model::NewJob {
        retry: Some(policy(json!({"max_interruptions": 1}))),
        ..new_job("", &m, "f", t(0))
    };
    let id = put(&*s, vec![job]).await[0].id;
    run(&*s, d, "", 1, t(1)).await;
    assert_eq!(hand_back(&*s, d, 2).await.retried, [id]);
    run(&*s, d, "", 1, t(3)).await;
    assert_eq!(hand_back(&*s, d, 4).await.aborted, [id]);
    let job = s.job_get(id).await.unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Completed, 2));
    let failure = job.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::Aborted);
    assert!(
        failure.message.contains("interrupted 2 time(s)"),
        "{failure}"
    );
    assert_eq!(
        kinds(&s.job_attempts(id).await.unwrap()),
        [(1, FailureKind::Interrupted), (2, FailureKind::Interrupted)]
    );
}

/// Three live dispatchers, each with a store of its own (three
/// processes), look for dead dispatchers at once: the dead one's 10
/// running and 2 claimed jobs are handed back exactly once, by one of
/// them; a dispatcher that pinged recently is left alone.
pub(crate) async fn exactly_one_of_three_racing_rescuers_handles_a_dead_dispatcher<H: Harness>(
    h: H,
) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let dead = dispatcher(&*s).await;
    kit::put_n(&*s, "", &m, 12).await;
    let running = run(&*s, dead, "", 10, t(1)).await;
    let claimed = kit::ids(&claim(&*s, dead, "", 2, t(1)).await);
    let alive = dispatcher(&*s).await;
    kit::ping(&*s, alive, t(50_000)).await;

    let mut rescuers = Vec::new();
    for _ in 0..3 {
        let store = h.another().await;
        let id = dispatcher(&*store).await;
        kit::ping(&*store, id, t(61_000)).await;
        rescuers.push((store, id));
    }
    let rescues = rescuers.iter().map(|(store, id)| {
        store.dispatcher_rescue(DispatcherRescueParams {
            rescuer: *id,
            death_interval: Duration::from_secs(60),
            now: t(61_000),
        })
    });
    let reports: Vec<HandBackReport> = futures::future::join_all(rescues)
        .await
        .into_iter()
        .flat_map(|r| r.expect("rescue"))
        .collect();
    let handling: Vec<_> = reports
        .iter()
        .filter(|r| r.dispatcher == Some(dead))
        .collect();
    assert_eq!(
        handling.len(),
        1,
        "exactly one rescuer handled it: {reports:?}"
    );
    assert!(
        reports.iter().all(|r| r.dispatcher == Some(dead)),
        "only the dead dispatcher had jobs handed back: {reports:?}"
    );
    let report = handling[0];
    assert_eq!(sorted(&report.retried), sorted(&running));
    assert_eq!(sorted(&report.released), sorted(&claimed));
    for id in &running {
        assert_eq!(
            kinds(&s.job_attempts(*id).await.unwrap()),
            [(1, FailureKind::Interrupted)],
            "one interrupted attempt per job"
        );
    }
    let pending: BTreeSet<JobId> = kit::queue_ids(&*s, "").await.into_iter().collect();
    let all: BTreeSet<JobId> = running.iter().chain(&claimed).copied().collect();
    assert_eq!(pending, all, "every job is back in the queue");
    let info = s.dispatcher_get(dead).await.unwrap();
    assert_eq!(info.deactivated_at, Some(t(61_000)));
    assert_eq!(s.dispatcher_get(alive).await.unwrap().deactivated_at, None);
}

/// A dispatcher declared dead while paused comes back: its ping says so
/// and reactivates it, and the outcome of the run it still had is dropped
/// (`reassigned`) while the rescued copy runs elsewhere.
pub(crate) async fn a_dispatcher_wrongly_declared_dead_is_reactivated_and_loses_its_run<
    H: Harness,
>(
    h: H,
) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let paused = dispatcher(&*s).await;
    let rescuer = dispatcher(&*s).await;
    let id = kit::put_n(&*s, "", &m, 1).await[0];
    run(&*s, paused, "", 1, t(1)).await;
    kit::ping(&*s, rescuer, t(70_000)).await;
    let reports = s
        .dispatcher_rescue(DispatcherRescueParams {
            rescuer,
            death_interval: Duration::from_secs(60),
            now: t(70_000),
        })
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].retried, [id]);
    assert!(
        s.dispatcher_get(paused)
            .await
            .unwrap()
            .deactivated_at
            .is_some()
    );

    assert_eq!(
        kit::ping(&*s, paused, t(80_000)).await,
        Ping::Reactivated,
        "the ping tells it was declared dead"
    );
    let info = s.dispatcher_get(paused).await.unwrap();
    assert_eq!((info.deactivated_at, info.activated_at), (None, t(80_000)));
    assert_eq!(kit::ping(&*s, paused, t(81_000)).await, Ping::Alive);

    assert_eq!(run(&*s, rescuer, "", 1, t(82_000)).await, [id]);
    let late = kit::finish(&*s, paused, id, RunOutcome::Value(json!("late")), t(83_000)).await;
    assert_eq!(late.reassigned, [id], "the paused run's outcome is dropped");
    kit::finish(
        &*s,
        rescuer,
        id,
        RunOutcome::Value(json!("rescued")),
        t(84_000),
    )
    .await;
    let job = s.job_get(id).await.unwrap();
    assert_eq!(job.result, Some(json!("rescued")));
    assert_eq!(job.attempts, 2);
}

/// A dispatcher's self-check: the store lists the jobs it holds
/// (claimed, and running but not parked awaiting another job) and hands
/// back one of them alone, by state, when the dispatcher no longer holds
/// it in memory; another dispatcher's job is never touched. The probe
/// writes.
pub(crate) async fn held_jobs_are_listed_and_handed_back_one_at_a_time<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    let other = dispatcher(&*s).await;
    let jobs = put(
        &*s,
        vec![
            new_job("", &m, "running", t(0)),
            new_job("", &m, "parked", t(0)),
            new_job("", &m, "awaited", t(0)),
        ],
    )
    .await;
    let (running, parked, awaited) = (jobs[0].id, jobs[1].id, jobs[2].id);
    assert_eq!(run(&*s, d, "", 2, t(1)).await, [running, parked]);
    kit::finish(&*s, d, parked, RunOutcome::Await(awaited), t(2)).await;
    assert_eq!(run(&*s, other, "", 1, t(2)).await, [awaited]);
    let claimed = kit::put_n(&*s, "", &m, 2).await;
    assert_eq!(kit::ids(&claim(&*s, d, "", 2, t(3)).await), claimed);

    let held = s.dispatcher_held_jobs(d).await.unwrap();
    assert_eq!(sorted(&held), sorted(&[running, claimed[0], claimed[1]]));
    assert_eq!(s.dispatcher_held_jobs(other).await.unwrap(), [awaited]);

    let one = |job| HandBackParams {
        dispatcher: d,
        job: Some(job),
        reason: "its dispatcher lost track of it".into(),
        now: t(4),
    };
    let report = s.dispatcher_hand_back(one(claimed[0])).await.unwrap();
    assert_eq!(report.released, [claimed[0]]);
    assert!(report.retried.is_empty() && report.aborted.is_empty());
    let report = s.dispatcher_hand_back(one(running)).await.unwrap();
    assert_eq!(report.retried, [running]);
    assert!(report.released.is_empty());
    assert_eq!(
        kinds(&s.job_attempts(running).await.unwrap()),
        [(1, FailureKind::Interrupted)]
    );
    for not_ours in [awaited, parked, JobId::new()] {
        let report = s.dispatcher_hand_back(one(not_ours)).await.unwrap();
        assert!(report.is_empty(), "{not_ours}: {report:?}");
    }
    assert_eq!(s.dispatcher_held_jobs(d).await.unwrap(), [claimed[1]]);
    assert_eq!(s.job_get(awaited).await.unwrap().status, JobStatus::Active);
    assert_eq!(kit::queue_ids(&*s, "").await, [running, claimed[0]]);

    s.store_probe(t(5)).await.expect("the probe writes");
}
