//! Failover: the time from a worker's SIGKILL to its jobs running on
//! another worker, with short intervals and with zc.async's defaults.
//!
//! ```text
//! cargo bench -p wasync --bench failover                 # SQLite file shared by the processes
//! WASYNC_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p wasync --bench failover
//! cargo bench -p wasync --bench failover -- short        # only the short intervals
//! ```
//!
//! A `serve --no-dispatcher` takes the puts; worker A (main agent of 10)
//! runs 10 long jobs (`annotate::long_mark`, waiting on a ledger); A is
//! killed (SIGKILL) and worker B, already running with an idle agent,
//! takes them over once A's last ping is older than the death interval.
//! The figure is the time from the kill until all 10 are `active` on B,
//! polled every 10 ms. With a ping interval P and a death interval D, B
//! notices at its first ping after A's last ping + D: between D − P and
//! D + P after the kill (A's last ping was up to P before it), D on
//! average. The default run (30 s / 60 s) really waits; skip it with
//! `-- short`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

use support::process::{Process, get, post, upload};

const JOBS: usize = 10;

/// Starts `wasync <command>` on `database`, polling every 200 ms.
fn start(command: &str, database: &str, args: &[&str]) -> Process {
    let mut all = vec!["--poll-interval", "200ms"];
    all.extend(args);
    Process::start(command, Some(database), &all)
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        get(&self.client, &format!("{}{path}", self.base)).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        post(&self.client, &format!("{}{path}", self.base), body).await
    }

    async fn all_active_on(&self, jobs: &[String], dispatcher: &str) -> bool {
        for job in jobs {
            let job = self.get(&format!("/v1/jobs/{job}")).await;
            if job["status"] != "active" || job["dispatcher"] != dispatcher {
                return false;
            }
        }
        true
    }
}

/// One failover: returns the time from the kill to all jobs active on B.
async fn failover(database: &str, ping: &str, death: &str) -> Duration {
    let intervals = ["--ping-interval", ping, "--death-interval", death];
    let server = start("serve", database, &["--no-dispatcher"]);
    let api = Api {
        client: reqwest::Client::new(),
        base: server.announced.clone(),
    };
    for name in ["annotate", "hello"] {
        upload(&api.client, &api.base, name).await;
    }
    let ledger = api
        .post(
            "/v1/jobs",
            json!({"module": "hello", "function": "hello", "args": []}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut a_args = vec!["--main-agent-size", "10"];
    a_args.extend(intervals);
    let mut doomed = start("worker", database, &a_args);
    let mut jobs = Vec::new();
    for _ in 0..JOBS {
        let job = api
            .post(
                "/v1/jobs",
                json!({"module": "annotate", "function": "long_mark",
                       "args": [ledger, 600_000]}),
            )
            .await;
        jobs.push(job["id"].as_str().unwrap().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !api.all_active_on(&jobs, &doomed.announced).await {
        assert!(Instant::now() < deadline, "the jobs never ran on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut b_args = vec!["--main-agent-size", "10"];
    b_args.extend(intervals);
    let rescuer = start("worker", database, &b_args);
    // B is up and idle (its agent's first poll is done) before A dies.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = doomed.child.kill();
    let killed = Instant::now();
    let _ = doomed.child.wait();
    let deadline = killed + Duration::from_secs(300);
    while !api.all_active_on(&jobs, &rescuer.announced).await {
        assert!(Instant::now() < deadline, "the jobs never ran on B");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    killed.elapsed()
}

fn main() {
    let args = support::named_parts();
    let wants = |part: &str| args.is_empty() || args.iter().any(|a| a == part);
    let pg = support::postgres_url();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut backends = vec![(
            "sqlite",
            format!("sqlite:{}", dir.path().join("bench.db").display()),
        )];
        if let Some(base) = &pg {
            let url = support::schema_url(base, &support::fresh_schema());
            backends.push(("postgres", url));
        }
        for (backend, url) in &backends {
            if wants("short") {
                let mut runs = Vec::new();
                for run in 0..3 {
                    // A fresh database per run: no dispatcher of an
                    // earlier run is left to rescue.
                    let url = fresh(url, run);
                    runs.push(failover(&url, "200ms", "1s").await);
                }
                println!(
                    "failover/{backend}/short (ping 200 ms, death 1 s): SIGKILL → {JOBS} jobs \
                     running elsewhere in {}",
                    list(&runs)
                );
            }
            if wants("default") {
                let url = fresh(url, 9);
                let took = failover(&url, "30s", "60s").await;
                println!(
                    "failover/{backend}/default (ping 30 s, death 60 s): SIGKILL → {JOBS} jobs \
                     running elsewhere in {took:.1?} (expected between 30 s and 90 s, 60 s on \
                     average)"
                );
            }
        }
        if let Some(base) = &pg {
            for (backend, url) in &backends {
                if *backend == "postgres" {
                    for run in [0, 1, 2, 9] {
                        let schema = schema_of(&fresh(url, run));
                        let _ = wasync::store::postgres::PgStore::drop_schema(base, &schema).await;
                    }
                }
            }
        }
    });
}

/// The database URL of run `run`: a file or a schema of its own.
fn fresh(url: &str, run: usize) -> String {
    if let Some(path) = url.strip_prefix("sqlite:") {
        format!("sqlite:{path}.{run}")
    } else {
        format!("{url}_{run}")
    }
}

fn schema_of(url: &str) -> String {
    url.rsplit("schema=").next().unwrap().to_owned()
}

fn list(runs: &[Duration]) -> String {
    runs.iter()
        .map(|d| format!("{:.2} s", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}
