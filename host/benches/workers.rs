//! Worker processes on PostgreSQL: how throughput scales with 1, 2 and 4
//! `wasync worker` processes draining one queue, and how long a put on
//! one process takes to start on another.
//!
//! ```text
//! WASYNC_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p wasync --bench workers
//! ```
//!
//! - `scaling`: `WASYNC_BENCH_JOBS` (default 20,000) trivial `hello` jobs
//!   are loaded into the queue first; then N worker processes (main agent
//!   size `WASYNC_BENCH_AGENT_SIZE`, default 64) start together and drain
//!   it (`WASYNC_BENCH_WORKERS`, default `1,2,4`: the numbers of worker
//!   processes to try, one run each). The figure is jobs/s from the workers' start to the last
//!   completion. On this 2-core machine every process shares the same two
//!   cores with PostgreSQL, so more processes cannot mean more CPU.
//! - `latency`: a `serve` process without a dispatcher and one worker
//!   polling only every 60 s; jobs put over HTTP one at a time; the guest
//!   reads the wall clock as it starts (`hello::now_micros`).
//!
//! Each run uses a schema of its own, dropped at the end.
//!
//! `WASYNC_BENCH_LOG_DIR=DIR` has every process log at `info` to a file
//! in DIR. `WASYNC_BENCH_NO_COUNT_TRIGGERS=1` drops the job-count triggers
//! (migration 0027) from the bench's schema after the load, to measure
//! what they cost the workers (a measurement only: the counts are wrong
//! from then on, so the drain is watched by listing jobs, not counting).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wasync::clock::{Clock, SystemClock};
use wasync::model::{JobStatus, ModuleDigest, NewJob};
use wasync::store::postgres::PgStore;
use wasync::store::prelude::*;
use wasync::store::{JobListParams, ModuleInsertParams};

#[path = "support/mod.rs"]
mod support;

use support::process::{Process, upload};
use support::stats::percentile;
use support::stores;

struct Schema {
    base: String,
    name: String,
}

impl Schema {
    fn new(base: &str) -> Schema {
        Schema {
            base: base.to_owned(),
            name: support::fresh_schema(),
        }
    }

    fn url(&self) -> String {
        support::schema_url(&self.base, &self.name)
    }
}

async fn load(store: &PgStore, jobs: usize) -> ModuleDigest {
    let bytes = wasync_example_components::bytes("hello");
    let digest = ModuleDigest::of(&bytes);
    let now = SystemClock.now();
    store
        .module_insert(ModuleInsertParams {
            digest: digest.clone(),
            name: Some("hello".into()),
            bytes,
            exports: Vec::new(),
            now,
        })
        .await
        .expect("module");
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(5_000) {
        let batch: Vec<NewJob> = chunk
            .iter()
            .map(|_| stores::job(&digest, Some("hello".into()), "hello", json!([]), now))
            .collect();
        store.job_insert_many(&batch).await.expect("load");
    }
    digest
}

// By listing, not counting: the counts are off once the bench drops
// their triggers.
async fn unfinished(store: &PgStore) -> bool {
    !store
        .job_list(JobListParams {
            statuses: vec![JobStatus::Pending, JobStatus::Assigned, JobStatus::Active],
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .is_empty()
}

/// Drops migration 0027's job-count triggers from `schema` (a
/// measurement of their cost, never a way to run).
async fn drop_count_triggers(base: &str, schema: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base).await.expect("connect");
    for op in ["insert", "update", "delete"] {
        sqlx::query(&format!("DROP TRIGGER jobs_count_{op} ON {schema}.jobs"))
            .execute(&mut conn)
            .await
            .expect("drop trigger");
    }
    conn.close().await.expect("close");
}

async fn scaling(base: &str, workers: usize, jobs: usize, agent_size: &str, counted: bool) {
    let schema = Schema::new(base);
    let store = PgStore::open_in_schema(base, &schema.name)
        .await
        .expect("store");
    load(&store, jobs).await;
    if !counted {
        drop_count_triggers(base, &schema.name).await;
    }
    let started = Instant::now();
    let processes: Vec<Process> = (0..workers)
        .map(|_| {
            let args = ["--main-agent-size", agent_size];
            Process::start("worker", Some(&schema.url()), &args)
        })
        .collect();
    while unfinished(&store).await {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "scaling: {workers} worker process(es), agent size {agent_size}{}: {jobs} jobs in {:.2} s = {:.0} jobs/s (including process start and first compile)",
        if counted {
            ""
        } else {
            ", count triggers dropped"
        },
        elapsed.as_secs_f64(),
        jobs as f64 / elapsed.as_secs_f64()
    );
    drop(processes);
    store.close().await;
    PgStore::drop_schema(base, &schema.name)
        .await
        .expect("drop schema");
}

async fn latency(base: &str, samples: usize) {
    let schema = Schema::new(base);
    let database = schema.url();
    let server = Process::start("serve", Some(&database), &["--no-dispatcher"]);
    let _worker = Process::start("worker", Some(&database), &["--poll-interval", "60s"]);
    let url = server.url().to_owned();
    let http = reqwest::Client::new();
    upload(&http, &url, "hello").await;
    let run = |function: &'static str| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let job: Value = http
                .post(format!("{url}/v1/jobs"))
                .json(&json!({"module": "hello", "function": function}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = job["id"].as_str().unwrap().to_owned();
            loop {
                let job: Value = http
                    .get(format!("{url}/v1/jobs/{id}/wait?timeout=10s"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if job["status"] == "completed" {
                    return job;
                }
            }
        }
    };
    run("hello").await; // the worker compiles the component
    let mut latencies = Vec::new();
    for _ in 0..samples {
        let put_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let job = run("now_micros").await;
        let started_at = job["result"].as_u64().expect("the guest's clock");
        latencies.push(Duration::from_micros(started_at.saturating_sub(put_at)));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies.sort();
    let at = |p: f64| percentile(&latencies, p).as_secs_f64() * 1e3;
    println!(
        "latency: put over HTTP on serve -> guest starts on a worker: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms ({samples} samples)",
        at(0.5),
        at(0.9),
        at(0.99)
    );
    drop(server);
    PgStore::drop_schema(base, &schema.name)
        .await
        .expect("drop schema");
}

fn main() {
    let Some(base) = support::postgres_url() else {
        println!("workers: set WASYNC_TEST_PG to a PostgreSQL URL to run this benchmark");
        return;
    };
    let args = support::named_parts();
    let wants = |part: &str| args.is_empty() || args.iter().any(|a| a == part);
    let jobs = support::env_or("WASYNC_BENCH_JOBS", 20_000);
    let agent_size = std::env::var("WASYNC_BENCH_AGENT_SIZE").unwrap_or_else(|_| "64".into());
    let counted = std::env::var("WASYNC_BENCH_NO_COUNT_TRIGGERS").as_deref() != Ok("1");
    let worker_counts: Vec<usize> = std::env::var("WASYNC_BENCH_WORKERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        if wants("scaling") {
            for &workers in &worker_counts {
                scaling(&base, workers, jobs, &agent_size, counted).await;
            }
        }
        if wants("latency") {
            latency(&base, 200).await;
        }
    });
}
