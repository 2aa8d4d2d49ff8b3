//! Python jobs (componentize-py, `guest-sdk/python`) through the queue and
//! with `wasync run`.

use serde_json::{Value, json};

use super::{
    component, exports, failure, greets_and_prints, id, run_job, run_json,
    takes_names_and_defaults, upload, wasync_run,
};
use crate::on_both_backends;
use crate::support::{Backend, Server, shared, wait_until};
use crate::usage::{create_queue, set_agent};

/// `python-hello`: positional and named arguments, an omitted optional
/// parameter, stdout captured, an exception with its traceback, a
/// permanent error; the server lists the job functions.
async fn python_hello_runs_through_the_queue(backend: Backend) {
    let Some(wasm) = component("python-hello") else {
        return;
    };
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    let module = upload(&http, "py", &wasm).await;
    assert_eq!(exports(&module), ["add", "check_order", "divide", "greet"]);

    greets_and_prints(&http, "py").await;
    takes_names_and_defaults(&http, "py").await;

    let never = |function: &str, args: Value| json!({"module": "py", "function": function, "args": args, "retry": "never"});
    let job = http.put_job_with(never("divide", json!([1, 0]))).await;
    let done = http.wait_completed(&id(&job)).await;
    let (kind, guest_kind, message) = failure(&done);
    assert_eq!(
        (kind.as_str(), guest_kind.as_str()),
        ("guest-error", "ZeroDivisionError"),
        "{done}"
    );
    assert!(message.contains("division by zero"), "{done}");
    let detail = done["failure"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("Traceback") && detail.contains("in divide"),
        "{done}"
    );

    let job = http
        .put_job_with(json!({"module": "py", "function": "check_order", "args": ["x"]}))
        .await;
    let done = http.wait_completed(&id(&job)).await;
    assert_eq!(failure(&done).1, "invalid-order", "{done}");
    assert_eq!(
        done["attempts"], 1,
        "a permanent error is not retried: {done}"
    );
    assert_eq!(done["failure"]["permanent"], true, "{done}");

    let job = http.put_job_with(never("add", json!([1, "two"]))).await;
    let done = http.wait_completed(&id(&job)).await;
    assert_eq!(failure(&done).1, "bad-arguments", "{done}");
    assert!(failure(&done).2.contains("argument `b`"), "{done}");
}

/// `python-context`: get-job, a live annotation seen while the job runs,
/// put + await-job, annotations on another job, a callback and a
/// parallel composite.
async fn python_context_calls_work_through_the_queue(backend: Backend) {
    let Some(wasm) = component("python-context") else {
        return;
    };
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    upload(&http, "ctx", &wasm).await;

    let job = http.put_job("ctx", "whoami", json!([])).await;
    let done = http.wait_completed(&id(&job)).await;
    assert_eq!(done["result"]["id"], job["id"], "{done}");
    assert_eq!(done["result"]["function"], "whoami");
    assert_eq!(done["result"]["attempt"], 1);
    let annotations = http.ok(&format!("/v1/jobs/{}/annotations", id(&job))).await;
    assert_eq!(annotations["stage"], "running", "{annotations}");

    let done = run_job(&http, "ctx", "delegate", json!([21])).await;
    assert_eq!(done["result"], 42, "{done}");
    let child = http
        .ok(&format!("/v1/jobs/{}", done["awaiting"].as_str().unwrap()))
        .await;
    assert_eq!(
        (&child["function"], &child["args"]),
        (&json!("double"), &json!([21]))
    );

    // One job waits for an annotation another job sets on it.
    let waiter = http.put_job("ctx", "wait_for", json!(["go", 30.0])).await;
    wait_until("the waiter to start", || async {
        let job = http.ok(&format!("/v1/jobs/{}", id(&waiter))).await;
        (job["status"] == "active").then_some(())
    })
    .await;
    run_job(&http, "ctx", "mark", json!([id(&waiter), "go", {"n": 7}])).await;
    assert_eq!(
        http.wait_completed(&id(&waiter)).await["result"],
        json!({"n": 7})
    );

    assert_eq!(
        run_job(&http, "ctx", "with_callback", json!([4])).await["result"],
        "recorded 8"
    );
    assert_eq!(
        run_job(&http, "ctx", "fan_out", json!([4])).await["result"],
        12
    );
}

/// `python-usage`: zc.async's usage semantics from Python: a callback on
/// itself, a failure handled by a callback, the hand-written parallel
/// example (callbacks appending to a held postprocess), serial and
/// parallel composites put from inside a job, and parts added by a part.
async fn python_usage_semantics(backend: Backend) {
    let Some(wasm) = component("python-usage") else {
        return;
    };
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    upload(&http, "usage", &wasm).await;

    let job = http
        .put_job("usage", "network_call_with_callback", json!([]))
        .await;
    assert_eq!(http.wait_completed(&id(&job)).await["result"], "200 OK");
    let callbacks = http.ok(&format!("/v1/jobs/{}/callbacks", id(&job))).await;
    let callback = callbacks
        .as_array()
        .and_then(|c| c.first())
        .map(|c| c["job"].clone())
        .unwrap_or_else(|| panic!("one callback: {callbacks}"));
    let scribbled = http.wait_completed(&id(&callback)).await;
    assert_eq!(scribbled["result"], "200 OK: SCRIBBLED", "{scribbled}");

    // A bad function's NameError, trapped by its failure callback.
    let bad = http
        .put_job_with(json!({"module": "usage", "function": "bad_bad_function", "retry": "never"}))
        .await;
    let (status, handler) = http
        .post(
            &format!("/v1/jobs/{}/callbacks", id(&bad)),
            json!({"function": "handle_name_errors", "on": "failure"}),
        )
        .await;
    assert!(status.is_success(), "{handler}");
    let handler = if handler["job"].is_object() {
        handler["job"].clone()
    } else {
        handler
    };
    assert_eq!(
        failure(&http.wait_completed(&id(&bad)).await).1,
        "NameError"
    );
    assert_eq!(
        http.wait_completed(&id(&handler)).await["result"],
        "I handled a name error"
    );

    let done = run_job(&http, "usage", "main_job", json!([])).await;
    assert_eq!(done["result"], 42, "{done}");
    for kind in ["serial", "parallel"] {
        let done = run_job(&http, "usage", "composite_from_inside", json!([kind])).await;
        assert_eq!(done["result"], 42, "{kind}: {done}");
    }

    // [#extra_serial_tricks]: a part adds a part, whose callback adds
    // another; the composite waits in a queue no agent serves until then.
    create_queue(&http, "held").await;
    let (status, composite) = http
        .post(
            "/v1/composites",
            json!({"kind": "serial", "module": "usage", "queue": "held",
                   "postprocess": {"function": "results", "args": {}}}),
        )
        .await;
    assert!(status.is_success(), "{composite}");
    let (status, part) = http
        .post(
            &format!("/v1/jobs/{}/parts", id(&composite)),
            json!({"function": "first_job", "args": [id(&composite)]}),
        )
        .await;
    assert!(status.is_success(), "{part}");
    let dispatcher = http.dispatcher_id().await;
    set_agent(&http, &dispatcher, "held", "main", json!({"size": 3})).await;
    let done = http.wait_completed(&id(&composite)).await;
    assert_eq!(
        done["result"],
        json!(["first", "second", "third"]),
        "{done}"
    );
}

on_both_backends!(
    python_hello_runs_through_the_queue,
    python_context_calls_work_through_the_queue,
    python_usage_semantics,
);

/// `wasync run` runs a Python job: a value, named arguments, a failure
/// (exit 1 with the failure as JSON).
#[test]
fn wasync_run_runs_a_python_job() {
    let Some(wasm) = component("python-hello") else {
        return;
    };
    let out = wasync_run(&wasm, "greet", r#"{"name": "Ada"}"#);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(run_json(&out), "Hello, Ada!");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("greeting Ada"),
        "{out:?}"
    );
    let out = wasync_run(&wasm, "divide", "[1, 0]");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let failure = run_json(&out);
    assert_eq!(failure["guest_kind"], "ZeroDivisionError", "{failure}");
}
