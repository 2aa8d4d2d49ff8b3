//! Batch puts (issue 16): `POST /v1/jobs/batch` takes a JSON array or
//! NDJSON, puts all or nothing and answers the ids in order; a bad item,
//! an item a token may not put, or too many items store nothing and say
//! which; `wasync put --from FILE` sends a file in batches; `wasync bench`
//! runs and prints its figures.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Http, Server, ServerOptions, shared, stderr, stdout};

/// The most jobs a batch takes (`service::PUT_MANY_MAX`).
const PUT_MANY_MAX: usize = 10_000;

fn echo(i: usize) -> Value {
    json!({"module": "hello", "function": "echo", "args": [i]})
}

fn ids(answer: &Value) -> Vec<String> {
    answer["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no ids: {answer}"))
        .iter()
        .map(|id| id.as_str().expect("an id").to_owned())
        .collect()
}

/// How many jobs the server holds, whatever their status.
async fn job_count(http: &Http) -> u64 {
    http.ok("/v1/jobs/count").await["count"].as_u64().unwrap()
}

/// Each id answers the job of the item at its place, and each completes.
async fn assert_in_order_and_completed(http: &Http, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        let job = http.wait_completed(id).await;
        assert_eq!(job["result"], json!(i), "job {i}: {job}");
    }
}

/// A batch of 100 as a JSON array: 201 with 100 ids in the order given,
/// and every job runs.
async fn a_batch_is_put_and_completed_in_order(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let batch: Vec<Value> = (0..100).map(echo).collect();
    let (status, answer) = http.post("/v1/jobs/batch", json!(batch)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let ids = ids(&answer);
    assert_eq!(ids.len(), 100);
    assert_in_order_and_completed(&http, &ids).await;
    // Every job of the batch counts as put.
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let put = metrics
        .lines()
        .find_map(|line| line.strip_prefix("wasync_jobs_put_total{queue=\"default\"} "));
    assert_eq!(put, Some("100"), "{metrics}");
    // In one put transaction, timed as every put's is.
    let transactions = metrics.lines().find_map(|line| {
        line.strip_prefix("wasync_store_operation_seconds_count{operation=\"put\"} ")
    });
    assert_eq!(transactions, Some("1"), "{metrics}");
}

/// One job per line with `Content-Type: application/x-ndjson`, blank
/// lines skipped.
async fn ndjson_is_taken(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let lines: Vec<String> = (0..5).map(|i| echo(i).to_string()).collect();
    let body = format!("{}\n\n{}\n", lines[..2].join("\n"), lines[2..].join("\n"));
    let (status, answer) = http
        .post_typed("/v1/jobs/batch", "application/x-ndjson", body.into_bytes())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_in_order_and_completed(&http, &ids(&answer)).await;

    let (status, refused) = http
        .post_typed(
            "/v1/jobs/batch",
            "application/x-ndjson",
            format!("{}\n{{\"module\": \"hello\"}}\n", lines[0]).into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("item 1 (line 2):"), "{message}");
    assert!(message.contains("function"), "{message}");
}

/// One bad item stores nothing; the answer names its index, with the
/// status a single put of it would get; a batch with callbacks is
/// refused, saying to put such a job alone.
async fn a_bad_item_stores_nothing_and_is_named(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let before = job_count(&http).await;

    let mut batch: Vec<Value> = (0..10).map(echo).collect();
    batch[7]["args"] = json!("not an array");
    let (status, refused) = http.post("/v1/jobs/batch", json!(batch)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("item 7: `args` must be"), "{message}");

    batch[7] = json!({"module": "no-such-module", "function": "hello"});
    let (status, refused) = http.post("/v1/jobs/batch", json!(batch)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("item 7: "), "{message}");
    assert!(message.contains("no-such-module"), "{message}");

    batch[7] =
        json!({"module": "hello", "function": "hello", "callbacks": [{"function": "hello"}]});
    let (status, refused) = http.post("/v1/jobs/batch", json!(batch)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("item 7: a batch takes no `callbacks`"),
        "{message}"
    );

    let (status, refused) = http
        .post("/v1/jobs/batch", json!({"module": "hello"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        job_count(&http).await,
        before,
        "a refused batch stored jobs"
    );
}

/// Past the maximum: 413 naming it, nothing stored, as an array and as
/// NDJSON; a queue's pending cap refuses a batch that does not fit whole.
async fn too_many_are_refused(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let job = json!({"module": "hello", "function": "hello"});
    let (status, refused) = http
        .post("/v1/jobs/batch", json!(vec![&job; PUT_MANY_MAX + 1]))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert_eq!(refused["error"]["code"], "payload_too_large");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 10000 jobs"), "{message}");
    let lines = vec![job.to_string(); PUT_MANY_MAX + 1].join("\n");
    let (status, _) = http
        .post_typed("/v1/jobs/batch", "application/x-ndjson", lines.into_bytes())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(job_count(&http).await, 0);

    http.post("/v1/queues", json!({"name": "held"})).await;
    let (code, _) = http
        .put("/v1/queues/held/caps", json!({"pending_cap": 3}))
        .await;
    assert_eq!(code, StatusCode::OK);
    let held = json!({"module": "hello", "function": "hello", "queue": "held"});
    let (status, refused) = http
        .post("/v1/jobs/batch", json!([&job, &held, &held, &held, &held]))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("item 1: queue `held`"), "{message}");
    assert!(
        message.contains("pending cap is 3 (this batch puts 4 there)"),
        "{message}"
    );
    assert_eq!(job_count(&http).await, 0);
    let (status, answer) = http
        .post("/v1/jobs/batch", json!([&job, &held, &held, &held]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// A token with `put` on queue `a` only: a batch with one item for `b`
/// is refused (403 naming the item, the scope and the queue) and stores
/// nothing; a batch all for `a` is put.
async fn a_token_needs_put_on_every_items_queue(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--token", "the-admin"]),
    )
    .await;
    let admin = server.http();
    admin.upload_example("hello").await;
    for queue in ["a", "b"] {
        let (status, body) = admin.post("/v1/queues", json!({"name": queue})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, created) = admin
        .post(
            "/v1/tokens",
            json!({"name": "tenant", "queues": ["a"], "scopes": ["put", "read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let tenant = Http::new(&server.url, created["secret"].as_str().map(str::to_owned));
    let in_queue = |queue: &str| json!({"module": "hello", "function": "hello", "queue": queue});

    let (status, refused) = tenant
        .post(
            "/v1/jobs/batch",
            json!([in_queue("a"), in_queue("a"), in_queue("b")]),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("item 2: "), "{message}");
    assert!(message.contains("`put` scope on queue `b`"), "{message}");
    assert_eq!(job_count(&admin).await, 0);

    let (status, answer) = tenant
        .post("/v1/jobs/batch", json!([in_queue("a"), in_queue("a")]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(ids(&answer).len(), 2);
}

/// `wasync put --from FILE` (NDJSON, and a JSON array on standard input)
/// in batches smaller than the file: the ids in the file's order; a bad
/// job stops it with exit 2, naming the job's place in the file.
async fn put_from_a_file(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.ndjson");
    let lines: Vec<String> = (0..25).map(|i| echo(i).to_string()).collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = server.cli(&[
        "put",
        "--from",
        file.to_str().unwrap(),
        "--batch-size",
        "10",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(printed.len(), 25, "{}", stdout(&out));
    assert_in_order_and_completed(&http, &printed).await;

    let array = json!((0..3).map(echo).collect::<Vec<_>>()).to_string();
    let out = cli_with_stdin(&server, &["put", "--from", "-"], &array);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_in_order_and_completed(&http, &printed).await;

    let mut bad = lines.clone();
    bad[13] = json!({"module": "hello", "function": "echo", "args": 5}).to_string();
    std::fs::write(&file, bad.join("\n")).unwrap();
    let before = job_count(&http).await;
    let out = server.cli(&[
        "put",
        "--from",
        file.to_str().unwrap(),
        "--batch-size",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let message = stderr(&out);
    assert!(message.contains("jobs 10–19 was refused"), "{message}");
    assert!(message.contains("job 13: `args` must be"), "{message}");
    assert!(
        message.contains("the 10 jobs before it were put"),
        "{message}"
    );
    assert_eq!(stdout(&out).lines().count(), 10);
    assert_eq!(job_count(&http).await, before + 10);
}

fn cli_with_stdin(server: &Server, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(crate::support::WASYNC)
        .args(["--server", &server.url])
        .args(args)
        .env_remove("WASYNC_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the wasync CLI");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

crate::on_both_backends!(
    a_batch_is_put_and_completed_in_order,
    ndjson_is_taken,
    a_bad_item_stores_nothing_and_is_named,
    too_many_are_refused,
    a_token_needs_put_on_every_items_queue,
    put_from_a_file,
);

/// `wasync bench` with a tiny load starts its own server, runs every
/// phase and prints its figures.
#[tokio::test]
async fn bench_runs_with_a_tiny_load() {
    let _machine = shared().await;
    let hello = wasync_example_components::path("hello");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::support::WASYNC)
            .args([
                "bench",
                "--jobs",
                "50",
                "--connections",
                "4",
                "--batch-size",
                "20",
            ])
            .args(["--latency-samples", "5", "--json", "--module"])
            .arg(hello)
            .output()
            .expect("run wasync bench")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let figures: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)));
    for phase in ["single", "batch"] {
        assert_eq!(figures[phase]["jobs"], 50, "{figures}");
        assert!(
            figures[phase]["puts_per_sec"].as_f64().unwrap() > 0.0,
            "{figures}"
        );
        assert!(
            figures[phase]["processed_per_sec"].as_f64().unwrap() > 0.0,
            "{figures}"
        );
    }
    assert_eq!(figures["latency_ms"]["samples"], 5, "{figures}");
    assert!(
        figures["latency_ms"]["http"]["p50"].as_f64().unwrap() > 0.0,
        "{figures}"
    );
    assert!(
        figures["rss_peak_bytes"].as_u64().unwrap() > 1 << 20,
        "{figures}"
    );
    assert_eq!(figures["failed"], 0, "{figures}");
}
