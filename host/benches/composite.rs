//! A `parallel` composite of 1,000 parts with a postprocess, against 1,000
//! independent jobs, end to end in one process (service, dispatcher,
//! sandbox, the real `usage` component), on durable SQLite and, when
//! `WASYNC_TEST_PG` names a server, on PostgreSQL.
//!
//! ```text
//! cargo bench -p wasync --bench composite
//! WASYNC_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p wasync --bench composite
//! ```
//!
//! - independent: 1,000 `job_a` jobs put at once (concurrently, as group
//!   commit takes them); time from the first put until the last
//!   completed;
//! - parallel: one `POST /v1/composites`-equivalent put of a `parallel`
//!   of 1,000 `job_a` parts and a `sum` postprocess; time from the put
//!   until the composite completed with the postprocess's result (7,000).
//!
//! Each is run `WASYNC_BENCH_ROUNDS` times (default 3) after a warm-up;
//! the medians and their ratio are printed (target: parallel within 1.5×
//! of independent). The agent has `WASYNC_BENCH_AGENT_SIZE` slots
//! (default 64). `WASYNC_BENCH_PARTS` changes the 1,000.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wasync::model::{CompositeKind, JobSpec};
use wasync::service::{CompositeRequest, Putter};
use wasync::store::Store;
use wasync::store::postgres::PgStore;
use wasync::store::sqlite::SqliteStore;

#[path = "support/mod.rs"]
mod support;

use support::app::InProcess;
use support::env_or;
use support::stats::median;

struct Bench {
    app: InProcess,
}

impl Bench {
    async fn new(store: Arc<dyn Store>, dir: &std::path::Path) -> Bench {
        let agent_size = env_or("WASYNC_BENCH_AGENT_SIZE", 64);
        Bench {
            app: InProcess::start(store, dir, "usage", agent_size).await,
        }
    }

    async fn stop(self) {
        self.app.stop().await;
    }

    async fn wait(&self, id: wasync::model::JobId) -> wasync::model::Job {
        let job = self
            .app
            .service
            .job_wait(id, Duration::from_secs(300))
            .await
            .expect("wait");
        assert!(job.status.is_terminal(), "job {id} never completed");
        job
    }

    /// Puts `n` independent jobs at once; time from the first put until
    /// the last completed (its `completed_at`: read afterwards, so no
    /// completion can slip past a listener registered too late).
    async fn independent(&self, n: usize) -> Duration {
        let started = chrono::Utc::now();
        let puts: Vec<_> = (0..n)
            .map(|_| {
                let service = self.app.service.clone();
                tokio::spawn(async move {
                    service
                        .put(JobSpec::new("usage", "job_a", json!([])), &Putter::admin())
                        .await
                        .expect("put")
                        .id
                })
            })
            .collect();
        let mut last = started;
        for put in puts {
            let job = self.wait(put.await.expect("putter")).await;
            last = last.max(job.completed_at.expect("completed"));
        }
        (last - started).to_std().unwrap_or_default()
    }

    /// Puts a `parallel` of `n` parts; time from the put until the
    /// composite completed with the postprocess's result.
    async fn parallel(&self, n: usize) -> Duration {
        let started = chrono::Utc::now();
        let request = CompositeRequest {
            kind: CompositeKind::Parallel,
            composite: JobSpec::new("usage", "", json!(null)),
            parts: (0..n)
                .map(|_| JobSpec::new("usage", "job_a", json!([])))
                .collect(),
            postprocess: JobSpec::new("usage", "sum", json!({})),
        };
        let composite = self
            .app
            .service
            .composite_put(request, &Putter::admin())
            .await
            .expect("put");
        let done = self.wait(composite.id).await;
        assert_eq!(done.result, Some(json!(7 * n)), "{done:?}");
        (done.completed_at.expect("completed") - started)
            .to_std()
            .unwrap_or_default()
    }
}

async fn compare(backend: &str, store: Arc<dyn Store>, dir: &std::path::Path) {
    let parts = env_or("WASYNC_BENCH_PARTS", 1000);
    let rounds = env_or("WASYNC_BENCH_ROUNDS", 3).max(1);
    let bench = Bench::new(store, dir).await;
    bench.independent(50).await;
    bench.parallel(50).await;
    let mut independent = Vec::new();
    let mut parallel = Vec::new();
    for _ in 0..rounds {
        independent.push(bench.independent(parts).await);
        parallel.push(bench.parallel(parts).await);
    }
    let (i, p) = (
        median(&mut independent.clone()),
        median(&mut parallel.clone()),
    );
    println!(
        "{backend}: {parts} independent jobs, put -> last completed: median {:.1} ms {:?}",
        i.as_secs_f64() * 1e3,
        independent
            .iter()
            .map(|d| d.as_millis())
            .collect::<Vec<_>>()
    );
    println!(
        "{backend}: parallel of {parts} parts + postprocess, put -> result: median {:.1} ms {:?}",
        p.as_secs_f64() * 1e3,
        parallel.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    println!(
        "{backend}: ratio parallel / independent: {:.2} (target: at most 1.5)",
        p.as_secs_f64() / i.as_secs_f64()
    );
    bench.stop().await;
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let dir = support::bench_dir();
        let sqlite = SqliteStore::open(&dir.path().join("wasync.db"))
            .await
            .expect("store");
        compare("sqlite", Arc::new(sqlite), dir.path()).await;
        match support::postgres_url() {
            Some(url) => {
                let schema = format!("bench_composite_{}", std::process::id());
                let store = PgStore::open_in_schema(&url, &schema)
                    .await
                    .expect("open PostgreSQL");
                compare("postgres", Arc::new(store), dir.path()).await;
                PgStore::drop_schema(&url, &schema)
                    .await
                    .expect("drop schema");
            }
            None => println!("(WASYNC_TEST_PG is not set: SQLite only)"),
        }
    });
}
