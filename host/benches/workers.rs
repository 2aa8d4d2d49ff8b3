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
//!   cores with PostgreSQL, so more processes cannot mean more CPU. The
//!   workers run as instances of one data directory (`--instance`), as
//!   several processes on one machine are meant to, sharing its compiled
//!   cache; `WASYNC_BENCH_SEPARATE_DIRS=1` gives each a data directory of
//!   its own instead, as on machines of their own (each then compiles
//!   `hello` itself, on the same two cores).
//! - `latency`: a `serve` process without a dispatcher and one worker
//!   polling only every 60 s; jobs put over HTTP one at a time; the guest
//!   reads the wall clock as it starts (`hello::now_micros`).
//!
//! Each run uses a schema of its own, dropped at the end. `scaling` also
//! prints what the drain cost PostgreSQL per 1,000 jobs: transactions
//! committed and rows written, from `pg_stat_database` read before the
//! workers start and after their connections are gone (the whole
//! database's, less the bench's own reads, one transaction each: run it
//! with nothing else on that database; a backend reports its counts at
//! most once a second, so up to a second of the bench's reads may be
//! subtracted without having been counted yet: ~1 commit per 1,000 jobs
//! at these rates).
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

/// Whether any job is in one of `statuses`. By listing, not counting:
/// the counts are off once the bench drops their triggers.
async fn any_job(store: &PgStore, statuses: &[JobStatus]) -> bool {
    !store
        .job_list(JobListParams {
            statuses: statuses.to_vec(),
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .is_empty()
}

/// The statuses of a job not yet done.
const UNFINISHED: [JobStatus; 3] = [JobStatus::Pending, JobStatus::Assigned, JobStatus::Active];

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

/// The workers' connections say this, so that the bench can wait for
/// them to be gone (their statistics are then counted).
const WORKER_APPLICATION: &str = "wasync-bench-worker";

/// What `pg_stat_database` has counted for the database so far.
#[derive(Debug, Clone, Copy)]
struct DatabaseWork {
    commits: i64,
    rollbacks: i64,
    inserted: i64,
    updated: i64,
    deleted: i64,
}

impl DatabaseWork {
    async fn read(conn: &mut sqlx::PgConnection) -> DatabaseWork {
        let (commits, rollbacks, inserted, updated, deleted): (i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted \
                 FROM pg_stat_database WHERE datname = current_database()",
            )
            .fetch_one(conn)
            .await
            .expect("pg_stat_database");
        DatabaseWork {
            commits,
            rollbacks,
            inserted,
            updated,
            deleted,
        }
    }

    /// What was counted between `before` and `self`, per 1,000 of `jobs`,
    /// less `own` transactions of the bench's (its reads).
    fn per_thousand_since(self, before: DatabaseWork, own: i64, jobs: usize) -> String {
        let per = |now: i64, then: i64| (now - then) as f64 * 1_000.0 / jobs as f64;
        format!(
            "{:.1} commits, {:.1} rollbacks; rows {:.0} inserted, {:.0} updated, {:.0} deleted",
            per(self.commits - own, before.commits),
            per(self.rollbacks, before.rollbacks),
            per(self.inserted, before.inserted),
            per(self.updated, before.updated),
            per(self.deleted, before.deleted),
        )
    }
}

/// Waits until no connection of the workers is left (a backend reports
/// its statistics as it ends); returns how many reads that took.
async fn workers_disconnected(conn: &mut sqlx::PgConnection) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reads = 0;
    loop {
        reads += 1;
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(WORKER_APPLICATION)
                .fetch_one(&mut *conn)
                .await
                .expect("pg_stat_activity");
        if left == 0 {
            return reads;
        }
        assert!(
            Instant::now() < deadline,
            "{left} worker connection(s) still open 10 s after the workers were killed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How a `scaling` run is set up.
struct ScalingSetup<'a> {
    agent_size: &'a str,
    /// Whether migration 0027's count triggers stay.
    counted: bool,
    /// Whether each worker has a data directory of its own.
    separate_dirs: bool,
}

async fn scaling(base: &str, workers: usize, jobs: usize, setup: &ScalingSetup<'_>) {
    let ScalingSetup {
        agent_size,
        counted,
        separate_dirs,
    } = *setup;
    let schema = Schema::new(base);
    let store = PgStore::open_in_schema(base, &schema.name)
        .await
        .expect("store");
    load(&store, jobs).await;
    if !counted {
        drop_count_triggers(base, &schema.name).await;
    }
    let mut stats = <sqlx::PgConnection as sqlx::Connection>::connect(base)
        .await
        .expect("connect");
    let before = DatabaseWork::read(&mut stats).await;
    let worker_url = format!("{}&application_name={WORKER_APPLICATION}", schema.url());
    let shared_dir = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    let processes: Vec<Process> = (0..workers)
        .map(|n| {
            let args = ["--main-agent-size", agent_size];
            if separate_dirs {
                Process::start("worker", Some(&worker_url), &args)
            } else {
                let instance = format!("worker-{n}");
                Process::start_instance(
                    "worker",
                    shared_dir.path(),
                    &instance,
                    Some(&worker_url),
                    &args,
                )
            }
        })
        .collect();
    let mut first_completed = None;
    // The bench's own transactions between the two reads of the counts:
    // the first read's, each poll's, and the wait for the workers' end.
    let mut own = 1;
    while any_job(&store, &UNFINISHED).await {
        own += 1;
        if first_completed.is_none() {
            own += 1;
            if any_job(&store, &[JobStatus::Completed]).await {
                first_completed = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let first_completed = first_completed.unwrap_or(elapsed);
    own += 1;
    drop(processes);
    own += workers_disconnected(&mut stats).await;
    let work = DatabaseWork::read(&mut stats)
        .await
        .per_thousand_since(before, own, jobs);
    println!(
        "scaling: {workers} worker process(es), agent size {agent_size}{}{}: {jobs} jobs in {:.2} s = {:.0} jobs/s (including process start and first compile)",
        if counted {
            ""
        } else {
            ", count triggers dropped"
        },
        if separate_dirs {
            ", a data directory each"
        } else {
            ""
        },
        elapsed.as_secs_f64(),
        jobs as f64 / elapsed.as_secs_f64()
    );
    // Zero when every job was done before the first look.
    let after_first = (elapsed - first_completed).as_secs_f64();
    println!(
        "  the first job completed {:.2} s after the start (processes started, hello compiled); {} from then on (the jobs done before counted in)",
        first_completed.as_secs_f64(),
        if after_first > 0.0 {
            format!("{:.0} jobs/s", jobs as f64 / after_first)
        } else {
            "no time".to_owned()
        }
    );
    println!("  PostgreSQL per 1,000 jobs: {work}");
    sqlx::Connection::close(stats).await.expect("close");
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
    let setup = ScalingSetup {
        agent_size: &agent_size,
        counted: std::env::var("WASYNC_BENCH_NO_COUNT_TRIGGERS").as_deref() != Ok("1"),
        separate_dirs: std::env::var("WASYNC_BENCH_SEPARATE_DIRS").as_deref() == Ok("1"),
    };
    let worker_counts: Vec<usize> = std::env::var("WASYNC_BENCH_WORKERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        if wants("scaling") {
            for &workers in &worker_counts {
                scaling(&base, workers, jobs, &setup).await;
            }
        }
        if wants("latency") {
            latency(&base, 200).await;
        }
    });
}
