//! Cancelling running jobs (issue 13): `POST /v1/jobs/{id}/cancel` on an
//! active job stops its guest — one computing forever or one sleeping in a
//! WASI clock wait — within a bounded time, in whatever process runs it,
//! and completes it with a `cancelled` failure that waiters and failure
//! callbacks see; the agent's slot is free again at once after.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::runs::id;
use crate::support::{Backend, Http, Server, ServerOptions, shared, wait_until};

/// How long a cancelled run may take to stop: the stop check's interval
/// and then some, on a busy machine.
const STOP_BOUND: Duration = Duration::from_secs(10);

async fn status(http: &Http, job: &str) -> String {
    http.ok(&format!("/v1/jobs/{job}")).await["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wait_active(http: &Http, job: &str) {
    wait_until("the job to run", || async {
        (status(http, job).await == "active").then_some(())
    })
    .await;
}

/// Cancels `job` (running) through `http` and checks its answer.
async fn cancel_running(http: &Http, job: &str) {
    let (code, cancelled) = http
        .post(&format!("/v1/jobs/{job}/cancel"), json!({}))
        .await;
    assert_eq!(code, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["failure"]["kind"], "cancelled", "{cancelled}");
    // Cancelling it again: it has completed.
    let (code, again) = http
        .post(&format!("/v1/jobs/{job}/cancel"), json!({}))
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{again}");
}

/// A job `hello.add` put now completes: the agent's one slot is free.
async fn slot_is_free(http: &Http) {
    let started = Instant::now();
    let probe = id(&http.put_job("hello", "add", json!([1, 2])).await);
    let done = http.wait_completed(&probe).await;
    assert_eq!(done["result"], 3, "{done}");
    assert!(
        started.elapsed() < STOP_BOUND,
        "the cancelled run held the slot for {:?}",
        started.elapsed()
    );
}

/// In one `serve` with a one-slot agent: a spinning guest and a sleeping
/// one, each cancelled while it runs; a waiter and a failure callback see
/// the `cancelled` failure; the slot is free again; the run is recorded.
async fn a_running_job_is_cancelled_and_its_guest_stopped(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--main-agent-size", "1"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hostile").await;
    http.upload_example("hello").await;
    for function in ["spin", "sleep_forever"] {
        let job = id(&http
            .put_job_with(json!({"module": "hostile", "function": function, "limits": {}}))
            .await);
        let (code, callback) = http
            .post(
                &format!("/v1/jobs/{job}/callbacks"),
                json!({"module": "hello", "function": "echo", "on": "failure"}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{callback}");
        wait_active(&http, &job).await;
        let waiter = {
            let http = http.clone();
            let job = job.clone();
            tokio::spawn(async move { http.ok(&format!("/v1/jobs/{job}/wait?timeout=60s")).await })
        };
        cancel_running(&http, &job).await;
        let seen: Value = waiter.await.unwrap();
        assert_eq!(seen["status"], "cancelled", "{seen}");
        assert_eq!(seen["failure"]["kind"], "cancelled", "{seen}");
        let echoed = http.wait_completed(&id(&callback)).await;
        assert_eq!(echoed["result"]["kind"], "cancelled", "{echoed}");
        slot_is_free(&http).await;
        // The stopped run is recorded with what it used.
        let runs = wait_until("the stopped run's record", || async {
            let shown = http.ok(&format!("/v1/jobs/{job}")).await;
            (shown["runs"].as_array().unwrap().len() == 1).then_some(shown)
        })
        .await;
        assert_eq!(runs["status"], "cancelled", "{runs}");
    }
}

/// A job running in a `wasync worker` is cancelled through the `serve`'s
/// API (another process sharing the database): the worker stops its run
/// (a notification on PostgreSQL, its stop check on SQLite) and takes
/// the next job.
async fn a_job_running_in_a_worker_is_cancelled_through_the_serves_api(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let server = Server::start_on_with(
        backend,
        ServerOptions::default()
            .database(&database)
            .args(["--no-dispatcher"]),
    )
    .await;
    let worker = Server::start_on_with(
        backend,
        ServerOptions::default()
            .command("worker")
            .database(&database)
            .args(["--main-agent-size", "1"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hostile").await;
    http.upload_example("hello").await;
    let job = id(&http
        .put_job_with(json!({"module": "hostile", "function": "sleep_forever", "limits": {}}))
        .await);
    wait_active(&http, &job).await;
    let shown = http.ok(&format!("/v1/jobs/{job}")).await;
    let worker_id = Server::kept_dispatcher_id(&worker.data_dir);
    assert_eq!(shown["dispatcher"], worker_id.as_str(), "{shown}");
    cancel_running(&http, &job).await;
    slot_is_free(&http).await;
    // Through the CLI too.
    let spin = id(&http
        .put_job_with(json!({"module": "hostile", "function": "spin", "limits": {}}))
        .await);
    wait_active(&http, &spin).await;
    let out = server.cli(&["cancel", &spin]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert!(crate::support::stdout(&out).contains("cancelled job"));
    slot_is_free(&http).await;
    drop(worker);
}

crate::on_both_backends!(
    a_running_job_is_cancelled_and_its_guest_stopped,
    a_job_running_in_a_worker_is_cancelled_through_the_serves_api,
);
