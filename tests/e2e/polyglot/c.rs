//! The C job (`jobs-examples/c-hello`: clang, wasi-libc, `wit-bindgen c`,
//! with `printf`) through the queue and with `wasync run`.

use serde_json::json;

use super::{component, exports, greets_and_prints, id, run_job, run_json, upload, wasync_run};
use crate::on_both_backends;
use crate::support::{Backend, Server, shared};

/// `c-hello`: a string argument positional and named, printf output
/// captured, the context's get-job, an unknown function; the server lists
/// the job functions from the section the build appended.
async fn c_hello_runs_through_the_queue(backend: Backend) {
    let Some(wasm) = component("c-hello") else {
        return;
    };
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    let module = upload(&http, "c", &wasm).await;
    assert_eq!(exports(&module), ["add", "greet", "whoami"]);

    greets_and_prints(&http, "c").await;
    assert_eq!(
        run_job(&http, "c", "add", json!({"a": 2, "b": 40})).await["result"],
        42
    );
    let job = http.put_job("c", "whoami", json!([])).await;
    let done = http.wait_completed(&id(&job)).await;
    assert_eq!(
        done["result"],
        json!({"id": job["id"], "attempt": 1}),
        "{done}"
    );
    // A function the module does not declare is refused at put, the
    // module's functions listed.
    let (status, body) = http
        .post("/v1/jobs", json!({"module": "c", "function": "nope"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "unknown_function", "{body}");
    let functions = body["error"]["functions"].as_array().expect("functions");
    assert!(functions.contains(&json!("add")), "{body}");
}

on_both_backends!(c_hello_runs_through_the_queue);

/// `wasync run` runs the C job.
#[test]
fn wasync_run_runs_a_c_job() {
    let Some(wasm) = component("c-hello") else {
        return;
    };
    let out = wasync_run(&wasm, "greet", r#"{"name": "Ada"}"#);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(run_json(&out), "Hello, Ada!");
    let out = wasync_run(&wasm, "add", r#"[1, "x"]"#);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(run_json(&out)["guest_kind"], "bad-arguments");
}
