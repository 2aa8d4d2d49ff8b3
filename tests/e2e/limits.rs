//! Limits that always hold (issue 13): jobs put without limits are stopped
//! by the server's defaults, an agent's `time_cap_ms` bounds what a job
//! asks for, and a job shows the limits each run ran under and what each
//! consumed; a queue sums its jobs' runs, a dispatcher the runs it ended.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::runs::id;
use crate::support::{Backend, Server, ServerOptions, shared};

/// The job with its runs.
async fn job(http: &crate::support::Http, id: &str) -> Value {
    http.ok(&format!("/v1/jobs/{id}")).await
}

/// A spinning guest and a guest sleeping in a WASI clock wait, both put
/// with `"limits": {}`, end with `timeout` at the server's default time
/// limit; each shows the limits its run ran under (the defaults) and what
/// it consumed, and the queue sums them.
async fn a_job_put_without_limits_is_stopped_by_the_default(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--job-time-limit", "1500ms"]),
    )
    .await;
    let http = server.http();
    http.upload_example("spin").await;
    http.upload_example("hello").await;
    let spin = id(&http
        .put_job_with(json!({"module": "spin", "function": "spin", "limits": {}}))
        .await);
    let sleep = id(&http
        .put_job_with(
            json!({"module": "hello", "function": "sleep", "args": [3_600_000], "limits": {}}),
        )
        .await);
    for job_id in [&spin, &sleep] {
        let done = http.wait_completed(job_id).await;
        assert_eq!(done["failure"]["kind"], "timeout", "{done}");
        let shown = job(&http, job_id).await;
        let run = &shown["runs"][0];
        assert_eq!(run["attempt"], 1, "{shown}");
        assert_eq!(run["limits"]["timeout_ms"], 1500, "{shown}");
        assert_eq!(run["limits"]["fuel"], 1_000_000_000_000u64, "{shown}");
        assert_eq!(run["limits"]["memory_bytes"], 256u64 << 20, "{shown}");
        assert!(run["usage"]["wall_ms"].as_u64().unwrap() >= 1500, "{shown}");
        assert!(
            run["usage"]["peak_memory_bytes"].as_u64().unwrap() > 0,
            "{shown}"
        );
    }
    // Fuel is counted as wasmtime writes it back (at calls and returns):
    // a loop stopped by the deadline shows what it used until its last
    // call, not more than that.
    let spun = job(&http, &spin).await;
    assert!(
        spun["runs"][0]["usage"]["fuel"].as_u64().unwrap() > 0,
        "{spun}"
    );
    // The attempts history shows each failed attempt's run.
    let attempts = http.ok(&format!("/v1/jobs/{spin}/attempts")).await;
    let last = attempts["attempts"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["run"]["limits"]["timeout_ms"], 1500, "{attempts}");

    let queue = http.ok("/v1/queues/default").await;
    let usage = &queue["usage"];
    assert_eq!(usage["runs"], 2, "{queue}");
    assert!(usage["wall_ms"].as_u64().unwrap() >= 3000, "{queue}");
    assert!(usage["fuel"].as_u64().unwrap() > 0, "{queue}");
    assert!(usage["peak_memory_bytes"].as_u64().unwrap() > 0, "{queue}");

    // The dispatcher that ran them sums the same runs in its statistics;
    // a window that ended before they ran sums none.
    let dispatcher = http.dispatcher_id().await;
    let stats = http
        .ok(&format!("/v1/dispatchers/{dispatcher}/stats"))
        .await;
    assert_eq!(stats["usage"], queue["usage"], "{stats}");
    assert_eq!(stats["started"], 2, "{stats}");
    let before = http
        .ok(&format!(
            "/v1/dispatchers/{dispatcher}/stats?before=2000-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(before["usage"]["runs"], 0, "{before}");
}

/// An agent's `time_cap_ms` bounds the time limit a job asks for, and is
/// the limit of a job that asks for none.
async fn an_agents_time_cap_bounds_what_a_job_asks(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("spin").await;
    let dispatcher = http.dispatcher_id().await;
    let path = format!("/v1/dispatchers/{dispatcher}/agents/default/main");
    let (code, agent) = http.put(&path, json!({"size": 3, "time_cap_ms": 0})).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{agent}");
    assert!(
        agent["error"]["message"]
            .as_str()
            .unwrap()
            .contains("time_cap_ms")
    );
    let (code, agent) = http
        .put(&path, json!({"size": 3, "time_cap_ms": 800}))
        .await;
    assert_eq!(code, StatusCode::OK, "{agent}");
    assert_eq!(agent["time_cap_ms"], 800);
    let greedy = id(&http
        .put_job_with(
            json!({"module": "spin", "function": "spin", "limits": {"timeout_ms": 3_600_000}}),
        )
        .await);
    let modest = id(&http
        .put_job_with(json!({"module": "spin", "function": "spin"}))
        .await);
    for job_id in [&greedy, &modest] {
        let done = http.wait_completed(job_id).await;
        assert_eq!(done["failure"]["kind"], "timeout", "{done}");
        let shown = job(&http, job_id).await;
        assert_eq!(shown["runs"][0]["limits"]["timeout_ms"], 800, "{shown}");
    }
    // The CLI sets it too.
    let out = server.cli(&["agents", "set", "default", "main", "--time-cap", "2s"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    assert!(crate::support::stdout(&out).contains("time cap 2000 ms"));
}

/// The fan-out cap: a job putting more jobs than one run may put gets an
/// error it handles, naming the cap, once it has put that many; the jobs
/// it put before run.
async fn a_put_storm_stops_at_the_fan_out_cap(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--job-put-cap", "40"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hostile").await;
    let storm = id(&http.put_job("hostile", "put_storm", json!([1000])).await);
    let done = http.wait_completed(&storm).await;
    let result = &done["result"];
    assert_eq!(result["put"], 40, "{done}");
    let error = result["error"]
        .as_str()
        .expect("the refusal, handled by the job");
    assert!(error.contains("at most 40"), "{error}");
    assert!(error.contains("fan-out cap"), "{error}");
    crate::support::wait_until("the 40 children to run", || async {
        let usage = http.ok("/v1/queues/default").await;
        (usage["usage"]["runs"].as_u64() == Some(41)).then_some(())
    })
    .await;
}

crate::on_both_backends!(
    a_job_put_without_limits_is_stopped_by_the_default,
    an_agents_time_cap_bounds_what_a_job_asks,
    a_put_storm_stops_at_the_fan_out_cap,
);
