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

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wasync::clock::from_millis;
use wasync::model::{
    AgentSpec, CapturedOutput, DispatcherId, JobId, JobLimits, ModuleDigest, ModuleInfo, NewJob,
    RunOutcome, Timestamp,
};
use wasync::store::postgres::PgStore;
use wasync::store::sqlite::SqliteStore;
use wasync::store::{
    BroadcastPutParams, DispatcherActivateParams, JobClaimParams, JobFinishParams, JobStartParams,
    ModuleInsertParams, Store,
};

const BROADCASTS: usize = 20;
const PLAIN_PENDING: usize = 1_000;

fn t(ms: i64) -> Timestamp {
    from_millis(1_700_000_000_000 + ms)
}

enum Place {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema { url: String, name: String },
}

async fn open(pg: Option<&str>) -> (Place, Arc<dyn Store>) {
    match pg {
        None => {
            let dir = match std::env::var_os("WASYNC_BENCH_DIR") {
                Some(base) => tempfile::tempdir_in(base),
                None => tempfile::tempdir(),
            }
            .expect("temporary directory");
            let store = SqliteStore::open(&dir.path().join("bench.db"))
                .await
                .expect("open store");
            (Place::Dir(dir), Arc::new(store))
        }
        Some(url) => {
            let name = format!("wasync_bench_{}", uuid::Uuid::now_v7().simple());
            let store = PgStore::open_in_schema(url, &name)
                .await
                .expect("open store");
            let place = Place::Schema {
                url: url.to_owned(),
                name,
            };
            (place, Arc::new(store))
        }
    }
}

fn job(module: &ModuleInfo, at: Timestamp, priority: i32) -> NewJob {
    NewJob {
        id: JobId::new(),
        queue: String::new(),
        module: module.digest.clone(),
        module_name: module.name.clone(),
        function: "clear_cache".to_owned(),
        args: json!([]),
        limits: JobLimits::default(),
        begin_after: at,
        scheduled: false,
        begin_by_ms: None,
        quota_names: Vec::new(),
        expired: false,
        parent: None,
        token: None,
        created_at: at,
        schedule: None,
        retry: None,
        priority,
        unique: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
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
    let (place, store) = open(pg).await;
    let bytes = wat::parse_str("(component $bench)").expect("component");
    let module = store
        .module_insert(ModuleInsertParams {
            digest: ModuleDigest::of(&bytes),
            name: Some("bench".to_owned()),
            bytes,
            exports: vec![],
            now: t(0),
        })
        .await
        .expect("module");
    let mut ids = Vec::new();
    for _ in 0..dispatchers {
        let id = DispatcherId::new();
        store
            .dispatcher_activate(DispatcherActivateParams {
                id,
                process: wasync::dispatch::this_process(),
                poll_interval_ms: 1_000,
                now: t(0),
                death_interval: Duration::from_secs(60),
                proven_gone: None,
            })
            .await
            .expect("dispatcher");
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
    store.close().await;
    if let Place::Schema { url, name } = &place {
        PgStore::drop_schema(url, name).await.expect("drop schema");
    }
}

fn main() {
    let pg = std::env::var("WASYNC_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty());
    if pg.is_none() {
        println!("(WASYNC_TEST_PG is not set: SQLite only)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
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
