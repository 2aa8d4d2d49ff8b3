//! Callbacks and composites: firing on every path a job gets its result
//! (finish, await resolved, expiry), passing outcomes through, the
//! `callbacks` status, callbacks added late, `serial` and `parallel`
//! progression and extension, held jobs.

use serde_json::{Value, json};

use super::Harness;
use super::kit::*;
use crate::model::{
    CallbackOn, CompositeArgs, CompositeKind, Failure, FailureKind, JobId, JobLink, JobStatus,
    LinkedJob, ModuleInfo, NewJob, RetryPreset, RunOutcome,
};
use crate::store::{
    CallbackAddParams, HandBackParams, JobAppendArgsParams, JobCancelParams, JobExpireParams,
    PartAddParams, Store,
};

fn top(job: NewJob) -> LinkedJob {
    LinkedJob {
        job,
        held: false,
        link: None,
    }
}

fn callback(job: NewJob, of: JobId, on: CallbackOn) -> LinkedJob {
    LinkedJob {
        job,
        held: true,
        link: Some(JobLink::Callback { of, on }),
    }
}

fn job_with(m: &ModuleInfo, function: &str, args: Value) -> NewJob {
    NewJob {
        args,
        ..new_job("", m, function, t(0))
    }
}

async fn status(s: &dyn Store, id: JobId) -> JobStatus {
    s.job_get(id).await.unwrap().status
}

async fn args(s: &dyn Store, id: JobId) -> Value {
    s.job_get(id).await.unwrap().args
}

/// Claims, starts and finishes the one due job `id` with `outcome`.
async fn run_one(s: &dyn Store, id: JobId, outcome: RunOutcome, now: i64) {
    let d = dispatcher(s).await;
    let started = run(s, d, "", 100, t(now)).await;
    assert!(started.contains(&id), "{id} was due: {started:?}");
    for other in started {
        let result = if other == id {
            outcome.clone()
        } else {
            RunOutcome::Value(json!("other"))
        };
        finish(s, d, other, result, t(now + 1)).await;
    }
}

pub(crate) async fn callbacks_fire_on_finish_with_the_outcome<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let main = job_with(&m, "call", json!([]));
    let always = job_with(&m, "scribble", json!(["x"]));
    let named = job_with(&m, "scribble", json!({"a": 1}));
    let (main_id, always_id, named_id) = (main.id, always.id, named.id);
    s.job_insert_linked(
        &[
            top(main),
            callback(always, main_id, CallbackOn::Always),
            callback(named, main_id, CallbackOn::Success),
        ],
        t(0),
    )
    .await
    .unwrap();
    assert_eq!(status(&*s, main_id).await, JobStatus::Pending);
    assert_eq!(status(&*s, always_id).await, JobStatus::New);
    assert_eq!(queue_ids(&*s, "").await, vec![main_id], "callbacks wait");

    run_one(&*s, main_id, RunOutcome::Value(json!("200 OK")), 10).await;
    let main = s.job_get(main_id).await.unwrap();
    assert_eq!(main.status, JobStatus::Callbacks);
    assert_eq!(main.result, Some(json!("200 OK")));
    assert_eq!(args(&*s, always_id).await, json!(["x", "200 OK"]));
    assert_eq!(
        args(&*s, named_id).await,
        json!({"a": 1, "outcome": "200 OK"})
    );
    assert_eq!(status(&*s, always_id).await, JobStatus::Pending);

    let d = dispatcher(&*s).await;
    let started = run(&*s, d, "", 10, t(20)).await;
    assert_eq!(started.len(), 2);
    finish(&*s, d, started[0], RunOutcome::Value(json!(1)), t(21)).await;
    assert_eq!(status(&*s, main_id).await, JobStatus::Callbacks);
    let report = finish(&*s, d, started[1], RunOutcome::Value(json!(2)), t(22)).await;
    assert!(report.completed.contains(&main_id), "{report:?}");
    let main = s.job_get(main_id).await.unwrap();
    assert_eq!(main.status, JobStatus::Completed);
    assert_eq!(
        main.result,
        Some(json!("200 OK")),
        "callbacks never change it"
    );
}

pub(crate) async fn a_callback_of_the_other_branch_passes_the_outcome_through<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let main = job_with(&m, "bad", json!([]));
    let on_success = job_with(&m, "scribble", json!([]));
    let after_success = job_with(&m, "scribble", json!([]));
    let on_failure = job_with(&m, "handle", json!([]));
    let after_handled = job_with(&m, "scribble", json!([]));
    let ids = [
        main.id,
        on_success.id,
        after_success.id,
        on_failure.id,
        after_handled.id,
    ];
    s.job_insert_linked(
        &[
            top(main),
            callback(on_success, ids[0], CallbackOn::Success),
            callback(after_success, ids[1], CallbackOn::Always),
            callback(on_failure, ids[0], CallbackOn::Failure),
            callback(after_handled, ids[3], CallbackOn::Always),
        ],
        t(0),
    )
    .await
    .unwrap();
    let failure = Failure::new(FailureKind::GuestError, "global name 'foo' is not defined");
    run_one(&*s, ids[0], RunOutcome::Failure(failure.clone()), 10).await;

    // The success-only callback did not run: it has the failure, and
    // passed it to its own callback.
    let passed = s.job_get(ids[1]).await.unwrap();
    assert_eq!(passed.status, JobStatus::Callbacks);
    assert_eq!(
        (passed.result, passed.failure),
        (None, Some(failure.clone()))
    );
    assert_eq!(passed.attempts, 0, "it never ran");
    let failure_json = serde_json::to_value(&failure).unwrap();
    assert_eq!(args(&*s, ids[2]).await, json!([failure_json]));
    assert_eq!(args(&*s, ids[3]).await, json!([failure_json]));
    assert_eq!(status(&*s, ids[4]).await, JobStatus::New);

    let d = dispatcher(&*s).await;
    for job in run(&*s, d, "", 10, t(20)).await {
        let value = if job == ids[3] { "handled" } else { "other" };
        finish(&*s, d, job, RunOutcome::Value(json!(value)), t(21)).await;
    }
    assert_eq!(args(&*s, ids[4]).await, json!(["handled"]));
    assert_eq!(status(&*s, ids[0]).await, JobStatus::Callbacks);
    run_one(
        &*s,
        ids[4],
        RunOutcome::Value(json!("handled: SCRIBBLED")),
        30,
    )
    .await;
    for id in ids {
        assert_eq!(status(&*s, id).await, JobStatus::Completed, "{id}");
    }
    let main = s.job_get(ids[0]).await.unwrap();
    assert_eq!(main.failure, Some(failure), "the job keeps its failure");
}

pub(crate) async fn callbacks_fire_when_an_await_resolves_or_a_job_expires<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let outer = job_with(&m, "outer", json!([]));
    let on_outer = job_with(&m, "cb", json!([]));
    let (outer_id, on_outer_id) = (outer.id, on_outer.id);
    s.job_insert_linked(
        &[top(outer), callback(on_outer, outer_id, CallbackOn::Always)],
        t(0),
    )
    .await
    .unwrap();
    let inner = put(&*s, vec![job_with(&m, "inner", json!([]))]).await[0].id;
    let d = dispatcher(&*s).await;
    let started = run(&*s, d, "", 10, t(1)).await;
    assert_eq!(started.len(), 2);
    finish(&*s, d, outer_id, RunOutcome::Await(inner), t(2)).await;
    assert_eq!(status(&*s, on_outer_id).await, JobStatus::New);
    finish(&*s, d, inner, RunOutcome::Value(json!(42)), t(3)).await;
    assert_eq!(status(&*s, outer_id).await, JobStatus::Callbacks);
    assert_eq!(args(&*s, on_outer_id).await, json!([42]));

    let late = NewJob {
        begin_by_ms: Some(10),
        ..job_with(&m, "late", json!([]))
    };
    let on_late = job_with(&m, "cb", json!([]));
    let (late_id, on_late_id) = (late.id, on_late.id);
    s.job_insert_linked(
        &[top(late), callback(on_late, late_id, CallbackOn::Failure)],
        t(0),
    )
    .await
    .unwrap();
    let report = s
        .job_expire_many(JobExpireParams {
            queue: String::new(),
            now: t(100),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(report.expired, vec![late_id]);
    assert_eq!(status(&*s, late_id).await, JobStatus::Callbacks);
    let timeout = serde_json::to_value(Failure::not_started()).unwrap();
    assert_eq!(args(&*s, on_late_id).await, json!([timeout]));
    assert_eq!(status(&*s, on_late_id).await, JobStatus::Pending);
}

pub(crate) async fn a_callback_added_to_a_completed_job_runs_at_once<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let id = put(&*s, vec![job_with(&m, "call", json!([]))]).await[0].id;
    let add = |job: JobId, on: CallbackOn| CallbackAddParams {
        job,
        callback: job_with(&m, "scribble", json!([])),
        on,
        now: t(50),
    };
    let held = s.callback_add(add(id, CallbackOn::Always)).await.unwrap();
    assert_eq!(status(&*s, held).await, JobStatus::New);
    run_one(&*s, id, RunOutcome::Value(json!("200 OK")), 10).await;
    assert_eq!(status(&*s, id).await, JobStatus::Callbacks);
    let d = dispatcher(&*s).await;
    for job in run(&*s, d, "", 10, t(20)).await {
        finish(&*s, d, job, RunOutcome::Value(json!(0)), t(21)).await;
    }
    assert_eq!(status(&*s, id).await, JobStatus::Completed);

    let late = s.callback_add(add(id, CallbackOn::Always)).await.unwrap();
    let late = s.job_get(late).await.unwrap();
    assert_eq!(late.status, JobStatus::Pending, "runs at once");
    assert_eq!(late.args, json!(["200 OK"]));
    let skipped = s.callback_add(add(id, CallbackOn::Failure)).await.unwrap();
    let skipped = s.job_get(skipped).await.unwrap();
    assert_eq!(
        (skipped.status, skipped.result),
        (JobStatus::Completed, Some(json!("200 OK")))
    );
    assert_eq!(
        status(&*s, id).await,
        JobStatus::Completed,
        "stays completed"
    );
    let links = s.job_links(id).await.unwrap();
    let ons: Vec<CallbackOn> = links.callbacks.iter().map(|(on, _)| *on).collect();
    assert_eq!(
        ons,
        [CallbackOn::Always, CallbackOn::Always, CallbackOn::Failure]
    );
    assert_not_found(
        s.callback_add(add(JobId::new(), CallbackOn::Always)).await,
        &["job"],
    );
}

/// A composite of `kind` with `parts` (functions) and a postprocess with
/// `args`; returns (composite, postprocess, parts).
async fn composite(
    s: &dyn Store,
    m: &ModuleInfo,
    kind: CompositeKind,
    parts: &[&str],
    args: Value,
) -> (JobId, JobId, Vec<JobId>) {
    let postprocess = job_with(m, "postprocess", args);
    let composite = job_with(
        m,
        kind.function(),
        json!(CompositeArgs {
            postprocess: postprocess.id
        }),
    );
    let (c, p) = (composite.id, postprocess.id);
    let mut linked = vec![
        top(composite),
        LinkedJob {
            job: postprocess,
            held: true,
            link: None,
        },
    ];
    let mut ids = Vec::new();
    for (index, function) in parts.iter().enumerate() {
        let part = job_with(m, function, json!([]));
        ids.push(part.id);
        linked.push(LinkedJob {
            job: part,
            held: true,
            link: Some(JobLink::Part {
                of: c,
                index: index as i64,
            }),
        });
    }
    s.job_insert_linked(&linked, t(0)).await.unwrap();
    (c, p, ids)
}

/// Claims and starts the composite, starts it, parks it on its postprocess.
async fn start_composite(s: &dyn Store, c: JobId, p: JobId) {
    let d = dispatcher(s).await;
    assert_eq!(run(s, d, "", 1, t(1)).await, vec![c]);
    assert_eq!(s.composite_start(c, t(1)).await.unwrap(), p);
    let report = finish(s, d, c, RunOutcome::Await(p), t(1)).await;
    assert_eq!(report.awaiting, vec![c]);
}

pub(crate) async fn serial_composites_run_parts_in_turn_then_the_postprocess<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let (c, p, parts) = composite(
        &*s,
        &m,
        CompositeKind::Serial,
        &["zero", "one"],
        json!(["foo"]),
    )
    .await;
    assert_eq!(queue_ids(&*s, "").await, vec![c]);
    start_composite(&*s, c, p).await;
    assert_eq!(queue_ids(&*s, "").await, vec![parts[0]]);
    run_one(&*s, parts[0], RunOutcome::Value(json!(0)), 10).await;
    assert_eq!(queue_ids(&*s, "").await, vec![parts[1]]);
    let failure = Failure::new(FailureKind::Trap, "unreachable");
    run_one(&*s, parts[1], RunOutcome::Failure(failure.clone()), 20).await;
    assert_eq!(queue_ids(&*s, "").await, vec![p]);
    let failure_json = serde_json::to_value(&failure).unwrap();
    assert_eq!(args(&*s, p).await, json!(["foo", 0, failure_json]));
    assert_conflict(
        s.part_add(PartAddParams {
            composite: c,
            part: job_with(&m, "late", json!([])),
            callbacks: Vec::new(),
            now: t(25),
        })
        .await,
        &["postprocess"],
    );
    run_one(&*s, p, RunOutcome::Value(json!(["foo", [0]])), 30).await;
    let c = s.job_get(c).await.unwrap();
    assert_eq!(
        (c.status, c.result),
        (JobStatus::Completed, Some(json!(["foo", [0]])))
    );
    assert_eq!(s.job_links(c.id).await.unwrap().parts.len(), 2);
}

pub(crate) async fn parallel_composites_take_parts_before_and_while_they_run<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let (c, p, mut parts) = composite(&*s, &m, CompositeKind::Parallel, &["a"], json!({})).await;
    let add = |what: &str| PartAddParams {
        composite: c,
        part: job_with(&m, what, json!([])),
        callbacks: Vec::new(),
        now: t(1),
    };
    parts.push(s.part_add(add("b")).await.unwrap());
    assert_eq!(
        status(&*s, parts[1]).await,
        JobStatus::New,
        "before it starts"
    );
    start_composite(&*s, c, p).await;
    let mut due = queue_ids(&*s, "").await;
    due.sort();
    let mut expected = parts.clone();
    expected.sort();
    assert_eq!(due, expected, "every part at once");
    parts.push(s.part_add(add("c")).await.unwrap());
    assert_eq!(
        status(&*s, parts[2]).await,
        JobStatus::Pending,
        "put at once"
    );

    let d = dispatcher(&*s).await;
    let started = run(&*s, d, "", 10, t(5)).await;
    assert_eq!(started.len(), 3);
    for (i, part) in parts.iter().enumerate().rev() {
        assert_eq!(
            status(&*s, p).await,
            JobStatus::New,
            "not before the last part"
        );
        finish(&*s, d, *part, RunOutcome::Value(json!(i)), t(6)).await;
    }
    assert_eq!(
        args(&*s, p).await,
        json!({"outcomes": [0, 1, 2]}),
        "in part order"
    );
    assert_eq!(status(&*s, p).await, JobStatus::Pending);
    assert_conflict(s.part_add(add("d")).await, &["postprocess"]);
    let not_composite = s
        .part_add(PartAddParams {
            composite: parts[0],
            ..add("e")
        })
        .await;
    assert_conflict(not_composite, &["not a serial or parallel composite"]);
}

pub(crate) async fn a_callback_of_a_part_adds_parts_before_the_composite_moves_on<H: Harness>(
    h: H,
) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let (c, p, parts) = composite(&*s, &m, CompositeKind::Serial, &["first"], json!([])).await;
    start_composite(&*s, c, p).await;
    let schedule = s
        .callback_add(CallbackAddParams {
            job: parts[0],
            callback: job_with(&m, "schedule_third", json!([])),
            on: CallbackOn::Always,
            now: t(2),
        })
        .await
        .unwrap();
    run_one(&*s, parts[0], RunOutcome::Value(json!("first")), 10).await;
    assert_eq!(status(&*s, parts[0]).await, JobStatus::Callbacks);
    assert_eq!(queue_ids(&*s, "").await, vec![schedule], "nothing else yet");

    let d = dispatcher(&*s).await;
    assert_eq!(run(&*s, d, "", 10, t(20)).await, vec![schedule]);
    let third = s
        .part_add(PartAddParams {
            composite: c,
            part: job_with(&m, "third", json!([])),
            callbacks: Vec::new(),
            now: t(21),
        })
        .await
        .unwrap();
    assert_eq!(
        status(&*s, third).await,
        JobStatus::New,
        "its turn comes next"
    );
    finish(&*s, d, schedule, RunOutcome::Value(json!(null)), t(22)).await;
    assert_eq!(status(&*s, parts[0]).await, JobStatus::Completed);
    assert_eq!(queue_ids(&*s, "").await, vec![third]);
    run_one(&*s, third, RunOutcome::Value(json!("third")), 30).await;
    assert_eq!(args(&*s, p).await, json!(["first", "third"]));
}

pub(crate) async fn held_jobs_are_put_once_their_arguments_are_in<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let held = job_with(&m, "postprocess", json!([]));
    let id = held.id;
    s.job_insert_linked(
        &[LinkedJob {
            job: held,
            held: true,
            link: None,
        }],
        t(0),
    )
    .await
    .unwrap();
    let append = |value: i64| JobAppendArgsParams {
        id,
        values: vec![json!(value)],
        put_when: 3,
        now: t(5),
    };
    assert_eq!(s.job_append_args(append(7)).await.unwrap(), 1);
    assert_eq!(s.job_append_args(append(14)).await.unwrap(), 2);
    assert_eq!(status(&*s, id).await, JobStatus::New);
    assert_eq!(s.job_append_args(append(21)).await.unwrap(), 3);
    let job = s.job_get(id).await.unwrap();
    assert_eq!(
        (job.status, job.args),
        (JobStatus::Pending, json!([7, 14, 21]))
    );
    assert_conflict(s.job_append_args(append(1)).await, &["pending"]);
}

/// A job aborted by its retry policy (its dispatcher stopped) and a job
/// cancelled before it ran get their result like any other: their failure
/// callbacks run with it (a success callback passes it through), and the
/// aborted job stays `callbacks` until its callbacks complete.
pub(crate) async fn aborted_and_cancelled_jobs_run_their_failure_callbacks<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let aborted = NewJob {
        retry: Some(RetryPreset::Never.policy()),
        ..job_with(&m, "long", json!([]))
    };
    let on_abort = job_with(&m, "handle", json!([]));
    let (aborted_id, on_abort_id) = (aborted.id, on_abort.id);
    s.job_insert_linked(
        &[
            top(aborted),
            callback(on_abort, aborted_id, CallbackOn::Failure),
        ],
        t(0),
    )
    .await
    .unwrap();
    let d = dispatcher(&*s).await;
    assert_eq!(run(&*s, d, "", 1, t(1)).await, [aborted_id]);
    let report = s
        .dispatcher_hand_back(HandBackParams {
            dispatcher: d,
            job: None,
            reason: "its dispatcher stopped".into(),
            now: t(2),
        })
        .await
        .unwrap();
    assert_eq!(report.aborted, [aborted_id]);
    let job = s.job_get(aborted_id).await.unwrap();
    assert_eq!(job.status, JobStatus::Callbacks);
    assert_eq!(job.failure.map(|f| f.kind), Some(FailureKind::Aborted));
    assert_eq!(status(&*s, on_abort_id).await, JobStatus::Pending);
    assert_eq!(args(&*s, on_abort_id).await[0]["kind"], "aborted");
    run_one(&*s, on_abort_id, RunOutcome::Value(json!("handled")), 10).await;
    assert_eq!(status(&*s, aborted_id).await, JobStatus::Completed);

    let cancelled = job_with(&m, "never", json!([]));
    let on_cancel = job_with(&m, "handle", json!([]));
    let on_success = job_with(&m, "scribble", json!([]));
    let ids = (cancelled.id, on_cancel.id, on_success.id);
    s.job_insert_linked(
        &[
            top(cancelled),
            callback(on_cancel, ids.0, CallbackOn::Failure),
            callback(on_success, ids.0, CallbackOn::Success),
        ],
        t(20),
    )
    .await
    .unwrap();
    s.job_cancel(JobCancelParams {
        id: ids.0,
        now: t(21),
    })
    .await
    .unwrap();
    assert_eq!(status(&*s, ids.0).await, JobStatus::Cancelled);
    assert_eq!(status(&*s, ids.1).await, JobStatus::Pending);
    assert_eq!(args(&*s, ids.1).await[0]["kind"], "cancelled");
    assert_eq!(
        status(&*s, ids.2).await,
        JobStatus::Completed,
        "passed through"
    );
}
