//! Point 4, "Callbacks": `addCallback` and `addCallbacks(success,
//! failure)` with the `usage` example's jobs, at put time, later, from
//! the CLI and from inside a job.

#[allow(unused_imports)]
use super::*;

// ----- Callbacks -----

/// Waits until every job of `ids` is completed; returns them.
async fn all_completed(http: &Http, ids: &[String]) -> Vec<Value> {
    let mut done = Vec::new();
    for id in ids {
        done.push(http.wait_completed(id).await);
    }
    done
}

/// The callbacks of `job` as listed: (branch, job).
async fn callbacks_of(http: &Http, job: &str) -> Vec<(String, Value)> {
    let list = http.ok(&format!("/v1/jobs/{job}/callbacks")).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| (c["on"].as_str().unwrap().to_owned(), c["job"].clone()))
        .collect()
}

/// Point 4: a success callback scribbles on the network call's result; a
/// failure callback handles the bad function's `NameError` and a callback
/// of it scribbles on the handled value, while the success-only branch
/// passes the failure through without running. Callbacks never change
/// the job's result; the job shows `callbacks` until they are done. A
/// callback added to a completed job still runs; callbacks are added at
/// put time, later over HTTP and the CLI, and from inside a job.
async fn usage_4_callbacks_receive_the_outcome_and_chain(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("usage").await;

    // `job.addCallback(I_scribble_on_strings)`, at put time.
    let job = http
        .put_job_with(json!({
            "module": "usage", "function": "imaginary_network_call",
            "callbacks": [{"function": "scribble"}],
        }))
        .await;
    let callback = &callbacks_of(&http, &id(&job)).await[0];
    assert_eq!(callback.0, "always");
    let scribbled = http.wait_completed(&id(&callback.1)).await;
    assert_eq!(scribbled["result"], "200 OK: SCRIBBLED");
    assert_eq!(
        scribbled["args"],
        json!(["200 OK"]),
        "the outcome is appended"
    );
    let job = http.wait_completed(&id(&job)).await;
    assert_eq!(job["result"], "200 OK", "callbacks never change the result");

    // `addCallbacks(failure=I_handle_NameErrors)` then `.addCallback(
    // I_scribble_on_strings)` on it; and a success-only branch, with a
    // callback of its own, that the failure passes through.
    let bad = http
        .put_job_with(json!({
            "module": "usage", "function": "bad_bad_function",
            "callbacks": [
                {"function": "handle_name_errors", "on": "failure",
                 "callbacks": [{"function": "scribble"}]},
                {"function": "scribble", "on": "success",
                 "callbacks": [{"function": "handle_name_errors"}]},
            ],
        }))
        .await;
    let listed = callbacks_of(&http, &id(&bad)).await;
    let ons: Vec<&str> = listed.iter().map(|(on, _)| on.as_str()).collect();
    assert_eq!(ons, ["failure", "success"]);
    let (handler, skipped) = (id(&listed[0].1), id(&listed[1].1));
    let chained = id(&callbacks_of(&http, &handler).await[0].1);
    let after_skipped = id(&callbacks_of(&http, &skipped).await[0].1);
    let done = all_completed(
        &http,
        &[handler.clone(), chained, skipped.clone(), after_skipped],
    )
    .await;
    assert_eq!(done[0]["result"], "I handled a name error");
    assert_eq!(done[1]["result"], "I handled a name error: SCRIBBLED");
    assert_eq!(
        done[2]["failure"]["guest_kind"], "NameError",
        "passed through"
    );
    assert_eq!(
        done[2]["attempts"], 0,
        "a success-only callback does not run on a failure"
    );
    assert_eq!(
        done[3]["result"], "I handled a name error",
        "its callback got the failure"
    );
    let bad = http.wait_completed(&id(&bad)).await;
    assert_eq!(bad["failure"]["guest_kind"], "NameError", "{bad}");

    // A job is `callbacks` while a callback is pending: a callback in a
    // queue no dispatcher serves stays pending, and so does the job.
    create_queue(&http, "later").await;
    let held = http
        .put_job_with(json!({
            "module": "usage", "function": "imaginary_network_call",
            "callbacks": [{"function": "scribble", "queue": "later"}],
        }))
        .await;
    let waiting = wait_status(&http, &id(&held), "callbacks").await;
    assert_eq!(waiting["result"], "200 OK");
    let pending = &callbacks_of(&http, &id(&held)).await[0].1;
    assert_eq!(pending["status"], "pending");
    let dispatcher = http.dispatcher_id().await;
    set_agent(&http, &dispatcher, "later", "main", json!({"size": 1})).await;
    http.wait_completed(&id(pending)).await;
    wait_status(&http, &id(&held), "completed").await;

    // A callback added to a completed job still runs (HTTP), and so does
    // one added through the CLI.
    let (status, late) = http
        .post(
            &format!("/v1/jobs/{}/callbacks", id(&job)),
            json!({"function": "scribble", "on": "success"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{late}");
    assert_eq!(
        http.wait_completed(&id(&late)).await["result"],
        "200 OK: SCRIBBLED"
    );
    let out = server.cli(&["callbacks", "add", &id(&job), "scribble", "--on", "success"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_cli = stdout(&out).trim().to_owned();
    assert_eq!(
        http.wait_completed(&from_cli).await["result"],
        "200 OK: SCRIBBLED"
    );
    let out = server.cli(&["callbacks", "list", &id(&job)]);
    assert!(stdout(&out).contains(&from_cli), "{}", stdout(&out));
    assert_eq!(job_status(&http, &id(&job)).await, "completed");

    // From inside a job: the network call adds its scribbler to itself.
    let inside = http
        .put_job("usage", "network_call_with_callback", json!([]))
        .await;
    http.wait_completed(&id(&inside)).await;
    let callback = &callbacks_of(&http, &id(&inside)).await[0];
    assert_eq!(callback.0, "success");
    assert_eq!(
        http.wait_completed(&id(&callback.1)).await["result"],
        "200 OK: SCRIBBLED"
    );

    // Bad input: 4xx naming the problem, nothing added.
    let (status, body) = http
        .post(
            &format!("/v1/jobs/{}/callbacks", id(&job)),
            json!({"function": "scribble", "on": "sometimes"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("sometimes"), "{body}");
    let (status, body) = http
        .post(
            "/v1/jobs/0190a5c0-0000-7000-8000-000000000001/callbacks",
            json!({"function": "scribble"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(callbacks_of(&http, &id(&job)).await.len(), 3);
}

async fn job_status(http: &Http, id: &str) -> String {
    job(http, id).await["status"].as_str().unwrap().to_owned()
}

crate::on_both_backends!(usage_4_callbacks_receive_the_outcome_and_chain);
