//! The HTTP API: the happy path, every error case, and the bearer token.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Http, Server, ServerOptions, shared};

async fn upload_put_wait_and_read_the_result_over_http(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    let module = http.upload_example("hello").await;
    assert_eq!(module["name"], "hello");
    assert!(module["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(
        module["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("run:")),
        "{module}"
    );

    let job = http.put_job("hello", "hello", json!([])).await;
    // An idle dispatcher with a free slot: started in its put's commit.
    assert_eq!(job["status"], "active", "{job}");
    assert_eq!(job["queue"], "");
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["result"], "200 OK");
    assert_eq!(done["attempts"], 1);
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());
    assert!(done["dispatcher"].is_string());
    assert_eq!(done["agent"], "main");

    // The same job, shown: with its annotations (none).
    let shown = http
        .ok(&format!("/v1/jobs/{}", job["id"].as_str().unwrap()))
        .await;
    assert_eq!(shown["result"], "200 OK");
    assert_eq!(shown["annotations"], json!({}));

    // By digest too, with named arguments, into a queue's own route.
    let digest = module["digest"].as_str().unwrap();
    let (status, job) = http
        .post(
            "/v1/queues/default/jobs",
            json!({"module": digest, "function": "add", "args": {"a": 2, "b": 40}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["result"], 42);

    // Listing: the two jobs, oldest first, filtered by status.
    let page = http.ok("/v1/jobs?status=completed&limit=10").await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2);
    let modules = http.ok("/v1/modules").await;
    assert_eq!(modules["modules"].as_array().unwrap().len(), 1);
}

async fn a_failure_says_what_went_wrong(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("failing").await;
    let job = http
        .put_job("failing", "panics", json!(["the disk is on fire"]))
        .await;
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    let failure = &done["failure"];
    assert_eq!(failure["kind"], "panic", "{done}");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("the disk is on fire"),
        "{failure}"
    );
    assert!(
        failure["detail"].as_str().unwrap().contains("panics"),
        "backtrace names the function: {failure}"
    );
    assert!(done.get("result").is_none());

    let job = http.put_job("failing", "typed_error", json!(["x"])).await;
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["failure"]["kind"], "guest-error", "{done}");
    assert!(
        done["failure"]["guest_kind"]
            .as_str()
            .unwrap()
            .contains("NotFound"),
        "{done}"
    );
}

/// Every error case answers its status and a JSON error body, and a normal
/// request right after succeeds.
async fn every_error_answers_json_and_the_server_keeps_serving(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--upload-limit", "200KiB"]),
    )
    .await;
    let http = server.http();
    let hello = wasync_example_components::bytes("hello");
    assert!(
        hello.len() > 200 << 10,
        "hello is big enough to test the limit"
    );
    let spin = wasync_example_components::bytes("spin");
    assert!(spin.len() <= 200 << 10, "spin fits under the limit");
    let (status, _) = http.post_bytes("/v1/modules?name=spin", spin).await;
    assert_eq!(status, StatusCode::CREATED);

    let unknown_job = "01936f3e-0000-7000-8000-000000000000";
    let core_module = wat::parse_str("(module (func (export \"run\")))").unwrap();
    let spin_job = |extra: Value| {
        let mut body = json!({"module": "spin", "function": "spin"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    http.post("/v1/queues", json!({"name": "twice"})).await;

    use StatusCode as S;
    let bad = |what, answer| expect_error(&http, what, S::BAD_REQUEST, "bad_request", answer);
    bad(
        "malformed JSON",
        http.post_bytes("/v1/jobs", b"{\"module\": ".to_vec()).await,
    )
    .await;
    bad(
        "args neither array nor object",
        http.post("/v1/jobs", spin_job(json!({"args": 5}))).await,
    )
    .await;
    bad(
        "an unknown field",
        http.post("/v1/jobs", spin_job(json!({"colour": "red"})))
            .await,
    )
    .await;
    bad("a bad job id", http.get("/v1/jobs/not-a-uuid").await).await;
    bad(
        "a bad status filter",
        http.get("/v1/jobs?status=running").await,
    )
    .await;
    bad(
        "an invalid queue name",
        http.post("/v1/queues", json!({"name": "a b"})).await,
    )
    .await;
    let missing = |what, answer| expect_error(&http, what, S::NOT_FOUND, "not_found", answer);
    missing(
        "an unknown job",
        http.get(&format!("/v1/jobs/{unknown_job}")).await,
    )
    .await;
    missing(
        "an unknown module",
        http.post("/v1/jobs", json!({"module": "nope", "function": "f"}))
            .await,
    )
    .await;
    missing(
        "an unknown queue",
        http.post("/v1/queues/nope/jobs", spin_job(json!({}))).await,
    )
    .await;
    missing("an unknown route", http.get("/v1/nothing-here").await).await;
    let wrong_method = http.delete("/v1/jobs").await;
    expect_error(
        &http,
        "a wrong method",
        S::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        wrong_method,
    )
    .await;
    let too_large = http.post_bytes("/v1/modules", hello).await;
    expect_error(
        &http,
        "an upload over the limit",
        S::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        too_large,
    )
    .await;
    let refused = |what, answer| {
        expect_error(
            &http,
            what,
            S::UNPROCESSABLE_ENTITY,
            "invalid_component",
            answer,
        )
    };
    refused(
        "bytes that are not WebAssembly",
        http.post_bytes("/v1/modules", b"hello, world".to_vec())
            .await,
    )
    .await;
    refused(
        "a core module",
        http.post_bytes("/v1/modules", core_module).await,
    )
    .await;
    let conflict = |what, answer| expect_error(&http, what, S::CONFLICT, "conflict", answer);
    conflict(
        "deleting the default queue",
        http.delete("/v1/queues/default").await,
    )
    .await;
    conflict(
        "creating a queue twice",
        http.post("/v1/queues", json!({"name": "twice"})).await,
    )
    .await;

    // 409: pulling or removing a job a dispatcher already claimed.
    let job = http
        .put_job_with(
            json!({"module": "spin", "function": "spin", "limits": {"timeout_ms": 20000}}),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    crate::support::wait_until("the spin job to start", || {
        let http = http.clone();
        let id = id.clone();
        async move { (http.ok(&format!("/v1/jobs/{id}")).await["status"] == "active").then_some(()) }
    })
    .await;
    let (status, body) = http.delete(&format!("/v1/queues/default/jobs/{id}")).await;
    expect_error(
        &http,
        "removing a claimed job",
        S::CONFLICT,
        "conflict",
        (status, body.clone()),
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("active"),
        "{body}"
    );
    let (status, body) = http.post("/v1/queues/default/pull", json!({})).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nothing pending to pull: {body}"
    );
    let (status, _) = http.get("/v1/health").await;
    assert_eq!(status, StatusCode::OK);
}

/// Checks an error answer, then that a normal request right after succeeds.
async fn expect_error(
    http: &Http,
    what: &str,
    status: StatusCode,
    code: &str,
    answer: (StatusCode, Value),
) {
    let (got, body) = answer;
    assert_eq!(got, status, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{what}: {body}"
    );
    let (after, _) = http.get("/v1/queues").await;
    assert_eq!(after, StatusCode::OK, "a normal request right after {what}");
}

/// A component importing things outside the job world is refused,
/// naming every one of them.
async fn a_component_with_a_forbidden_import_is_refused_naming_it(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let component = wat::parse_str(
        r#"(component
            (import "acme:db/query@1.0.0" (instance))
            (import "wasi:keyvalue/store@0.2.0" (instance))
            (import "wasi:sockets/tcp@0.2.0" (instance))
        )"#,
    )
    .unwrap();
    let (status, body) = server.http().post_bytes("/v1/modules", component).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("acme:db/query@1.0.0") && message.contains("wasi:keyvalue/store@0.2.0"),
        "{body}"
    );
    assert!(
        !message.contains("wasi:sockets/tcp"),
        "sockets are allowed: {body}"
    );
}

/// A component built against the old job contract is refused, naming the
/// version and what to do.
async fn a_component_of_the_old_job_contract_is_refused_naming_the_version(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let component = wat::parse_str(
        r#"(component
            (import "wasync:job/context@0.1.0" (instance))
        )"#,
    )
    .unwrap();
    let (status, body) = server.http().post_bytes("/v1/modules", component).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("wasync:job/context@0.1.0")
            && message.contains("wasync:job@0.3.0")
            && message.contains("rebuild"),
        "{body}"
    );
}

async fn with_a_token_requests_without_it_are_refused_and_change_nothing(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--token", "s3cret"]),
    )
    .await;
    let anonymous = server.http_without_token();
    let wrong = Http::new(&server.url, Some("guess".into()));
    for http in [&anonymous, &wrong] {
        let (status, body) = http.post("/v1/queues", json!({"name": "sneaky"})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, _) = http
            .post_bytes(
                "/v1/modules?name=hello",
                wasync_example_components::bytes("hello"),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = http.get("/v1/jobs").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The health check needs no token.
    let (status, _) = anonymous.get("/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    // Nothing was created.
    let http = server.http();
    let queues = http.ok("/v1/queues").await;
    assert_eq!(queues["queues"].as_array().unwrap().len(), 1, "{queues}");
    assert_eq!(http.ok("/v1/modules").await["modules"], json!([]));
}

crate::on_both_backends!(
    upload_put_wait_and_read_the_result_over_http,
    a_failure_says_what_went_wrong,
    every_error_answers_json_and_the_server_keeps_serving,
    a_component_with_a_forbidden_import_is_refused_naming_it,
    a_component_of_the_old_job_contract_is_refused_naming_the_version,
    with_a_token_requests_without_it_are_refused_and_change_nothing,
);
