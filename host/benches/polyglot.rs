//! Jobs in other languages: `cargo bench -p wasync --bench polyglot`.
//!
//! 1. Per-job sandbox overhead with the compiled component cached (new
//!    store, instantiation, the call, the outcome): the Python, JavaScript
//!    and C hellos next to the Rust `hello`, median and p99 on one thread.
//!    The target is ≤ 2 ms median for Python and JavaScript.
//! 2. Memory: the RSS of a real `wasync serve` idle, with a Python module
//!    uploaded, and with 8 Python jobs running at once (each waits for an
//!    annotation, so all 8 instances are alive together).
//!
//! The components come from `WASYNC_POLYGLOT_DIR` (default
//! `target/polyglot`; `cargo xtask polyglot` builds them); one that is
//! missing is skipped, saying so. Compiled modules are cached in
//! `<dir>/bench-cache`, so only the first run pays the compilation.
//! `WASYNC_BENCH_RUNS` sets the runs per component (default 2,000).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasync::model::{ModuleDigest, RunOutcome};
use wasync::runtime::{JobCall, Limits, Runtime, RuntimeConfig};

#[path = "support/mod.rs"]
mod support;

use support::process::{Process, rss_mib};
use support::quiet;
use support::stats::percentile;

fn polyglot_dir() -> PathBuf {
    std::env::var_os("WASYNC_POLYGLOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/polyglot"))
}

/// A component's bytes: the Rust example, or a built polyglot one.
fn bytes(name: &str) -> Option<Vec<u8>> {
    if name == "hello" {
        return Some(wasync_example_components::bytes("hello"));
    }
    let path = polyglot_dir().join(format!("{name}.wasm"));
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            println!(
                "{name}: skipped, {} is not built (cargo xtask polyglot)",
                path.display()
            );
            None
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Part 1: `runs` runs of `function(args)` of component `name`.
fn overhead(
    runtime: &Runtime,
    name: &str,
    function: &str,
    args: Value,
    expected: Value,
    runs: usize,
) {
    let Some(bytes) = bytes(name) else { return };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let digest = ModuleDigest::of(&bytes);
    let started = Instant::now();
    let prepared = tokio
        .block_on(runtime.prepare(&digest, &bytes))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let prepare = started.elapsed();
    let context = quiet::context(&digest, function, args.clone());
    let mut latencies = Vec::with_capacity(runs);
    let mut first = None;
    for i in 0..runs + 20 {
        let call = JobCall {
            function: function.into(),
            args: args.clone(),
        };
        let started = Instant::now();
        let report =
            tokio.block_on(runtime.run(&prepared, call, Limits::default(), context.clone()));
        let took = started.elapsed();
        assert_eq!(
            report.outcome,
            RunOutcome::Value(expected.clone()),
            "{name}"
        );
        match i {
            0 => first = Some(took),
            // The first runs warm the pool's slot and the caches.
            1..20 => {}
            _ => latencies.push(took),
        }
    }
    latencies.sort();
    println!(
        "{name:<13} {:>6.1} MB  prepare {:>7.0} ms  first run {:>6.2} ms  median {:>6.3} ms  p99 {:>6.3} ms  ({runs} runs)",
        bytes.len() as f64 / 1e6,
        ms(prepare),
        ms(first.unwrap_or_default()),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
    );
}

/// Part 2: the server's RSS with 8 Python jobs running at once.
fn memory() {
    const JOBS: usize = 8;
    let Some(bytes) = bytes("python-context") else {
        return;
    };
    let jobs = JOBS.to_string();
    let serve = Process::start("serve", None, &["--main-agent-size", &jobs]);
    let base = format!("{}/v1", serve.url());
    let pid = serve.child.id();
    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    tokio.block_on(async {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let idle = rss_mib(pid);
        let started = Instant::now();
        let answer = http
            .post(format!("{base}/modules?name=ctx"))
            .body(bytes)
            .send()
            .await
            .expect("upload");
        assert!(
            answer.status().is_success(),
            "upload: {}",
            answer.text().await.unwrap_or_default()
        );
        let upload = started.elapsed();
        let uploaded = rss_mib(pid);
        let mut ids = Vec::new();
        for _ in 0..JOBS {
            let job: Value = http
                .post(format!("{base}/jobs"))
                .json(&json!({"module": "ctx", "function": "wait_for", "args": ["go", 60.0]}))
                .send()
                .await
                .expect("put")
                .json()
                .await
                .expect("job");
            ids.push(job["id"].as_str().expect("id").to_owned());
        }
        loop {
            let mut active = 0;
            for id in &ids {
                let job: Value = http
                    .get(format!("{base}/jobs/{id}"))
                    .send()
                    .await
                    .expect("get")
                    .json()
                    .await
                    .expect("job");
                active += usize::from(job["status"] == "active");
            }
            if active == JOBS {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {active} of {JOBS} jobs became active"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Give the guests a moment to reach their wait (they are parked in
        // the host call, instance alive) before reading the RSS.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let running = rss_mib(pid);
        for id in &ids {
            http.put(format!("{base}/jobs/{id}/annotations/go"))
                .json(&json!(true))
                .send()
                .await
                .expect("annotate");
        }
        for id in &ids {
            loop {
                let job: Value = http
                    .get(format!("{base}/jobs/{id}/wait?timeout=5s"))
                    .send()
                    .await
                    .expect("wait")
                    .json()
                    .await
                    .expect("job");
                if job["status"] == "completed" {
                    assert_eq!(job["result"], true, "{job}");
                    break;
                }
                assert!(
                    Instant::now() < deadline + Duration::from_secs(60),
                    "job {id} did not complete"
                );
            }
        }
        println!(
            "serve RSS: idle {idle:.0} MiB, after uploading python-context {uploaded:.0} MiB \
             (upload + compile {:.1} s), with {JOBS} Python jobs running at once {running:.0} MiB \
             ({:.1} MiB per job)",
            upload.as_secs_f64(),
            (running - uploaded) / JOBS as f64,
        );
    });
    drop(serve);
}

fn main() {
    let runs = support::env_or("WASYNC_BENCH_RUNS", 2_000);
    let only = std::env::var("WASYNC_BENCH_ONLY").unwrap_or_default();
    let cache = polyglot_dir().join("bench-cache");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    if only != "memory" {
        println!("per-job sandbox overhead, compiled component cached, one thread:");
        overhead(&runtime, "hello", "hello", json!([]), json!("200 OK"), runs);
        let greet = || (json!(["Ada"]), json!("Hello, Ada!"));
        for name in ["c-hello", "python-hello", "js-hello"] {
            let (args, expected) = greet();
            overhead(&runtime, name, "greet", args, expected, runs);
        }
    }
    if only != "overhead" {
        memory();
    }
}
