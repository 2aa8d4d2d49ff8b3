//! Does work cost more as finished jobs pile up? (issue 16, target 5.)
//! The store operations behind a put, a claim, `GET /v1/jobs/{id}`,
//! `GET /v1/jobs/count`, `GET /v1/queues` and `GET /v1/queues/{name}/jobs`,
//! timed on a small store (a working set of 1,000 pending jobs and 1,000
//! finished jobs) and on one holding the same working set and many
//! finished jobs (10,000,000 by default), on durable SQLite (WAL,
//! `synchronous=FULL`, a real file) and, when `WASYNC_TEST_PG` names a
//! server, on PostgreSQL (a schema of its own, dropped at the end).
//!
//! ```text
//! cargo bench -p wasync --bench growth                       # 10M finished jobs
//! cargo bench -p wasync --bench growth -- --finished 1000000 # fewer
//! cargo bench -p wasync --bench growth -- sqlite             # one backend
//! ```
//!
//! The finished jobs are bulk-loaded as a put past its deadline inserts
//! them (`completed` at once, with a `timeout` failure: the quickest way
//! to a finished row that is a real one). Then `sync` lets the operating
//! system write the load out, a few untimed rounds warm both stores up,
//! and the timed rounds alternate between the two stores, so that the rest
//! of the machine's load weighs on both alike. A job is read back twice
//! a round, from each store alike: one of the working set, and one of the
//! finished jobs (in the grown store, spread over all of them). Each line
//! prints the medians and their ratio (grown / small): the target is at
//! most 1.2 for put, claim and get, and under 50 ms for the count and the
//! listings.
//!
//! The SQLite database goes in a temporary directory (under
//! `WASYNC_BENCH_DIR` if set): put it on the disk you want to measure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wasync::model::{
    CapturedOutput, DispatcherId, JobFilter, JobId, ModuleInfo, NewJob, RunOutcome, Timestamp,
};
use wasync::store::{JobClaimParams, JobFinishParams, QueueJobsParams, Store};

#[path = "support/mod.rs"]
mod support;

use support::stats::{median, ms};
use support::stores::{self, Place, t};

/// Finished jobs in the grown store unless `--finished N` says otherwise.
const FINISHED_DEFAULT: usize = 10_000_000;
/// Pending jobs in both stores: the working set.
const PENDING: usize = 1_000;
const LOAD_BATCH: usize = 10_000;
/// Finished jobs in the small store too, so that a finished job is read
/// back from both stores: the same kind of row, its result and failure
/// decoded alike, in a table of 2,000 jobs or of millions.
const SMALL_FINISHED: usize = 1_000;
/// Finished jobs kept to be read back, spread over the whole load.
const SAMPLES: usize = 10_000;
const WARM_UP: usize = 20;
const ROUNDS: usize = 200;

/// A store and what the timed operations use.
struct Bench {
    place: Place,
    store: Arc<dyn Store>,
    module: ModuleInfo,
    dispatcher: DispatcherId,
    /// The pending jobs put first: the same working set in both stores,
    /// read back as `GET` of a job the queue is working on.
    working: Vec<JobId>,
    /// Finished jobs to read back, spread over all the finished ones.
    finished: Vec<JobId>,
}

impl Bench {
    async fn new(pg: Option<&str>) -> Bench {
        let (place, store) = stores::open(pg).await;
        let module = stores::bench_module(&*store).await;
        let dispatcher = stores::dispatcher(&*store).await;
        let mut bench = Bench {
            place,
            store,
            module,
            dispatcher,
            working: Vec::new(),
            finished: Vec::new(),
        };
        let pending = bench.jobs(PENDING, t(0), false);
        bench.working = pending.iter().map(|j| j.id).collect();
        bench.store.job_insert_many(&pending).await.expect("load");
        bench
    }

    async fn close(self) {
        stores::close(&self.place, &*self.store).await;
    }

    /// `n` jobs put at `at`; `finished`: past their deadline, so inserted
    /// `completed`.
    fn jobs(&self, n: usize, at: Timestamp, finished: bool) -> Vec<NewJob> {
        (0..n)
            .map(|i| NewJob {
                begin_by_ms: finished.then_some(0),
                expired: finished,
                ..self.job(i, at)
            })
            .collect()
    }

    fn job(&self, i: usize, at: Timestamp) -> NewJob {
        let name = self.module.name.clone();
        stores::job(&self.module.digest, name, "add", json!([i, 2]), at)
    }

    /// Adds `n` finished jobs, keeping a sample of their ids.
    async fn grow(&mut self, n: usize) {
        let started = Instant::now();
        let mut left = n;
        let every = (n / SAMPLES).max(1);
        while left > 0 {
            let jobs = self.jobs(left.min(LOAD_BATCH), t(0), true);
            self.finished
                .extend(jobs.iter().step_by(every).map(|j| j.id));
            self.store.job_insert_many(&jobs).await.expect("load");
            left -= jobs.len();
            if (n - left) % 1_000_000 < LOAD_BATCH {
                println!("    {} finished jobs loaded", n - left);
            }
        }
        let took = started.elapsed().as_secs_f64();
        println!(
            "  loaded {n} finished jobs in {took:.0} s ({:.0} jobs/s)",
            n as f64 / took
        );
    }
}

/// The timed operations, by name.
const OPS: [&str; 9] = [
    "put (1 job)",
    "claim+start (1 job)",
    "finish (1 job)",
    "GET working job",
    "GET finished job",
    "count all",
    "count completed",
    "queue list",
    "queue jobs (100)",
];

/// One round of every operation on `b`; returns their times.
async fn round(b: &Bench, i: usize) -> [Duration; OPS.len()] {
    let mut times = [Duration::ZERO; OPS.len()];
    let s = &b.store;
    let now = t(1_000 + i as i64);
    let mut lap = {
        let mut mark = Instant::now();
        move |times: &mut [Duration; OPS.len()], k: usize| {
            let at = Instant::now();
            times[k] = at - mark;
            mark = at;
        }
    };
    s.job_insert_many(&b.jobs(1, now, false))
        .await
        .expect("put");
    lap(&mut times, 0);
    let claimed = s
        .job_claim_many(JobClaimParams {
            dispatcher: b.dispatcher,
            queue: String::new(),
            agent: "main".to_owned(),
            filter: None,
            preferred: None,
            limit: 1,
            now,
            start: true,
        })
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    lap(&mut times, 1);
    let finish = JobFinishParams {
        id: claimed[0].id,
        dispatcher: b.dispatcher,
        outcome: RunOutcome::Value(json!(42)),
        output: CapturedOutput::default(),
        now,
        run: None,
    };
    s.job_finish_many(&[finish]).await.expect("finish");
    lap(&mut times, 2);
    let id = b.working[(i * 7919) % b.working.len()];
    s.job_get(id).await.expect("get");
    lap(&mut times, 3);
    let id = b.finished[(i * 7919) % b.finished.len()];
    s.job_get(id).await.expect("get");
    lap(&mut times, 4);
    s.job_count(&JobFilter::default()).await.expect("count");
    lap(&mut times, 5);
    let completed = JobFilter {
        states: vec![wasync::model::QueryState::Status(
            wasync::model::JobStatus::Completed,
        )],
        ..JobFilter::default()
    };
    s.job_count(&completed).await.expect("count");
    lap(&mut times, 6);
    s.queue_list().await.expect("queue list");
    lap(&mut times, 7);
    let page = QueueJobsParams {
        queue: String::new(),
        offset: 0,
        limit: 100,
    };
    s.queue_jobs(page).await.expect("queue jobs");
    lap(&mut times, 8);
    times
}

async fn compare(pg: Option<&str>, finished: usize) {
    let mut small = Bench::new(pg).await;
    small.grow(SMALL_FINISHED).await;
    let mut grown = Bench::new(pg).await;
    grown.grow(finished).await;
    stores::sync("the grown store");
    for i in 0..WARM_UP {
        round(&small, i).await;
        round(&grown, i).await;
    }
    let mut times = [vec![Vec::new(); OPS.len()], vec![Vec::new(); OPS.len()]];
    for i in 0..ROUNDS {
        for (b, times) in [&small, &grown].into_iter().zip(&mut times) {
            let round = round(b, WARM_UP + i).await;
            for (k, took) in round.into_iter().enumerate() {
                times[k].push(took);
            }
        }
    }
    println!(
        "  {:<22} {:>12} {:>12} {:>7}   (medians of {ROUNDS})",
        "operation",
        "small",
        format!("+{}M", finished as f64 / 1e6),
        "ratio"
    );
    let [small_times, grown_times] = &mut times;
    for (k, op) in OPS.iter().enumerate() {
        let a = median(&mut small_times[k]);
        let b = median(&mut grown_times[k]);
        println!(
            "  {op:<22} {:>12} {:>12} {:>7.2}",
            ms(a),
            ms(b),
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
    small.close().await;
    grown.close().await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let finished = args
        .iter()
        .position(|a| a == "--finished")
        .and_then(|i| args.get(i + 1))
        .map(|n| {
            n.replace('_', "")
                .parse()
                .expect("--finished takes a number")
        })
        .unwrap_or(FINISHED_DEFAULT);
    let named = |name: &str| args.iter().any(|a| a == name);
    let pg = support::postgres_url();
    let mut backends: Vec<Option<String>> = vec![None];
    match pg {
        Some(url) => backends.push(Some(url)),
        None => println!("(WASYNC_TEST_PG is not set: SQLite only)"),
    }
    if named("sqlite") || named("postgres") {
        backends.retain(|b| named(if b.is_some() { "postgres" } else { "sqlite" }));
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        for backend in &backends {
            let on = match backend {
                None => "SQLite, WAL, synchronous=FULL",
                Some(_) => "PostgreSQL",
            };
            println!("cost with {PENDING} pending vs also {finished} finished jobs ({on})");
            compare(backend.as_deref(), finished).await;
        }
    });
}
