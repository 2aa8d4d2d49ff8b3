//! Validation at the door: a put naming a function its module does not
//! declare is refused at once, whoever puts it (HTTP, a batch, a put with
//! callbacks, the CLI, a named job, a schedule, a running job), listing
//! the module's functions, instead of being stored to fail at run time
//! with `unknown-function`. Nothing refused is stored.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Http, Server, shared, stderr};

crate::on_both_backends!(
    a_put_of_an_undeclared_function_is_refused_over_http,
    a_put_of_an_undeclared_function_is_refused_by_the_cli,
    named_jobs_and_schedules_are_checked_when_defined,
    a_running_job_s_put_of_an_undeclared_function_gets_an_error,
);

/// The functions `hello` declares (`jobs-examples/hello`).
const HELLO_FUNCTIONS: [&str; 8] = [
    "add",
    "echo",
    "hello",
    "job_info",
    "now_micros",
    "scribble",
    "sleep",
    "write_output",
];

/// Asserts a 422 `unknown_function` naming `function`, with the functions
/// of `hello` listed.
fn assert_unknown_function(status: StatusCode, body: &Value, function: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "unknown_function", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("no job function `{function}`")) && message.contains("echo"),
        "{body}"
    );
    let mut listed: Vec<&str> = body["error"]["functions"]
        .as_array()
        .expect("the functions are listed")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, HELLO_FUNCTIONS, "{body}");
}

async fn job_count(http: &Http) -> usize {
    http.ok("/v1/jobs").await["jobs"]
        .as_array()
        .map_or(0, Vec::len)
}

/// `POST /v1/jobs`, by name and by digest, a batch (naming the item), and
/// a put whose callback names the undeclared function: 422, nothing
/// stored; a declared function is put as before.
async fn a_put_of_an_undeclared_function_is_refused_over_http(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    let module = http.upload_example("hello").await;
    let digest = module["digest"].as_str().unwrap();

    for module in ["hello", digest] {
        let (status, body) = http
            .post(
                "/v1/jobs",
                json!({"module": module, "function": "helo", "args": []}),
            )
            .await;
        assert_unknown_function(status, &body, "helo");
    }
    let (status, body) = http
        .post(
            "/v1/jobs/batch",
            json!([
                {"module": "hello", "function": "hello"},
                {"module": "hello", "function": "ad", "args": [1, 2]},
            ]),
        )
        .await;
    assert_unknown_function(status, &body, "ad");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("item 1: "), "{body}");
    let (status, body) = http
        .post(
            "/v1/jobs",
            json!({"module": "hello", "function": "hello",
                   "callbacks": [{"function": "echoo"}]}),
        )
        .await;
    assert_unknown_function(status, &body, "echoo");
    assert_eq!(job_count(&http).await, 0, "nothing refused is stored");

    let job = http.put_job("hello", "add", json!([2, 3])).await;
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["result"], 5, "{done}");
}

/// `wasync put` of an undeclared function exits non-zero naming it and
/// listing the module's functions.
async fn a_put_of_an_undeclared_function_is_refused_by_the_cli(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;

    let out = server.cli(&["put", "hello", "helo", "[]"]);
    assert!(!out.status.success(), "refused");
    let said = stderr(&out);
    assert!(
        said.contains("no job function `helo`") && said.contains("write_output"),
        "{said}"
    );
    assert_eq!(job_count(&http).await, 0);
}

/// A named job and a schedule naming an undeclared function are refused
/// when registered (422 listing the functions), so no put by that name
/// and no occurrence can store a job bound to fail.
async fn named_jobs_and_schedules_are_checked_when_defined(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;

    let (status, body) = http
        .put(
            "/v1/job-names/greet",
            json!({"module": "hello", "function": "greet"}),
        )
        .await;
    assert_unknown_function(status, &body, "greet");
    let (status, _) = http.get("/v1/job-names/greet").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not registered");

    let (status, body) = http
        .post(
            "/v1/schedules",
            json!({"name": "nightly", "module": "hello", "function": "greet",
                   "delay": "1h"}),
        )
        .await;
    assert_unknown_function(status, &body, "greet");
    let (status, _) = http.get("/v1/schedules/nightly").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not created");

    let (status, named) = http
        .put(
            "/v1/job-names/greet",
            json!({"module": "hello", "function": "echo", "args": ["hi"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{named}");
    let (status, job) = http.post("/v1/job-names/greet/jobs", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["result"], "hi", "{done}");
}

/// A running job putting an undeclared function of its own module gets an
/// error value naming it (the `fanout` example turns it into its failure,
/// of kind `context`); no child is stored.
async fn a_running_job_s_put_of_an_undeclared_function_gets_an_error(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("fanout").await;

    let job = http
        .put_job(
            "fanout",
            "put_with_quotas",
            json!(["second_jb", [1], [], null]),
        )
        .await;
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let message = done["failure"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no job function `second_jb`") && message.contains("second_job"),
        "{done}"
    );
    assert_eq!(job_count(&http).await, 1, "only the job that tried");
}
