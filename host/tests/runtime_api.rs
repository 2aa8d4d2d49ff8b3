//! The runtime's library API against hand-written components: outcomes,
//! failure kinds, validation, the disk cache and fairness.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestContext, dummy_component, guest};
use serde_json::json;
use wasync::model::{FailureKind, ModuleDigest, RunOutcome};
use wasync::runtime::{
    ENTRY_POINT_SIGNATURE, JobCall, Limits, Prepared, RunReport, Runtime, RuntimeConfig,
    ValidationError,
};

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

async fn prepare(runtime: &Runtime, bytes: &[u8]) -> Arc<Prepared> {
    runtime
        .prepare(&ModuleDigest::of(bytes), bytes)
        .await
        .expect("valid component")
}

async fn call(
    runtime: &Runtime,
    prepared: &Prepared,
    function: &str,
    args: serde_json::Value,
    limits: Limits,
) -> RunReport {
    let context = TestContext::new(&prepared.info.digest, function, args.clone());
    let call = JobCall {
        function: function.into(),
        args,
    };
    runtime.run(prepared, call, limits, context).await
}

fn failure(report: &RunReport) -> &wasync::model::Failure {
    match &report.outcome {
        RunOutcome::Failure(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn values_await_and_guest_errors() {
    let runtime = runtime();
    let prepared = prepare(&runtime, &guest()).await;
    assert!(
        prepared
            .info
            .exports
            .contains(&ENTRY_POINT_SIGNATURE.to_owned())
    );
    assert!(prepared.info.functions.is_empty());
    assert!(runtime.cached(&prepared.info.digest).is_some());

    let report = call(
        &runtime,
        &prepared,
        "echo",
        json!([1, "two", {"3": null}]),
        Limits::default(),
    )
    .await;
    assert_eq!(
        report.outcome,
        RunOutcome::Value(json!([1, "two", {"3": null}]))
    );
    assert!(report.fuel_consumed.is_some_and(|fuel| fuel > 0));

    let report = call(&runtime, &prepared, "await", json!([]), Limits::default()).await;
    assert_eq!(
        report.outcome,
        RunOutcome::Await(common::AWAITED_ID.parse().unwrap())
    );

    let report = call(&runtime, &prepared, "fail", json!([]), Limits::default()).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::GuestError);
    assert_eq!(f.message, "it went wrong");
    assert_eq!(f.guest_kind.as_deref(), Some("oops"));
    assert!(f.permanent);

    let report = call(&runtime, &prepared, "bad", json!([]), Limits::default()).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::GuestError);
    assert_eq!(f.guest_kind.as_deref(), Some("invalid-result"));
}

#[tokio::test]
async fn panics_and_traps_carry_a_backtrace() {
    let runtime = runtime();
    let prepared = prepare(&runtime, &guest()).await;

    let report = call(&runtime, &prepared, "panic", json!([]), Limits::default()).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::Panic);
    assert_eq!(f.message, "boom: the guest panicked");
    let detail = f.detail.as_deref().expect("backtrace");
    assert!(detail.contains("run"), "{detail}");

    let report = call(&runtime, &prepared, "trap", json!([]), Limits::default()).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::Trap);
    assert!(f.message.contains("unreachable"), "{}", f.message);
    assert!(f.detail.as_deref().unwrap().contains("run"));
}

#[tokio::test]
async fn spinning_ends_out_of_fuel_or_on_time_and_the_runtime_goes_on() {
    let runtime = runtime();
    let prepared = prepare(&runtime, &guest()).await;

    let fuel = Limits {
        fuel: Some(5_000_000),
        ..Limits::default()
    };
    let report = call(&runtime, &prepared, "spin", json!([]), fuel).await;
    let f = failure(&report);
    assert_eq!(f.kind, FailureKind::OutOfFuel);
    assert_eq!(report.fuel_consumed, Some(5_000_000));
    assert!(
        f.detail.as_deref().unwrap().contains("spin"),
        "{:?}",
        f.detail
    );

    let timeout = Limits {
        timeout: Some(Duration::from_millis(200)),
        ..Limits::default()
    };
    let report = call(&runtime, &prepared, "spin", json!([]), timeout).await;
    assert_eq!(failure(&report).kind, FailureKind::Timeout);
    assert!(report.elapsed >= Duration::from_millis(200));
    assert!(
        report.elapsed < Duration::from_secs(2),
        "{:?}",
        report.elapsed
    );

    let report = call(
        &runtime,
        &prepared,
        "echo",
        json!(["after"]),
        Limits::default(),
    )
    .await;
    assert_eq!(report.outcome, RunOutcome::Value(json!(["after"])));
}

#[tokio::test]
async fn a_hog_ends_at_its_memory_limit_and_host_memory_stays_bounded() {
    let runtime = runtime();
    let prepared = prepare(&runtime, &guest()).await;
    let limit = 64 << 20;
    let limits = Limits {
        memory_bytes: Some(limit),
        ..Limits::default()
    };
    let before = common::peak_rss();
    for _ in 0..3 {
        let report = call(&runtime, &prepared, "hog", json!([]), limits).await;
        let f = failure(&report);
        assert_eq!(f.kind, FailureKind::MemoryLimit, "{f:?}");
        assert!(f.message.contains(&limit.to_string()), "{}", f.message);
    }
    let grown = common::peak_rss().saturating_sub(before);
    assert!(grown < 2 * limit, "peak RSS grew by {grown} bytes");
}

#[tokio::test]
async fn each_kind_of_invalid_component_is_refused_with_its_own_error() {
    let runtime = runtime();
    let refuse = |bytes: Vec<u8>| {
        let runtime = runtime.clone();
        async move {
            runtime
                .prepare(&ModuleDigest::of(&bytes), &bytes)
                .await
                .expect_err("refused")
        }
    };

    assert_eq!(
        refuse(b"hello world".to_vec()).await,
        ValidationError::NotWasm
    );
    let core = wat::parse_str("(module (func (export \"run\")))").unwrap();
    assert_eq!(refuse(core).await, ValidationError::CoreModule);

    let other = dummy_component(
        "package test:other; world other { export other: func(); }",
        "other",
    );
    let err = refuse(other).await;
    assert_eq!(err, ValidationError::MissingEntryPoint);
    assert!(err.to_string().contains("run"));

    let wrong = dummy_component(
        "package test:wrong; world wrong { export run: func(function: string) -> string; }",
        "wrong",
    );
    match refuse(wrong).await {
        ValidationError::WrongEntryPointType { found } => {
            assert_eq!(found, "run: func(function: string) -> string")
        }
        other => panic!("{other:?}"),
    }

    let mut garbage = guest();
    let len = garbage.len();
    garbage.truncate(len / 2);
    assert!(matches!(refuse(garbage).await, ValidationError::Invalid(_)));

    let bytes = guest();
    let err = runtime
        .prepare(&ModuleDigest::of(b"other"), &bytes)
        .await
        .unwrap_err();
    assert!(matches!(err, ValidationError::Invalid(m) if m.contains("digest")));
}

/// A runtime configuration with a disk cache in a new temporary directory.
fn cached_config() -> (tempfile::TempDir, RuntimeConfig) {
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_owned()),
        max_concurrent_instances: 2,
        ..RuntimeConfig::default()
    };
    (dir, config)
}

#[tokio::test]
async fn the_disk_cache_compiles_once_and_recompiles_a_corrupt_file() {
    let (dir, config) = cached_config();
    let bytes = guest();
    let digest = ModuleDigest::of(&bytes);

    let first = Runtime::new(config.clone()).unwrap();
    first.prepare(&digest, &bytes).await.unwrap();
    first.prepare(&digest, &bytes).await.unwrap();
    assert_eq!(first.cache_stats().compiled, 1);
    // Beside the compiled file, only the lock processes take turns on.
    let (files, others): (Vec<_>, Vec<_>) = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .partition(|path| path.extension().is_some_and(|e| e == "cwasm"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        others.len() == 1 && others[0].extension().is_some_and(|e| e == "lock"),
        "{others:?}"
    );
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with(digest.hex()) && name.ends_with(".cwasm"),
        "{name}"
    );

    let second = Runtime::new(config.clone()).unwrap();
    let prepared = second.prepare(&digest, &bytes).await.unwrap();
    assert_eq!(second.cache_stats().compiled, 0);
    assert_eq!(second.cache_stats().loaded_from_disk, 1);
    let report = call(&second, &prepared, "echo", json!([7]), Limits::default()).await;
    assert_eq!(report.outcome, RunOutcome::Value(json!([7])));

    // Flip one byte in the middle of the compiled code.
    let mut file = std::fs::read(&files[0]).unwrap();
    let middle = file.len() / 2;
    file[middle] ^= 0xff;
    std::fs::write(&files[0], &file).unwrap();
    let third = Runtime::new(config).unwrap();
    let prepared = third.prepare(&digest, &bytes).await.unwrap();
    assert_eq!(third.cache_stats().compiled, 1);
    assert_eq!(third.cache_stats().loaded_from_disk, 0);
    let report = call(&third, &prepared, "echo", json!([8]), Limits::default()).await;
    assert_eq!(report.outcome, RunOutcome::Value(json!([8])));
    assert_ne!(std::fs::read(&files[0]).unwrap(), file, "rewritten");
}

/// Processes sharing a cache directory (instances of one data directory)
/// that need the same component at once compile it once between them:
/// the others wait for the compile and load its file.
#[tokio::test]
async fn runtimes_sharing_the_disk_cache_compile_a_component_once_between_them() {
    let (_dir, config) = cached_config();
    let bytes = guest();
    let digest = ModuleDigest::of(&bytes);
    let runtimes: Vec<Runtime> = (0..3)
        .map(|_| Runtime::new(config.clone()).unwrap())
        .collect();
    // Each compiles on a blocking thread of its own, all at once.
    let prepared =
        futures::future::join_all(runtimes.iter().map(|r| r.prepare(&digest, &bytes))).await;
    for (runtime, prepared) in runtimes.iter().zip(prepared) {
        let prepared = prepared.expect("valid component");
        let report = call(runtime, &prepared, "echo", json!([3]), Limits::default()).await;
        assert_eq!(report.outcome, RunOutcome::Value(json!([3])));
    }
    let compiled: u64 = runtimes.iter().map(|r| r.cache_stats().compiled).sum();
    let loaded: u64 = runtimes
        .iter()
        .map(|r| r.cache_stats().loaded_from_disk)
        .sum();
    assert_eq!((compiled, loaded), (1, 2));
}

/// While guests compute without calling the host, a timer on the same
/// single-threaded executor still fires on time.
#[test]
fn spinning_guests_do_not_pin_the_executor() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let runtime = runtime();
        let prepared = prepare(&runtime, &guest()).await;
        let limits = Limits {
            timeout: Some(Duration::from_millis(600)),
            ..Limits::default()
        };
        let spinners: Vec<_> = (0..4)
            .map(|_| {
                let runtime = runtime.clone();
                let prepared = prepared.clone();
                tokio::spawn(
                    async move { call(&runtime, &prepared, "spin", json!([]), limits).await },
                )
            })
            .collect();
        // Measure how late 10 ms timers fire while the spinners run (the
        // first sleep is what lets them start).
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let asked = Instant::now();
            tokio::time::sleep(Duration::from_millis(10)).await;
            worst = worst.max(asked.elapsed() - Duration::from_millis(10));
        }
        for spinner in spinners {
            let report = spinner.await.unwrap();
            assert_eq!(failure(&report).kind, FailureKind::Timeout);
        }
        assert!(
            worst < Duration::from_millis(50),
            "a timer was {worst:?} late"
        );
    });
}

#[tokio::test]
async fn jobs_beyond_the_pool_size_wait_for_a_slot() {
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 1,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let prepared = prepare(&runtime, &guest()).await;
    let limits = Limits {
        timeout: Some(Duration::from_millis(100)),
        ..Limits::default()
    };
    let (a, b, c) = tokio::join!(
        call(&runtime, &prepared, "spin", json!([]), limits),
        call(&runtime, &prepared, "spin", json!([]), limits),
        call(&runtime, &prepared, "echo", json!([3]), limits),
    );
    assert_eq!(failure(&a).kind, FailureKind::Timeout);
    assert_eq!(failure(&b).kind, FailureKind::Timeout);
    assert_eq!(c.outcome, RunOutcome::Value(json!([3])));
    // One slot: the echo waited for both spinners (2 x 100 ms, less the
    // time the first one ran before the echo's clock started).
    assert!(c.elapsed >= Duration::from_millis(150), "{:?}", c.elapsed);
}

#[tokio::test]
async fn concurrent_prepares_compile_once_and_a_foreign_component_is_a_host_error() {
    let runtime = runtime();
    let bytes = guest();
    let digest = ModuleDigest::of(&bytes);
    let (a, b) = tokio::join!(
        runtime.prepare(&digest, &bytes),
        runtime.prepare(&digest, &bytes)
    );
    assert!(Arc::ptr_eq(&a.unwrap(), &b.unwrap()));
    assert_eq!(runtime.cache_stats().compiled, 1);

    let other = self::runtime();
    let foreign = prepare(&other, &bytes).await;
    let report = call(&runtime, &foreign, "echo", json!([1]), Limits::default()).await;
    assert_eq!(failure(&report).kind, FailureKind::HostError);
}
