//! JavaScript jobs (componentize-js, `guest-sdk/js`) through the queue and
//! with `wasync run`.

use serde_json::json;

use super::{
    component, exports, failure, greets_and_prints, id, run_job, run_json,
    takes_names_and_defaults, upload, wasync_run,
};
use crate::on_both_backends;
use crate::support::{Backend, Server, shared, wait_until};

/// `js-hello`: positional and named arguments, a default, console output
/// captured, a thrown error with its stack, a permanent error; the server
/// lists the job functions.
async fn js_hello_runs_through_the_queue(backend: Backend) {
    let Some(wasm) = component("js-hello") else {
        return;
    };
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    let module = upload(&http, "js", &wasm).await;
    assert_eq!(exports(&module), ["add", "check_order", "divide", "greet"]);

    greets_and_prints(&http, "js").await;
    takes_names_and_defaults(&http, "js").await;

    let job = http
        .put_job_with(
            json!({"module": "js", "function": "divide", "args": [1, 0], "retry": "never"}),
        )
        .await;
    let done = http.wait_completed(&id(&job)).await;
    let (kind, guest_kind, message) = failure(&done);
    assert_eq!(
        (kind.as_str(), guest_kind.as_str()),
        ("guest-error", "RangeError"),
        "{done}"
    );
    assert_eq!(message, "division by zero");
    assert!(
        done["failure"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("divide"),
        "{done}"
    );

    let job = http
        .put_job_with(json!({"module": "js", "function": "check_order", "args": ["x"]}))
        .await;
    let done = http.wait_completed(&id(&job)).await;
    assert_eq!(failure(&done).1, "invalid-order", "{done}");
    assert_eq!(
        done["attempts"], 1,
        "a permanent error is not retried: {done}"
    );
    assert_eq!(done["failure"]["permanent"], true, "{done}");
    // A function the module does not declare is refused at put, the
    // module's functions listed.
    let (status, body) = http
        .post("/v1/jobs", json!({"module": "js", "function": "nope"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "unknown_function", "{body}");
    let functions = body["error"]["functions"].as_array().expect("functions");
    assert!(functions.contains(&json!("check_order")), "{body}");
}

/// `js-context`: get-job, a live annotation, put + await-job, annotations
/// on another job, a callback, a parallel composite, and a clock and
/// randomness that are live (not frozen at build time).
async fn js_context_calls_work_through_the_queue(backend: Backend) {
    let Some(wasm) = component("js-context") else {
        return;
    };
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    upload(&http, "ctx", &wasm).await;

    let job = http.put_job("ctx", "whoami", json!([])).await;
    let done = http.wait_completed(&id(&job)).await;
    assert_eq!(done["result"]["id"], job["id"], "{done}");
    let annotations = http.ok(&format!("/v1/jobs/{}/annotations", id(&job))).await;
    assert_eq!(annotations["stage"], "running", "{annotations}");

    let done = run_job(&http, "ctx", "delegate", json!([21])).await;
    assert_eq!(done["result"], 42, "{done}");

    let waiter = http.put_job("ctx", "wait_for", json!(["go", 30_000])).await;
    wait_until("the waiter to start", || async {
        let job = http.ok(&format!("/v1/jobs/{}", id(&waiter))).await;
        (job["status"] == "active").then_some(())
    })
    .await;
    run_job(&http, "ctx", "mark", json!([id(&waiter), "go", "now"])).await;
    assert_eq!(http.wait_completed(&id(&waiter)).await["result"], "now");

    assert_eq!(
        run_job(&http, "ctx", "with_callback", json!([4])).await["result"],
        "recorded 8"
    );
    assert_eq!(
        run_job(&http, "ctx", "fan_out", json!([4])).await["result"],
        12
    );

    let first = run_job(&http, "ctx", "now", json!([])).await["result"].clone();
    let second = run_job(&http, "ctx", "now", json!([])).await["result"].clone();
    let built_long_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    assert!(
        first["ms"].as_i64().unwrap() > built_long_ago,
        "a live clock: {first}"
    );
    assert_ne!(
        first["random"], second["random"],
        "fresh randomness per job"
    );
}

on_both_backends!(
    js_hello_runs_through_the_queue,
    js_context_calls_work_through_the_queue,
);

/// `wasync run` runs a JavaScript job.
#[test]
fn wasync_run_runs_a_javascript_job() {
    let Some(wasm) = component("js-hello") else {
        return;
    };
    let out = wasync_run(&wasm, "add", "[2, 3]");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(run_json(&out), 5);
    let out = wasync_run(&wasm, "check_order", r#"["x"]"#);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(run_json(&out)["guest_kind"], "invalid-order");
}
