//! Points 5 and 6, "Returning jobs": the hand-written parallel example
//! (callbacks collecting results into a held postprocess job that the
//! main job returns), and the `serial` and `parallel` helpers with their
//! footnotes, over HTTP, the CLI and from inside jobs.

#[allow(unused_imports)]
use super::*;

// ----- Returning jobs -----

/// Point 5: `main_job` holds a postprocess job, puts `job_A`, `job_B` and
/// `job_C` with callbacks that append their results to it and put it once
/// all three are in, and returns it: 42.
async fn usage_5_returned_job_collects_results_from_callbacks(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("usage").await;
    let main = http.put_job("usage", "main_job", json!([])).await;
    let done = http.wait_completed(&id(&main)).await;
    assert_eq!(done["result"], 42, "{done}");
    let postprocess = job(&http, done["awaiting"].as_str().unwrap()).await;
    assert_eq!(postprocess["function"], "postprocess");
    let mut args: Vec<i64> = serde_json::from_value(postprocess["args"].clone()).unwrap();
    args.sort();
    assert_eq!(args, [7, 14, 21], "each callback appended one result");
}

/// Puts a composite over HTTP.
async fn put_composite(http: &Http, body: Value) -> Value {
    let (status, composite) = http.post("/v1/composites", body).await;
    assert_eq!(status, StatusCode::CREATED, "{composite}");
    composite
}

/// Point 6: `serial(job_zero, job_one, job_two, postprocess=...)` gives
/// (0, 1, 2), with a partial postprocess `('foo', (0, 1, 2))`; `parallel`
/// of `job_A..C` gives 42, partially `('foo', 42)`; postprocess gets
/// failures too; parts added before the composite starts, by a part while
/// it runs, and by a callback of a part before that part begins give
/// `['first', 'second', 'third']`, for both kinds; the same from the CLI
/// and from inside a job.
async fn usage_6_serial_and_parallel_composites(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("usage").await;
    http.upload_example("failing").await;

    let parts =
        |names: &[&str]| -> Value { names.iter().map(|f| json!({"function": f})).collect() };
    let serial = put_composite(
        &http,
        json!({"kind": "serial", "module": "usage",
               "parts": parts(&["job_zero", "job_one", "job_two"]),
               "postprocess": {"function": "results", "args": {}}}),
    )
    .await;
    assert_eq!(serial["function"], "@serial");
    let done = http.wait_completed(&id(&serial)).await;
    assert_eq!(done["result"], json!([0, 1, 2]), "{done}");
    let listed = http.ok(&format!("/v1/jobs/{}/parts", id(&serial))).await;
    let started: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["started_at"].as_str().unwrap())
        .collect();
    let completed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["completed_at"].as_str().unwrap())
        .collect();
    assert!(
        started[1] >= completed[0] && started[2] >= completed[1],
        "one after another: {listed}"
    );

    // [#extra_serial_tricks]: a partial postprocess, `Job(postprocess, 'foo')`.
    let tagged = put_composite(
        &http,
        json!({"kind": "serial", "module": "usage",
               "parts": parts(&["job_zero", "job_one", "job_two"]),
               "postprocess": {"function": "tagged", "args": {"extra_info": "foo"}}}),
    )
    .await;
    assert_eq!(
        http.wait_completed(&id(&tagged)).await["result"],
        json!(["foo", [0, 1, 2]])
    );

    // `parallel(job_A, job_B, job_C, postprocess=...)`: 42, and ('foo', 42).
    let parallel = put_composite(
        &http,
        json!({"kind": "parallel", "module": "usage",
               "parts": parts(&["job_a", "job_b", "job_c"]),
               "postprocess": {"function": "sum", "args": {}}}),
    )
    .await;
    assert_eq!(http.wait_completed(&id(&parallel)).await["result"], 42);
    let tagged = put_composite(
        &http,
        json!({"kind": "parallel", "module": "usage",
               "parts": parts(&["job_a", "job_b", "job_c"]),
               "postprocess": {"function": "tagged_sum", "args": {"extra_info": "foo"}}}),
    )
    .await;
    assert_eq!(
        http.wait_completed(&id(&tagged)).await["result"],
        json!(["foo", 42])
    );

    // The postprocess gets failures as well as results, to handle them.
    let failing = put_composite(
        &http,
        json!({"kind": "parallel", "module": "usage",
               "parts": [{"function": "job_a"}, {"module": "failing", "function": "divide", "args": [1, 0]}],
               "postprocess": {"function": "results", "args": {}}}),
    )
    .await;
    let done = http.wait_completed(&id(&failing)).await;
    assert_eq!(done["result"][0], 7, "{done}");
    assert_eq!(done["result"][1]["kind"], "guest-error", "{done}");

    // The footnotes: parts added before the composite starts (it waits in
    // a queue no dispatcher serves yet), by a part while it runs
    // (`first_job`), and by a callback of a part before that part begins
    // (`schedule_third`).
    create_queue(&http, "held").await;
    let dispatcher = http.dispatcher_id().await;
    let mut extended = Vec::new();
    for kind in ["serial", "parallel"] {
        let composite = put_composite(
            &http,
            json!({"kind": kind, "module": "usage", "queue": "held",
                   "postprocess": {"function": "results", "args": {}}}),
        )
        .await;
        let (status, first) = http
            .post(
                &format!("/v1/jobs/{}/parts", id(&composite)),
                json!({"function": "first_job", "args": [id(&composite)]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(first["status"], "new");
        extended.push(composite);
    }
    set_agent(&http, &dispatcher, "held", "main", json!({"size": 3})).await;
    for composite in &extended {
        let done = http.wait_completed(&id(composite)).await;
        assert_eq!(
            done["result"],
            json!(["first", "second", "third"]),
            "{done}"
        );
        let (status, body) = http
            .post(
                &format!("/v1/jobs/{}/parts", id(composite)),
                json!({"function": "job_a"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "too late: {body}");
        assert!(error_message(&body).contains("postprocess"), "{body}");
    }

    // The CLI, and from inside a job.
    let out = server.cli(&[
        "composite",
        "put",
        "parallel",
        "usage",
        "tagged_sum",
        "--part",
        "job_a",
        "--part",
        "job_b",
        "--part",
        "job_c",
        "--postprocess-args",
        r#"{"extra_info": "cli"}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_cli = stdout(&out).trim().to_owned();
    assert_eq!(
        http.wait_completed(&from_cli).await["result"],
        json!(["cli", 42])
    );
    let out = server.cli(&["composite", "parts", &from_cli]);
    assert!(stdout(&out).contains("job_b"), "{}", stdout(&out));
    for kind in ["serial", "parallel"] {
        let inside = http
            .put_job("usage", "composite_from_inside", json!([kind]))
            .await;
        assert_eq!(
            http.wait_completed(&id(&inside)).await["result"],
            42,
            "{kind}"
        );
    }

    // Bad input: named in a 4xx, nothing put.
    let (status, body) = http
        .post(
            "/v1/composites",
            json!({"kind": "sideways", "module": "usage", "postprocess": {"function": "sum"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("sideways"), "{body}");
    let (status, body) = http
        .post(
            "/v1/jobs",
            json!({"module": "usage", "function": "@parallel"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("@parallel"), "{body}");
    let (status, body) = http
        .post(
            &format!("/v1/jobs/{}/parts", id(&serial)),
            json!({"function": "job_a"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

crate::on_both_backends!(
    usage_5_returned_job_collects_results_from_callbacks,
    usage_6_serial_and_parallel_composites,
);
