//! zc.async's usage document (`/work/shared/seeds/zc.async-usage.txt`), in
//! its order, with WebAssembly jobs on a real `wasync serve`: what each
//! doctest shows, over HTTP, through the CLI, and from inside jobs. Each
//! numbered point of the issue is one test; the configuration document's
//! quota list (point 8) and agent choosers (point 9) follow at the end.
//!
//! Each test runs on SQLite and, when `WASYNC_TEST_PG` is set, on
//! PostgreSQL (`sqlite::usage_…`, `postgres::usage_…`).
//!
//! One file per group, declared here in the document's order; the shared
//! helpers are below.

mod agents;
mod arguments;
mod callbacks;
mod failures;
mod quotas;
mod returning;
mod scheduled;

pub(crate) use reqwest::StatusCode;
pub(crate) use serde_json::{Value, json};

pub(crate) use crate::support::{
    Backend, Http, Server, ServerOptions, shared, stderr, stdout, wait_until,
};

pub(crate) fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

pub(crate) async fn job(http: &Http, id: &str) -> Value {
    http.ok(&format!("/v1/jobs/{id}")).await
}

/// Waits until the job has `status` and returns it.
pub(crate) async fn wait_status(http: &Http, id: &str, status: &str) -> Value {
    wait_until(&format!("job {id} to be {status}"), || async {
        let job = job(http, id).await;
        (job["status"] == status).then_some(job)
    })
    .await
}

pub(crate) async fn patch(http: &Http, id: &str, body: Value) -> (StatusCode, Value) {
    http.patch(&format!("/v1/jobs/{id}"), body).await
}

pub(crate) async fn annotate(http: &Http, id: &str, name: &str, value: Value) {
    let (status, body) = http
        .put(&format!("/v1/jobs/{id}/annotations/{name}"), value)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

pub(crate) async fn create_queue(http: &Http, name: &str) {
    let (status, body) = http.post("/v1/queues", json!({ "name": name })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Gives dispatcher `dispatcher` an agent in `queue` (`body` as the API
/// takes it).
pub(crate) async fn set_agent(http: &Http, dispatcher: &str, queue: &str, name: &str, body: Value) {
    let (status, agent) = http
        .put(
            &format!("/v1/dispatchers/{dispatcher}/agents/{queue}/{name}"),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
}

pub(crate) fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// A job of the `annotate` example that runs until annotation `go` is set
/// on it (or a minute passes) and returns that annotation's value.
pub(crate) fn blocking(queue: &str, quotas: &[&str]) -> Value {
    json!({
        "module": "annotate", "function": "wait_for", "queue": queue,
        "args": ["go", 60_000, "timed out", null], "quota_names": quotas,
    })
}
