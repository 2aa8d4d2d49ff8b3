//! Store benchmarks on durable SQLite (WAL, `synchronous=FULL`, a real file)
//! and, when `WASYNC_TEST_PG` names a server, on PostgreSQL too (each
//! store in a schema of its own, `wasync_bench_<uuid>`, dropped at the end).
//!
//! ```text
//! cargo bench -p wasync --bench store            # everything
//! cargo bench -p wasync --bench store -- claim   # only the claim-cost part
//! cargo bench -p wasync --bench store -- cycle put
//! WASYNC_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p wasync --bench store
//! cargo bench -p wasync --bench store -- postgres claim   # one backend
//! ```
//!
//! - `claim`: the median cost of one claim (of 64 jobs, and of 1) with
//!   1,000 and with 1,000,000 pending jobs, measured after bulk-loading
//!   them. After each timed claim the claimed jobs are replaced (untimed),
//!   so the queue keeps its size. After loading, `sync` lets the operating
//!   system write the load out, and a few untimed claims warm each store
//!   up; then the claims on the two stores alternate, so that the rest of
//!   the machine's load weighs on both alike.
//! - `claim-priorities`: the same with jobs put (and refilled) with
//!   priorities 0 to 4 in turn: the claim walks `jobs_pending` from the
//!   highest priority, so its cost stays flat too.
//! - `claim-partitioned`: a claim (of 10 jobs, and of 1) from 100,000
//!   pending jobs over the 1,000 keys of a partitioned quota of size 2,
//!   990 of them full, next to a claim from 100,000 jobs under one plain
//!   quota (`store/partitioned.rs` says how the stores are shaped).
//! - `cycle`: jobs/s through `insert_many` → `claim_many` → `start_many` →
//!   `finish_many` in batches of 256, one batch after another.
//! - `put`: latency of a one-job `insert_many`, one after another.
//! - `put-unique`: unique puts against plain ones, on two stores whose
//!   puts alternate: one-job puts and batches of 256, each job with a key
//!   of its own (its id, which follows time, resolved in the timed part as
//!   the service does), batches of 256 whose keys follow no order (a random
//!   UUID each: every key on a leaf of `jobs_unique` of its own), then the
//!   same keys put again (every put a duplicate answered with the job
//!   holding its key). Prints each median and the ratio to plain.
//!
//! `WASYNC_BENCH_VACUUM_EVERY=N` vacuums each PostgreSQL store's `jobs`
//! every N timed claims of `claim` and `claim-priorities` (untimed), as
//! an autovacuum tuned for a queue's table would.
//!
//! The SQLite database goes in a temporary directory (under
//! `WASYNC_BENCH_DIR` if set; the default temporary directory otherwise):
//! put it on the disk you want to measure, not on a tmpfs. PostgreSQL's
//! data is wherever its server keeps it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use wasync::model::{
    CapturedOutput, DispatcherId, JobId, ModuleInfo, NewJob, RunOutcome, Timestamp, UniqueKey,
    UniqueSpec,
};
use wasync::store::{JobClaimParams, JobFinishParams, JobStartParams, Store};

#[path = "store/partitioned.rs"]
mod partitioned;
#[path = "support/mod.rs"]
mod support;

use support::stats::{ms, percentile};
use support::stores::{self, Place, t};

const BATCH: usize = 256;
const LOAD_BATCH: usize = 10_000;
/// Untimed claims on each store before the timed ones.
const WARM_UP: usize = 50;

/// The distinct priorities of the `claim-priorities` section.
const PRIORITIES: u32 = 5;

/// Where a bench's store lives.
#[derive(Debug, Clone)]
enum Backend {
    /// A file in a temporary directory.
    Sqlite,
    /// A fresh schema on the server at this URL.
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite, WAL, synchronous=FULL",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }

    /// The server's URL, on PostgreSQL.
    fn url(&self) -> Option<&str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres(url) => Some(url),
        }
    }
}

struct Bench {
    place: Place,
    store: Arc<dyn Store>,
    module: ModuleInfo,
    dispatcher: DispatcherId,
    /// How many distinct priorities its jobs are put with (1: all 0).
    priorities: u32,
    /// How many jobs [`Bench::jobs`] has made: their priorities cycle over
    /// every job put, not within each batch, so that refills of one job
    /// keep the store's mix of priorities (within a batch, a refill of one
    /// would always be priority 0).
    made: AtomicUsize,
}

impl Bench {
    async fn new(backend: &Backend, priorities: u32) -> Bench {
        let (place, store) = stores::open(backend.url()).await;
        let module = stores::bench_module(&*store).await;
        let dispatcher = stores::dispatcher(&*store).await;
        Bench {
            place,
            store,
            module,
            dispatcher,
            priorities,
            made: AtomicUsize::new(0),
        }
    }

    /// `VACUUM`s its `jobs` table, on PostgreSQL (untimed; see
    /// [`vacuum_every`]). SQLite's B-trees drop an entry when its row
    /// leaves the index, so there is nothing to vacuum there.
    async fn vacuum(&self) {
        if let Place::Schema { url, name } = &self.place {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query(&format!("VACUUM {name}.jobs"))
                .execute(&mut conn)
                .await
                .expect("vacuum");
        }
    }

    /// Closes the store and removes its database.
    async fn close(self) {
        stores::close(&self.place, &*self.store).await;
    }

    fn jobs(&self, n: usize, at: Timestamp) -> Vec<NewJob> {
        let first = self.made.fetch_add(n, Ordering::Relaxed);
        (0..n)
            .map(|i| NewJob {
                priority: ((first + i) % self.priorities as usize) as i32,
                ..stores::job(
                    &self.module.digest,
                    self.module.name.clone(),
                    "add",
                    json!([i, 2]),
                    at,
                )
            })
            .collect()
    }

    async fn claim(&self, limit: u32, now: Timestamp) -> Vec<JobId> {
        let jobs = self
            .store
            .job_claim_many(JobClaimParams {
                dispatcher: self.dispatcher,
                queue: String::new(),
                agent: "main".to_owned(),
                filter: None,
                preferred: None,
                limit,
                now,
                start: false,
            })
            .await
            .expect("claim");
        jobs.into_iter().map(|j| j.id).collect()
    }
}

/// CPU time (user + system) of this process so far, on Linux.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

/// A store with `pending` jobs waiting.
async fn loaded(backend: &Backend, pending: usize, priorities: u32) -> Bench {
    let b = Bench::new(backend, priorities).await;
    let started = Instant::now();
    let mut left = pending;
    while left > 0 {
        let n = left.min(LOAD_BATCH);
        b.store
            .job_insert_many(&b.jobs(n, t(0)))
            .await
            .expect("load");
        left -= n;
    }
    let load = started.elapsed();
    println!(
        "  loaded {pending} pending jobs in {:.1} s ({:.0} jobs/s, batches of {LOAD_BATCH})",
        load.as_secs_f64(),
        pending as f64 / load.as_secs_f64()
    );
    b
}

/// How many timed claims of each store pass between two `VACUUM`s of its
/// `jobs` on PostgreSQL (`WASYNC_BENCH_VACUUM_EVERY`), standing in for an
/// autovacuum tuned for a queue's table; unset, never, as on a server
/// whose autovacuum is off or has not yet reached the table: a claim then
/// steps over the index entries of every job claimed before it.
fn vacuum_every() -> Option<usize> {
    let every = std::env::var("WASYNC_BENCH_VACUUM_EVERY").ok()?;
    Some(
        every
            .parse()
            .expect("WASYNC_BENCH_VACUUM_EVERY: a number of claims"),
    )
}

/// Claims `limit` jobs (timed), then puts as many back (untimed), so the
/// number pending stays the same.
async fn timed_claim(b: &Bench, limit: u32, now: Timestamp) -> Duration {
    let began = Instant::now();
    let claimed = b.claim(limit, now).await;
    let took = began.elapsed();
    assert_eq!(claimed.len(), limit as usize);
    b.store
        .job_insert_many(&b.jobs(limit as usize, now))
        .await
        .expect("refill");
    took
}

/// Claim cost with few and with many jobs pending. The two stores' claims
/// alternate, so that whatever else the machine does weighs on both alike.
async fn claim_cost(backend: &Backend, sizes: [usize; 2], rounds: usize, priorities: u32) {
    let stores = [
        loaded(backend, sizes[0], priorities).await,
        loaded(backend, sizes[1], priorities).await,
    ];
    stores::sync("the large store");
    let mut tick = 0;
    for b in &stores {
        for _ in 0..WARM_UP {
            tick += 1;
            timed_claim(b, 64, t(tick)).await;
        }
    }
    let vacuum_every = vacuum_every();
    for limit in [64u32, 1] {
        let mut times = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
        for round in 1..=rounds {
            tick += 1;
            for (b, times) in stores.iter().zip(&mut times) {
                times.push(timed_claim(b, limit, t(tick)).await);
            }
            if vacuum_every.is_some_and(|every| round % every == 0) {
                for b in &stores {
                    b.vacuum().await;
                }
            }
        }
        let what = sizes.map(|pending| format!(" with {pending:>9} pending"));
        let ratio = format!("{} / {} pending", sizes[1], sizes[0]);
        report_claims(limit, what, &mut times, &ratio);
    }
    for b in stores {
        b.close().await;
    }
}

/// Prints the claims of `limit` timed on each of two stores (`what`: how
/// its lines name each), and the ratio of the second's times to the
/// first's (`ratio`: how its line names it).
fn report_claims(limit: u32, what: [String; 2], times: &mut [Vec<Duration>; 2], ratio: &str) {
    for (what, times) in what.iter().zip(times.iter_mut()) {
        times.sort();
        println!(
            "  claim of {limit:>2}{what}: median {}, p90 {}, min {} ({} claims)",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.9)),
            ms(times[0]),
            times.len(),
        );
    }
    let by =
        |p: f64| percentile(&times[1], p).as_secs_f64() / percentile(&times[0], p).as_secs_f64();
    println!(
        "  claim of {limit:>2}: {ratio} = {:.2} (median), {:.2} (p90)",
        by(0.5),
        by(0.9)
    );
}

/// Wall and CPU time per phase of a cycle.
struct Laps {
    names: [&'static str; 4],
    wall: [Duration; 4],
    cpu: [Duration; 4],
    mark: (Instant, Duration),
}

impl Laps {
    fn new(names: [&'static str; 4]) -> Self {
        Laps {
            names,
            wall: Default::default(),
            cpu: Default::default(),
            mark: (Instant::now(), cpu_time().unwrap_or_default()),
        }
    }

    /// Ends phase `i` (and starts the next).
    fn lap(&mut self, i: usize) {
        let now = (Instant::now(), cpu_time().unwrap_or_default());
        self.wall[i] += now.0 - self.mark.0;
        self.cpu[i] += now.1.saturating_sub(self.mark.1);
        self.mark = now;
    }

    fn print(&self, batches: usize) {
        let per_batch = |d: Duration| ms(d / batches as u32);
        let line = |times: &[Duration; 4]| {
            self.names
                .iter()
                .zip(times)
                .map(|(n, d)| format!("{n} {}", per_batch(*d)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("  wall per batch: {}", line(&self.wall));
        println!("  CPU per batch:  {}", line(&self.cpu));
    }
}

/// Jobs/s through whole batches of insert, claim, start and finish.
async fn cycles(backend: &Backend, batches: usize) {
    let b = Bench::new(backend, 1).await;
    let started = Instant::now();
    let cpu_before = cpu_time();
    let mut laps = Laps::new(["insert", "claim", "start", "finish"]);
    for round in 0..batches {
        let now = t(round as i64);
        let jobs = b.jobs(BATCH, now);
        laps.mark = (Instant::now(), cpu_time().unwrap_or_default());
        b.store.job_insert_many(&jobs).await.expect("insert");
        laps.lap(0);
        let ids = b.claim(BATCH as u32, now).await;
        assert_eq!(ids.len(), BATCH);
        laps.lap(1);
        let start = JobStartParams {
            dispatcher: b.dispatcher,
            ids: ids.clone(),
            now,
        };
        let started = b.store.job_start_many(start).await.expect("start");
        assert_eq!(started.len(), BATCH);
        laps.lap(2);
        let outcomes: Vec<JobFinishParams> = ids
            .iter()
            .map(|&id| JobFinishParams {
                id,
                dispatcher: b.dispatcher,
                outcome: RunOutcome::Value(json!(42)),
                output: CapturedOutput::default(),
                now,
                run: None,
            })
            .collect();
        let report = b.store.job_finish_many(&outcomes).await.expect("finish");
        assert_eq!(report.completed.len(), BATCH);
        laps.lap(3);
    }
    let elapsed = started.elapsed();
    let jobs = (batches * BATCH) as f64;
    println!(
        "  {} jobs in {:.2} s: {:.0} jobs/s (batches of {BATCH})",
        batches * BATCH,
        elapsed.as_secs_f64(),
        jobs / elapsed.as_secs_f64()
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_time()) {
        let cpu = after - before;
        println!(
            "  CPU (all threads): {:.1} µs per job, {:.0} jobs per CPU-second",
            cpu.as_secs_f64() * 1e6 / jobs,
            jobs / cpu.as_secs_f64()
        );
    }
    laps.print(batches);
    b.close().await;
}

/// Latency of one-job puts, one after another.
async fn put_latency(backend: &Backend, puts: usize) {
    let b = Bench::new(backend, 1).await;
    let mut times = Vec::with_capacity(puts);
    for i in 0..puts {
        let job = b.jobs(1, t(i as i64));
        let began = Instant::now();
        b.store.job_insert_many(&job).await.expect("put");
        times.push(began.elapsed());
    }
    times.sort();
    println!(
        "  {puts} puts: p50 {}, p90 {}, p99 {}, max {}",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().expect("some puts")),
    );
    b.close().await;
}

/// A unique key of its own for each job put by `put_unique`: its id
/// (which follows time), or with `random` a random UUID.
fn own_key(job: &NewJob, random: bool) -> UniqueKey {
    let key = if random {
        uuid::Uuid::new_v4().to_string()
    } else {
        job.id.to_string()
    };
    UniqueSpec {
        key: Some(key),
        ..UniqueSpec::default()
    }
    .resolve(
        job.module.as_str(),
        &job.function,
        &job.args,
        job.created_at,
    )
    .expect("a valid key")
}

/// Unique puts against plain ones (see the module's doc).
async fn put_unique(backend: &Backend, puts: usize, batches: usize) {
    let plain = Bench::new(backend, 1).await;
    let unique = Bench::new(backend, 1).await;
    let mut again = Vec::new();
    for (what, size, rounds, random) in [
        ("one-job puts", 1, puts, false),
        ("batches of 256", BATCH, batches, false),
        ("batches of 256, keys in no order", BATCH, batches, true),
    ] {
        let mut times = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
        for round in 0..rounds {
            let at = t(round as i64);
            let jobs = plain.jobs(size, at);
            let began = Instant::now();
            plain.store.job_insert_many(&jobs).await.expect("put");
            times[0].push(began.elapsed());

            let mut jobs = unique.jobs(size, at);
            let began = Instant::now();
            for job in &mut jobs {
                job.unique = Some(own_key(job, random));
            }
            let stored = unique.store.job_insert_many(&jobs).await.expect("put");
            times[1].push(began.elapsed());
            assert!(stored.iter().zip(&jobs).all(|(s, j)| s.id == j.id));
            if size == 1 && again.len() < 1_000 {
                again.extend(jobs);
            }
        }
        for times in &mut times {
            times.sort();
        }
        let (p, u) = (percentile(&times[0], 0.5), percentile(&times[1], 0.5));
        println!(
            "  {what}: plain median {}, unique median {} ({:.2}x), {rounds} each",
            ms(p),
            ms(u),
            u.as_secs_f64() / p.as_secs_f64()
        );
    }
    // The same keys again: each put a duplicate (nothing inserted, the job
    // holding the key read back).
    let mut times = Vec::with_capacity(again.len());
    for job in &again {
        let duplicate = NewJob {
            id: JobId::new(),
            ..job.clone()
        };
        let began = Instant::now();
        let stored = unique
            .store
            .job_insert_many(std::slice::from_ref(&duplicate))
            .await
            .expect("put");
        times.push(began.elapsed());
        assert_eq!(stored[0].id, job.id, "a duplicate answers with the holder");
    }
    times.sort();
    println!(
        "  duplicate one-job puts: median {} ({} puts)",
        ms(percentile(&times, 0.5)),
        times.len()
    );
    plain.close().await;
    unique.close().await;
}

fn main() {
    let filters = support::named_parts();
    let mut backends = vec![Backend::Sqlite];
    match support::postgres_url() {
        Some(url) => backends.push(Backend::Postgres(url)),
        None => println!("(WASYNC_TEST_PG is not set: SQLite only)"),
    }
    let named = |name: &str| filters.iter().any(|f| f == name);
    let any_backend_named = backends.iter().any(|b| named(b.name()));
    backends.retain(|b| !any_backend_named || named(b.name()));
    let sections = [
        "claim",
        "claim-priorities",
        "claim-partitioned",
        "cycle",
        "put",
        "put-unique",
    ];
    let any_section_named = sections.iter().any(|s| named(s));
    let wanted = |name: &str| !any_section_named || named(name);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        for backend in &backends {
            let on = backend.describe();
            if wanted("claim") {
                println!("claim cost by pending jobs ({on})");
                claim_cost(backend, [1_000, 1_000_000], 500, 1).await;
            }
            if wanted("claim-priorities") {
                println!("claim cost by pending jobs, mixed priorities 0..{PRIORITIES} ({on})");
                claim_cost(backend, [1_000, 1_000_000], 500, PRIORITIES).await;
            }
            if wanted("claim-partitioned") {
                println!("claim cost, partitioned quota with full keys vs plain quota ({on})");
                partitioned::claim_partitioned(backend, 300).await;
            }
            if wanted("cycle") {
                println!("insert → claim → start → finish cycles ({on})");
                cycles(backend, 400).await;
            }
            if wanted("put") {
                println!("single-job put latency ({on})");
                put_latency(backend, 3_000).await;
            }
            if wanted("put-unique") {
                println!("unique puts against plain ones ({on})");
                put_unique(backend, 2_000, 200).await;
            }
        }
    });
}
