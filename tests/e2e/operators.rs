//! What operators do, end to end over HTTP and through the CLI, on a real
//! `wasync serve` with real components:
//! cancel, pause and resume per queue and per dispatcher, named jobs,
//! removal of finished jobs by status, and retention by age (moving the
//! server's clock) and by count.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{Backend, Http, Server, ServerOptions, shared, stderr, stdout, wait_until};

crate::on_both_backends!(
    cancelled_jobs_never_run_over_http_and_cli,
    paused_queues_and_dispatchers_claim_nothing_until_resumed,
    named_jobs_put_by_name_over_http_and_cli,
    remove_jobs_reports_counts_per_status,
    retention_deletes_finished_jobs_by_age_and_by_count,
);

fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

async fn status_of(http: &Http, id: &str) -> Value {
    http.ok(&format!("/v1/jobs/{id}")).await["status"].clone()
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// A job that waits until tomorrow: it stays pending.
fn tomorrow() -> Value {
    let at = chrono::Utc::now() + chrono::Duration::days(1);
    json!({"module": "hello", "function": "hello", "begin_after": at.to_rfc3339()})
}

/// The server's clock, moved by the test (`WASYNC_CLOCK_FILE`).
struct Clock {
    path: PathBuf,
    _dir: TempDir,
}

impl Clock {
    fn new() -> Clock {
        let dir = tempfile::tempdir().unwrap();
        Clock {
            path: dir.path().join("clock"),
            _dir: dir,
        }
    }

    fn advance_hours(&self, hours: i64) {
        wasync::clock::OffsetFileClock::write_offset(&self.path, hours * 3_600_000).unwrap();
    }

    fn env(&self) -> (String, String) {
        (
            "WASYNC_CLOCK_FILE".to_owned(),
            self.path.display().to_string(),
        )
    }
}

/// Cancel: a queued job becomes `cancelled` (terminal: `wait` returns it)
/// and never runs; a job already run cannot be cancelled (409 naming its
/// status; the CLI exits 2).
async fn cancelled_jobs_never_run_over_http_and_cli(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;

    let by_http = id(&http.put_job_with(tomorrow()).await);
    let by_cli = id(&http.put_job_with(tomorrow()).await);
    let (status, job) = http
        .post(&format!("/v1/jobs/{by_http}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "cancelled");
    assert_eq!(job["failure"]["kind"], "cancelled");
    let out = server.cli(&["cancel", &by_cli]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("cancelled job"), "{}", stdout(&out));
    let waited = http
        .ok(&format!("/v1/jobs/{by_cli}/wait?timeout=30s"))
        .await;
    assert_eq!(
        waited["status"], "cancelled",
        "cancelled is final: {waited}"
    );

    // They are out of the queue; later work runs past them.
    let queue = http.ok("/v1/queues/default/jobs").await;
    assert_eq!(queue["jobs"].as_array().unwrap().len(), 0, "{queue}");
    let done = http.put_job("hello", "hello", json!([])).await;
    let done = http.wait_completed(&id(&done)).await;
    for cancelled in [&by_http, &by_cli] {
        let job = http.ok(&format!("/v1/jobs/{cancelled}")).await;
        assert_eq!(
            (job["status"].as_str(), job["attempts"].as_u64()),
            (Some("cancelled"), Some(0))
        );
    }

    let (status, body) = http
        .post(&format!("/v1/jobs/{}/cancel", id(&done)), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_message(&body).contains("is completed"), "{body}");
    let out = server.cli(&["cancel", &id(&done)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is completed"), "{}", stderr(&out));
    let (status, _) = http
        .post(
            &format!("/v1/jobs/{}/cancel", uuid::Uuid::now_v7()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// m01.remote's `stopProcessor` / `startProcessor` / `isProcessing`: a
/// paused queue is not claimed from, a paused dispatcher claims nothing;
/// resuming runs what waited, at once.
async fn paused_queues_and_dispatchers_claim_nothing_until_resumed(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let dispatcher = http.dispatcher_id().await;

    // The queue, paused over HTTP, resumed with the CLI.
    let (status, body) = http.post("/v1/queues/default/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["processing"], false);
    let held = id(&http.put_job("hello", "hello", json!([])).await);
    // Three poll intervals (200 ms each) pass: it is still waiting.
    let waited = http
        .ok(&format!("/v1/jobs/{held}/wait?timeout=600ms"))
        .await;
    assert_eq!(waited["status"], "pending", "{waited}");
    let processing = http.ok("/v1/queues/default/processing").await;
    assert_eq!(processing["processing"], false);
    let listed = http.ok("/v1/processing").await;
    assert_eq!(listed["paused_queues"][0]["queue"], "", "{listed}");
    let out = server.cli(&["processing"]);
    assert!(stdout(&out).contains("queue"), "{}", stdout(&out));
    let out = server.cli(&["resume", "queue", "default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(http.wait_completed(&held).await["result"], "200 OK");
    assert_eq!(
        http.ok("/v1/queues/default/processing").await["processing"],
        true
    );

    // The dispatcher, paused with the CLI, resumed over HTTP.
    let out = server.cli(&["pause", "dispatcher", &dispatcher]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("paused dispatcher"),
        "{}",
        stdout(&out)
    );
    let held = id(&http.put_job("hello", "hello", json!([])).await);
    let waited = http
        .ok(&format!("/v1/jobs/{held}/wait?timeout=600ms"))
        .await;
    assert_eq!(waited["status"], "pending", "{waited}");
    let status = http
        .ok(&format!("/v1/dispatchers/{dispatcher}/status"))
        .await;
    assert_eq!(status["paused"], true, "{status}");
    let (code, body) = http
        .post(&format!("/v1/dispatchers/{dispatcher}/resume"), json!({}))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(http.wait_completed(&held).await["result"], "200 OK");

    // Unknown targets are named.
    let (code, body) = http.post("/v1/queues/nope/pause", json!({})).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(error_message(&body).contains("queue `nope`"), "{body}");
    let out = server.cli(&["pause", "dispatcher", "not-a-uuid"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

/// m01.remote's job factories: register `echo` for a module's function,
/// then `addJob('echo', input)`; without input the name's default
/// arguments are used; an unknown name is an error naming it.
async fn named_jobs_put_by_name_over_http_and_cli(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;

    let (status, named) = http
        .put(
            "/v1/job-names/echo",
            json!({"module": "hello", "function": "echo", "args": ["default input"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{named}");
    assert_eq!(named["function"], "echo");
    let (status, job) = http
        .post("/v1/job-names/echo/jobs", json!({"args": [{"n": 1}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["function"], "echo");
    assert_eq!(
        http.wait_completed(&id(&job)).await["result"],
        json!({"n": 1})
    );
    let (_, job) = http.post("/v1/job-names/echo/jobs", json!(null)).await;
    assert_eq!(
        http.wait_completed(&id(&job)).await["result"],
        "default input"
    );

    let out = server.cli(&["names", "set", "add", "hello", "add", "--args", "[1, 1]"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["names", "put", "add", "[2, 3]"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let put = stdout(&out).trim().to_owned();
    assert_eq!(http.wait_completed(&put).await["result"], 5);
    let out = server.cli(&["names", "list"]);
    let listed = stdout(&out);
    assert!(
        listed.contains("add") && listed.contains("hello:echo"),
        "{listed}"
    );

    let (status, body) = http.post("/v1/job-names/nope/jobs", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_message(&body).contains("job name `nope`"), "{body}");
    let out = server.cli(&["names", "put", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("job name `nope`"), "{}", stderr(&out));
    let (status, body) = http
        .put(
            "/v1/job-names/bad",
            json!({"module": "missing", "function": "f"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let out = server.cli(&["names", "delete", "add"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (status, _) = http.get("/v1/job-names/add").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// m01.remote's `removeJobs`: finished jobs go by status, with a count per
/// status; jobs still to run stay; a status that is not finished is
/// refused, naming it.
async fn remove_jobs_reports_counts_per_status(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    http.upload_example("failing").await;

    let mut succeeded = Vec::new();
    for _ in 0..2 {
        let job = http.put_job("hello", "hello", json!([])).await;
        succeeded.push(id(&http.wait_completed(&id(&job)).await));
    }
    let failed = http.put_job("failing", "typed_error", json!(["x"])).await;
    let failed = id(&http.wait_completed(&id(&failed)).await);
    let cancelled = id(&http.put_job_with(tomorrow()).await);
    http.post(&format!("/v1/jobs/{cancelled}/cancel"), json!({}))
        .await;
    let waiting = id(&http.put_job_with(tomorrow()).await);

    let (status, body) = http
        .post("/v1/jobs/remove", json!({"statuses": ["failed"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"removed": {"failed": 1}}));
    assert_eq!(
        http.get(&format!("/v1/jobs/{failed}")).await.0,
        StatusCode::NOT_FOUND
    );

    let (status, body) = http
        .post("/v1/jobs/remove", json!({"statuses": ["pending"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&body).contains("can't remove jobs with status pending"),
        "{body}"
    );
    let out = server.cli(&["remove-jobs", "--status", "active"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("status active"), "{}", stderr(&out));

    // The default: completed and cancelled.
    let out = server.cli(&["--json", "remove-jobs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report, json!({"removed": {"completed": 2, "cancelled": 1}}));
    for gone in succeeded.iter().chain([&cancelled]) {
        assert_eq!(
            http.get(&format!("/v1/jobs/{gone}")).await.0,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(status_of(&http, &waiting).await, "pending");
}

/// Retention: a server keeping finished jobs one hour deletes them once
/// its clock passes that hour (and not before); a server keeping three
/// keeps the latest three.
async fn retention_deletes_finished_jobs_by_age_and_by_count(backend: Backend) {
    let _machine = shared().await;
    let clock = Clock::new();
    let mut options =
        ServerOptions::default().args(["--retain-for", "1h", "--retention-interval", "50ms"]);
    options.env.push(clock.env());
    let server = Server::start_on_with(backend, options).await;
    let http = server.http();
    http.upload_example("hello").await;
    let done = http.put_job("hello", "hello", json!([])).await;
    let done = id(&http.wait_completed(&id(&done)).await);
    let waiting = id(&http.put_job_with(tomorrow()).await);
    // Many retention rounds pass (50 ms each): an hour has not.
    let kept = http
        .ok(&format!("/v1/jobs/{waiting}/wait?timeout=300ms"))
        .await;
    assert_eq!(kept["status"], "pending");
    assert_eq!(status_of(&http, &done).await, "completed");
    clock.advance_hours(2);
    wait_until("the old job to be deleted", || async {
        (http.get(&format!("/v1/jobs/{done}")).await.0 == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    assert_eq!(
        status_of(&http, &waiting).await,
        "pending",
        "unfinished jobs stay"
    );
    drop(server);

    let options =
        ServerOptions::default().args(["--retain-count", "3", "--retention-interval", "50ms"]);
    let server = Server::start_on_with(backend, options).await;
    let http = server.http();
    http.upload_example("hello").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let job = http.put_job("hello", "echo", json!([n])).await;
        ids.push(id(&http.wait_completed(&id(&job)).await));
    }
    wait_until("all but the latest three to be deleted", || async {
        let count = http.ok("/v1/jobs/count?state=completed").await["count"].clone();
        (count == 3).then_some(())
    })
    .await;
    for (n, job) in ids.iter().enumerate() {
        let expected = if n < 2 {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(
            http.get(&format!("/v1/jobs/{job}")).await.0,
            expected,
            "job {n}"
        );
    }
}
