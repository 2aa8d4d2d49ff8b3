//! The real example jobs (`jobs-examples/`, built by
//! `wasync-example-components`) through the runtime API and through the
//! `wasync run` binary.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::TestContext;
use serde_json::{Value, json};
use wasync::model::{Failure, FailureKind, ModuleDigest, RunOutcome};
use wasync::runtime::{JobCall, Limits, Prepared, RunReport, Runtime, RuntimeConfig};
use wasync_example_components as examples;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

async fn prepare(runtime: &Runtime, name: &str) -> Arc<Prepared> {
    let bytes = examples::bytes(name);
    runtime
        .prepare(&ModuleDigest::of(&bytes), &bytes)
        .await
        .unwrap_or_else(|e| panic!("example {name} refused: {e}"))
}

async fn run_with(
    runtime: &Runtime,
    prepared: &Prepared,
    context: Arc<TestContext>,
    limits: Limits,
) -> RunReport {
    let call = JobCall {
        function: context.info.function.clone(),
        args: context.info.args.clone(),
    };
    runtime.run(prepared, call, limits, context).await
}

async fn run(runtime: &Runtime, name: &str, function: &str, args: Value) -> RunReport {
    let prepared = prepare(runtime, name).await;
    let context = TestContext::new(&prepared.info.digest, function, args);
    run_with(runtime, &prepared, context, Limits::default()).await
}

fn failure(report: &RunReport) -> &Failure {
    match &report.outcome {
        RunOutcome::Failure(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// (example, function, args, expected value)
fn values() -> Vec<(&'static str, &'static str, Value, Value)> {
    vec![
        ("hello", "hello", json!([]), json!("200 OK")),
        (
            "hello",
            "echo",
            json!([{"a": [1, 2]}]),
            json!({"a": [1, 2]}),
        ),
        ("hello", "add", json!([40, 2]), json!(42)),
        ("hello", "add", json!({"a": 1, "b": 2}), json!(3)),
        ("hello", "scribble", json!(["hi"]), json!("hi: SCRIBBLED")),
        ("hello", "sleep", json!([20]), json!(20)),
        ("hello", "write_output", json!(["out"]), json!(null)),
        ("demo", "increase", json!([41]), json!(42)),
        ("demo", "increase", json!([1, 10]), json!(11)),
        ("failing", "divide", json!([7, 2]), json!(3)),
        ("fanout", "second_job", json!([21]), json!(42)),
        ("fanout", "chain", json!([0, "v"]), json!("v")),
        ("annotate", "set", json!(["k", 1]), json!(null)),
        (
            "hash",
            "sha256_rounds",
            json!([1000, 3]),
            json!(hash::sha256_rounds(1000, 3)),
        ),
    ]
}

#[tokio::test]
async fn every_example_gives_its_value_through_the_api() {
    let runtime = runtime();
    for (name, function, args, expected) in values() {
        let report = run(&runtime, name, function, args.clone()).await;
        assert_eq!(
            report.outcome,
            RunOutcome::Value(expected),
            "{name}.{function}({args})"
        );
        if function == "write_output" {
            assert_eq!(report.output.stdout, "out\n");
            assert_eq!(report.output.stderr, "out\n");
        }
    }
    // Fuel grows with the work done.
    let counted = |n: u64| {
        let runtime = runtime.clone();
        async move {
            let report = run(&runtime, "spin", "count", json!([n])).await;
            assert!(matches!(report.outcome, RunOutcome::Value(ref v) if v.is_u64()));
            report.fuel_consumed.expect("fuel is metered")
        }
    };
    let (small, large) = (counted(100_000).await, counted(1_000_000).await);
    assert!(large > 5 * small, "{small} then {large}");

    let prepared = prepare(&runtime, "hello").await;
    for function in ["add", "echo", "hello", "scribble", "sleep", "write_output"] {
        assert!(
            prepared.info.functions.iter().any(|f| f == function),
            "{function}"
        );
    }
}

#[tokio::test]
async fn get_job_describes_the_running_job() {
    let runtime = runtime();
    let prepared = prepare(&runtime, "hello").await;
    let context = TestContext::new(&prepared.info.digest, "job_info", json!({}));
    let report = run_with(&runtime, &prepared, context.clone(), Limits::default()).await;
    let RunOutcome::Value(info) = report.outcome else {
        panic!("{report:?}");
    };
    assert_eq!(info["id"], json!(context.info.id.to_string()));
    assert_eq!(info["queue"], json!("test"));
    assert_eq!(info["module"], json!(prepared.info.digest.to_string()));
    assert_eq!(info["function"], json!("job_info"));
    assert_eq!(info["args"], json!({}));
    assert_eq!(info["attempt"], json!(1));
}

#[tokio::test]
async fn puts_and_awaits_reach_the_context() {
    let runtime = runtime();
    let prepared = prepare(&runtime, "fanout").await;
    let context = TestContext::new(&prepared.info.digest, "first_job", json!([]));
    let report = run_with(&runtime, &prepared, context.clone(), Limits::default()).await;
    assert!(matches!(report.outcome, RunOutcome::Await(_)), "{report:?}");
    {
        let puts = context.puts.lock().unwrap();
        assert_eq!(puts.len(), 1);
        assert_eq!(puts[0].function, "second_job");
        assert_eq!(puts[0].args, json!([21]));
    }

    let context = TestContext::new(&prepared.info.digest, "fanout", json!([3]));
    let report = run_with(&runtime, &prepared, context.clone(), Limits::default()).await;
    assert!(matches!(report.outcome, RunOutcome::Await(_)), "{report:?}");
    assert_eq!(context.puts.lock().unwrap().len(), 3);
    let annotations = context.annotations.lock().unwrap();
    assert_eq!(annotations[0].1, "children");
    assert_eq!(annotations[0].2.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn live_annotations_wait_for_a_value_set_from_outside() {
    let runtime = runtime();
    let prepared = prepare(&runtime, "annotate").await;
    let context = TestContext::new(&prepared.info.digest, "annotate_status", json!([]));
    let job = tokio::spawn({
        let (runtime, prepared, context) = (runtime.clone(), prepared.clone(), context.clone());
        async move { run_with(&runtime, &prepared, context, Limits::default()).await }
    });
    // Once the job says it is active, raise its flag.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let active = context
            .annotations
            .lock()
            .unwrap()
            .iter()
            .any(|(_, name, value)| name == "status" && value == "active");
        if active {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never set its status"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    context
        .annotations
        .lock()
        .unwrap()
        .push((None, "flag".into(), json!(true)));
    let report = job.await.unwrap();
    assert_eq!(report.outcome, RunOutcome::Value(json!(42)));
    assert!(
        report.elapsed < Duration::from_secs(4),
        "{:?}",
        report.elapsed
    );
    let seen = context
        .annotations
        .lock()
        .unwrap()
        .iter()
        .find(|(_, name, _)| name == "flag_seen")
        .map(|(_, _, value)| value.clone());
    assert_eq!(seen, Some(json!(true)));
}

#[tokio::test]
async fn failures_of_the_examples_are_classified() {
    let runtime = runtime();

    let report = run(&runtime, "failing", "panics", json!(["kaboom"])).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::Panic);
    assert!(f.message.starts_with("kaboom"), "{}", f.message);
    let detail = f.detail.as_deref().unwrap();
    assert!(detail.contains("failing::explode"), "{detail}");
    assert!(report.output.stderr.contains("kaboom"));

    let report = run(&runtime, "failing", "typed_error", json!(["E42"])).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::GuestError);
    assert!(f.message.contains("E42"), "{}", f.message);
    assert!(f.guest_kind.is_some());

    let report = run(&runtime, "failing", "permanent_error", json!([])).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::GuestError);
    assert!(f.permanent);

    let report = run(&runtime, "failing", "trap", json!([])).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::Trap);
    assert!(f.detail.as_deref().unwrap().contains("failing::"), "{f:?}");
}

#[tokio::test]
async fn spin_ends_out_of_fuel_or_timeout_and_hello_runs_after() {
    let runtime = runtime();
    let prepared = prepare(&runtime, "spin").await;
    let context = || TestContext::new(&prepared.info.digest, "spin", json!([]));
    let fuel = Limits {
        fuel: Some(50_000_000),
        ..Limits::default()
    };
    let report = run_with(&runtime, &prepared, context(), fuel).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::OutOfFuel);
    assert!(f.detail.as_deref().unwrap().contains("spin"), "{f:?}");
    let after = run(&runtime, "hello", "hello", json!([])).await;
    assert_eq!(after.outcome, RunOutcome::Value(json!("200 OK")));

    let timeout = Limits {
        timeout: Some(Duration::from_millis(300)),
        ..Limits::default()
    };
    let report = run_with(&runtime, &prepared, context(), timeout).await;
    assert_eq!(failure(&report).kind, FailureKind::Timeout);
    assert!(
        report.elapsed < Duration::from_secs(3),
        "{:?}",
        report.elapsed
    );
    let after = run(&runtime, "hello", "hello", json!([])).await;
    assert_eq!(after.outcome, RunOutcome::Value(json!("200 OK")));
}

/// Four `spin` jobs on a two-worker executor: a timer of another task still
/// fires on time, because the guests yield every epoch tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_examples_do_not_pin_the_workers() {
    let runtime = runtime();
    let prepared = prepare(&runtime, "spin").await;
    let limits = Limits {
        timeout: Some(Duration::from_millis(500)),
        ..Limits::default()
    };
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let (runtime, prepared) = (runtime.clone(), prepared.clone());
            tokio::spawn(async move {
                let context = TestContext::new(&prepared.info.digest, "spin", json!([]));
                run_with(&runtime, &prepared, context, limits).await
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let asked = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(10)).await;
        worst = worst.max(asked.elapsed().saturating_sub(Duration::from_millis(10)));
    }
    for spinner in spinners {
        assert_eq!(failure(&spinner.await.unwrap()).kind, FailureKind::Timeout);
    }
    assert!(
        worst < Duration::from_millis(50),
        "a timer was {worst:?} late"
    );
}

#[tokio::test]
async fn a_job_waiting_in_a_host_call_also_times_out() {
    let runtime = runtime();
    let prepared = prepare(&runtime, "hello").await;
    let context = TestContext::new(&prepared.info.digest, "sleep", json!([10_000]));
    let limits = Limits {
        timeout: Some(Duration::from_millis(200)),
        ..Limits::default()
    };
    let report = run_with(&runtime, &prepared, context, limits).await;
    assert_eq!(failure(&report).kind, FailureKind::Timeout);
    assert!(
        report.elapsed < Duration::from_secs(2),
        "{:?}",
        report.elapsed
    );
    let after = run(&runtime, "hello", "hello", json!([])).await;
    assert_eq!(after.outcome, RunOutcome::Value(json!("200 OK")));
}

#[tokio::test]
async fn hog_ends_at_the_memory_limit_with_host_memory_bounded() {
    let runtime = runtime();
    let prepared = prepare(&runtime, "hog").await;
    let limit: u64 = 128 << 20;
    let limits = Limits {
        memory_bytes: Some(limit),
        ..Limits::default()
    };
    let before = common::peak_rss();
    for _ in 0..2 {
        let context = TestContext::new(&prepared.info.digest, "hog", json!([]));
        let report = run_with(&runtime, &prepared, context, limits).await;
        let f = failure(&report);
        assert_eq!(f.kind, FailureKind::MemoryLimit, "{f:?}");
    }
    let grown = common::peak_rss().saturating_sub(before);
    assert!(
        grown < 2 * limit,
        "peak RSS grew by {grown} bytes for a {limit}-byte limit"
    );
}

/// Where the tests' `wasync run` keeps compiled components (not the
/// user's cache directory).
const RUN_CACHE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/wasync-run-cache");

/// `wasync run` on an example: (exit code, stdout, stderr).
fn wasync_run(args: &[&str]) -> (i32, String, String) {
    wasync_run_cached_in(RUN_CACHE, args)
}

fn wasync_run_cached_in(cache: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wasync"))
        .arg("run")
        .args(args)
        .env("WASYNC_RUN_CACHE_DIR", cache)
        .output()
        .expect("wasync runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(name: &str) -> String {
    examples::path(name).display().to_string()
}

#[test]
fn wasync_run_compiles_once_then_loads_from_its_cache() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let hello = path("hello");
    let timed = |args: &[&str]| {
        let started = std::time::Instant::now();
        let answer = wasync_run_cached_in(cache_dir, args);
        (answer, started.elapsed())
    };
    let ((code, stdout, stderr), cold) = timed(&[&hello, "hello"]);
    assert_eq!((code, stdout.trim()), (0, "\"200 OK\""), "{stderr}");
    assert!(
        stderr.contains("compiled") && stderr.contains(cache_dir),
        "the first run compiles and says where it keeps the result: {stderr}"
    );
    let files: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(files.len(), 1, "one compiled component in the cache");

    let ((code, stdout, stderr), warm) = timed(&[&hello, "hello"]);
    assert_eq!((code, stdout.trim()), (0, "\"200 OK\""), "{stderr}");
    assert!(
        !stderr.contains("compiled"),
        "the second run loads it: {stderr}"
    );
    eprintln!("wasync run hello: cold {cold:?}, from the cache {warm:?}");

    let (code, _, stderr) = wasync_run_cached_in(cache_dir, &[&hello, "hello", "[]", "--no-cache"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("compiled") && !stderr.contains("kept in"),
        "{stderr}"
    );
}

#[test]
fn wasync_run_prints_every_example_value() {
    for (name, function, args, expected) in values() {
        let (code, stdout, stderr) = wasync_run(&[&path(name), function, &args.to_string()]);
        assert_eq!(code, 0, "{name}.{function}: {stdout} {stderr}");
        let value: Value = serde_json::from_str(stdout.trim()).expect("JSON on stdout");
        assert_eq!(value, expected, "{name}.{function}");
    }
    // An await prints the job to await; the put is reported on stderr.
    let (code, stdout, stderr) = wasync_run(&[&path("fanout"), "first_job"]);
    assert_eq!(code, 0, "{stderr}");
    let printed: Value = serde_json::from_str(stdout.trim()).unwrap();
    let awaited = printed["await"].as_str().expect("await id");
    let put: Value = serde_json::from_str(stderr.lines().next().unwrap()).unwrap();
    assert_eq!(put["id"], awaited);
    assert_eq!(put["put"]["function"], "second_job");
}

#[test]
fn wasync_run_reports_failures_as_json_with_exit_1() {
    let cases: [(&str, &[&str], &str); 5] = [
        ("spin", &["spin", "--fuel", "20000000"], "out-of-fuel"),
        ("spin", &["spin", "--timeout", "200ms"], "timeout"),
        ("hog", &["hog", "[]", "--memory", "64MiB"], "memory-limit"),
        ("failing", &["panics", "[\"kaboom\"]"], "panic"),
        ("failing", &["typed_error", "[\"E42\"]"], "guest-error"),
    ];
    for (name, args, kind) in cases {
        let mut all = vec![path(name)];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = wasync_run(&all);
        assert_eq!(code, 1, "{name} {args:?}: {stdout} {stderr}");
        let failure: Value = serde_json::from_str(stdout.trim()).expect("JSON failure");
        assert_eq!(failure["kind"], kind, "{failure}");
    }
}

#[test]
fn wasync_run_usage_errors_exit_2() {
    let hello = path("hello");
    for (args, needle) in [
        (vec![hello.as_str(), "add", "[1,"], "ARGS_JSON"),
        (vec![hello.as_str(), "add", "3"], "array or object"),
        (vec!["/no/such/file.wasm", "add"], "cannot read"),
        (vec![env!("CARGO_MANIFEST_DIR"), "add"], "cannot read"),
        (
            vec![hello.as_str(), "add", "[]", "--memory", "lots"],
            "lots",
        ),
    ] {
        let (code, stdout, stderr) = wasync_run(&args);
        assert_eq!(code, 2, "{args:?}: {stdout} {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stdout.is_empty());
    }
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, wat::parse_str("(module)").unwrap()).unwrap();
    let (code, _, stderr) = wasync_run(&[core.to_str().unwrap(), "f"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("core WebAssembly module"), "{stderr}");
}

/// Runs `wasync run` with `args` and returns its own peak resident memory
/// in bytes (from `wait4`, so other processes do not count).
fn wasync_run_peak_rss(args: &[&str]) -> (i32, u64) {
    #[expect(clippy::zombie_processes, reason = "reaped by wait4 below")]
    let child = Command::new(env!("CARGO_BIN_EXE_wasync"))
        .arg("run")
        .args(args)
        .env("WASYNC_RUN_CACHE_DIR", RUN_CACHE)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("wasync starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; the pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_hogging_wasync_run_stays_within_twice_its_limit() {
    let limit: u64 = 256 << 20;
    let (code, baseline) = wasync_run_peak_rss(&[&path("hello"), "hello"]);
    assert_eq!(code, 0);
    let (code, peak) = wasync_run_peak_rss(&[&path("hog"), "hog", "[]", "--memory", "256MiB"]);
    assert_eq!(code, 1, "the hog fails");
    let grown = peak.saturating_sub(baseline);
    // The hog really used its memory, and no more than twice its limit.
    assert!(
        grown > limit / 2,
        "the hog grew the process by only {grown} bytes"
    );
    assert!(
        grown < 2 * limit,
        "peak RSS {peak} is {grown} bytes above {baseline}"
    );
}
