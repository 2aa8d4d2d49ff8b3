//! The sandbox's outgoing HTTP, end to end: the `fetch` example job does a
//! `GET` over `wasi:http` against a server this test starts on 127.0.0.1.
//! The origin allowed for its queue answers; another origin, or the same
//! origin from another queue, fails in the guest with WASI's
//! `HTTP-request-denied`; every request is counted in the job's record.

use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Http, Server, ServerOptions, shared};

/// A server on 127.0.0.1 answering `GET /greeting`; returns its origin.
async fn start_origin() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/greeting", get(|| async { "hello from the origin" }))
        .route("/big", get(|| async { "x".repeat(64 * 1024) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

async fn run_fetch(http: &Http, queue: Option<&str>, url: &str) -> Value {
    let mut put = json!({"module": "fetch", "function": "get", "args": [url], "retry": "never"});
    if let Some(queue) = queue {
        put["queue"] = json!(queue);
    }
    let job = http.put_job_with(put).await;
    http.wait_completed(job["id"].as_str().unwrap()).await
}

async fn http_record(http: &Http, job: &Value) -> Value {
    let id = job["id"].as_str().unwrap();
    let shown = http.ok(&format!("/v1/jobs/{id}")).await;
    shown["annotations"]["wasync.http"].clone()
}

async fn outgoing_http_reaches_only_the_allowed_origin(backend: Backend) {
    let _machine = shared().await;
    let allowed = start_origin().await;
    let other = start_origin().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--allow-http".to_owned(), format!("fetch={allowed}")]),
    )
    .await;
    let http = server.http();
    http.upload_example("fetch").await;
    let (status, body) = http.post("/v1/queues", json!({"name": "fetch"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let dispatcher = http.dispatcher_id().await;
    let (status, body) = http
        .put(
            &format!("/v1/dispatchers/{dispatcher}/agents/fetch/main"),
            json!({"size": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let done = run_fetch(&http, Some("fetch"), &format!("{allowed}/greeting")).await;
    assert_eq!(
        done["result"],
        json!({"status": 200, "body": "hello from the origin"}),
        "{done}"
    );
    let record = http_record(&http, &done).await;
    assert_eq!(record["requests"], 1, "{record}");
    assert_eq!(record["denied"], 0, "{record}");
    assert_eq!(record["response_bytes"], 21, "{record}");

    for (queue, url) in [
        (Some("fetch"), format!("{other}/greeting")),
        (None, format!("{allowed}/greeting")),
    ] {
        let done = run_fetch(&http, queue, &url).await;
        let failure = &done["failure"];
        assert_eq!(failure["guest_kind"], "http-error", "{done}");
        assert!(
            failure["message"]
                .as_str()
                .unwrap()
                .contains("HttpRequestDenied"),
            "the guest sees WASI's denied error: {done}"
        );
        let detail = failure["detail"].as_str().unwrap();
        let origin = url.trim_end_matches("/greeting");
        assert!(
            detail.contains("the sandbox denied:")
                && detail.contains(&format!("wasi:http/outgoing-handler: GET {origin}")),
            "{detail}"
        );
        let record = http_record(&http, &done).await;
        assert_eq!(record["requests"], 0, "{record}");
        assert_eq!(record["denied"], 1, "{record}");
    }
}

/// An allowed request is still capped: its response body at
/// `--http-max-response`, its waits at `--http-timeout`.
async fn an_allowed_request_is_capped_in_size_and_time(backend: Backend) {
    let _machine = shared().await;
    let origin = start_origin().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args([
            "--allow-http",
            origin.as_str(),
            "--http-max-response",
            "1KiB",
            "--http-timeout",
            "500ms",
        ]),
    )
    .await;
    let http = server.http();
    http.upload_example("fetch").await;

    let done = run_fetch(&http, None, &format!("{origin}/big")).await;
    let failure = &done["failure"];
    assert_eq!(failure["guest_kind"], "http-error", "{done}");
    assert!(
        failure["message"].as_str().unwrap().contains("body size"),
        "{done}"
    );
    let record = http_record(&http, &done).await;
    assert_eq!(record["requests"], 1, "{record}");

    let started = std::time::Instant::now();
    let done = run_fetch(&http, None, &format!("{origin}/slow")).await;
    let failure = &done["failure"];
    assert_eq!(failure["guest_kind"], "http-error", "{done}");
    assert!(
        failure["message"].as_str().unwrap().contains("Timeout"),
        "{done}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the request was cut at its timeout, not the server's 5 s"
    );
}

crate::on_both_backends!(
    outgoing_http_reaches_only_the_allowed_origin,
    an_allowed_request_is_capped_in_size_and_time,
);

/// Upload compiles a component once per machine, off the API's threads,
/// and logs how long it took; the same bytes again are answered from the
/// cache, in memory and, after a restart, from the disk cache.
#[tokio::test]
async fn an_upload_compiles_once_and_the_next_is_answered_from_the_cache() {
    let _machine = shared().await;
    let dir = tempfile::tempdir().unwrap();
    let compiled = |log: &str| log.matches("component compiled").count();
    let from_disk = |log: &str| log.matches("component loaded from the disk cache").count();
    {
        let server = Server::start_with(ServerOptions::default().data_dir(dir.path())).await;
        let http = server.http();
        let first = http.upload_example("hello").await;
        let again = http.upload_example("hello").await;
        assert_eq!(first["digest"], again["digest"]);
        let log = server.log();
        assert_eq!(compiled(&log), 1, "{log}");
        assert!(
            log.contains("elapsed="),
            "the compile time is logged: {log}"
        );
    }
    let server = Server::start_with(ServerOptions::default().data_dir(dir.path())).await;
    server.http().upload_example("hello").await;
    let log = server.log();
    assert_eq!(
        from_disk(&log),
        1,
        "after a restart, from the disk cache: {log}"
    );
    assert_eq!(
        compiled(&log),
        1,
        "the log is appended to; no second compile: {log}"
    );
}
