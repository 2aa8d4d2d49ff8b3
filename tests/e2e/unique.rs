//! Unique jobs over HTTP, the CLI and a guest's `put`; two server
//! processes racing the same key; named jobs carrying their policy
//! (retry, limits, priority, uniqueness).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Server, ServerOptions, exclusive, shared, stderr, stdout};

fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

/// A put's `unique` over HTTP (single, batch, by queue path), the CLI's
/// `--unique`/`--unique-key`, and bad uniqueness refused with 400.
async fn unique_puts_answer_with_the_job_holding_the_key(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    // Paused: the jobs stay pending, holding their keys.
    let (status, body) = http.post("/v1/queues/default/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let body = json!({"module": "hello", "function": "hello", "unique": {"key": "nightly"}});
    let (status, first) = http.post("/v1/jobs", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(first.get("duplicate").is_none(), "{first}");
    let (status, again) = http.post("/v1/jobs", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(id(&again), id(&first));
    let (status, by_path) = http
        .post(
            "/v1/queues/default/jobs",
            json!({"module": "hello", "function": "hello", "unique": {"key": "nightly"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{by_path}");
    assert_eq!(id(&by_path), id(&first));

    // Derived keys: same module, function and args collide; other args do
    // not.
    let derived =
        |args: Value| json!({"module": "hello", "function": "hello", "args": args, "unique": {}});
    let (status, batch) = http
        .post(
            "/v1/jobs/batch",
            json!([
                derived(json!([])),
                derived(json!([])),
                body,
                derived(json!({"x": 1}))
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(
        batch["duplicate"],
        json!([false, true, true, false]),
        "{batch}"
    );
    let ids = batch["ids"].as_array().unwrap();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[2].as_str(), Some(id(&first).as_str()));
    assert_ne!(ids[0], ids[3]);
    let (status, plain_batch) = http
        .post(
            "/v1/jobs/batch",
            json!([{"module": "hello", "function": "hello"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plain_batch}");
    assert!(plain_batch.get("duplicate").is_none(), "{plain_batch}");

    // The CLI says so, and prints the id of the job holding the key.
    let out = server.cli(&["put", "hello", "hello", "--unique-key", "nightly"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), id(&first));
    assert!(stderr(&out).contains("duplicate"), "{}", stderr(&out));
    let out = server.cli(&["put", "hello", "hello", "--unique-key", "cli", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cli_job: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(cli_job.get("duplicate").is_none(), "{cli_job}");
    assert!(!stderr(&out).contains("duplicate"), "{}", stderr(&out));

    // Bad uniqueness: 400 naming the problem, nothing put.
    for (unique, says) in [
        (json!({"states": ["pending"]}), "`assigned` is missing"),
        (json!({"key": ""}), "`unique.key` is empty"),
        (json!({"period_ms": 0}), "period_ms"),
        (json!({"states": ["soon"]}), "soon"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (status, body) = http
            .post(
                "/v1/jobs",
                json!({"module": "hello", "function": "hello", "unique": unique}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{unique}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{unique}: {message}");
    }
    let out = server.cli(&["put", "hello", "hello", "--unique-state", "later"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("later"), "{}", stderr(&out));

    // Once the holder completes, its key no longer blocks.
    let (status, body) = http.post("/v1/queues/default/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    http.wait_completed(&id(&first)).await;
    let (status, next) = http
        .post(
            "/v1/jobs",
            json!({"module": "hello", "function": "hello", "unique": {"key": "nightly"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_ne!(id(&next), id(&first));
}

/// A running job's `put` with `unique` gets the id of the job holding the
/// key: `unique_put_twice` puts the same unique job twice and returns
/// both ids; the job carries the priority asked for.
async fn a_guest_put_gets_the_id_of_the_job_holding_the_key(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("fanout").await;
    for key in [json!("guest-key"), Value::Null] {
        let job = http
            .put_job("fanout", "unique_put_twice", json!([key, 21, 4]))
            .await;
        let done = http.wait_completed(&id(&job)).await;
        let ids = done["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{done}"));
        assert_eq!(ids.len(), 2, "{done}");
        assert_eq!(ids[0], ids[1], "the second put found the first: {done}");
        let child = http.wait_completed(ids[0].as_str().unwrap()).await;
        assert_eq!(child["priority"], 4, "{child}");
        assert_eq!(child["result"], 42, "{child}");
    }
}

/// Two server processes on one database put the same unique key at once,
/// through both: one job is inserted, and every answer names it.
async fn two_servers_racing_one_key_insert_one_job(backend: Backend) {
    let _machine = exclusive().await;
    let database = backend.database();
    let options = || ServerOptions::default().database(&database);
    let first = Server::start_on_with(backend, options()).await;
    let second = Server::start_on_with(backend, options()).await;
    let (a, b) = (first.http(), second.http());
    a.upload_example("hello").await;
    a.post("/v1/queues/default/pause", json!({})).await;
    for round in 0..5 {
        let body = json!({
            "module": "hello", "function": "hello",
            "unique": {"key": format!("race-{round}")}
        });
        let puts: Vec<_> = (0..10)
            .map(|i| {
                let http = if i % 2 == 0 { a.clone() } else { b.clone() };
                let body = body.clone();
                tokio::spawn(async move { http.post("/v1/jobs", body).await })
            })
            .collect();
        let mut ids = std::collections::HashSet::new();
        let mut created = 0;
        for put in puts {
            let (status, job) = put.await.unwrap();
            match status {
                StatusCode::CREATED => created += 1,
                StatusCode::OK => assert_eq!(job["duplicate"], true, "{job}"),
                other => panic!("{other}: {job}"),
            }
            ids.insert(id(&job));
        }
        assert_eq!((created, ids.len()), (1, 1), "round {round}: one job put");
    }
    let pending = a.ok("/v1/queues/default/jobs").await;
    assert_eq!(pending["jobs"].as_array().unwrap().len(), 5, "{pending}");
}

/// A named job keeps a retry policy, limits, a priority and uniqueness,
/// and every put by its name carries them unless the put gives its own.
async fn named_jobs_carry_their_policy(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let (status, named) = http
        .put(
            "/v1/job-names/greet",
            json!({
                "module": "hello", "function": "hello",
                "retry": {"max_attempts": 7},
                "limits": {"fuel": 123456789},
                "priority": 6,
                "unique": {"key": "greeting"}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{named}");
    assert_eq!(named["priority"], 6, "{named}");
    assert_eq!(named["unique"]["key"], "greeting", "{named}");
    let shown = http.ok("/v1/job-names/greet").await;
    assert_eq!(shown["retry"]["max_attempts"], 7, "{shown}");
    assert_eq!(shown["limits"]["fuel"], 123456789, "{shown}");

    http.post("/v1/queues/default/pause", json!({})).await;
    let (status, job) = http.post("/v1/job-names/greet/jobs", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["priority"], 6, "{job}");
    assert_eq!(job["retry"]["max_attempts"], 7, "{job}");
    assert_eq!(job["limits"]["fuel"], 123456789, "{job}");
    let (status, again) = http.post("/v1/job-names/greet/jobs", json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["duplicate"].clone(), id(&again)),
        (json!(true), id(&job))
    );
    // The put's own options win.
    let (status, own) = http
        .post(
            "/v1/job-names/greet/jobs",
            json!({"priority": -1, "unique": {"key": "other"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["priority"], -1, "{own}");

    // A bad policy is refused when the name is set, naming it.
    let (status, body) = http
        .put(
            "/v1/job-names/bad",
            json!({"module": "hello", "function": "hello", "unique": {"states": ["active"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unique.states"),
        "{body}"
    );
}

/// A PATCH of a pending job's args derives its key again when the key was
/// derived from them: the job then holds the new key (a put of those args
/// answers with it), and a PATCH onto a key another job holds is refused
/// with 409 naming that job, the job unchanged. An explicit key stays.
async fn a_patch_of_args_derives_the_key_again(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    let (status, body) = http.post("/v1/queues/default/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let derived =
        |args: Value| json!({"module": "hello", "function": "echo", "args": args, "unique": {}});
    let a = http.put_job_with(derived(json!(["a"]))).await;
    let b = http.put_job_with(derived(json!(["b"]))).await;

    let (status, changed) = http
        .patch(&format!("/v1/jobs/{}", id(&a)), json!({"args": ["c"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["args"], json!(["c"]));
    let (status, same) = http.post("/v1/jobs", derived(json!(["c"]))).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(
        (same["duplicate"].clone(), id(&same)),
        (json!(true), id(&a))
    );
    let (status, freed) = http.post("/v1/jobs", derived(json!(["a"]))).await;
    assert_eq!(status, StatusCode::CREATED, "the old key is free: {freed}");

    let (status, refused) = http
        .patch(&format!("/v1/jobs/{}", id(&b)), json!({"args": ["c"]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "conflict", "{refused}");
    assert_eq!(refused["error"]["holder"], id(&a).as_str(), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains(&id(&a)), "{message}");
    let unchanged = http.ok(&format!("/v1/jobs/{}", id(&b))).await;
    assert_eq!(unchanged["args"], json!(["b"]), "{unchanged}");

    let explicit = http
        .put_job_with(
            json!({"module": "hello", "function": "echo", "args": [1], "unique": {"key": "k"}}),
        )
        .await;
    let (status, body) = http
        .patch(
            &format!("/v1/jobs/{}", id(&explicit)),
            json!({"args": ["z"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, again) = http
        .post(
            "/v1/jobs",
            json!({"module": "hello", "function": "echo", "args": [1], "unique": {"key": "k"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "an explicit key stays: {again}");
    assert_eq!(id(&again), id(&explicit));
}

crate::on_both_backends!(
    unique_puts_answer_with_the_job_holding_the_key,
    a_guest_put_gets_the_id_of_the_job_holding_the_key,
    two_servers_racing_one_key_insert_one_job,
    named_jobs_carry_their_policy,
    a_patch_of_args_derives_the_key_again,
);
