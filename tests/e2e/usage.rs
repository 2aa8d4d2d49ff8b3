//! zc.async's usage document (`/work/shared/seeds/zc.async-usage.txt`), in
//! its order, with WebAssembly jobs on a real `wasync serve`: what each
//! doctest shows, over HTTP, through the CLI, and from inside jobs. Each
//! numbered point of the issue is one test; the configuration document's
//! quota list (point 8) and agent choosers (point 9) follow at the end.
//!
//! Each test runs on SQLite and, when `WASYNC_TEST_PG` is set, on
//! PostgreSQL (`sqlite::usage_…`, `postgres::usage_…`).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Http, Server, ServerOptions, shared, stderr, stdout, wait_until};

fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

async fn job(http: &Http, id: &str) -> Value {
    http.ok(&format!("/v1/jobs/{id}")).await
}

/// Waits until the job has `status` and returns it.
async fn wait_status(http: &Http, id: &str, status: &str) -> Value {
    wait_until(&format!("job {id} to be {status}"), || async {
        let job = job(http, id).await;
        (job["status"] == status).then_some(job)
    })
    .await
}

async fn patch(http: &Http, id: &str, body: Value) -> (StatusCode, Value) {
    http.patch(&format!("/v1/jobs/{id}"), body).await
}

async fn annotate(http: &Http, id: &str, name: &str, value: Value) {
    let (status, body) = http
        .put(&format!("/v1/jobs/{id}/annotations/{name}"), value)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn create_queue(http: &Http, name: &str) {
    let (status, body) = http.post("/v1/queues", json!({ "name": name })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Gives dispatcher `dispatcher` an agent in `queue` (`body` as the API
/// takes it).
async fn set_agent(http: &Http, dispatcher: &str, queue: &str, name: &str, body: Value) {
    let (status, agent) = http
        .put(
            &format!("/v1/dispatchers/{dispatcher}/agents/{queue}/{name}"),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{agent}");
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// A job of the `annotate` example that runs until annotation `go` is set
/// on it (or a minute passes) and returns that annotation's value.
fn blocking(queue: &str, quotas: &[&str]) -> Value {
    json!({
        "module": "annotate", "function": "wait_for", "queue": queue,
        "args": ["go", 60_000, "timed out", null], "quota_names": quotas,
    })
}

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

// ----- Scheduled calls -----

/// Point 2: `begin_after` holds a job until then (a time without zone is UTC);
/// `begin_by` fails a job not started in time with `timeout`, without
/// running it; a time already past runs as soon as possible, unless its
/// `begin_by` has passed too. The server's clock is moved, not waited for.
async fn usage_2_scheduled_calls_wait_for_their_time_and_expire_after_begin_by(backend: Backend) {
    let _machine = shared().await;
    let clock_dir = tempfile::tempdir().unwrap();
    let clock = clock_dir.path().join("clock");
    let options = ServerOptions {
        env: vec![("WASYNC_CLOCK_FILE".to_owned(), clock.display().to_string())],
        ..ServerOptions::default()
    };
    let server = Server::start_on_with(backend, options).await;
    let http = server.http();
    http.upload_example("hello").await;
    let move_clock = |hours: f64| {
        let ms = (hours * 3_600_000.0) as i64;
        wasync::clock::OffsetFileClock::write_offset(&clock, ms).unwrap();
    };

    // `queue.put(send_message, begin_after=datetime(...))`, in an hour,
    // written without a zone: UTC.
    let at = chrono::Utc::now() + chrono::Duration::hours(1);
    let naive = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let scheduled = http
        .put_job_with(json!({"module": "hello", "function": "hello", "begin_after": naive}))
        .await;
    assert_eq!(scheduled["status"], "pending");
    assert_eq!(scheduled["scheduled"], true);
    let begin_after =
        chrono::DateTime::parse_from_rfc3339(scheduled["begin_after"].as_str().unwrap()).unwrap();
    assert_eq!(begin_after.timestamp(), at.timestamp(), "read as UTC");
    // Jobs put after it run meanwhile; it waits ("TIME OUT").
    let plain = http.put_job("hello", "hello", json!([])).await;
    http.wait_completed(&id(&plain)).await;
    let waited = http
        .ok(&format!("/v1/jobs/{}/wait?timeout=300ms", id(&scheduled)))
        .await;
    assert_eq!(waited["status"], "pending");
    // `set_now(...)`: past its time, it runs.
    move_clock(1.01);
    let done = http.wait_completed(&id(&scheduled)).await;
    assert_eq!(done["result"], "200 OK");
    let started =
        chrono::DateTime::parse_from_rfc3339(done["started_at"].as_str().unwrap()).unwrap();
    assert!(started >= begin_after, "{done}");

    // begin_by: not started ten minutes after its time: a timeout failure,
    // and the job never ran. (Its time is in an hour; the clock jumps two.)
    let at = chrono::Utc::now() + chrono::Duration::hours(2);
    let late = http
        .put_job_with(json!({
            "module": "hello", "function": "hello",
            "begin_after": at.to_rfc3339(), "begin_by": "10m",
        }))
        .await;
    assert_eq!(late["begin_by_ms"], 600_000);
    move_clock(3.5);
    let expired = http.wait_completed(&id(&late)).await;
    assert_eq!(expired["failure"]["kind"], "timeout", "{expired}");
    assert!(
        expired["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("not started"),
        "{expired}"
    );
    assert_eq!(expired["attempts"], 0, "never run: {expired}");
    assert!(expired.get("started_at").is_none() && expired.get("result").is_none());

    // [#already_passed]: a time already past runs as soon as possible, at
    // the end of the FIFO, as if none had been given.
    let passed = http
        .put_job_with(
            json!({"module": "hello", "function": "hello", "begin_after": "2006-08-10T15:00:00"}),
        )
        .await;
    assert_eq!(passed["scheduled"], false);
    assert_eq!(http.wait_completed(&id(&passed)).await["result"], "200 OK");
    // [#already_passed_timed_out]: ... unless its begin_by has passed too:
    // the put returns it completed with the timeout failure.
    let (status, timed_out) = http
        .post(
            "/v1/jobs",
            json!({
                "module": "hello", "function": "hello",
                "begin_after": "2006-07-21T12:00:00Z", "begin_by": 3600,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{timed_out}");
    assert_eq!(timed_out["status"], "completed");
    assert_eq!(timed_out["failure"]["kind"], "timeout");
    assert_eq!(job(&http, &id(&timed_out)).await["status"], "completed");
    // The CLI's `put --begin-after --begin-by` says the same.
    let out = server.cli(&[
        "--json",
        "put",
        "hello",
        "hello",
        "--begin-after",
        "2006-07-21 12:00",
        "--begin-by",
        "1h",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let put: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(put["failure"]["kind"], "timeout", "{put}");
}

// ----- Failures -----

/// Point 3: A failure carries what a user needs to debug it: its kind, a
/// message, and the guest's backtrace with function names
/// (`getTraceback()`).
async fn usage_3_failures_carry_kind_message_and_backtrace(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("failing").await;

    // `I_am_a_bad_bad_function`: a panic, three named calls deep.
    let panicked = http
        .put_job("failing", "panics", json!(["foo is not defined"]))
        .await;
    let done = http.wait_completed(&id(&panicked)).await;
    let failure = &done["failure"];
    assert_eq!(failure["kind"], "panic", "{done}");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("foo is not defined"),
        "{failure}"
    );
    let detail = failure["detail"].as_str().unwrap();
    for function in [
        "failing::explode",
        "failing::validate_input",
        "failing::panics",
    ] {
        assert!(
            detail.contains(function),
            "the backtrace names {function}: {detail}"
        );
    }
    // A trap the guest never saw coming.
    let trapped = http.put_job("failing", "trap", json!([])).await;
    let done = http.wait_completed(&id(&trapped)).await;
    assert_eq!(done["failure"]["kind"], "trap", "{done}");
    let detail = done["failure"]["detail"].as_str().unwrap();
    assert!(detail.contains("hit_unreachable"), "{detail}");
    // An error returned on purpose keeps the author's name for it.
    let typed = http.put_job("failing", "typed_error", json!(["E42"])).await;
    let done = http.wait_completed(&id(&typed)).await;
    assert_eq!(done["failure"]["kind"], "guest-error");
    assert_eq!(
        done["failure"]["guest_kind"], "LookupError::NotFound",
        "{done}"
    );
    assert!(done["failure"]["message"].as_str().unwrap().contains("E42"));
    // `wasync show` prints all of it; `wasync wait` exits 1.
    let out = server.cli(&["show", &id(&panicked)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("panic") && text.contains("failing::explode"),
        "{text}"
    );
    let out = server.cli(&["wait", &id(&typed)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

// 4. Callbacks: see usage_callbacks.rs (sem-b).
// 5. zc.async.local (get_job, live annotations): see usage_callbacks.rs.
// 6. Returning jobs, serial and parallel: see usage_callbacks.rs.

// ----- Job quotas -----

/// Point 7: The usage document's "Job Quotas": two `waitForParallel` jobs, each
/// the other's argument (set after both are put, as the doctest mutates
/// `job.args`), see each other's live annotation when they run in
/// parallel; under a quota of size 1, `pause` runs first and the other job
/// stays pending until it completes.
async fn usage_7_quotas_serialize_what_would_otherwise_run_in_parallel(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("annotate").await;
    http.upload_example("hello").await;
    let dispatcher = http.dispatcher_id().await;

    create_queue(&http, "parallel").await;
    let put = |function: &str, queue: &str| {
        let body =
            json!({"module": "annotate", "function": function, "args": ["?"], "queue": queue});
        let http = http.clone();
        async move { id(&http.put_job_with(body).await) }
    };
    let job1 = put("wait_for_parallel", "parallel").await;
    let job2 = put("wait_for_parallel", "parallel").await;
    assert_eq!(
        patch(&http, &job1, json!({"args": [job2]})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        patch(&http, &job2, json!({"args": [job1]})).await.0,
        StatusCode::OK
    );
    set_agent(&http, &dispatcher, "parallel", "main", json!({"size": 3})).await;
    for job in [&job1, &job2] {
        let done = http.wait_completed(job).await;
        assert_eq!(done["result"], true, "each saw the other's flag: {done}");
    }

    create_queue(&http, "serial").await;
    let job1 = put("pause", "serial").await;
    let job2 = id(&http
        .put_job_with(json!({"module": "hello", "function": "hello", "queue": "serial"}))
        .await);
    // `job1.quota_names = ('test',)` before the quota exists.
    let (status, body) = patch(&http, &job1, json!({"quota_names": ["test"]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        error_message(&body).contains("unknown quota name `test`"),
        "{body}"
    );
    assert!(
        job(&http, &job1).await.get("quota_names").is_none(),
        "unchanged"
    );
    let (status, body) = http
        .post("/v1/queues/serial/quotas", json!({"name": "test"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["size"], 1);
    for job in [&job1, &job2] {
        let (status, body) = patch(&http, job, json!({"quota_names": ["test"]})).await;
        assert_eq!(
            (status, body["quota_names"].clone()),
            (StatusCode::OK, json!(["test"]))
        );
    }
    assert_eq!(
        patch(&http, &job1, json!({"args": [job2]})).await.0,
        StatusCode::OK
    );
    set_agent(&http, &dispatcher, "serial", "main", json!({"size": 3})).await;
    let first = wait_until("job1 to start", || async {
        let first = job(&http, &job1).await;
        (first["status"] != "pending" && first["status"] != "assigned").then_some(first)
    })
    .await;
    if first["status"] == "active" {
        // `job2.status == PENDING` while job1 runs.
        let second = job(&http, &job2).await;
        if job(&http, &job1).await["status"] == "active" {
            assert_eq!(second["status"], "pending", "{second}");
        }
        // `job2.annotations['zc.async.test.flag'] = False`
        annotate(&http, &job2, "flag", json!(false)).await;
    }
    let first = http.wait_completed(&job1).await;
    let second = http.wait_completed(&job2).await;
    assert_eq!(first["result"], Value::Null, "{first}");
    assert_eq!(second["result"], "200 OK");
    let time = |job: &Value, field: &str| {
        chrono::DateTime::parse_from_rfc3339(job[field].as_str().unwrap()).unwrap()
    };
    assert!(
        time(&second, "started_at") >= time(&first, "completed_at"),
        "serial: {first} {second}"
    );
}

// ----- Configuration: quotas -----

/// Point 8: Quotas exactly as the configuration document lists them, over HTTP,
/// through the CLI and from inside a job.
async fn usage_8_quotas_as_the_configuration_document_lists_them(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    http.upload_example("annotate").await;
    http.upload_example("fanout").await;
    create_queue(&http, "catalog").await;
    let quotas = "/v1/queues/catalog/quotas";
    let cc = "content%20catalog";
    let length = || async { http.ok("/v1/queues/catalog").await["length"].clone() };

    // You cannot add a job with a quota name that is not defined in the
    // queue: an error naming it, and nothing queued.
    let mul = json!({"module": "hello", "function": "add", "args": [5, 2], "queue": "catalog"});
    let mut with_cc = mul.clone();
    with_cc["quota_names"] = json!(["content catalog"]);
    let (status, body) = http.post("/v1/jobs", with_cc.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        error_message(&body).contains("unknown quota name `content catalog`"),
        "{body}"
    );
    assert_eq!(length().await, 0);
    // Nor add one to a job in the queue: it keeps its names.
    let pending = id(&http.put_job_with(mul.clone()).await);
    let (status, body) = patch(&http, &pending, json!({"quota_names": ["content catalog"]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(job_has_no_quotas(&http, &pending).await);
    // Create and remove; list.
    assert_eq!(http.ok(quotas).await["quotas"], json!([]));
    let (status, _) = http.post(quotas, json!({"name": "testing"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(quota_names(&http, quotas).await, ["testing"]);
    let (status, _) = http.delete(&format!("{quotas}/testing")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(quota_names(&http, quotas).await.is_empty());
    let (status, body) = http.delete(&format!("{quotas}/testing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = http.get("/v1/queues/nope/quotas").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Removing a quota that pending jobs name makes the name ignored.
    http.post(quotas, json!({"name": "content catalog"})).await;
    let (status, body) = patch(&http, &pending, json!({"quota_names": ["content catalog"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    http.delete(&format!("{quotas}/{cc}")).await;
    assert_eq!(
        job(&http, &pending).await["quota_names"],
        json!(["content catalog"])
    );
    let dispatcher = http.dispatcher_id().await;
    set_agent(&http, &dispatcher, "catalog", "main", json!({"size": 3})).await;
    assert_eq!(
        http.wait_completed(&pending).await["result"],
        7,
        "claimed all the same"
    );

    // Quotas default to a size of 1, which can be changed at creation or
    // later.
    let (_, quota) = http.post(quotas, json!({"name": "content catalog"})).await;
    assert_eq!(quota["size"], 1);
    let (status, quota) = http
        .patch(&format!("{quotas}/{cc}"), json!({"size": 2}))
        .await;
    assert_eq!((status, quota["size"].clone()), (StatusCode::OK, json!(2)));
    let (_, quota) = http
        .post(quotas, json!({"name": "frobnitz account", "size": 3}))
        .await;
    assert_eq!(quota["size"], 3);
    let (status, body) = http.post(quotas, json!({"name": "frobnitz account"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = http
        .patch(&format!("{quotas}/{cc}"), json!({"size": 0}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Decreasing the size of a filled quota does not affect the running
    // jobs; a quota shows its jobs and whether it is filled.
    let jobs: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(id(&http
                .put_job_with(blocking("catalog", &["content catalog"]))
                .await));
        }
        ids
    };
    wait_status(&http, &jobs[0], "active").await;
    wait_status(&http, &jobs[1], "active").await;
    let quota = http.ok(&format!("{quotas}/{cc}")).await;
    assert_eq!(quota["active"], json!([jobs[0], jobs[1]]), "{quota}");
    assert_eq!(quota["filled"], true);
    assert_eq!(job(&http, &jobs[2]).await["status"], "pending");
    let (_, quota) = http
        .patch(&format!("{quotas}/{cc}"), json!({"size": 1}))
        .await;
    assert_eq!(
        (quota["size"].clone(), quota["filled"].clone()),
        (json!(1), json!(true))
    );
    assert_eq!(
        quota["active"].as_array().unwrap().len(),
        2,
        "still running: {quota}"
    );
    annotate(&http, &jobs[0], "go", json!("done")).await;
    http.wait_completed(&jobs[0]).await;
    let quota = http.ok(&format!("{quotas}/{cc}")).await;
    assert_eq!(
        (quota["active"].clone(), quota["filled"].clone()),
        (json!([jobs[1]]), json!(true))
    );
    assert_eq!(
        job(&http, &jobs[2]).await["status"],
        "pending",
        "below the new size only"
    );
    annotate(&http, &jobs[1], "go", json!("done")).await;
    wait_status(&http, &jobs[2], "active").await;
    let quota = http.ok(&format!("{quotas}/{cc}")).await;
    assert_eq!(quota["active"], json!([jobs[2]]));
    annotate(&http, &jobs[2], "go", json!("done")).await;
    http.wait_completed(&jobs[2]).await;
    let quota = http.ok(&format!("{quotas}/{cc}")).await;
    assert_eq!(
        (quota["active"].clone(), quota["filled"].clone()),
        (json!([]), json!(false))
    );

    // From inside a job: `put` with quota names (checked the same way).
    let parent = http
        .put_job(
            "fanout",
            "put_with_quotas",
            json!(["second_job", [21], ["content catalog"], "catalog"]),
        )
        .await;
    let child = http.wait_completed(&id(&parent)).await["result"].clone();
    let child = http.wait_completed(child.as_str().unwrap()).await;
    assert_eq!(child["quota_names"], json!(["content catalog"]));
    assert_eq!(child["result"], 42);
    let refused = http
        .put_job(
            "fanout",
            "put_with_quotas",
            json!(["second_job", [1], ["nope"], "catalog"]),
        )
        .await;
    let refused = http.wait_completed(&id(&refused)).await;
    assert_eq!(refused["failure"]["guest_kind"], "context", "{refused}");
    assert!(
        refused["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown quota name `nope`"),
        "{refused}"
    );

    // The CLI, for all of it.
    let cli = |args: &[&str]| server.cli(args);
    let out = cli(&[
        "quotas",
        "--queue",
        "catalog",
        "create",
        "cli quota",
        "--size",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("size 2"), "{}", stdout(&out));
    let out = cli(&["quotas", "--queue", "catalog"]);
    let text = stdout(&out);
    assert!(
        text.contains("cli quota") && text.contains("frobnitz account"),
        "{text}"
    );
    let out = cli(&["quotas", "--queue", "catalog", "set-size", "cli quota", "4"]);
    assert!(stdout(&out).contains("size 4"), "{}", stdout(&out));
    let out = cli(&[
        "put",
        "hello",
        "hello",
        "--queue",
        "catalog",
        "--quota",
        "cli quota",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let put = stdout(&out).trim().to_owned();
    assert_eq!(
        http.wait_completed(&put).await["quota_names"],
        json!(["cli quota"])
    );
    let out = cli(&[
        "put", "hello", "hello", "--queue", "catalog", "--quota", "no such",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown quota name `no such`"),
        "{}",
        stderr(&out)
    );
    let out = cli(&[
        "--json",
        "quotas",
        "--queue",
        "catalog",
        "show",
        "cli quota",
    ]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (shown["size"].clone(), shown["filled"].clone()),
        (json!(4), json!(false))
    );
    let out = cli(&["quotas", "--queue", "catalog", "delete", "cli quota"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(&["quotas", "--queue", "catalog", "show", "cli quota"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Point 8, across processes: two servers on one database, each
/// dispatcher with free slots, never run two jobs of a quota of one at
/// once.
async fn usage_8_a_quota_holds_across_processes(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let options = || ServerOptions::default().database(&database);
    let a = Server::start_on_with(backend, options()).await;
    let b = Server::start_on_with(backend, options()).await;
    let (http, http_b) = (a.http(), b.http());
    http.upload_example("hello").await;
    let (status, body) = http
        .post("/v1/queues/default/quotas", json!({"name": "index"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut jobs = Vec::new();
    for i in 0..6 {
        let http = if i % 2 == 0 { &http } else { &http_b };
        let body = json!({"module": "hello", "function": "sleep", "args": [100], "quota_names": ["index"]});
        jobs.push(id(&http.put_job_with(body).await));
    }
    let time = |job: &Value, field: &str| {
        chrono::DateTime::parse_from_rfc3339(job[field].as_str().unwrap()).unwrap()
    };
    let mut runs = Vec::new();
    for job in &jobs {
        let done = http.wait_completed(job).await;
        runs.push((time(&done, "started_at"), time(&done, "completed_at")));
    }
    runs.sort();
    for pair in runs.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "two jobs of a quota of one overlapped: {runs:?}"
        );
    }
}

async fn job_has_no_quotas(http: &Http, id: &str) -> bool {
    job(http, id).await.get("quota_names").is_none()
}

async fn quota_names(http: &Http, path: &str) -> Vec<String> {
    http.ok(path).await["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_owned())
        .collect()
}

// ----- Configuration: agents and multiple queues -----

/// Point 9: Multiple queues: a job in queue `video` runs only on the dispatcher
/// that has an agent there. Agents: one with a filter takes only its jobs
/// (`chooseMul`); one with a preference takes its jobs first, then any
/// (`preferMul`).
async fn usage_9_queues_and_agents_choose_the_jobs(backend: Backend) {
    let _machine = shared().await;
    // Two processes on one database, each with its own dispatcher.
    let database = backend.database();
    let (id_a, id_b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let options = |dispatcher: &str| {
        ServerOptions::default()
            .database(&database)
            .args(["--dispatcher-id", dispatcher])
    };
    let a = Server::start_on_with(backend, options(&id_a)).await;
    let b = Server::start_on_with(backend, options(&id_b)).await;
    let (http, http_b) = (a.http(), b.http());
    http.upload_example("hello").await;
    http.upload_example("annotate").await;

    create_queue(&http, "video").await;
    set_agent(&http, &id_b, "video", "main", json!({"size": 2})).await;
    let mut videos = Vec::new();
    for _ in 0..4 {
        let body = json!({"module": "hello", "function": "hello", "queue": "video"});
        videos.push(id(&http.put_job_with(body).await));
    }
    for video in &videos {
        let done = http.wait_completed(video).await;
        assert_eq!(
            done["dispatcher"],
            id_b.as_str(),
            "only B serves video: {done}"
        );
    }
    // Both serve the default queue (each has its `main` agent).
    let plain = http_b.put_job("hello", "hello", json!([])).await;
    http_b.wait_completed(&id(&plain)).await;

    // chooseMul: an agent that takes only `wait_for` jobs.
    create_queue(&http, "calc").await;
    let set = |name: &str| json!({"module": "annotate", "function": "set", "args": [name, 1, null], "queue": "calc"});
    let s1 = id(&http.put_job_with(set("a")).await);
    let s2 = id(&http.put_job_with(set("b")).await);
    let w1 = id(&http.put_job_with(blocking("calc", &[])).await);
    let w2 = id(&http.put_job_with(blocking("calc", &[])).await);
    let out = b.cli(&[
        "agents",
        "-d",
        &id_b,
        "set",
        "calc",
        "mul",
        "--size",
        "1",
        "--function",
        "wait_for",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_status(&http, &w1, "active").await;
    annotate(&http, &w1, "go", json!(1)).await;
    wait_status(&http, &w2, "active").await;
    for skipped in [&s1, &s2] {
        assert_eq!(
            job(&http, skipped).await["status"],
            "pending",
            "the filter passed it over"
        );
    }
    annotate(&http, &w2, "go", json!(2)).await;
    http.wait_completed(&w2).await;

    // preferMul: the same agent, now preferring `wait_for` but taking any.
    let w3 = id(&http.put_job_with(blocking("calc", &[])).await);
    let out = b.cli(&[
        "agents", "-d", &id_b, "set", "calc", "mul", "--size", "1", "--prefer", "wait_for",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("prefers"), "{}", stdout(&out));
    let first = wait_status(&http, &w3, "active").await;
    assert_eq!(first["agent"], "mul");
    for later in [&s1, &s2] {
        assert_eq!(
            job(&http, later).await["status"],
            "pending",
            "after the preferred job"
        );
    }
    annotate(&http, &w3, "go", json!(3)).await;
    for any in [&s1, &s2] {
        let done = http.wait_completed(any).await;
        assert_eq!(
            (done["agent"].clone(), done["dispatcher"].clone()),
            (json!("mul"), json!(id_b))
        );
    }
    let agents = http.ok(&format!("/v1/dispatchers/{id_b}/agents")).await;
    let mul = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|agent| agent["name"] == "mul")
        .cloned()
        .unwrap();
    assert_eq!(mul["prefer"], json!({"functions": ["wait_for"]}), "{mul}");
    assert!(mul.get("filter").is_none(), "{mul}");
}

crate::on_both_backends!(
    usage_1_arguments_reach_the_function_and_change_until_claimed,
    usage_2_scheduled_calls_wait_for_their_time_and_expire_after_begin_by,
    usage_3_failures_carry_kind_message_and_backtrace,
    usage_7_quotas_serialize_what_would_otherwise_run_in_parallel,
    usage_8_quotas_as_the_configuration_document_lists_them,
    usage_8_a_quota_holds_across_processes,
    usage_9_queues_and_agents_choose_the_jobs,
);
