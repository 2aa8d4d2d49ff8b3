//! `annotate`: live annotations, after zc.async's usage doc
//! (`annotateStatus`, `waitForParallel`, `pause`) plus generic `set` and
//! `wait_for` jobs for the host's tests.

#![deny(missing_docs)]

use std::time::Duration;

use serde_json::Value;
use wasync_guest::{Error, JobId, get_live_annotation, job, set_live_annotation};

/// zc.async's `annotateStatus`: sets live annotation `status` to
/// `"active"` (a running job is active), waits up to 5 s (polling every
/// 100 ms) for annotation `flag`, records whether it came in `flag_seen`,
/// and returns 42 either way.
#[job]
pub fn annotate_status() -> Result<u32, Error> {
    set_live_annotation("status", &"active")?;
    let flag: Option<Value> = get_live_annotation(
        "flag",
        Duration::from_secs(5),
        Duration::from_millis(100),
        None,
    )?;
    set_live_annotation("flag_seen", &flag.is_some())?;
    Ok(42)
}

/// Waits up to `timeout_ms` for annotation `name` of this job, or of `job`
/// when given, and returns its value, or `default` if none came.
#[job]
pub fn wait_for(
    name: String,
    timeout_ms: u64,
    default: Value,
    job: Option<String>,
) -> Result<Value, Error> {
    let job = job.map(JobId::new);
    let value = get_live_annotation(
        &name,
        Duration::from_millis(timeout_ms),
        Duration::from_millis(100),
        job.as_ref(),
    )?;
    Ok(value.unwrap_or(default))
}

/// Sets annotation `name` to `value` on this job, or on `job` when given.
#[job]
pub fn set(name: String, value: Value, job: Option<String>) -> Result<(), Error> {
    match job {
        Some(job) => wasync_guest::set_live_annotation_on(&JobId::new(job), &name, &value),
        None => set_live_annotation(&name, &value),
    }
}

/// zc.async's `waitForParallel`: sets its own `flag` to true, then checks
/// for `flag` on job `other` for up to 400 ms (poll 0: the host's minimum)
/// and returns whether it was seen. Two of these see each other only when
/// they run in parallel.
#[job]
pub fn wait_for_parallel(other: String) -> Result<bool, Error> {
    set_live_annotation("flag", &true)?;
    let seen: Option<Value> = get_live_annotation(
        "flag",
        Duration::from_millis(400),
        Duration::ZERO,
        Some(&JobId::new(other)),
    )?;
    Ok(seen.is_some())
}

/// zc.async's `pause`: sets its own `flag` to true, waits up to 400 ms
/// (poll 100 ms) for `flag` on job `other`, and returns null. Under a
/// quota of 1 the other job cannot run meanwhile.
#[job]
pub fn pause(other: String) -> Result<(), Error> {
    set_live_annotation("flag", &true)?;
    let _: Option<Value> = get_live_annotation(
        "flag",
        Duration::from_millis(400),
        Duration::from_millis(100),
        Some(&JobId::new(other)),
    )?;
    Ok(())
}

/// Leaves one mark per execution on job `ledger`: an annotation named
/// `ran:<this job's id>:<random nonce>`. Counting a job's marks counts how
/// many times its code really ran, independently of what the queue
/// recorded about it (tests use it to prove each job runs exactly once).
#[job]
pub fn mark(ledger: String) -> Result<String, Error> {
    use std::hash::{BuildHasher, Hasher};
    // Seeded from the host's random source: distinct for every execution.
    let nonce = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let name = format!("ran:{}:{nonce:016x}", job().id);
    wasync_guest::set_live_annotation_on(&JobId::new(ledger), &name, &true)?;
    Ok(name)
}

/// A long job for the failure tests: leaves a `started:<this job's
/// id>:<nonce>` mark on job `ledger`, waits up to `ms` for annotation
/// `release` on the ledger (a test sets it to let every such job end),
/// then leaves `ran:<this job's id>:<nonce>` and returns that name.
/// `started:` marks count the runs that began, `ran:` marks the runs that
/// got to the end: a run cut short (its process killed or stopped) leaves
/// the first and not the second.
#[job]
pub fn long_mark(ledger: String, ms: u64) -> Result<String, Error> {
    use std::hash::{BuildHasher, Hasher};
    let nonce = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let ledger = JobId::new(ledger);
    let id = job().id;
    wasync_guest::set_live_annotation_on(&ledger, &format!("started:{id}:{nonce:016x}"), &true)?;
    let _: Option<Value> = get_live_annotation(
        "release",
        Duration::from_millis(ms),
        Duration::from_millis(50),
        Some(&ledger),
    )?;
    let name = format!("ran:{id}:{nonce:016x}");
    wasync_guest::set_live_annotation_on(&ledger, &name, &true)?;
    Ok(name)
}

wasync_guest::export_jobs!(
    annotate_status,
    wait_for,
    set,
    wait_for_parallel,
    pause,
    mark,
    long_mark
);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use wasync_guest::testing::{FakeContext, WaitRecord};

    use super::jobs;

    #[test]
    fn annotate_status_without_flag() {
        let ctx = FakeContext::new();
        let out = ctx.run(jobs(), "annotate_status", json!([])).unwrap();
        assert_eq!(out.value(), Some(json!(42)));
        assert_eq!(ctx.annotation("status"), Some(json!("active")));
        assert_eq!(ctx.annotation("flag_seen"), Some(json!(false)));
        assert_eq!(
            ctx.waits(),
            vec![WaitRecord {
                job: ctx.id(),
                name: "flag".into(),
                timeout: Duration::from_secs(5),
                poll: Duration::from_millis(100),
                found: false,
            }]
        );
    }

    #[test]
    fn annotate_status_with_flag_set_while_waiting() {
        let ctx = FakeContext::new().with_real_waits();
        let outside = ctx.clone();
        let setter = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while outside.waiters() == 0 {
                assert!(std::time::Instant::now() < deadline, "never waited");
                std::thread::yield_now();
            }
            assert_eq!(outside.annotation("status"), Some(json!("active")));
            outside.set_annotation("flag", true);
        });
        let out = ctx.run(jobs(), "annotate_status", json!({})).unwrap();
        setter.join().unwrap();
        assert_eq!(out.value(), Some(json!(42)));
        assert_eq!(ctx.annotation("flag_seen"), Some(json!(true)));
    }

    #[test]
    fn wait_for_and_set() {
        let ctx = FakeContext::new();
        let other = ctx.add_job();
        let out = ctx
            .run(jobs(), "wait_for", json!(["k", 0, "dflt", null]))
            .unwrap();
        assert_eq!(out.value(), Some(json!("dflt")));
        ctx.run(
            jobs(),
            "set",
            json!({"name": "k", "value": [1], "job": other}),
        )
        .unwrap();
        assert_eq!(ctx.annotation_on(&other, "k"), Some(json!([1])));
        let out = ctx
            .run(jobs(), "wait_for", json!(["k", 10, "dflt", other]))
            .unwrap();
        assert_eq!(out.value(), Some(json!([1])));
        ctx.run(jobs(), "set", json!(["mine", {"a": 1}])).unwrap();
        assert_eq!(ctx.annotation("mine"), Some(json!({"a": 1})));
        let e = ctx.run(jobs(), "set", json!(["k", 1, "nope"])).unwrap_err();
        assert_eq!(e.kind, "context");
    }

    #[test]
    fn wait_for_parallel_sees_the_other_flag_only_if_set() {
        let ctx = FakeContext::new();
        let other = ctx.add_job();
        let out = ctx
            .run(jobs(), "wait_for_parallel", json!([other]))
            .unwrap();
        assert_eq!(out.value(), Some(json!(false)));
        assert_eq!(ctx.annotation("flag"), Some(json!(true)));
        let wait = &ctx.waits()[0];
        assert_eq!(
            (wait.timeout, wait.poll),
            (Duration::from_millis(400), Duration::ZERO)
        );
        // The other job runs its own copy: it sees ours.
        let theirs = ctx.for_job(&other);
        let out = theirs
            .run(jobs(), "wait_for_parallel", json!([ctx.id()]))
            .unwrap();
        assert_eq!(out.value(), Some(json!(true)));
    }

    #[test]
    fn mark_leaves_one_distinct_mark_per_execution() {
        let ctx = FakeContext::new();
        let ledger = ctx.add_job();
        let first = ctx
            .run(jobs(), "mark", json!([ledger]))
            .unwrap()
            .value()
            .unwrap();
        let second = ctx
            .run(jobs(), "mark", json!([ledger]))
            .unwrap()
            .value()
            .unwrap();
        assert_ne!(first, second, "each execution leaves its own mark");
        for mark in [first, second] {
            let name = mark.as_str().unwrap();
            assert!(name.starts_with(&format!("ran:{}:", ctx.id())), "{name}");
            assert_eq!(ctx.annotation_on(&ledger, name), Some(json!(true)));
        }
    }

    #[test]
    fn long_mark_marks_its_start_and_its_end() {
        let ctx = FakeContext::new();
        let ledger = ctx.add_job();
        ctx.set_annotation_on(&ledger, "release", true);
        let out = ctx
            .run(jobs(), "long_mark", json!([ledger, 10_000]))
            .unwrap()
            .value()
            .unwrap();
        let name = out.as_str().unwrap();
        assert!(name.starts_with(&format!("ran:{}:", ctx.id())), "{name}");
        assert_eq!(ctx.annotation_on(&ledger, name), Some(json!(true)));
        let started = name.replacen("ran:", "started:", 1);
        assert_eq!(ctx.annotation_on(&ledger, &started), Some(json!(true)));
    }

    #[test]
    fn pause_returns_null() {
        let ctx = FakeContext::new();
        let other = ctx.add_job();
        let out = ctx.run(jobs(), "pause", json!([other])).unwrap();
        assert_eq!(out.value(), Some(json!(null)));
        assert_eq!(ctx.annotation("flag"), Some(json!(true)));
        let wait = &ctx.waits()[0];
        assert_eq!(wait.job, other);
        assert_eq!(wait.poll, Duration::from_millis(100));
    }
}
