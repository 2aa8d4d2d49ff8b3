//! Point 1, "Jobs: closures": positional and named arguments.

#[allow(unused_imports)]
use super::*;

// ----- Jobs: closures (positional and keyword arguments) -----

/// Point 1: Arguments: positional and named arguments reach the function, and a
/// pending job's arguments can still be changed (zc.async mutates
/// `job.args` before commit), not once a dispatcher holds it.
async fn usage_1_arguments_reach_the_function_and_change_until_claimed(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("demo").await;
    http.upload_example("hello").await;
    http.upload_example("annotate").await;

    // `Job(root['demo'].increase, 5)` and `Job(..., value=10)`.
    let positional = http.put_job("demo", "increase", json!([1, 5])).await;
    assert_eq!(http.wait_completed(&id(&positional)).await["result"], 6);
    let named = http
        .put_job("demo", "increase", json!({"counter": 6, "value": 10}))
        .await;
    assert_eq!(http.wait_completed(&id(&named)).await["result"], 16);
    let defaulted = http
        .put_job("demo", "increase", json!({"counter": 16}))
        .await;
    assert_eq!(http.wait_completed(&id(&defaulted)).await["result"], 17);

    // A queue no dispatcher serves yet: its jobs stay pending.
    create_queue(&http, "held").await;
    let pending = id(&http
        .put_job_with(
            json!({"module": "hello", "function": "add", "args": [1, 1], "queue": "held"}),
        )
        .await);
    let (status, changed) = patch(&http, &pending, json!({"args": [20, 22]})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["args"].clone(), changed["status"].clone()),
        (json!([20, 22]), json!("pending"))
    );
    let (status, body) = patch(&http, &pending, json!({"args": "twenty"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("`args`"), "{body}");
    assert_eq!(
        job(&http, &pending).await["args"],
        json!([20, 22]),
        "unchanged"
    );
    // The CLI changes it too: named arguments this time.
    let out = server.cli(&["update", &pending, "--args", r#"{"a": 40, "b": 2}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("add("), "{}", stdout(&out));
    assert_eq!(job(&http, &pending).await["args"], json!({"a": 40, "b": 2}));
    let dispatcher = http.dispatcher_id().await;
    set_agent(&http, &dispatcher, "held", "main", json!({})).await;
    let done = http.wait_completed(&pending).await;
    assert_eq!(
        done["result"], 42,
        "the changed arguments reached the function"
    );
    let (status, body) = patch(&http, &pending, json!({"args": [0, 0]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_message(&body).contains("is completed"), "{body}");

    // Once claimed: 409 naming its status and holder, and unchanged.
    let running = id(&http.put_job_with(blocking("", &[])).await);
    wait_status(&http, &running, "active").await;
    let (status, body) = patch(&http, &running, json!({"args": ["other", 1, null, null]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = error_message(&body);
    assert!(
        message.contains("is active") && message.contains(&dispatcher),
        "{body}"
    );
    let out = server.cli(&["update", &running, "--args", "[]"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is active"), "{}", stderr(&out));
    annotate(&http, &running, "go", json!("released")).await;
    assert_eq!(http.wait_completed(&running).await["result"], "released");
}

crate::on_both_backends!(usage_1_arguments_reach_the_function_and_change_until_claimed,);
