//! Finishes: values, failures, captured output, the reassigned guard, and
//! "await that job" with its cascade.

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{CapturedOutput, Failure, FailureKind, JobId, JobStatus, RunOutcome};
use crate::store::{FinishReport, Store};

async fn assert_host_error(store: &dyn Store, id: JobId, part: &str) {
    let job = store.job_get(id).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    let failure = job.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::HostError);
    assert!(
        failure.message.contains(part),
        "`{}` lacks `{part}`",
        failure.message
    );
}

pub(crate) async fn finish_records_values_failures_and_output<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    put_n(&*s, "", &m, 3).await;
    let d = dispatcher(&*s).await;
    let j = run(&*s, d, "", 3, t(10)).await;
    let trap = Failure::new(FailureKind::Trap, "wasm trap: unreachable")
        .with_detail("0: job::run\n1: main");
    let mut first = outcome(d, j[0], RunOutcome::Value(json!({"sum": 3})), t(20));
    first.output = CapturedOutput {
        stdout: "hello\n".to_owned(),
        stderr: String::new(),
    };
    let batch = [
        first,
        outcome(d, j[1], RunOutcome::Failure(trap.clone()), t(21)),
        outcome(d, j[2], RunOutcome::Value(json!(null)), t(22)),
    ];
    let report = s.job_finish_many(&batch).await.unwrap();
    assert_eq!(
        report,
        FinishReport {
            completed: j.clone(),
            ..Default::default()
        }
    );

    let value = s.job_get(j[0]).await.unwrap();
    assert_eq!(value.status, JobStatus::Completed);
    assert_eq!(
        (value.result, value.failure),
        (Some(json!({"sum": 3})), None)
    );
    assert_eq!(value.completed_at, Some(t(20)));
    assert_eq!(
        (value.stdout.as_deref(), value.stderr),
        (Some("hello\n"), None)
    );
    let failed = s.job_get(j[1]).await.unwrap();
    assert_eq!((failed.result, failed.failure), (None, Some(trap)));
    let null = s.job_get(j[2]).await.unwrap();
    assert_eq!(null.result, Some(json!(null)), "a null value is a value");
    assert_eq!(
        s.job_finish_many(&[]).await.unwrap(),
        FinishReport::default()
    );
}

pub(crate) async fn finish_drops_outcomes_of_jobs_no_longer_ours<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let j = put_n(&*s, "", &m, 3).await;
    let d = dispatcher(&*s).await;
    let thief = dispatcher(&*s).await;
    run(&*s, d, "", 2, t(1)).await;
    claim(&*s, d, "", 1, t(1)).await; // j[2] assigned, never started

    let report = finish(&*s, thief, j[0], RunOutcome::Value(json!(1)), t(2)).await;
    assert_eq!(report.reassigned, [j[0]]);
    assert_eq!(s.job_get(j[0]).await.unwrap().status, JobStatus::Active);
    let report = finish(&*s, d, j[2], RunOutcome::Value(json!(1)), t(2)).await;
    assert_eq!(report.reassigned, [j[2]]);
    assert_eq!(s.job_get(j[2]).await.unwrap().status, JobStatus::Assigned);

    finish(&*s, d, j[1], RunOutcome::Value(json!("first")), t(3)).await;
    let report = finish(&*s, d, j[1], RunOutcome::Value(json!("second")), t(4)).await;
    assert_eq!(report.reassigned, [j[1]]);
    assert_eq!(s.job_get(j[1]).await.unwrap().result, Some(json!("first")));

    let unknown = JobId::new();
    let batch = [
        outcome(d, j[0], RunOutcome::Value(json!(0)), t(5)),
        outcome(d, unknown, RunOutcome::Value(json!(0)), t(5)),
    ];
    let report = s.job_finish_many(&batch).await.unwrap();
    assert_eq!(
        (report.completed, report.reassigned),
        (vec![j[0]], vec![unknown])
    );
}

pub(crate) async fn await_pending_job_then_complete_with_its_result<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    let [outer, inner, outer2, inner2] = put_n(&*s, "", &m, 4).await[..] else {
        unreachable!()
    };

    assert_eq!(run(&*s, d, "", 1, t(1)).await, [outer]);
    let mut parked = outcome(d, outer, RunOutcome::Await(inner), t(2));
    parked.output.stdout = "queued the inner job".to_owned();
    let report = s.job_finish_many(&[parked]).await.unwrap();
    assert_eq!((report.awaiting, report.completed), (vec![outer], vec![]));
    let waiting = s.job_get(outer).await.unwrap();
    assert_eq!(
        (waiting.status, waiting.awaiting),
        (JobStatus::Active, Some(inner))
    );
    assert_eq!(waiting.stdout.as_deref(), Some("queued the inner job"));
    let again = finish(&*s, d, outer, RunOutcome::Value(json!(0)), t(3)).await;
    assert_eq!(
        again.reassigned,
        [outer],
        "a parked job is not finished twice"
    );

    assert_eq!(run(&*s, d, "", 1, t(4)).await, [inner]);
    let report = finish(&*s, d, inner, RunOutcome::Value(json!(42)), t(5)).await;
    assert_eq!(report.completed, [inner, outer]);
    let done = s.job_get(outer).await.unwrap();
    assert_eq!(
        (done.status, done.result),
        (JobStatus::Completed, Some(json!(42)))
    );
    assert_eq!(
        (done.completed_at, done.awaiting),
        (Some(t(5)), Some(inner))
    );

    // A failure travels the same way.
    assert_eq!(run(&*s, d, "", 2, t(6)).await, [outer2, inner2]);
    finish(&*s, d, outer2, RunOutcome::Await(inner2), t(7)).await;
    let oom = Failure::new(FailureKind::MemoryLimit, "memory limit of 1 MiB reached");
    finish(&*s, d, inner2, RunOutcome::Failure(oom.clone()), t(8)).await;
    let failed = s.job_get(outer2).await.unwrap();
    assert_eq!(
        (failed.status, failed.failure, failed.result),
        (JobStatus::Completed, Some(oom), None)
    );
}

pub(crate) async fn await_completed_job_completes_at_once<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    let [inner, outer, a, b] = put_n(&*s, "", &m, 4).await[..] else {
        unreachable!()
    };
    run(&*s, d, "", 1, t(1)).await;
    finish(&*s, d, inner, RunOutcome::Value(json!("x")), t(2)).await;
    run(&*s, d, "", 1, t(3)).await;
    let report = finish(&*s, d, outer, RunOutcome::Await(inner), t(4)).await;
    assert_eq!((report.completed, report.awaiting), (vec![outer], vec![]));
    let job = s.job_get(outer).await.unwrap();
    assert_eq!((job.result, job.awaiting), (Some(json!("x")), Some(inner)));

    // Awaiting a job that completes in the same batch.
    run(&*s, d, "", 2, t(5)).await;
    let batch = [
        outcome(d, b, RunOutcome::Await(a), t(6)),
        outcome(d, a, RunOutcome::Value(json!(7)), t(6)),
    ];
    let report = s.job_finish_many(&batch).await.unwrap();
    assert_eq!((report.completed, report.awaiting), (vec![b, a], vec![]));
    assert_eq!(s.job_get(b).await.unwrap().result, Some(json!(7)));
}

pub(crate) async fn await_self_missing_or_cycle_fails<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    let [me, lost, x, y, k0, k1] = put_n(&*s, "", &m, 6).await[..] else {
        unreachable!()
    };
    run(&*s, d, "", 6, t(1)).await;

    let report = finish(&*s, d, me, RunOutcome::Await(me), t(2)).await;
    assert_eq!(report.completed, [me]);
    assert_host_error(&*s, me, "itself").await;
    let missing = JobId::new();
    finish(&*s, d, lost, RunOutcome::Await(missing), t(2)).await;
    assert_host_error(&*s, lost, "does not exist").await;

    // x awaits y; then y awaits x: refused, and x gets y's failure.
    assert_eq!(
        finish(&*s, d, x, RunOutcome::Await(y), t(3)).await.awaiting,
        [x]
    );
    let report = finish(&*s, d, y, RunOutcome::Await(x), t(4)).await;
    assert_eq!(report.completed, [y, x]);
    assert_host_error(&*s, y, "waits for job").await;
    assert_host_error(&*s, x, "waits for job").await;

    // The same cycle inside one batch.
    let batch = [
        outcome(d, k0, RunOutcome::Await(k1), t(5)),
        outcome(d, k1, RunOutcome::Await(k0), t(5)),
    ];
    let report = s.job_finish_many(&batch).await.unwrap();
    assert_eq!((report.completed, report.awaiting), (vec![k0, k1], vec![]));
    assert_host_error(&*s, k1, "waits for job").await;
    assert_eq!(s.job_get(k0).await.unwrap().awaiting, Some(k1));
}

pub(crate) async fn await_chain_of_three_cascades<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    let [a, b, c, a2, b2, c2] = put_n(&*s, "", &m, 6).await[..] else {
        unreachable!()
    };
    run(&*s, d, "", 6, t(1)).await;
    finish(&*s, d, a, RunOutcome::Await(b), t(2)).await;
    finish(&*s, d, b, RunOutcome::Await(c), t(3)).await;
    let report = finish(&*s, d, c, RunOutcome::Value(json!("deep")), t(4)).await;
    assert_eq!(
        report.completed,
        [c, a, b],
        "the batch's jobs, then the cascade's by id"
    );
    for id in [a, b, c] {
        let job = s.job_get(id).await.unwrap();
        assert_eq!(
            (job.status, job.result),
            (JobStatus::Completed, Some(json!("deep")))
        );
    }

    let batch = [
        outcome(d, c2, RunOutcome::Value(json!([1, 2])), t(5)),
        outcome(d, a2, RunOutcome::Await(b2), t(5)),
        outcome(d, b2, RunOutcome::Await(c2), t(5)),
    ];
    let report = s.job_finish_many(&batch).await.unwrap();
    assert_eq!(report.completed, [c2, a2, b2]);
    assert_eq!(s.job_get(a2).await.unwrap().result, Some(json!([1, 2])));
}

pub(crate) async fn nul_characters_round_trip<H: Harness>(h: H) {
    // NUL is a character like any other in JSON strings and in output.
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let mut job = new_job("", &m, "f", t(0));
    job.args = json!(["a\u{0}b", {"k\u{0}": "\u{0}"}]);
    let stored = put(&*s, vec![job.clone(), new_job("", &m, "f", t(0))]).await;
    assert_eq!(s.job_get(job.id).await.unwrap().args, job.args);
    let d = dispatcher(&*s).await;
    run(&*s, d, "", 2, t(1)).await;
    let mut value = outcome(d, job.id, RunOutcome::Value(json!({"v": "x\u{0}y"})), t(2));
    value.output = CapturedOutput {
        stdout: "out\0put".to_owned(),
        stderr: "\0".to_owned(),
    };
    let failure = Failure::new(FailureKind::GuestError, "bad \0 byte").with_detail("\0");
    let failed = outcome(d, stored[1].id, RunOutcome::Failure(failure.clone()), t(2));
    let report = s.job_finish_many(&[value, failed]).await.unwrap();
    assert_eq!(report.completed.len(), 2);
    let done = s.job_get(job.id).await.unwrap();
    assert_eq!(done.result, Some(json!({"v": "x\u{0}y"})));
    assert_eq!(
        (done.stdout.as_deref(), done.stderr.as_deref()),
        (Some("out\0put"), Some("\0"))
    );
    assert_eq!(
        s.job_get(stored[1].id).await.unwrap().failure,
        Some(failure.clone())
    );
    assert_eq!(
        s.job_attempts(stored[1].id).await.unwrap()[0].failure,
        failure,
        "the attempts history keeps it too"
    );
    s.annotation_set(crate::store::AnnotationSetParams {
        job: job.id,
        name: "note".to_owned(),
        value: json!("\u{0}"),
        now: t(3),
    })
    .await
    .unwrap();
    assert_eq!(
        s.annotation_get(job.id, "note").await.unwrap(),
        Some(json!("\u{0}"))
    );
}

/// A finish carrying its run's record writes it in the same transaction;
/// one whose outcome is dropped (the job no longer the dispatcher's) still
/// keeps the run (it happened).
pub(crate) async fn finish_writes_the_runs_it_carries<H: Harness>(h: H) {
    use crate::model::{RunLimits, RunRecord, RunUsage};
    let s = h.store();
    let m = module(&*s, "m", None).await;
    put_n(&*s, "", &m, 2).await;
    let d = dispatcher(&*s).await;
    let ids = run(&*s, d, "", 2, t(1)).await;
    let record = |id: JobId, wall_ms| RunRecord {
        job: id,
        attempt: 1,
        queue: String::new(),
        dispatcher: d,
        limits: RunLimits {
            fuel: 1_000,
            memory_bytes: 1 << 20,
            timeout_ms: 5_000,
        },
        usage: RunUsage {
            fuel: 10,
            peak_memory_bytes: 4_096,
            wall_ms,
            output_bytes: 0,
        },
        ended_at: t(2),
    };
    let with_run = |id, wall_ms| crate::store::JobFinishParams {
        run: Some(record(id, wall_ms)),
        ..outcome(d, id, RunOutcome::Value(json!(1)), t(2))
    };
    let report = s.job_finish_many(&[with_run(ids[0], 7)]).await.unwrap();
    assert_eq!(report.completed, [ids[0]]);
    assert_eq!(s.job_runs(ids[0]).await.unwrap(), [record(ids[0], 7)]);
    let impostor = dispatcher(&*s).await;
    let dropped = crate::store::JobFinishParams {
        dispatcher: impostor,
        ..with_run(ids[1], 9)
    };
    let report = s.job_finish_many(&[dropped]).await.unwrap();
    assert_eq!(report.reassigned, [ids[1]]);
    assert_eq!(s.job_get(ids[1]).await.unwrap().status, JobStatus::Active);
    assert_eq!(s.job_runs(ids[1]).await.unwrap(), [record(ids[1], 9)]);
    // A batch of three runs: their insert is padded to four rows of
    // parameters (`store/runs.rs`), and the padding writes nothing.
    put_n(&*s, "", &m, 3).await;
    let three = run(&*s, d, "", 3, t(3)).await;
    let batch: Vec<_> = three.iter().map(|&id| with_run(id, 5)).collect();
    let report = s.job_finish_many(&batch).await.unwrap();
    assert_eq!(report.completed.len(), 3);
    for &id in &three {
        assert_eq!(s.job_runs(id).await.unwrap(), [record(id, 5)]);
    }
    assert_eq!(
        s.queue_usage("").await.unwrap().runs,
        5,
        "two runs before, three now"
    );
}
