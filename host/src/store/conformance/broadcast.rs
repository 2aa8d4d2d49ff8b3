//! Broadcasts: one copy per dispatcher live at put with an agent that may
//! take the job, each claimed only by its dispatcher; the broadcast
//! completes with the map dispatcher → outcome once every copy has its
//! outcome, a copy whose dispatcher stopped or died first recorded as
//! `aborted`.

use std::time::Duration;

use serde_json::{Value, json};

use super::Harness;
use super::kit::*;
use crate::model::{
    AgentFilter, AgentSpec, BROADCAST_FUNCTION, BroadcastArgs, CallbackOn, DispatcherId, Failure,
    FailureKind, JobId, JobLink, JobStatus, LinkedJob, ModuleInfo, RunOutcome,
};
use crate::store::{BroadcastPutParams, DispatcherRescueParams, HandBackParams, Store};

/// A dispatcher (activated and pinged at `t(0)`) with agent `main` in
/// `queue`.
async fn with_agent(s: &dyn Store, queue: &str) -> DispatcherId {
    let d = dispatcher(s).await;
    s.agent_upsert(d, AgentSpec::new(queue, "main"))
        .await
        .expect("agent");
    d
}

/// Puts job `function` of the default queue as a broadcast at `t(at)`,
/// with dispatchers silent for 60 s no longer live.
async fn broadcast(
    s: &dyn Store,
    m: &ModuleInfo,
    function: &str,
    callbacks: Vec<LinkedJob>,
    id: Option<JobId>,
    at: i64,
) -> (JobId, Vec<DispatcherId>) {
    let mut job = new_job("", m, function, t(at));
    if let Some(id) = id {
        job.id = id;
    }
    let id = job.id;
    let dispatchers = s
        .job_broadcast(BroadcastPutParams {
            job,
            callbacks,
            live_since: t(at - 60_000),
            now: t(at),
        })
        .await
        .expect("broadcast");
    (id, dispatchers)
}

/// The broadcast's copies, in copy order.
async fn copies(s: &dyn Store, id: JobId) -> Vec<crate::model::Job> {
    s.job_links(id).await.expect("links").parts
}

fn sorted(mut ids: Vec<DispatcherId>) -> Vec<DispatcherId> {
    ids.sort();
    ids
}

pub(crate) async fn broadcasts_pin_one_copy_per_live_dispatcher_with_an_agent<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("other", t(0)).await.unwrap();
    let (a, b) = (with_agent(&*s, "").await, with_agent(&*s, "").await);
    // A second agent of the same dispatcher gives it no second copy.
    s.agent_upsert(a, AgentSpec::new("", "second"))
        .await
        .unwrap();
    let elsewhere = with_agent(&*s, "other").await;
    let silent = with_agent(&*s, "").await;
    let stopped = with_agent(&*s, "").await;
    let filtered = dispatcher(&*s).await;
    let mut images = AgentSpec::new("", "images");
    images.filter = Some(AgentFilter {
        modules: Vec::new(),
        functions: vec!["resize*".into()],
    });
    s.agent_upsert(filtered, images).await.unwrap();
    for d in [a, b, elsewhere, stopped, filtered] {
        ping(&*s, d, t(70_000)).await;
    }
    s.dispatcher_deactivate(stopped, t(70_000)).await.unwrap();
    let plain = put(&*s, vec![new_job("", &m, "plain", t(70_000))]).await[0].id;

    let (id, pinned) = broadcast(&*s, &m, "clear_cache", Vec::new(), None, 70_001).await;
    assert_eq!(
        pinned,
        sorted(vec![a, b]),
        "live, not stopped, an agent taking it (not {silent}, {stopped}, {filtered})"
    );
    let job = s.job_get(id).await.unwrap();
    assert_eq!(job.status, JobStatus::New, "held until its copies are done");
    assert_eq!(job.function, BROADCAST_FUNCTION);
    let args: BroadcastArgs = serde_json::from_value(job.args.clone()).unwrap();
    assert_eq!(args.dispatchers, pinned);
    let copies = copies(&*s, id).await;
    assert_eq!(copies.len(), 2);
    for copy in &copies {
        assert_eq!(copy.status, JobStatus::Pending);
        assert_eq!(copy.function, "clear_cache");
        assert_eq!(copy.args, json!([1, "two", {"three": 3.5}]));
    }

    // Another dispatcher's claim takes the plain job, never a copy.
    let other = claim(&*s, elsewhere, "", 10, t(70_002)).await;
    assert_eq!(ids(&other), [plain]);
    // Each pinned dispatcher takes its own copy, and only it.
    for (copy, d) in copies.iter().zip(&pinned) {
        let claimed = claim(&*s, *d, "", 10, t(70_002)).await;
        assert_eq!(ids(&claimed), [copy.id]);
        assert_eq!(claimed[0].dispatcher, Some(*d));
    }

    // A dispatcher that joins later gets no copy of it.
    let late = with_agent(&*s, "").await;
    assert!(claim(&*s, late, "", 10, t(70_003)).await.is_empty());
    assert_eq!(self::copies(&*s, id).await.len(), 2);
}

pub(crate) async fn broadcasts_pinned_copies_skip_other_dispatchers_in_quota_queues<H: Harness>(
    h: H,
) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.quota_create(crate::store::QuotaCreateParams {
        queue: String::new(),
        name: "slots".into(),
        size: 5,
        partitioned: false,
        rate: None,
        now: t(0),
    })
    .await
    .unwrap();
    let (a, b) = (with_agent(&*s, "").await, with_agent(&*s, "").await);
    let (id, pinned) = broadcast(&*s, &m, "warm", Vec::new(), None, 1).await;
    assert_eq!(pinned.len(), 2);
    let copies = copies(&*s, id).await;
    let outsider = dispatcher(&*s).await;
    assert!(claim(&*s, outsider, "", 10, t(2)).await.is_empty());
    let index = |d| pinned.iter().position(|p| *p == d).unwrap();
    for d in [b, a] {
        let claimed = claim(&*s, d, "", 10, t(2)).await;
        assert_eq!(ids(&claimed), [copies[index(d)].id]);
    }
}

pub(crate) async fn broadcasts_complete_with_the_map_of_their_copies_outcomes<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let (a, b) = (with_agent(&*s, "").await, with_agent(&*s, "").await);
    let id = JobId::new();
    let callback = LinkedJob {
        job: new_job("", &m, "report", t(1)),
        held: true,
        link: Some(JobLink::Callback {
            of: id,
            on: CallbackOn::Always,
        }),
    };
    let callback_id = callback.job.id;
    let (id, pinned) = broadcast(&*s, &m, "clear_cache", vec![callback], Some(id), 1).await;
    assert_eq!(pinned, sorted(vec![a, b]));
    let (first, second) = (pinned[0], pinned[1]);
    let ran = run(&*s, first, "", 10, t(2)).await;
    finish(
        &*s,
        first,
        ran[0],
        RunOutcome::Value(json!("cleared")),
        t(3),
    )
    .await;
    assert_eq!(
        s.job_get(id).await.unwrap().status,
        JobStatus::New,
        "waits for every copy"
    );
    let ran = run(&*s, second, "", 10, t(4)).await;
    let failure = Failure::new(FailureKind::GuestError, "disk full");
    finish(&*s, second, ran[0], RunOutcome::Failure(failure), t(5)).await;

    let done = s.job_get(id).await.unwrap();
    let expected = json!({
        first.to_string(): "cleared",
        second.to_string(): {"kind": "guest-error", "message": "disk full"},
    });
    // Its callback is still to run: `callbacks`, with the map as result.
    assert_eq!(done.status, JobStatus::Callbacks);
    assert_eq!(done.result, Some(expected.clone()));
    assert_eq!(done.completed_at, Some(t(5)));
    let callback = s.job_get(callback_id).await.unwrap();
    assert_eq!(callback.status, JobStatus::Pending);
    assert_eq!(
        callback.args[3], expected,
        "the map is the callback's outcome"
    );
}

pub(crate) async fn broadcasts_with_no_live_dispatcher_complete_at_once_empty<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let silent = with_agent(&*s, "").await;
    let (id, pinned) = broadcast(&*s, &m, "warm", Vec::new(), None, 61_000).await;
    assert!(pinned.is_empty(), "{silent} is silent for longer than 60 s");
    let job = s.job_get(id).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.result, Some(json!({})));
    assert!(copies(&*s, id).await.is_empty());
}

pub(crate) async fn a_dead_dispatchers_copy_is_recorded_and_the_broadcast_completes<H: Harness>(
    h: H,
) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let (a, b) = (with_agent(&*s, "").await, with_agent(&*s, "").await);
    let (id, pinned) = broadcast(&*s, &m, "warm", Vec::new(), None, 1).await;
    assert_eq!(pinned, sorted(vec![a, b]));
    let ran = run(&*s, a, "", 10, t(2)).await;
    finish(&*s, a, ran[0], RunOutcome::Value(json!(1)), t(3)).await;
    // `b` claims its copy, then dies before starting it.
    let claimed = claim(&*s, b, "", 10, t(2)).await;
    assert_eq!(claimed.len(), 1);
    ping(&*s, a, t(70_000)).await;
    let reports = s
        .dispatcher_rescue(DispatcherRescueParams {
            rescuer: a,
            death_interval: Duration::from_secs(60),
            now: t(70_000),
        })
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].dispatcher, Some(b));
    assert_eq!(reports[0].released, [claimed[0].id]);
    assert_eq!(reports[0].stranded, [claimed[0].id]);
    assert!(reports[0].completed.contains(&id));

    let copy = s.job_get(claimed[0].id).await.unwrap();
    assert_eq!(copy.status, JobStatus::Completed);
    let failure = copy.failure.expect("aborted");
    assert_eq!(failure.kind, FailureKind::Aborted);
    assert!(
        failure.message.contains(&b.to_string()),
        "{}",
        failure.message
    );
    let done = s.job_get(id).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    let result = done.result.unwrap();
    assert_eq!(result[a.to_string()], json!(1));
    assert_eq!(result[b.to_string()]["kind"], "aborted");
}

pub(crate) async fn a_stopping_dispatcher_records_the_copies_it_did_not_run<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = with_agent(&*s, "").await;
    let (id, pinned) = broadcast(&*s, &m, "warm", Vec::new(), None, 1).await;
    assert_eq!(pinned, [d]);
    // Handing back one job (the self-check) leaves its copies alone.
    let one = s
        .dispatcher_hand_back(HandBackParams {
            dispatcher: d,
            job: Some(JobId::new()),
            reason: "not held".into(),
            now: t(2),
        })
        .await
        .unwrap();
    assert!(one.stranded.is_empty());
    let report = s
        .dispatcher_hand_back(HandBackParams {
            dispatcher: d,
            job: None,
            reason: "its dispatcher stopped".into(),
            now: t(3),
        })
        .await
        .unwrap();
    assert_eq!(report.stranded.len(), 1);
    assert!(!report.is_empty());
    let done = s.job_get(id).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    let entry = &done.result.unwrap()[d.to_string()];
    assert_eq!(entry["kind"], "aborted");
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .contains("its dispatcher stopped"),
        "{entry}"
    );
}

pub(crate) async fn a_copy_pinned_to_a_dispatcher_gone_meanwhile_is_still_recorded<H: Harness>(
    h: H,
) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let (a, gone) = (with_agent(&*s, "").await, with_agent(&*s, "").await);
    // `gone` handed its jobs back and stops just after the put read it
    // live: nothing of its own holds the copy any longer.
    let (id, pinned) = broadcast(&*s, &m, "warm", Vec::new(), None, 1).await;
    assert_eq!(pinned.len(), 2);
    s.dispatcher_deactivate(gone, t(2)).await.unwrap();
    ping(&*s, a, t(30_000)).await;
    let rescue = |now| {
        s.dispatcher_rescue(DispatcherRescueParams {
            rescuer: a,
            death_interval: Duration::from_secs(60),
            now: t(now),
        })
    };
    assert!(
        rescue(30_000).await.unwrap().is_empty(),
        "not silent long enough"
    );
    ping(&*s, a, t(61_000)).await;
    let reports = rescue(61_000).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].dispatcher, Some(gone));
    assert_eq!(reports[0].stranded.len(), 1);
    // Once recorded, it is not taken again.
    assert!(rescue(62_000).await.unwrap().is_empty());
    let ran = run(&*s, a, "", 10, t(62_000)).await;
    finish(&*s, a, ran[0], RunOutcome::Value(Value::Null), t(62_001)).await;
    let done = s.job_get(id).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    let result = done.result.unwrap();
    assert_eq!(result[a.to_string()], Value::Null);
    assert_eq!(result[gone.to_string()]["kind"], "aborted");
}

pub(crate) async fn copies_finishing_at_once_in_two_processes_gather_once<H: Harness>(h: H) {
    let s = h.store();
    let other = h.another().await;
    let m = module(&*s, "m", None).await;
    let (a, b) = (with_agent(&*s, "").await, with_agent(&*s, "").await);
    for round in 0..5 {
        let at = 1 + round * 10;
        let (id, pinned) = broadcast(&*s, &m, "warm", Vec::new(), None, at).await;
        assert_eq!(pinned, sorted(vec![a, b]));
        let ran_a = run(&*s, a, "", 10, t(at + 1)).await;
        let ran_b = run(&*s, b, "", 10, t(at + 1)).await;
        let (x, y) = tokio::join!(
            finish(&*s, a, ran_a[0], RunOutcome::Value(json!("a")), t(at + 2)),
            finish(
                &*other,
                b,
                ran_b[0],
                RunOutcome::Value(json!("b")),
                t(at + 2)
            ),
        );
        let completed: Vec<JobId> = x.completed.iter().chain(&y.completed).copied().collect();
        assert_eq!(
            completed.iter().filter(|c| **c == id).count(),
            1,
            "gathered once: {completed:?}"
        );
        let done = s.job_get(id).await.unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(
            done.result,
            Some(json!({a.to_string(): "a", b.to_string(): "b"}))
        );
    }
}
