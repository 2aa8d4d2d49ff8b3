//! Broadcast jobs on the store (issue 18 §5), on durable SQLite and, when
//! `WASYNC_TEST_PG` names a server, on PostgreSQL (a schema of its own,
//! dropped at the end):
//!
//! ```text
//! cargo bench -p wasync --bench broadcast
//! WASYNC_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p wasync --bench broadcast
//! ```
//!
//! With 1, 10 and 100 live dispatchers (each with an agent in the default
//! queue, and 1,000 plain jobs of a lower priority pending behind the
//! copies), for 20
//! broadcasts each: the latency of the put (one transaction: the
//! dispatchers read, the broadcast and its copies inserted), of each
//! dispatcher's claim of its copy (it steps over the other dispatchers'
//! copies ahead of it in the queue), and of each copy's finish (settling
//! reads the broadcast's copies; the last one writes the map). Printed as
//! medians and 90th percentiles.

use std::time::{Duration, Instant};

use serde_json::json;
use wasync::model::{AgentSpec, CapturedOutput, ModuleInfo, NewJob, RunOutcome, Timestamp};
use wasync::store::{BroadcastPutParams, JobClaimParams, JobFinishParams, JobStartParams};

#[path = "support/mod.rs"]
mod support;

use support::stats::percentile;
use support::stores::{self, t};

const BROADCASTS: usize = 20;
const PLAIN_PENDING: usize = 1_000;

fn job(module: &ModuleInfo, at: Timestamp, priority: i32) -> NewJob {
    let name = module.name.clone();
    NewJob {
        priority,
        ..stores::job(&module.digest, name, "clear_cache", json!([]), at)
    }
}

fn show(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "  {what:<28} median {:>8.3} ms   p90 {:>8.3} ms   ({} samples)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        times.len()
    );
}

async fn run(pg: Option<&str>, dispatchers: usize) {
    let (place, store) = stores::open(pg).await;
    let module = stores::bench_module(&*store).await;
    let mut ids = Vec::new();
    for _ in 0..dispatchers {
        let id = stores::dispatcher(&*store).await;
        store
            .agent_upsert(id, AgentSpec::new("", "main"))
            .await
            .expect("agent");
        ids.push(id);
    }
    // Plain jobs pending behind the copies: the claims must not read them.
    for chunk in 0..PLAIN_PENDING / 100 {
        let jobs: Vec<NewJob> = (0..100)
            .map(|_| job(&module, t(1 + chunk as i64), 0))
            .collect();
        store.job_insert_many(&jobs).await.expect("plain jobs");
    }
    let (mut puts, mut claims, mut finishes) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..BROADCASTS {
        let at = t(10_000 + round as i64 * 10);
        let started = Instant::now();
        let pinned = store
            .job_broadcast(BroadcastPutParams {
                job: job(&module, at, 1),
                callbacks: Vec::new(),
                live_since: at - chrono::TimeDelta::seconds(60),
                now: at,
            })
            .await
            .expect("broadcast");
        puts.push(started.elapsed());
        assert_eq!(pinned.len(), dispatchers);
        let mut copies = Vec::new();
        for &d in &ids {
            let started = Instant::now();
            let claimed = store
                .job_claim_many(JobClaimParams {
                    dispatcher: d,
                    queue: String::new(),
                    agent: "main".to_owned(),
                    filter: None,
                    preferred: None,
                    limit: 1,
                    now: at,
                    start: false,
                })
                .await
                .expect("claim");
            claims.push(started.elapsed());
            // Its copy first: the copies have the higher priority.
            let copy = claimed[0].id;
            store
                .job_start_many(JobStartParams {
                    dispatcher: d,
                    ids: vec![copy],
                    now: at,
                })
                .await
                .expect("start");
            copies.push((d, copy));
        }
        for (d, copy) in copies {
            let started = Instant::now();
            store
                .job_finish_many(&[JobFinishParams {
                    id: copy,
                    dispatcher: d,
                    outcome: RunOutcome::Value(json!("cleared")),
                    output: CapturedOutput::default(),
                    now: at,
                    run: None,
                }])
                .await
                .expect("finish");
            finishes.push(started.elapsed());
        }
    }
    show("put", puts);
    show("claim of its copy", claims);
    show("finish of a copy (+gather)", finishes);
    stores::close(&place, &*store).await;
}

fn main() {
    let pg = support::postgres_url();
    if pg.is_none() {
        println!("(WASYNC_TEST_PG is not set: SQLite only)");
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        for backend in [None, pg.as_deref()].into_iter().enumerate() {
            let (i, url) = backend;
            if i == 1 && url.is_none() {
                continue;
            }
            let name = if url.is_some() {
                "PostgreSQL"
            } else {
                "SQLite, WAL, synchronous=FULL"
            };
            for dispatchers in [1, 10, 100] {
                println!(
                    "broadcast to {dispatchers} dispatcher(s), {PLAIN_PENDING} plain jobs pending ({name})"
                );
                run(url, dispatchers).await;
            }
        }
    });
}
