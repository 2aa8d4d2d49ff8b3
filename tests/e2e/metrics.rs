//! Prometheus metrics: `GET /metrics` of a server after a known workload,
//! and a worker's `--metrics-listen`, scraped as Prometheus would.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Backend, Server, ServerOptions, shared, wait_until};

/// A scrape: every sample, `name{labels}` → value, as written.
#[derive(Debug)]
struct Scrape {
    samples: BTreeMap<String, f64>,
    text: String,
}

impl Scrape {
    /// The value of `series` (`name` or `name{labels}`), 0 when absent (a
    /// counter never incremented is not written).
    fn value(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    fn has(&self, series: &str) -> bool {
        self.samples.contains_key(series)
    }
}

/// Scrapes `url` (with `token`, if any): the status and the samples.
async fn scrape(url: &str, token: Option<&str>) -> (StatusCode, Option<Scrape>) {
    let request = reqwest::Client::new().get(url);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request
        .send()
        .await
        .expect("the scrape reaches the process");
    let status = response.status();
    if !status.is_success() {
        return (status, None);
    }
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("a body");
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect();
    (status, Some(Scrape { samples, text }))
}

async fn metrics_of(server: &Server) -> Scrape {
    let (status, scrape) = scrape(&format!("{}/metrics", server.url), None).await;
    assert_eq!(status, StatusCode::OK);
    scrape.expect("samples")
}

/// Five `hello` jobs and two failing ones (a panic, a typed error) are
/// counted: puts, starts, completions by outcome, failures by kind, the
/// wait and run histograms' samples, instantiations, the compiled cache,
/// the jobs by status, the dispatcher's liveness.
async fn a_known_workload_is_counted(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    http.upload_example("failing").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(http.put_job("hello", "hello", json!([])).await);
    }
    ids.push(http.put_job("failing", "panics", json!(["boom"])).await);
    ids.push(http.put_job("failing", "typed_error", json!(["x"])).await);
    for job in &ids {
        http.wait_completed(job["id"].as_str().unwrap()).await;
    }
    // A run's end is counted once its outcome is written, just after its
    // waiters are woken.
    let q = "{queue=\"default\"}";
    let succeeded = "wasync_jobs_completed_total{queue=\"default\",outcome=\"succeeded\"}";
    let failed = "wasync_jobs_completed_total{queue=\"default\",outcome=\"failed\"}";
    let m = wait_until("every completion counted", || async {
        let m = metrics_of(&server).await;
        (m.value(succeeded) + m.value(failed) == 7.0).then_some(m)
    })
    .await;
    assert_eq!(m.value(succeeded), 5.0, "{}", m.text);
    assert_eq!(m.value(failed), 2.0, "{}", m.text);
    assert_eq!(m.value(&format!("wasync_jobs_put_total{q}")), 7.0);
    assert_eq!(m.value(&format!("wasync_jobs_started_total{q}")), 7.0);
    let panic = "wasync_job_failures_total{queue=\"default\",kind=\"panic\"}";
    let guest = "wasync_job_failures_total{queue=\"default\",kind=\"guest-error\"}";
    assert_eq!(m.value(panic), 1.0, "{}", m.text);
    assert_eq!(m.value(guest), 1.0, "{}", m.text);
    assert_eq!(m.value(&format!("wasync_job_wait_seconds_count{q}")), 7.0);
    assert_eq!(m.value(&format!("wasync_job_run_seconds_count{q}")), 7.0);
    let inf = "wasync_job_run_seconds_bucket{le=\"+Inf\",queue=\"default\"}";
    assert_eq!(m.value(inf), 7.0, "{}", m.text);
    assert!(m.value(&format!("wasync_job_fuel_total{q}")) > 0.0);
    assert_eq!(m.value(&format!("wasync_claim_batch_size_sum{q}")), 7.0);
    assert!(m.value(&format!("wasync_claim_batch_size_count{q}")) >= 1.0);
    assert_eq!(m.value("wasync_guest_instantiations_total"), 7.0);
    // Each upload compiled its module; every run found it in memory.
    assert_eq!(m.value("wasync_component_cache_misses_total"), 2.0);
    let memory = "wasync_component_cache_hits_total{tier=\"memory\"}";
    assert_eq!(m.value(memory), 7.0, "{}", m.text);
    let completed = "wasync_jobs{queue=\"default\",status=\"completed\"}";
    assert_eq!(m.value(completed), 7.0, "{}", m.text);
    assert!(!m.has("wasync_jobs{queue=\"default\",status=\"pending\"}"));
    assert_eq!(m.value("wasync_dispatcher_up"), 1.0);
    assert!(m.has("wasync_dispatcher_last_ping_age_seconds"));
    let puts = "wasync_store_operation_seconds_count{operation=\"put\"}";
    assert!(m.value(puts) >= 1.0, "{}", m.text);

    // Gauges follow the database: a job waiting in a queue no agent serves.
    let (status, body) = http.post("/v1/queues", json!({"name": "later"})).await;
    assert!(status.is_success(), "{body}");
    http.put_job_with(
        json!({"module": "hello", "function": "hello", "args": [], "queue": "later"}),
    )
    .await;
    let m = metrics_of(&server).await;
    assert_eq!(
        m.value("wasync_jobs{queue=\"later\",status=\"pending\"}"),
        1.0,
        "{}",
        m.text
    );
    assert_eq!(m.value("wasync_jobs_put_total{queue=\"later\"}"), 1.0);
}

/// A worker, which has no API, serves its own metrics on
/// `--metrics-listen`: what it ran, without the database's counts.
async fn a_worker_serves_its_metrics(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let server = Server::start_on_with(
        backend,
        ServerOptions::default()
            .database(&database)
            .args(["--no-dispatcher"]),
    )
    .await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let address = format!("127.0.0.1:{port}");
    let _worker = Server::start_on_with(
        backend,
        ServerOptions::default()
            .command("worker")
            .database(&database)
            .args(["--metrics-listen", address.as_str()]),
    )
    .await;
    let http = server.http();
    http.upload_example("hello").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(http.put_job("hello", "hello", json!([])).await);
    }
    for job in &ids {
        http.wait_completed(job["id"].as_str().unwrap()).await;
    }
    let url = format!("http://{address}/metrics");
    let succeeded = "wasync_jobs_completed_total{queue=\"default\",outcome=\"succeeded\"}";
    let m = wait_until("the worker's completions counted", || async {
        let (_, scrape) = scrape(&url, None).await;
        scrape.filter(|m| m.value(succeeded) == 3.0)
    })
    .await;
    assert_eq!(m.value("wasync_jobs_started_total{queue=\"default\"}"), 3.0);
    assert_eq!(m.value("wasync_guest_instantiations_total"), 3.0);
    assert_eq!(m.value("wasync_dispatcher_up"), 1.0);
    // The worker compiled (or loaded) the module itself: it put nothing.
    assert_eq!(m.value("wasync_jobs_put_total{queue=\"default\"}"), 0.0);
    assert!(!m.text.contains("wasync_jobs{"), "{}", m.text);
    // The server ran nothing: its dispatcher is off.
    let s = metrics_of(&server).await;
    assert_eq!(s.value("wasync_jobs_put_total{queue=\"default\"}"), 3.0);
    assert_eq!(s.value("wasync_jobs_started_total{queue=\"default\"}"), 0.0);
    assert_eq!(s.value("wasync_dispatcher_up"), 0.0);
    assert_eq!(
        s.value("wasync_jobs{queue=\"default\",status=\"completed\"}"),
        3.0
    );
}

crate::on_both_backends!(a_known_workload_is_counted, a_worker_serves_its_metrics);

/// With a token, the metrics are the admin's: a scraper without it is
/// refused, as one with a scoped token.
#[tokio::test]
async fn metrics_need_the_admin_token_when_the_server_has_one() {
    let _machine = shared().await;
    let server =
        Server::start_with(ServerOptions::default().args(["--token", "scrape-secret"])).await;
    let url = format!("{}/metrics", server.url);
    let (status, _) = scrape(&url, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, scrape_ok) = scrape(&url, Some("scrape-secret")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(scrape_ok.unwrap().has("wasync_dispatcher_up"));
    let (status, token) = server
        .http()
        .post(
            "/v1/tokens",
            json!({"name": "reader", "queues": ["*"], "scopes": ["read"]}),
        )
        .await;
    assert!(status.is_success(), "{token}");
    let secret = token["secret"].as_str().expect("a secret");
    let (status, _) = scrape(&url, Some(secret)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
