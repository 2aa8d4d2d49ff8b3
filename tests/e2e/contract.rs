//! The API against its OpenAPI document (issue 14): the server serves
//! `docs/openapi.json` without a token, every operation the document
//! names is routed (none falls to "no such route" or 405), and the inputs
//! schemathesis found failing stay fixed (`cargo xtask contract` fuzzes a
//! server from the document; each finding is kept here as a test).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{Backend, Server, ServerOptions, shared};

/// The checked-in document.
fn checked_in() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let text = std::fs::read_to_string(path).expect("docs/openapi.json");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

#[tokio::test]
async fn the_document_is_served_without_a_token() {
    let _guard = shared().await;
    let s = Server::start_with(ServerOptions::default().args(["--token", "secret"])).await;
    let anyone = s.http_without_token();
    let (status, document) = anyone.get("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert_eq!(
        document,
        checked_in(),
        "the served document is the checked-in one"
    );
    let (status, _) = anyone.get("/v1/jobs").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the rest still needs the token"
    );
}

/// A path of the document with its parameters filled in: ids that exist
/// nowhere, names that name nothing.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-0000-0000-000000000000")
        .replace("{name}", "nothing-here")
        .replace("{reference}", "nothing-here")
        .replace("{queue}", "nothing-here")
        .replace("{quota}", "nothing-here")
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let _guard = shared().await;
    let s = Server::start_on(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let document = checked_in();
    let paths = document["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        for method in item.as_object().expect("operations").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let url = format!("{}{}", s.url, concrete(path));
            let mut request = client.request(method.clone(), &url);
            if path.ends_with("/wait") {
                request = request.query(&[("timeout", "0s")]);
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.contains("no such route"),
                "{method} {path} is documented but not routed: {body}"
            );
            assert!(
                !status.is_server_error(),
                "{method} {path}: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 70, "only {checked} operations documented");
}

/// Found by schemathesis (stateful phase): a queue named `""` in a path
/// (`POST /v1/queues//resume`) reaches another route. The document now
/// says a name in a path is never empty; the server answers such a path
/// with a 4xx JSON error, never a 5xx.
#[tokio::test]
async fn an_empty_name_in_a_path_is_a_client_error() {
    let _guard = shared().await;
    let s = Server::start_on(Backend::Sqlite).await;
    let http = s.http();
    for (method, path) in [
        ("POST", "/v1/queues//resume"),
        ("POST", "/v1/queues//pause"),
        ("GET", "/v1/queues//jobs"),
        ("GET", "/v1/schedules/"),
        ("DELETE", "/v1/modules/"),
    ] {
        let (status, body) = match method {
            "POST" => http.post(path, Value::Null).await,
            "DELETE" => http.delete(path).await,
            _ => http.get(path).await,
        };
        assert!(status.is_client_error(), "{method} {path}: {status} {body}");
        assert!(body["error"]["code"].is_string(), "{method} {path}: {body}");
    }
}

/// A duration too long for the server to hold (`begin_by` of 1e300
/// seconds) is a 400 naming it, not a panic.
#[tokio::test]
async fn a_duration_out_of_range_is_refused() {
    let _guard = shared().await;
    let s = Server::start_on(Backend::Sqlite).await;
    let http = s.http();
    http.upload_example("hello").await;
    let (status, body) = http
        .post(
            "/v1/jobs",
            serde_json::json!({"module": "hello", "function": "hello", "begin_by": 1e300}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("seconds"),
        "{body}"
    );
}

/// A body field of the wrong type is named by its path (the crate's JSON
/// extractor reads bodies through `serde_path_to_error`), in a put, a
/// batch item, a nested object and a body of the operators' endpoints:
/// schemathesis's wrong-typed bodies got serde's bare "invalid type"
/// message, which named no field once it was nested.
#[tokio::test]
async fn a_wrong_typed_field_is_named_by_its_path() {
    let _guard = shared().await;
    let s = Server::start_on(Backend::Sqlite).await;
    let http = s.http();
    http.upload_example("hello").await;
    let cases = [
        (
            "/v1/jobs",
            serde_json::json!({"module": "hello", "function": "hello", "limits": {"fuel": "lots"}}),
            "field `limits.fuel`",
        ),
        (
            "/v1/jobs",
            serde_json::json!({"module": "hello", "function": "hello",
                "callbacks": [{"function": "hello", "quota_names": [1]}]}),
            "field `callbacks[0].quota_names[0]`",
        ),
        (
            "/v1/jobs/batch",
            serde_json::json!([{"module": "hello", "function": "hello"},
                {"module": "hello", "function": "hello", "priority": "high"}]),
            "item 1: field `priority`",
        ),
        (
            "/v1/queues/default/quotas",
            serde_json::json!({"name": "q", "size": -1}),
            "field `size`",
        ),
        (
            "/v1/jobs/remove",
            serde_json::json!({"statuses": "failed"}),
            "field `statuses`",
        ),
        (
            "/v1/schedules",
            serde_json::json!({"name": "s", "module": "hello", "function": "hello",
                "delay": "10s", "active": "yes"}),
            "field `active`",
        ),
    ];
    for (path, body, named) in cases {
        let (status, answer) = http.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(named),
            "{path}: {message} (expected {named})"
        );
    }
    // A body that is not JSON at all names no field.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/jobs", s.url))
        .body("nonsense")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.expect("a JSON error");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("invalid JSON body: "), "{message}");
    assert!(!message.contains("field `"), "{message}");
}
