//! The `hostile` example under the runtime and under `wasync run` (issue
//! 13): a 200 MB result fails as `result-too-large` naming its size and
//! the cap, an import argument over its cap as `argument-too-large`, and
//! every hostile job ends with a typed failure or a value; `wasync run`
//! never exits 101 (a host panic), whatever the guest does.

mod common;

use std::process::Command;
use std::time::Duration;

use common::TestContext;
use serde_json::{Value, json};
use wasync::model::{FailureKind, ModuleDigest, RunOutcome};
use wasync::runtime::context::ARGUMENT_MAX;
use wasync::runtime::{JobCall, Limits, RESULT_MAX, RunReport, Runtime, RuntimeConfig};
use wasync_example_components as examples;

async fn run_hostile(function: &str, args: Value, limits: Limits) -> RunReport {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let bytes = examples::bytes("hostile");
    let prepared = runtime
        .prepare(&ModuleDigest::of(&bytes), &bytes)
        .await
        .expect("hostile accepted");
    let context = TestContext::new(&prepared.info.digest, function, args.clone());
    let call = JobCall {
        function: function.into(),
        args,
    };
    runtime.run(&prepared, call, limits, context).await
}

fn failure(report: &RunReport) -> (FailureKind, String) {
    match &report.outcome {
        RunOutcome::Failure(f) => (f.kind, f.message.clone()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_200_mb_result_fails_as_result_too_large_naming_size_and_cap() {
    let limits = Limits {
        memory_bytes: Some(1 << 30),
        ..Limits::default()
    };
    let report = run_hostile("huge_result", json!([200_000_000]), limits).await;
    let (kind, message) = failure(&report);
    assert_eq!(kind, FailureKind::ResultTooLarge, "{message}");
    // The JSON string: the bytes and two quotes.
    assert!(message.contains("200000002 bytes"), "{message}");
    assert!(message.contains(&RESULT_MAX.to_string()), "{message}");
    // Just under the cap is a value.
    let report = run_hostile("huge_result", json!([RESULT_MAX - 2]), limits).await;
    assert!(matches!(report.outcome, RunOutcome::Value(_)));
    assert_eq!(report.output_bytes, RESULT_MAX as u64);
}

#[tokio::test]
async fn an_import_argument_over_its_cap_fails_as_argument_too_large() {
    let limits = Limits {
        memory_bytes: Some(512 << 20),
        ..Limits::default()
    };
    let over = ARGUMENT_MAX as u64 + 1;
    for import in [
        "set-live-annotation",
        "get-live-annotation",
        "put",
        "put-many",
        "append-args",
        "report-panic",
    ] {
        let report = run_hostile("huge_argument", json!([import, over]), limits).await;
        let (kind, message) = failure(&report);
        assert_eq!(kind, FailureKind::ArgumentTooLarge, "{import}: {message}");
        assert!(message.contains(&format!("`{import}`")), "{message}");
        assert!(message.contains(&ARGUMENT_MAX.to_string()), "{message}");
    }
    // Under the import cap but over the annotation's own: an error the
    // guest handles.
    let report = run_hostile(
        "huge_argument",
        json!(["set-live-annotation", 100_000]),
        limits,
    )
    .await;
    let RunOutcome::Value(value) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    let refused = value["answer"]["Err"]
        .as_str()
        .expect("an error to the guest");
    assert!(refused.contains("the limit is"), "{value}");
}

/// `wasync run` of a hostile job: (exit code, stdout, stderr).
fn wasync_run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wasync"))
        .arg("run")
        .arg(examples::path("hostile"))
        .args(args)
        .output()
        .expect("wasync runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every hostile job under `wasync run`, several times over: each ends
/// with exit 1 and the failure kind expected, or exit 0 and a value; never
/// with a host panic (exit 101).
#[test]
fn hostile_jobs_under_wasync_run_end_typed_and_never_panic_the_host() {
    let over = (ARGUMENT_MAX + 1).to_string();
    let cases: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["spin", "[]", "--timeout", "300ms"], Some("timeout")),
        (
            vec!["spin", "[]", "--fuel", "10000000"],
            Some("out-of-fuel"),
        ),
        (
            vec!["sleep_forever", "[]", "--timeout", "300ms"],
            Some("timeout"),
        ),
        (
            vec!["memory_bomb", "[]", "--memory", "64MiB"],
            Some("memory-limit"),
        ),
        (
            vec!["huge_result", "[200000000]", "--memory", "1GiB"],
            Some("result-too-large"),
        ),
        (vec!["huge_result", "[200000000]"], Some("memory-limit")),
        (vec!["put_storm", "[100]", "--put-cap", "25"], None),
    ];
    let argument = format!("[\"put\", {over}]");
    let mut cases = cases;
    cases.push((
        vec!["huge_argument", &argument, "--memory", "256MiB"],
        Some("argument-too-large"),
    ));
    let seeds: Vec<String> = (1..=12)
        .map(|seed| format!("[{seed}, 8, {}]", if seed % 4 == 0 { 70_000 } else { 300 }))
        .collect();
    for seed in &seeds {
        cases.push((vec!["call_every_import", seed, "--timeout", "20s"], None));
    }
    for round in 0..2 {
        for (args, expected) in &cases {
            let started = std::time::Instant::now();
            let (code, stdout, stderr) = wasync_run(args);
            assert_ne!(code, 101, "{args:?} panicked the host: {stderr}");
            let printed: Value = serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout} {stderr}"));
            match expected {
                Some(kind) => {
                    assert_eq!(code, 1, "{args:?}: {stdout}");
                    assert_eq!(printed["kind"], *kind, "{args:?} round {round}: {printed}");
                }
                None if args[0] == "put_storm" => {
                    // The fan-out cap: an error the guest handles.
                    assert_eq!(code, 0, "{args:?}: {stdout} {stderr}");
                    assert_eq!(printed["put"], 25, "{printed}");
                    assert!(printed["error"].as_str().unwrap().contains("at most 25"));
                }
                None => {
                    // The guest handled every refusal itself.
                    assert_eq!(code, 0, "{args:?}: {stdout} {stderr}");
                    assert!(printed["ok"].as_u64().unwrap() + printed["err"].as_u64().unwrap() > 0);
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{args:?} took {:?}",
                started.elapsed()
            );
        }
    }
}
