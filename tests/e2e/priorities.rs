//! Priorities over HTTP and the CLI: a put's `priority`, `PATCH` while
//! pending, `wasync put --priority` and `wasync update --priority`; the
//! queue lists and runs its due jobs highest priority first.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Server, ServerOptions, shared, stderr, stdout};

fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

/// With one slot and the queue paused while jobs are put, the jobs run one
/// at a time in priority order once it resumes.
async fn jobs_run_highest_priority_first(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--main-agent-size", "1"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hello").await;
    let (status, body) = http.post("/v1/queues/default/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let put = |priority: Option<i64>| {
        let http = http.clone();
        async move {
            let mut body = json!({"module": "hello", "function": "hello"});
            if let Some(p) = priority {
                body["priority"] = json!(p);
            }
            let (status, job) = http.post("/v1/jobs", body).await;
            assert_eq!(status, StatusCode::CREATED, "{job}");
            assert_eq!(job["priority"], priority.unwrap_or(0), "{job}");
            id(&job)
        }
    };
    let a = put(None).await;
    let b = put(Some(5)).await;
    let c = put(Some(-2)).await;
    let out = server.cli(&["put", "hello", "hello", "--priority", "3", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let d = id(&serde_json::from_str(&stdout(&out)).expect("the job as JSON"));
    let e = put(Some(0)).await;

    let (status, patched) = http
        .patch(&format!("/v1/jobs/{e}"), json!({"priority": 10}))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["priority"], 10);
    let out = server.cli(&["update", &a, "--priority", "7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["update", &c, "--priority", "-1"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Bad input: refused, and nothing changed. (The JSON body's errors
    // name the expected type, not yet the field: serde's message.)
    let (status, body) = http
        .patch(&format!("/v1/jobs/{b}"), json!({"priority": "high"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("i32"),
        "{body}"
    );
    let (status, body) = http
        .post(
            "/v1/jobs",
            json!({"module": "hello", "function": "hello", "priority": 1u64 << 40}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("i32"),
        "{body}"
    );
    let out = server.cli(&["put", "hello", "hello", "--priority", "soon"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--priority"), "{}", stderr(&out));

    let expected = [&e, &a, &b, &d, &c].map(|s| s.to_owned());
    let listed: Vec<String> = http.ok("/v1/queues/default/jobs").await["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(listed, expected, "listed highest priority first");

    let (status, body) = http.post("/v1/queues/default/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut started = Vec::new();
    for job in &expected {
        let done = http.wait_completed(job).await;
        assert_eq!(done["result"], "200 OK", "{done}");
        let at: DateTime<Utc> = done["started_at"].as_str().unwrap().parse().unwrap();
        started.push(at);
    }
    assert!(
        started.is_sorted(),
        "run one at a time in priority order: {expected:?} started at {started:?}"
    );
}

crate::on_both_backends!(jobs_run_highest_priority_first);
