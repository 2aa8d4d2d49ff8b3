//! The whole queue, end to end, in one process: put → claim → start → run
//! in the sandbox → finish, on durable SQLite (WAL, `synchronous=FULL`, a
//! real file), with the real `hello` component.
//!
//! ```text
//! cargo bench -p wasync --bench queue                 # everything
//! cargo bench -p wasync --bench queue -- latency      # idle put → completed
//! cargo bench -p wasync --bench queue -- throughput   # sustained jobs/s
//! ```
//!
//! - `latency`: on an idle system, one job at a time: the time `put` takes
//!   to return (the job is durably committed), and from calling `put` until
//!   the job has completed (claimed, started, run, outcome committed),
//!   which bounds the time to start from above; then, as the floor under
//!   them, what one commit's WAL frames cost the disk alone (written and
//!   synced with `fdatasync`, no database).
//! - `throughput`: `WASYNC_BENCH_JOBS` (default 100,000) trivial jobs put
//!   by 64 concurrent putters (`WASYNC_BENCH_PUTTERS`) while the dispatcher runs them; jobs/s from
//!   the first put until the last job completed, and put latency under
//!   that load. Run with the main agent at `WASYNC_BENCH_AGENT_SIZE`
//!   (default 256) and, for comparison, at zc.async's default size 3.
//!
//! The database goes in a temporary directory (under `WASYNC_BENCH_DIR` if
//! set).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::sync::oneshot;
use wasync::model::{JobId, JobSpec};
use wasync::service::Putter;
use wasync::store::sqlite::SqliteStore;

#[path = "support/mod.rs"]
mod support;

use support::app::InProcess;
use support::stats::percentile;

/// Concurrent putters in the throughput part (`WASYNC_BENCH_PUTTERS`).
fn putters() -> usize {
    support::env_or("WASYNC_BENCH_PUTTERS", 64)
}

struct Bench {
    dir: tempfile::TempDir,
    app: InProcess,
}

impl Bench {
    async fn new(agent_size: u32) -> Bench {
        let dir = support::bench_dir();
        let store = SqliteStore::open(&dir.path().join("wasync.db"))
            .await
            .expect("store");
        let app = InProcess::start(Arc::new(store), dir.path(), "hello", agent_size).await;
        Bench { dir, app }
    }

    async fn stop(self) {
        self.app.stop().await;
    }

    fn hello(&self) -> JobSpec {
        JobSpec::new("hello", "hello", json!([]))
    }

    /// Puts a job; returns its id, how long the put took, and a receiver
    /// that fires when it completes.
    async fn put(&self) -> (JobId, Duration, oneshot::Receiver<()>) {
        self.put_request(self.hello()).await
    }

    async fn put_request(&self, spec: JobSpec) -> (JobId, Duration, oneshot::Receiver<()>) {
        let started = Instant::now();
        let job = self
            .app
            .service
            .put(spec, &Putter::admin())
            .await
            .expect("put");
        let took = started.elapsed();
        // Registered right after the put returns; a job that completed even
        // sooner is caught by the status check in `completed`.
        let done = self.app.events.on_completion(job.id);
        (job.id, took, done)
    }

    /// Returns once `job` has completed: at once if `done` has fired or
    /// the job's status, read after `done` was registered, already says so
    /// (a put whose commit started the job can see it finish before the
    /// put returns), otherwise when `done` fires.
    async fn completed(&self, job: JobId, mut done: oneshot::Receiver<()>) {
        if done.try_recv().is_ok() {
            return;
        }
        let status = self.app.service.job_get(job).await.expect("job").status;
        if status.is_terminal() {
            return;
        }
        let announced = tokio::time::timeout(Duration::from_secs(60), done).await;
        if !matches!(announced, Ok(Ok(()))) {
            let job = self.app.service.job_get(job).await.expect("job");
            assert!(job.status.is_terminal(), "job {} never completed", job.id);
        }
    }
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name}: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        samples.len()
    );
}

async fn latency() {
    let bench = Bench::new(3).await;
    // Warm up: the component is compiled and cached, the pools are open.
    for _ in 0..50 {
        let (id, _, done) = bench.put().await;
        bench.completed(id, done).await;
    }
    let mut puts = Vec::new();
    let mut starts = Vec::new();
    let mut lives = Vec::new();
    for _ in 0..1000 {
        let wall = SystemTime::now();
        let started = Instant::now();
        let (id, put, done) = bench
            .put_request(JobSpec::new("hello", "now_micros", json!([])))
            .await;
        bench.completed(id, done).await;
        lives.push(started.elapsed());
        puts.push(put);
        // The guest read the wall clock as it began: that is the start.
        let job = bench.app.service.job_get(id).await.expect("job");
        let ran_at = job
            .result
            .and_then(|v| v.as_u64())
            .expect("now_micros result");
        let put_at = wall.duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
        starts.push(Duration::from_micros(ran_at.saturating_sub(put_at)));
        // Let the system go idle between jobs, as the target says.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!("latency, idle system, one job at a time:");
    summary("  put (durably committed)", puts);
    summary("  put -> guest starts running", starts);
    summary("  put -> completed (outcome committed)", lives);
    let dir = bench.dir.path().to_owned();
    let floor = tokio::task::spawn_blocking(move || durable_commits(&dir, 1000))
        .await
        .expect("the disk's commits");
    summary(
        "  the disk alone: one commit's WAL frames written and synced",
        floor,
    );
    println!(
        "  (a job put to an idle system costs two such commits before it completes: its put's, which also starts it, and its finish's)"
    );
    bench.stop().await;
}

/// What a durable commit of one job costs the disk alone, with no
/// database: `n` writes of the WAL frames a put's commit writes (8 pages
/// of 4 KiB, each with its 24-byte frame header, as `strace` shows for
/// one job), each followed by `fdatasync`, with the same idle pause as
/// the latency samples. The floor under the latencies above.
///
/// The frames go round a region the size of a full WAL (SQLite's
/// checkpoint restarts its log at the beginning once it holds 1,000
/// pages), written and synced once first: as in a WAL that was already
/// used, a commit then overwrites, and the file's size, which a sync would
/// also have to write, never changes.
fn durable_commits(dir: &std::path::Path, n: usize) -> Vec<Duration> {
    use std::os::unix::fs::FileExt;
    const FRAMES: usize = 8;
    const FRAME: usize = 24 + 4096;
    const COMMITS_PER_LOG: usize = 1000 / FRAMES;
    let file = std::fs::File::create(dir.join("commits")).expect("a file beside the store");
    let frames = vec![0x5a_u8; FRAMES * FRAME];
    let log = vec![0_u8; COMMITS_PER_LOG * frames.len()];
    file.write_all_at(&log, 0).expect("the log's region");
    file.sync_all().expect("fsync");
    let mut took = Vec::with_capacity(n);
    for i in 0..n {
        let at = (i % COMMITS_PER_LOG * frames.len()) as u64;
        let started = Instant::now();
        file.write_all_at(&frames, at).expect("frames");
        file.sync_data().expect("fdatasync");
        took.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(2));
    }
    took
}

async fn throughput(agent_size: u32, jobs: usize) {
    let bench = Arc::new(Bench::new(agent_size).await);
    let started = Instant::now();
    let mut putters = Vec::new();
    let putter_count = self::putters();
    for putter in 0..putter_count {
        let bench = bench.clone();
        let count = jobs / putter_count + usize::from(putter < jobs % putter_count);
        putters.push(tokio::spawn(async move {
            let mut puts = Vec::with_capacity(count);
            let mut waits = Vec::with_capacity(count);
            for _ in 0..count {
                let (id, took, done) = bench.put().await;
                puts.push(took);
                waits.push((id, done));
            }
            (puts, waits)
        }));
    }
    let mut puts = Vec::new();
    let mut waits = Vec::new();
    for putter in putters {
        let (p, w) = putter.await.expect("putter");
        puts.extend(p);
        waits.extend(w);
    }
    let put_phase = started.elapsed();
    for (id, done) in waits {
        bench.completed(id, done).await;
    }
    let elapsed = started.elapsed();
    println!(
        "throughput, agent size {agent_size}: {jobs} jobs put by {putter_count} putters and completed in {:.2} s: {:.0} jobs/s (puts alone: {:.0} puts/s)",
        elapsed.as_secs_f64(),
        jobs as f64 / elapsed.as_secs_f64(),
        jobs as f64 / put_phase.as_secs_f64(),
    );
    summary("  put latency under load", puts);
    let bench = Arc::into_inner(bench).expect("no other owner");
    bench.stop().await;
}

fn main() {
    let args = support::named_parts();
    let wants = |part: &str| args.is_empty() || args.iter().any(|a| a == part);
    let jobs = support::env_or("WASYNC_BENCH_JOBS", 100_000);
    let agent_size = support::env_or("WASYNC_BENCH_AGENT_SIZE", 256);
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        if wants("latency") {
            latency().await;
        }
        if wants("throughput") {
            throughput(agent_size, jobs).await;
            throughput(3, jobs / 10).await;
        }
    });
}
