//! Per-key concurrency and rate limits (issue 18 §3, §4) over HTTP and the
//! CLI: partitioned quotas (`"partitioned": true`, `quotas create
//! --partitioned`), a job's `quota_keys` (`put --quota-key NAME=KEY`), the
//! 422 for a quota named the wrong way, the keys in a quota's status; a
//! queue's rate (`PUT /v1/queues/{name}/rate`, `queues rate`) holding
//! starts to their window; and a partitioned quota held across two server
//! processes on one database.

use chrono::{DateTime, FixedOffset};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Http, Server, ServerOptions, shared, stderr, stdout, wait_until};

fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

fn time(job: &Value, field: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(job[field].as_str().expect("a time")).expect("RFC 3339")
}

/// Each job's (start, end), for the given ids, once all completed.
async fn runs(http: &Http, jobs: &[String]) -> Vec<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
    let mut runs = Vec::new();
    for job in jobs {
        let done = http.wait_completed(job).await;
        assert!(done["failure"].is_null(), "{done}");
        runs.push((time(&done, "started_at"), time(&done, "completed_at")));
    }
    runs.sort();
    runs
}

/// Asserts no two of these runs overlapped.
fn one_at_a_time(what: &str, runs: &[(DateTime<FixedOffset>, DateTime<FixedOffset>)]) {
    for pair in runs.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "{what}: two runs overlapped: {runs:?}"
        );
    }
}

/// A partitioned quota of size 1: each key's jobs run one at a time, put
/// over HTTP or with the CLI; a put naming the quota the wrong way is
/// refused 422 naming it; the quota shows its keys.
async fn a_partitioned_quota_holds_each_key(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--main-agent-size", "4"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hello").await;
    let (status, quota) = http
        .post(
            "/v1/queues/default/quotas",
            json!({"name": "tenants", "size": 1, "partitioned": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{quota}");
    assert_eq!(quota["partitioned"], true, "{quota}");
    let out = server.cli(&["quotas", "create", "serial", "--size", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Named the wrong way: refused, naming the quota.
    let sleep = |extra: Value| {
        let mut body = json!({"module": "hello", "function": "sleep", "args": [200]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for (extra, names) in [
        (json!({"quota_names": ["tenants"]}), "quota `tenants`"),
        (json!({"quota_keys": {"serial": "acme"}}), "quota `serial`"),
    ] {
        let (status, body) = http.post("/v1/jobs", sleep(extra)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "quota_mismatch", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(names),
            "{body}"
        );
    }
    let out = server.cli(&["put", "hello", "sleep", "[1]", "--quota-key", "serial=x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("quota `serial`"), "{}", stderr(&out));
    let out = server.cli(&["put", "hello", "sleep", "[1]", "--quota-key", "tenants"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("NAME=KEY"), "{}", stderr(&out));

    let mut acme = Vec::new();
    let mut globex = Vec::new();
    for _ in 0..3 {
        let job = http
            .put_job_with(sleep(json!({"quota_keys": {"tenants": "acme"}})))
            .await;
        assert_eq!(job["quota_keys"], json!({"tenants": "acme"}), "{job}");
        acme.push(id(&job));
        let out = server.cli(&[
            "put",
            "hello",
            "sleep",
            "[200]",
            "--quota-key",
            "tenants=globex",
            "--json",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        globex.push(id(&serde_json::from_str(&stdout(&out)).expect("the job")));
    }
    let shown = http.ok("/v1/queues/default/quotas/tenants").await;
    let keys: Vec<&str> = shown["keys"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k["key"].as_str()).collect())
        .unwrap_or_default();
    assert!(!keys.is_empty(), "keys with jobs are shown: {shown}");
    let out = server.cli(&["quotas", "show", "tenants"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("size 1 per key"), "{}", stdout(&out));

    one_at_a_time("acme", &runs(&http, &acme).await);
    one_at_a_time("globex", &runs(&http, &globex).await);
    let shown = http.ok("/v1/queues/default/quotas/tenants").await;
    assert!(shown.get("keys").is_none(), "no key has jobs left: {shown}");
}

/// A rate of 2 starts per second on the queue: 6 jobs take at least three
/// windows, the jobs over it wait (they do not fail) and all run, woken
/// when a window opens; the queue's status shows the rate; bad rates are
/// refused.
async fn a_queue_rate_spreads_starts_over_windows(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--main-agent-size", "4"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hello").await;
    let out = server.cli(&["queues", "rate", "default", "0/1s"]);
    assert!(!out.status.success(), "a limit of 0 is refused");
    assert!(stderr(&out).contains("limit"), "{}", stderr(&out));
    let (status, body) = http
        .put(
            "/v1/queues/default/rate",
            json!({"limit": 2, "period_ms": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("period_ms"),
        "{body}"
    );
    let out = server.cli(&["queues", "rate", "default", "2/1s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("rate: 2 per 1000 ms"),
        "{}",
        stdout(&out)
    );

    let jobs: Vec<String> = {
        let mut jobs = Vec::new();
        for _ in 0..6 {
            jobs.push(id(&http.put_job("hello", "hello", json!([])).await));
        }
        jobs
    };
    let shown = http.ok("/v1/queues/default").await;
    assert_eq!(shown["rate"]["limit"], 2, "{shown}");
    let mut starts = Vec::new();
    for job in &jobs {
        let done = http.wait_completed(job).await;
        assert_eq!(done["result"], "200 OK", "{done}");
        starts.push(time(&done, "started_at").timestamp_millis());
    }
    // Claimed in at least three windows of a second (two per window), so
    // the last started at least a second after the first (a start is
    // recorded just after its claim, so allow for that).
    starts.sort();
    assert!(
        starts[5] - starts[0] >= 900,
        "6 jobs at 2 per second started within {} ms: {starts:?}",
        starts[5] - starts[0]
    );
    let out = server.cli(&["queues", "show", "default"]);
    assert!(
        stdout(&out).contains("rate: 2 per 1000 ms"),
        "{}",
        stdout(&out)
    );
    let out = server.cli(&["queues", "rate", "default", "--off"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(http.ok("/v1/queues/default").await.get("rate").is_none());
}

/// Two server processes on one database claim one partitioned quota of
/// size 1: each key's jobs never overlap, whichever process runs them.
async fn a_partitioned_quota_holds_across_processes(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let options = || ServerOptions::default().database(&database);
    let a = Server::start_on_with(backend, options()).await;
    let b = Server::start_on_with(backend, options()).await;
    let (http, http_b) = (a.http(), b.http());
    http.upload_example("hello").await;
    let (status, body) = http
        .post(
            "/v1/queues/default/quotas",
            json!({"name": "tenants", "partitioned": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut by_key: [Vec<String>; 2] = Default::default();
    for i in 0..8 {
        let http = if i % 2 == 0 { &http } else { &http_b };
        let key = ["a", "b"][i / 4];
        let body = json!({"module": "hello", "function": "sleep", "args": [100],
                          "quota_keys": {"tenants": key}});
        by_key[i / 4].push(id(&http.put_job_with(body).await));
    }
    for (key, jobs) in ["a", "b"].iter().zip(&by_key) {
        one_at_a_time(key, &runs(&http, jobs).await);
    }
}

/// A running job's `put` names its key (`quota-keys` in the WIT
/// `job-request`, the Rust SDK's `quota_key`): the jobs it puts count per
/// key; a key for a plain quota fails the put, naming the quota.
async fn a_guests_put_names_its_key(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--main-agent-size", "4"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hello").await;
    http.upload_example("fanout").await;
    for (name, partitioned) in [("tenants", true), ("serial", false)] {
        let (status, body) = http
            .post(
                "/v1/queues/default/quotas",
                json!({"name": name, "size": 1, "partitioned": partitioned}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let put = |quota: &str| {
        json!({"module": "fanout", "function": "quota_keyed_put",
               "args": ["hello", "sleep", [150], quota, "acme"]})
    };
    let mut children = Vec::new();
    for _ in 0..3 {
        let parent = id(&http.put_job_with(put("tenants")).await);
        let done = http.wait_completed(&parent).await;
        let child = done["result"].as_str().expect("the child's id").to_owned();
        let job = http.ok(&format!("/v1/jobs/{child}")).await;
        assert_eq!(job["quota_keys"], json!({"tenants": "acme"}), "{job}");
        children.push(child);
    }
    one_at_a_time("acme", &runs(&http, &children).await);
    let parent = id(&http.put_job_with(put("serial")).await);
    let done = http.wait_completed(&parent).await;
    let failure = done["failure"].to_string();
    assert!(failure.contains("quota `serial`"), "{done}");
}

/// A schedule and a named job name their jobs' keys in a partitioned
/// quota (`quota_keys`; `schedules create|update --quota-key`, `names set
/// --quota-key`): every job they put carries the key and holds its slot,
/// so a schedule's jobs, put every second and each running longer than
/// that, never overlap. A quota named the wrong way is refused with 422
/// at create, PATCH and set, not at each put; a put by name may give its
/// own key.
async fn schedules_and_named_jobs_put_into_their_key(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--main-agent-size", "4"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hello").await;
    for (name, partitioned) in [("tenants", true), ("serial", false)] {
        let (status, body) = http
            .post(
                "/v1/queues/default/quotas",
                json!({"name": name, "size": 1, "partitioned": partitioned}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let mismatch = |status: StatusCode, body: &Value| {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "quota_mismatch", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`serial`"),
            "{body}"
        );
    };
    let (status, body) = http
        .post(
            "/v1/schedules",
            json!({"name": "bad", "module": "hello", "function": "sleep", "args": [1],
                   "delay": "1s", "quota_keys": {"serial": "acme"}}),
        )
        .await;
    mismatch(status, &body);
    let (status, body) = http
        .put(
            "/v1/job-names/bad",
            json!({"module": "hello", "function": "sleep", "quota_keys": {"serial": "acme"}}),
        )
        .await;
    mismatch(status, &body);

    let out = server.cli(&[
        "schedules",
        "create",
        "tick",
        "hello",
        "sleep",
        "[1200]",
        "--every",
        "1s",
        "--quota-key",
        "tenants=acme",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let acme = json!({"tenants": "acme"});
    let shown = http.ok("/v1/schedules/tick").await;
    assert_eq!(shown["job"]["quota_keys"], acme, "{shown}");
    wait_until("three occurrences of the schedule put", || async {
        let view = http.ok("/v1/schedules/tick?runs=10").await;
        (view["runs"].as_array().map_or(0, Vec::len) >= 3).then_some(())
    })
    .await;
    let (status, body) = http.post("/v1/schedules/tick/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = http.ok("/v1/schedules/tick?runs=10").await;
    let mut jobs = Vec::new();
    for job in view["runs"].as_array().unwrap() {
        assert_eq!(job["quota_keys"], acme, "{job}");
        jobs.push(id(job));
    }
    one_at_a_time("the schedule's acme jobs", &runs(&http, &jobs).await);

    // PATCH and the CLI's update replace the key; a plain quota is refused.
    let (status, patched) = http
        .patch(
            "/v1/schedules/tick",
            json!({"quota_keys": {"tenants": "globex"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["job"]["quota_keys"], json!({"tenants": "globex"}));
    let out = server.cli(&[
        "schedules",
        "update",
        "tick",
        "--quota-key",
        "tenants=initech",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = http.ok("/v1/schedules/tick").await;
    assert_eq!(
        shown["job"]["quota_keys"],
        json!({"tenants": "initech"}),
        "{shown}"
    );
    let (status, body) = http
        .patch(
            "/v1/schedules/tick",
            json!({"quota_keys": {"serial": "acme"}}),
        )
        .await;
    mismatch(status, &body);

    // A named job's key: each put by the name carries it unless it gives
    // its own.
    let out = server.cli(&[
        "names",
        "set",
        "nap",
        "hello",
        "sleep",
        "--args",
        "[300]",
        "--quota-key",
        "tenants=acme",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(http.ok("/v1/job-names/nap").await["quota_keys"], acme);
    let mut by_name = Vec::new();
    for _ in 0..2 {
        let (status, job) = http.post("/v1/job-names/nap/jobs", json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        assert_eq!(job["quota_keys"], acme, "{job}");
        by_name.push(id(&job));
    }
    let (status, own) = http
        .post(
            "/v1/job-names/nap/jobs",
            json!({"quota_keys": {"tenants": "globex"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["quota_keys"], json!({"tenants": "globex"}), "{own}");
    // The client's options go before a command with subcommands.
    let out = server.cli(&[
        "--json",
        "names",
        "put",
        "nap",
        "--quota-key",
        "tenants=initech",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cli_job: Value = serde_json::from_str(&stdout(&out)).expect("the job");
    let cli_job = http.ok(&format!("/v1/jobs/{}", id(&cli_job))).await;
    assert_eq!(
        cli_job["quota_keys"],
        json!({"tenants": "initech"}),
        "{cli_job}"
    );
    one_at_a_time("the named job's acme jobs", &runs(&http, &by_name).await);
}

crate::on_both_backends!(
    a_partitioned_quota_holds_each_key,
    a_guests_put_names_its_key,
    a_queue_rate_spreads_starts_over_windows,
    a_partitioned_quota_holds_across_processes,
    schedules_and_named_jobs_put_into_their_key,
);
