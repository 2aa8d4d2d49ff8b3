//! Validation at the door: a put whose positional arguments are more or
//! fewer than the function takes, as its module declares them (the
//! `wasync-signatures` section `export_jobs!` writes), is refused at once
//! with 422 `bad_arguments` naming the function and what it takes, whoever
//! puts it (HTTP, a batch, the CLI, a named job, a schedule, a running
//! job), instead of being stored to fail at run time with `bad-arguments`.
//! Nothing refused is stored; what the guest would accept still runs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Http, Server, shared, stderr};

crate::on_both_backends!(
    a_put_with_arguments_that_cannot_fit_is_refused_over_http,
    a_put_with_arguments_that_cannot_fit_is_refused_by_the_cli,
    named_jobs_and_schedules_have_their_arguments_checked_when_defined,
    a_running_job_s_put_with_arguments_that_cannot_fit_gets_an_error,
);

/// Asserts a 422 `bad_arguments` whose message contains `says`.
fn assert_bad_arguments(status: StatusCode, body: &Value, says: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "bad_arguments", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{body}");
}

async fn job_count(http: &Http) -> usize {
    http.ok("/v1/jobs").await["jobs"]
        .as_array()
        .map_or(0, Vec::len)
}

/// `POST /v1/jobs` with too many and too few arguments, for a function
/// with an optional parameter, a batch (naming the item) and a callback:
/// 422, nothing stored. Every length the guest accepts is put and runs,
/// and named arguments are left to the guest.
async fn a_put_with_arguments_that_cannot_fit_is_refused_over_http(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let demo = http.upload_example("demo").await;
    let exports: Vec<&str> = demo["exports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(exports.contains(&"arguments increase: 1 to 2"), "{demo}");

    for (module, function, args, says) in [
        (
            "hello",
            "add",
            json!([1, 2, 3]),
            "job function `add` of module `hello` takes 2 positional arguments; 3 were given",
        ),
        (
            "hello",
            "echo",
            json!([]),
            "`echo` of module `hello` takes 1 positional argument; 0 were given",
        ),
        (
            "hello",
            "echo",
            Value::Null,
            "takes 1 positional argument; 0 were given",
        ),
        (
            "demo",
            "increase",
            json!([1, 2, 3]),
            "`increase` of module `demo` takes 1 to 2 positional arguments; 3 were given",
        ),
        (
            "demo",
            "increase",
            json!([]),
            "takes 1 to 2 positional arguments; 0 were given",
        ),
    ] {
        let (status, body) = http
            .post(
                "/v1/jobs",
                json!({"module": module, "function": function, "args": args}),
            )
            .await;
        assert_bad_arguments(status, &body, says);
    }
    let (status, body) = http
        .post(
            "/v1/jobs/batch",
            json!([
                {"module": "hello", "function": "hello"},
                {"module": "hello", "function": "add", "args": [1]},
            ]),
        )
        .await;
    assert_bad_arguments(status, &body, "item 1: job function `add`");
    let (status, body) = http
        .post(
            "/v1/jobs",
            json!({"module": "hello", "function": "hello",
                   "callbacks": [{"function": "echo", "args": [1, 2]}]}),
        )
        .await;
    assert_bad_arguments(status, &body, "`echo` of module `hello` takes 1");
    assert_eq!(job_count(&http).await, 0, "nothing refused is stored");

    // The door lets through exactly what the guest binds.
    for (args, result) in [
        (json!([5]), json!(6)),
        (json!([5, 10]), json!(15)),
        (json!([5, null]), json!(6)),
        (json!({"counter": 6, "value": 10}), json!(16)),
    ] {
        let job = http.put_job("demo", "increase", args.clone()).await;
        let done = http.wait_completed(job["id"].as_str().unwrap()).await;
        assert_eq!(done["result"], result, "{args}: {done}");
    }
    // Named arguments are the guest's to bind: an unknown name fails there.
    let job = http
        .put_job("demo", "increase", json!({"counter": 1, "by": 2}))
        .await;
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["failure"]["kind"], "guest-error", "{done}");
    assert_eq!(done["failure"]["guest_kind"], "bad-arguments", "{done}");
    let message = done["failure"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("unknown argument `by`"), "{done}");
}

/// `wasync put` with too many arguments exits non-zero with the message.
async fn a_put_with_arguments_that_cannot_fit_is_refused_by_the_cli(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;

    let out = server.cli(&["put", "hello", "add", "[1, 2, 3]"]);
    assert!(!out.status.success(), "refused");
    let said = stderr(&out);
    assert!(
        said.contains(
            "job function `add` of module `hello` takes 2 positional arguments; 3 were given"
        ),
        "{said}"
    );
    assert_eq!(job_count(&http).await, 0);
    let out = server.cli(&["put", "hello", "add", "[1, 2]"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A named job and a schedule whose arguments cannot fit are refused when
/// registered; a named job's put with arguments of its own is checked too.
async fn named_jobs_and_schedules_have_their_arguments_checked_when_defined(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;

    let (status, body) = http
        .put(
            "/v1/job-names/sum",
            json!({"module": "hello", "function": "add", "args": [1, 2, 3]}),
        )
        .await;
    assert_bad_arguments(status, &body, "`add` of module `hello` takes 2");
    let (status, _) = http.get("/v1/job-names/sum").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not registered");

    let (status, body) = http
        .post(
            "/v1/schedules",
            json!({"name": "nightly", "module": "hello", "function": "echo",
                   "args": [], "delay": "1h"}),
        )
        .await;
    assert_bad_arguments(status, &body, "`echo` of module `hello` takes 1");
    let (status, _) = http.get("/v1/schedules/nightly").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not created");

    let (status, named) = http
        .put(
            "/v1/job-names/sum",
            json!({"module": "hello", "function": "add", "args": [2, 3]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{named}");
    let (status, job) = http.post("/v1/job-names/sum/jobs", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["result"], 5, "{done}");
}

/// A running job putting a function of its own module with arguments that
/// cannot fit gets the message as its error (the `fanout` example turns it
/// into its failure); no child is stored.
async fn a_running_job_s_put_with_arguments_that_cannot_fit_gets_an_error(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("fanout").await;

    let job = http
        .put_job(
            "fanout",
            "put_with_quotas",
            json!(["second_job", [1, 2], [], null]),
        )
        .await;
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
    let message = done["failure"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("job function `second_job` of module")
            && message.contains("takes 1 positional argument; 2 were given"),
        "{done}"
    );
    assert_eq!(job_count(&http).await, 1, "only the job that tried");
}
