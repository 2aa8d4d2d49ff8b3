//! Responsiveness under a put storm: how long `/v1/health` and a plain
//! `GET /v1/jobs/{id}` take while one job puts 100,000 jobs from inside the
//! sandbox (`hostile::put_storm`), and while the default agent then runs
//! them.
//!
//! ```text
//! cargo bench -p wasync --bench responsive                 # SQLite (the default)
//! WASYNC_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p wasync --bench responsive -- postgres
//! cargo bench -p wasync --bench responsive -- 20000        # a smaller storm
//! ```
//!
//! One `wasync serve` with its defaults but a put cap large enough for the
//! storm. Two probes, each with its own connection, send one request every
//! 2 ms and record each latency, in three phases: idle (2 s before the
//! storm), the storm (until the storming job completes: the puts), and the
//! drain (until every stormed job has completed). The issue's targets:
//! health p99 ≤ 20 ms and `GET /v1/jobs/{id}` p99 ≤ 50 ms during the storm.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasync::store::postgres::PgStore;

#[path = "support/mod.rs"]
mod support;

use support::process::{Process, get, post, upload};

const DEFAULT_STORM: u64 = 100_000;
/// How often each probe asks.
const PROBE_EVERY: Duration = Duration::from_millis(2);

/// The phases the probes label their samples with.
const IDLE: u8 = 0;
const STORM: u8 = 1;
const DRAIN: u8 = 2;
const DONE: u8 = 3;
const PHASES: [&str; 3] = ["idle", "storm", "drain"];

/// Sends `GET url` every [`PROBE_EVERY`] on its own connection until the
/// phase is [`DONE`]; returns each latency with the phase it began in.
async fn probe(url: String, phase: Arc<AtomicU8>) -> Vec<(u8, Duration)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("client");
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = phase.load(Ordering::Relaxed);
        if now == DONE {
            return samples;
        }
        let start = Instant::now();
        let reply = client.get(&url).send().await.expect("probe");
        let status = reply.status();
        let _ = reply.bytes().await;
        assert!(status.is_success(), "probe {url}: {status}");
        samples.push((now, start.elapsed()));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank].as_secs_f64() * 1e3
}

fn report(name: &str, samples: &[(u8, Duration)]) {
    for (index, phase) in PHASES.iter().enumerate() {
        let mut latencies: Vec<Duration> = samples
            .iter()
            .filter(|(p, _)| usize::from(*p) == index)
            .map(|(_, d)| *d)
            .collect();
        latencies.sort();
        println!(
            "  {name:<18} {phase:<6} n={:<6} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            latencies.len(),
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            percentile(&latencies, 100.0),
        );
    }
}

async fn run(database: Option<&str>, storm: u64) {
    let put_cap = storm.max(10_000).to_string();
    let server = Process::start("serve", database, &["--job-put-cap", &put_cap]);
    let client = reqwest::Client::new();
    let base = server.url().to_owned();
    for name in ["hostile", "hello"] {
        upload(&client, &base, name).await;
    }
    let done = |job: &Value| job["status"] == "completed";
    // The job the second probe reads: completed, as any finished job is.
    let probed = post(
        &client,
        &format!("{base}/v1/jobs"),
        json!({"module": "hello", "function": "hello", "args": []}),
    )
    .await;
    let probed = probed["id"].as_str().expect("an id").to_owned();
    let waited = get(
        &client,
        &format!("{base}/v1/jobs/{probed}/wait?timeout=30s"),
    )
    .await;
    assert!(done(&waited), "the probed job completes: {waited}");

    let phase = Arc::new(AtomicU8::new(IDLE));
    let health = tokio::spawn(probe(format!("{base}/v1/health"), phase.clone()));
    let job = tokio::spawn(probe(format!("{base}/v1/jobs/{probed}"), phase.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let rss_before = server.rss_mib();
    phase.store(STORM, Ordering::Relaxed);
    let started = Instant::now();
    let storming = post(
        &client,
        &format!("{base}/v1/jobs"),
        json!({"module": "hostile", "function": "put_storm", "args": [storm],
               "limits": {"timeout_ms": 3_600_000}}),
    )
    .await;
    let storming = storming["id"].as_str().expect("an id").to_owned();
    let outcome = loop {
        let job = get(
            &client,
            &format!("{base}/v1/jobs/{storming}/wait?timeout=30s"),
        )
        .await;
        if done(&job) {
            break job;
        }
    };
    let stormed = started.elapsed();
    assert_eq!(
        outcome["result"]["put"], storm,
        "the storm put every job: {outcome}"
    );
    phase.store(DRAIN, Ordering::Relaxed);
    let count_url = format!("{base}/v1/jobs/count?state=completed&function=noop");
    loop {
        let count = get(&client, &count_url).await;
        if count["count"].as_u64().unwrap_or(0) >= storm {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = started.elapsed() - stormed;
    let rss_after = server.rss_mib();
    phase.store(DONE, Ordering::Relaxed);
    let health = health.await.expect("health probe");
    let job = job.await.expect("job probe");

    println!(
        "storm of {storm} puts: {:.1} s ({:.0} puts/s); drain {:.1} s ({:.0} jobs/s); server RSS {rss_before:.0} → {rss_after:.0} MiB",
        stormed.as_secs_f64(),
        storm as f64 / stormed.as_secs_f64(),
        drained.as_secs_f64(),
        storm as f64 / drained.as_secs_f64(),
    );
    report("GET /v1/health", &health);
    report("GET /v1/jobs/{id}", &job);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let storm = args
        .iter()
        .find_map(|a| a.parse::<u64>().ok())
        .unwrap_or(DEFAULT_STORM);
    let postgres = args.iter().any(|a| a == "postgres");
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    println!("responsive: {backend}, `wasync serve` defaults, put cap {storm}");
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    if !postgres {
        runtime.block_on(run(None, storm));
        return;
    }
    let base = std::env::var("WASYNC_TEST_PG").expect("WASYNC_TEST_PG for the postgres run");
    // A schema of its own, dropped at the end.
    let schema = support::fresh_schema();
    let url = support::schema_url(&base, &schema);
    runtime.block_on(async {
        run(Some(&url), storm).await;
        PgStore::drop_schema(&base, &schema)
            .await
            .expect("drop schema");
    });
}
