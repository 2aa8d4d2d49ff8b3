//! The dashboard's overview page load with 100,000 jobs in the database:
//! everything the browser fetches to show `/#/` — the page, its nine
//! scripts and style sheet, then `GET /v1/caller`, then at once
//! `GET /v1/activity?window=1h&buckets=12` and the dispatchers with each
//! one's status and each agent's count of held jobs — timed end to end
//! over HTTP, as the page's `app.js` and `overview.js` ask (the assets six
//! at a time, as a browser's connection limit allows). The target: under
//! 300 ms.
//!
//! ```text
//! cargo bench -p wasync --bench dashboard                  # SQLite (the default)
//! WASYNC_TEST_PG=postgres://postgres@127.0.0.1:5432/test cargo bench -p wasync --bench dashboard -- postgres
//! cargo bench -p wasync --bench dashboard -- 20000         # fewer jobs
//! ```
//!
//! The jobs: three quarters run to completion (so the last hour has
//! 75,000 finished jobs across four queues, one in ten failing), one
//! quarter wait for a time an hour away (pending).

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use wasync::dashboard::ASSETS;
use wasync::store::postgres::PgStore;

#[path = "support/mod.rs"]
mod support;

use support::process::{Process, get, post, upload};

const DEFAULT_JOBS: u64 = 100_000;
const QUEUES: [&str; 4] = ["", "emails", "images", "reports"];
const LOADS: usize = 30;
const TARGET_MS: f64 = 300.0;

async fn fetch_text(client: &reqwest::Client, url: String) -> usize {
    let response = client.get(&url).send().await.expect("GET");
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.bytes().await.expect("body").len()
}

/// Puts `jobs` jobs in batches of 10,000: a quarter due in an hour, the
/// rest at once, one in ten of those failing.
async fn fill(client: &reqwest::Client, base: &str, jobs: u64) {
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let bodies: Vec<Value> = (0..jobs)
        .map(|i| {
            let queue = QUEUES[(i % 4) as usize];
            match i % 40 {
                0..=9 => json!({"module": "hello", "function": "hello", "queue": queue,
                                "begin_after": later}),
                10..=12 => json!({"module": "failing", "function": "typed_error",
                                  "args": ["x"], "queue": queue, "retry": "never"}),
                _ => json!({"module": "hello", "function": "add", "args": [i, 1], "queue": queue}),
            }
        })
        .collect();
    for batch in bodies.chunks(10_000) {
        post(
            client,
            &format!("{base}/v1/jobs/batch"),
            Value::from(batch.to_vec()),
        )
        .await;
    }
}

/// One overview load, as the browser makes it; returns its duration and
/// the bytes fetched.
async fn load_overview(client: &reqwest::Client, base: &str) -> (Duration, usize) {
    let started = Instant::now();
    let mut bytes = fetch_text(client, format!("{base}/")).await;
    for six in ASSETS.chunks(6) {
        let got = join_all(
            six.iter()
                .map(|a| fetch_text(client, format!("{base}/assets/{}", a.name))),
        )
        .await;
        bytes += got.iter().sum::<usize>();
    }
    let caller = get(client, &format!("{base}/v1/caller")).await;
    assert_eq!(caller["admin"], true);
    let activity = async {
        let activity = get(client, &format!("{base}/v1/activity?window=1h&buckets=12")).await;
        activity.to_string().len()
    };
    let dispatchers = async {
        let list = get(client, &format!("{base}/v1/dispatchers")).await;
        let alive: Vec<&Value> = list["dispatchers"]
            .as_array()
            .expect("dispatchers")
            .iter()
            .filter(|d| d.get("deactivated_at").is_none())
            .collect();
        let each = alive.iter().map(|d| async move {
            let id = d["id"].as_str().expect("id");
            let status = get(client, &format!("{base}/v1/dispatchers/{id}/status")).await;
            let counts = join_all(d["agents"].as_array().expect("agents").iter().map(|a| {
                let queue = a["queue"].as_str().expect("queue");
                let queue = if queue.is_empty() { "default" } else { queue };
                let url = format!(
                    "{base}/v1/jobs/count?dispatcher={id}&agent={}&queue={queue}&state=assigned,active",
                    a["name"].as_str().expect("name")
                );
                async move { get(client, &url).await.to_string().len() }
            }))
            .await;
            status.to_string().len() + counts.iter().sum::<usize>()
        });
        join_all(each).await.iter().sum::<usize>()
    };
    let (a, d) = tokio::join!(activity, dispatchers);
    bytes += a + d;
    (started.elapsed(), bytes)
}

async fn bench(database: Option<String>, jobs: u64) {
    let server = Process::start("serve", database.as_deref(), &[]);
    let base = server.url().to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(6)
        .build()
        .expect("client");
    for example in ["hello", "failing"] {
        upload(&client, &base, example).await;
    }
    for queue in &QUEUES[1..] {
        post(
            &client,
            &format!("{base}/v1/queues"),
            json!({"name": queue}),
        )
        .await;
    }
    let dispatcher = get(&client, &format!("{base}/v1/dispatchers")).await["dispatchers"][0]["id"]
        .as_str()
        .expect("the server's dispatcher")
        .to_owned();
    for queue in &QUEUES[1..] {
        let url = format!("{base}/v1/dispatchers/{dispatcher}/agents/{queue}/main");
        let response = client
            .put(&url)
            .json(&json!({"size": 3}))
            .send()
            .await
            .expect("PUT agent");
        assert!(response.status().is_success(), "agent for {queue}");
    }

    let started = Instant::now();
    fill(&client, &base, jobs).await;
    let put = started.elapsed();
    let runnable = (0..jobs).filter(|i| i % 40 >= 10).count() as u64;
    loop {
        let count = get(&client, &format!("{base}/v1/jobs/count?state=completed")).await;
        if count["count"].as_u64().unwrap_or(0) >= runnable {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let total = get(&client, &format!("{base}/v1/jobs/count")).await["count"]
        .as_u64()
        .unwrap_or(0);
    println!(
        "{total} jobs in the database (put in {:.1} s, run in {:.1} s)",
        put.as_secs_f64(),
        (started.elapsed() - put).as_secs_f64()
    );

    // A first load warms the connections and the database's caches.
    load_overview(&client, &base).await;
    let mut times = Vec::with_capacity(LOADS);
    let mut bytes = 0;
    for _ in 0..LOADS {
        let (took, size) = load_overview(&client, &base).await;
        times.push(took.as_secs_f64() * 1000.0);
        bytes = size;
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    let max = times[times.len() - 1];
    println!(
        "overview page load ({} requests, {:.0} KiB): median {median:.1} ms, p95 {p95:.1} ms, max {max:.1} ms over {LOADS} loads; target < {TARGET_MS:.0} ms: {}",
        ASSETS.len() + 5 + QUEUES.len(),
        bytes as f64 / 1024.0,
        if p95 < TARGET_MS { "met" } else { "NOT met" }
    );
    let activity = Instant::now();
    for _ in 0..LOADS {
        get(&client, &format!("{base}/v1/activity?window=1h&buckets=12")).await;
    }
    println!(
        "  of which GET /v1/activity alone: {:.1} ms a call",
        activity.elapsed().as_secs_f64() * 1000.0 / LOADS as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs = args
        .iter()
        .find_map(|a| a.parse::<u64>().ok())
        .unwrap_or(DEFAULT_JOBS);
    let postgres = args.iter().any(|a| a == "postgres");
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let mut schema = None;
    let database = if postgres {
        let base = std::env::var("WASYNC_TEST_PG").expect("WASYNC_TEST_PG for the postgres run");
        let name = format!("wasync_bench_dashboard_{}", std::process::id());
        let url = support::schema_url(&base, &name);
        schema = Some((base, name));
        Some(url)
    } else {
        None
    };
    println!(
        "dashboard: overview page load, {}, {jobs} jobs",
        if postgres { "PostgreSQL" } else { "SQLite" }
    );
    runtime.block_on(bench(database, jobs));
    if let Some((base, name)) = schema {
        let _ = runtime.block_on(PgStore::drop_schema(&base, &name));
    }
}
