//! Limits that always hold (issue 13): a run that asks for no limit gets
//! the runtime's defaults, and those stop a guest that computes forever or
//! sleeps in a WASI clock wait forever. The run's report says what it ran
//! under and what it consumed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestContext;
use serde_json::json;
use wasync::model::{FailureKind, ModuleDigest, RunOutcome};
use wasync::runtime::{
    DEFAULT_FUEL_DEFAULT, DEFAULT_MEMORY_BYTES_DEFAULT, DEFAULT_TIMEOUT_DEFAULT, JobCall, Limits,
    Prepared, RunReport, Runtime, RuntimeConfig,
};
use wasync_example_components as examples;

async fn prepare(runtime: &Runtime, name: &str) -> Arc<Prepared> {
    let bytes = examples::bytes(name);
    runtime
        .prepare(&ModuleDigest::of(&bytes), &bytes)
        .await
        .expect("example accepted")
}

async fn run(
    runtime: &Runtime,
    prepared: &Prepared,
    function: &str,
    args: serde_json::Value,
) -> RunReport {
    let context = TestContext::new(&prepared.info.digest, function, args.clone());
    let call = JobCall {
        function: function.into(),
        args,
    };
    runtime
        .run(prepared, call, Limits::default(), context)
        .await
}

fn kind(report: &RunReport) -> FailureKind {
    match &report.outcome {
        RunOutcome::Failure(failure) => failure.kind,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn the_default_runtime_gives_every_run_a_limit_of_each_kind() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let limits = runtime.effective_limits(Limits::default());
    assert_eq!(limits.timeout, Some(DEFAULT_TIMEOUT_DEFAULT));
    assert_eq!(DEFAULT_TIMEOUT_DEFAULT, Duration::from_secs(600));
    assert_eq!(limits.fuel, Some(DEFAULT_FUEL_DEFAULT));
    assert_eq!(limits.memory_bytes, Some(DEFAULT_MEMORY_BYTES_DEFAULT));
    // What a run asks for wins over the default; memory stays under the
    // runtime's maximum.
    let asked = Limits {
        fuel: Some(5),
        memory_bytes: Some(u64::MAX),
        timeout: Some(Duration::from_secs(1)),
    };
    let limits = runtime.effective_limits(asked);
    assert_eq!(limits.fuel, Some(5));
    assert_eq!(limits.timeout, Some(Duration::from_secs(1)));
    assert_eq!(limits.memory_bytes, Some(runtime.config().max_memory_bytes));
}

/// A spinning guest and a guest sleeping in a WASI clock wait, both with
/// no limits asked, end with `timeout` at the runtime's default time
/// limit, and their reports name the limits they ran under.
#[tokio::test]
async fn a_run_without_limits_is_stopped_by_the_default_time_limit() {
    let runtime = Runtime::new(RuntimeConfig {
        default_timeout: Duration::from_millis(400),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let spin = prepare(&runtime, "spin").await;
    let hello = prepare(&runtime, "hello").await;
    for (prepared, function, args) in [
        (&spin, "spin", json!([])),
        (&hello, "sleep", json!([3_600_000])),
    ] {
        let report = run(&runtime, prepared, function, args).await;
        assert_eq!(kind(&report), FailureKind::Timeout, "{function}");
        assert!(
            report.elapsed < Duration::from_secs(5),
            "{function}: {:?}",
            report.elapsed
        );
        assert_eq!(report.limits.timeout, Some(Duration::from_millis(400)));
        assert_eq!(report.limits.fuel, Some(DEFAULT_FUEL_DEFAULT));
    }
}

/// The default fuel budget stops a spinning guest too when it is the
/// tighter limit; the report counts the fuel used.
#[tokio::test]
async fn the_default_fuel_budget_holds_and_usage_is_reported() {
    let runtime = Runtime::new(RuntimeConfig {
        default_fuel: 20_000_000,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let spin = prepare(&runtime, "spin").await;
    let report = run(&runtime, &spin, "spin", json!([])).await;
    assert_eq!(kind(&report), FailureKind::OutOfFuel);
    assert_eq!(report.fuel_consumed, Some(20_000_000));
    assert!(report.peak_memory_bytes > 0);

    let hello = prepare(&runtime, "hello").await;
    let report = run(&runtime, &hello, "write_output", json!(["twelve bytes"])).await;
    assert_eq!(report.outcome, RunOutcome::Value(json!(null)));
    // "twelve bytes\n" to stdout and to stderr, and the result `null`.
    assert_eq!(report.output_bytes, 13 + 13 + 4);
    assert!(report.fuel_consumed.unwrap() > 0);
}
