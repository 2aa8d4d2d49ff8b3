//! Points 7 and 8: the usage document's "Job Quotas" and the
//! configuration document's quotas.

#[allow(unused_imports)]
use super::*;

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

crate::on_both_backends!(
    usage_7_quotas_serialize_what_would_otherwise_run_in_parallel,
    usage_8_quotas_as_the_configuration_document_lists_them,
    usage_8_a_quota_holds_across_processes,
);
