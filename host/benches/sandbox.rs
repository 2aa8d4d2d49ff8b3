//! Sandbox benchmarks: `cargo bench -p wasync --bench sandbox`.
//!
//! 1. Per-job overhead: [`Runtime::run`] of the `hello` example from a
//!    prepared component (new store, instantiation, the call, the outcome)
//!    — median and p99 over many runs, on one thread and on every core.
//! 2. A CPU-bound job: the `hash` example in the sandbox (fuel and epoch
//!    interruption on, as always) against the same Rust function compiled
//!    natively into this benchmark. Natively, `sha2` uses the CPU's SHA
//!    extensions when it has them, which wasm cannot; with
//!    `--features bench-soft-sha2` both sides run the same portable code.
//!
//! `WASYNC_BENCH_RUNS` sets the number of runs per thread of part 1
//! (default 20,000); `WASYNC_BENCH_ONLY=hello` or `hash` runs one part.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wasync::model::{ModuleDigest, RunOutcome};
use wasync::runtime::{JobCall, Limits, Prepared, Runtime, RuntimeConfig};

#[path = "support/mod.rs"]
mod support;

use support::quiet;
use support::stats::percentile;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
}

async fn prepare(runtime: &Runtime, name: &str) -> Arc<Prepared> {
    let bytes = wasync_example_components::bytes(name);
    runtime
        .prepare(&ModuleDigest::of(&bytes), &bytes)
        .await
        .expect("example component")
}

/// CPU time used by this thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `hello` `runs` times on this thread; returns each run's latency
/// and the thread's CPU time for all of them.
fn hello_loop(
    runtime: &Runtime,
    prepared: &Arc<Prepared>,
    runs: usize,
) -> (Vec<Duration>, Duration) {
    let context = quiet::context(&prepared.info.digest, "hello", json!([]));
    let cpu = thread_cpu_time();
    let latencies = current_thread().block_on(async {
        let mut latencies = Vec::with_capacity(runs);
        for _ in 0..runs {
            let call = JobCall {
                function: "hello".into(),
                args: json!([]),
            };
            let started = Instant::now();
            let report = runtime
                .run(prepared, call, Limits::default(), context.clone())
                .await;
            latencies.push(started.elapsed());
            assert_eq!(report.outcome, RunOutcome::Value(json!("200 OK")));
        }
        latencies
    });
    (latencies, thread_cpu_time() - cpu)
}

/// Runs `threads` loops at once; prints the figures and returns jobs/s.
fn overhead(runtime: &Runtime, prepared: &Arc<Prepared>, threads: usize, runs: usize) -> f64 {
    let started = Instant::now();
    let loops: Vec<(Vec<Duration>, Duration)> = std::thread::scope(|scope| {
        let loops: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| hello_loop(runtime, prepared, runs)))
            .collect();
        loops.into_iter().map(|l| l.join().expect("loop")).collect()
    });
    let wall = started.elapsed();
    let cpu: Duration = loops.iter().map(|(_, cpu)| *cpu).sum();
    let mut latencies: Vec<Duration> = loops.into_iter().flat_map(|(l, _)| l).collect();
    latencies.sort();
    let throughput = latencies.len() as f64 / wall.as_secs_f64();
    println!(
        "hello, {threads} thread(s), {} runs: median {:.1} µs, p99 {:.1} µs, {:.0} jobs/s, {:.1} µs CPU/job",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e6,
        percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        throughput,
        cpu.as_secs_f64() * 1e6 / latencies.len() as f64,
    );
    throughput
}

fn median_of<F: FnMut() -> Duration>(samples: usize, mut f: F) -> Duration {
    let mut times: Vec<Duration> = (0..samples).map(|_| f()).collect();
    times.sort();
    times[times.len() / 2]
}

fn hash(runtime: &Runtime) {
    let (bytes, rounds) = (64 * 1024_u64, 2_000_u32);
    let tokio = current_thread();
    let prepared = tokio.block_on(prepare(runtime, "hash"));
    let context = quiet::context(&prepared.info.digest, "sha256_rounds", json!([]));
    let expected = hash::sha256_rounds(bytes, rounds);
    let mut fuel = 0;
    let in_wasm = median_of(7, || {
        let call = JobCall {
            function: "sha256_rounds".into(),
            args: json!([bytes, rounds]),
        };
        let started = Instant::now();
        let report =
            tokio.block_on(runtime.run(&prepared, call, Limits::default(), context.clone()));
        let took = started.elapsed();
        assert_eq!(report.outcome, RunOutcome::Value(json!(expected)));
        fuel = report.fuel_consumed.unwrap_or(0);
        took
    });
    let native = median_of(7, || {
        let started = Instant::now();
        let digest = hash::sha256_rounds(std::hint::black_box(bytes), std::hint::black_box(rounds));
        let took = started.elapsed();
        assert_eq!(digest, expected);
        took
    });
    println!(
        "hash {rounds} rounds of {bytes} bytes: sandbox {:.1} ms ({fuel} fuel), native {:.1} ms, ratio {:.2}x",
        in_wasm.as_secs_f64() * 1e3,
        native.as_secs_f64() * 1e3,
        in_wasm.as_secs_f64() / native.as_secs_f64()
    );
}

fn main() {
    let runs = support::env_or("WASYNC_BENCH_RUNS", 20_000);
    // `WASYNC_BENCH_ONLY=hello` or `=hash` runs one part (for profiling).
    let only = std::env::var("WASYNC_BENCH_ONLY").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let prepared = current_thread().block_on(prepare(&runtime, "hello"));

    if only != "hash" {
        // Warm up the pool's slots and the caches.
        overhead(&runtime, &prepared, cores, 1_000);
        let one = overhead(&runtime, &prepared, 1, runs);
        let all = overhead(&runtime, &prepared, cores, runs);
        println!(
            "scaling: {cores} threads give {:.2}x one thread's throughput",
            all / one
        );
    }
    if only != "hello" {
        hash(&runtime);
    }
}
