//! Scoped API tokens (issue 13, "Tenants and tokens"): a token limited to
//! a queue is refused elsewhere (403 naming the scope and the queue), its
//! jobs cannot read, annotate or put outside its queues (answered "not
//! found", exactly as for what does not exist), a revoked token is refused
//! (401), the secret is shown once and only its hash stored, and a token
//! sees only the modules it may.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Backend, Http, Server, ServerOptions, shared};

const ADMIN: &str = "the-admin-token";

async fn server(backend: Backend) -> Server {
    Server::start_on_with(backend, ServerOptions::default().args(["--token", ADMIN])).await
}

/// Creates a token as the admin; returns its secret.
async fn token(admin: &Http, name: &str, queues: &[&str], scopes: &[&str]) -> String {
    let body = json!({ "name": name, "queues": queues, "scopes": scopes });
    let (status, created) = admin.post("/v1/tokens", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["secret"].as_str().expect("a secret").to_owned()
}

/// Creates a queue with an agent of its own, as the admin.
async fn create_queue(admin: &Http, name: &str) {
    let (status, body) = admin.post("/v1/queues", json!({ "name": name })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let dispatcher = admin.dispatcher_id().await;
    let agent = format!("/v1/dispatchers/{dispatcher}/agents/{name}/main");
    let (status, body) = admin.put(&agent, json!({ "size": 3 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A server with queues `a` and `b` and the admin's uploads of
/// `examples`; its admin client.
async fn tenants(backend: Backend, examples: &[&str]) -> (Server, Http) {
    let s = server(backend).await;
    let admin = s.http();
    for example in examples {
        admin.upload_example(example).await;
    }
    create_queue(&admin, "a").await;
    create_queue(&admin, "b").await;
    (s, admin)
}

/// Runs the CLI as the admin (the client options before the command,
/// which has subcommands).
fn admin_cli(s: &Server, args: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::support::WASYNC)
        .args(["--server", &s.url, "--token", ADMIN])
        .args(args)
        .env_remove("WASYNC_TOKEN")
        .output()
        .expect("run the wasync CLI")
}

/// Puts a job in `queue` as `http` and waits for it.
async fn run(http: &Http, queue: &str, module: &str, function: &str, args: Value) -> Value {
    let body = json!({ "module": module, "function": function, "args": args });
    let (status, job) = http.post(&format!("/v1/queues/{queue}/jobs"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    http.wait_completed(job["id"].as_str().unwrap()).await
}

fn failure_message(job: &Value) -> String {
    assert!(job["failure"].is_object(), "the job should fail: {job}");
    job["failure"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A token limited to queue `a` gets 403 naming the scope and the queue
/// on queue `b`; a job of `b` is, for it and for its jobs, exactly what a
/// job that does not exist is; it lists only what it may read; revoked,
/// it is refused with 401.
async fn a_token_is_held_to_its_queues(backend: Backend) {
    let _machine = shared().await;
    let (s, admin) = tenants(backend, &["annotate", "fanout"]).await;
    let alice = Http::new(
        &s.url,
        Some(token(&admin, "alice", &["a"], &["read", "put"]).await),
    );

    // Over HTTP: `a` yes, `b` 403 naming the scope and the queue.
    let mine = run(&alice, "a", "annotate", "set", json!(["k", 1, null])).await;
    assert!(mine["failure"].is_null(), "{mine}");
    let put = json!({ "module": "annotate", "function": "set", "args": ["k", 1, null] });
    let mut put_in_b = put.clone();
    put_in_b["queue"] = json!("b");
    for (status, body) in [
        alice.post("/v1/queues/b/jobs", put).await,
        alice.post("/v1/jobs", put_in_b).await,
    ] {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`put`") && message.contains("`b`"),
            "{message}"
        );
    }
    let (status, body) = alice.get("/v1/queues/b").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`read`")
    );
    let (status, _) = alice.delete("/v1/queues/a").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "deleting a queue is `admin`");
    let listed = alice.ok("/v1/queues").await;
    let names: Vec<&str> = listed["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a"]);

    // A job in `b` is not found, as a job that does not exist.
    let theirs = run(&admin, "b", "annotate", "set", json!(["secret", 42, null])).await;
    let theirs_id = theirs["id"].as_str().unwrap().to_owned();
    let nobody = "01900000-0000-7000-8000-000000000000";
    let (status, hidden) = alice.get(&format!("/v1/jobs/{theirs_id}")).await;
    let (missing_status, missing) = alice.get(&format!("/v1/jobs/{nobody}")).await;
    assert_eq!(
        (status, missing_status),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(
        hidden.to_string().replace(&theirs_id, "ID"),
        missing.to_string().replace(nobody, "ID")
    );
    let (status, _) = alice
        .put(&format!("/v1/jobs/{theirs_id}/annotations/x"), json!(1))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let jobs = alice.ok("/v1/jobs").await;
    assert!(
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["queue"] == "a"),
        "{jobs}"
    );

    // Its jobs: reading or annotating a job of `b` fails as for a job that
    // does not exist; a job of `a` they may read and annotate.
    let read = |job: &str| json!(["secret", 0, "none", job]);
    let hidden = run(&alice, "a", "annotate", "wait_for", read(&theirs_id)).await;
    let missing = run(&alice, "a", "annotate", "wait_for", read(nobody)).await;
    let (hidden, missing) = (failure_message(&hidden), failure_message(&missing));
    assert!(hidden.contains("not found"), "{hidden}");
    assert_eq!(
        hidden.replace(&theirs_id, "ID"),
        missing.replace(nobody, "ID")
    );
    let annotated = run(&alice, "a", "annotate", "set", json!(["x", 1, theirs_id])).await;
    assert!(failure_message(&annotated).contains("not found"));
    let annotations = admin.ok(&format!("/v1/jobs/{theirs_id}/annotations")).await;
    assert_eq!(
        annotations,
        json!({ "secret": 42 }),
        "nothing written on `b`'s job"
    );
    let mine_id = mine["id"].as_str().unwrap();
    let ok = run(&alice, "a", "annotate", "set", json!(["y", 2, mine_id])).await;
    assert!(ok["failure"].is_null(), "{ok}");
    assert_eq!(
        alice.ok(&format!("/v1/jobs/{mine_id}/annotations/y")).await,
        json!(2)
    );

    // Its jobs put only in `a`: `b` is a queue that does not exist; what
    // they put in `a` acts with the token too (its children inherit it).
    let put_in = |queue: &str| json!(["second_job", [1], [], queue]);
    let into_b = run(&alice, "a", "fanout", "put_with_quotas", put_in("b")).await;
    let into_nowhere = run(&alice, "a", "fanout", "put_with_quotas", put_in("nope")).await;
    assert_eq!(
        failure_message(&into_b).replace("`b`", "`Q`"),
        failure_message(&into_nowhere).replace("`nope`", "`Q`")
    );
    let into_a = run(&alice, "a", "fanout", "put_with_quotas", put_in("a")).await;
    let child = into_a["result"]
        .as_str()
        .expect("the child's id")
        .to_owned();
    assert_eq!(alice.wait_completed(&child).await["result"], json!(2));
    // A child putting into `b` is refused too: it acts with the token.
    let grandchild = json!(["put_with_quotas", ["second_job", [1], [], "b"], [], "a"]);
    let parent = run(&alice, "a", "fanout", "put_with_quotas", grandchild).await;
    let child = parent["result"]
        .as_str()
        .expect("the child's id")
        .to_owned();
    let child = alice.wait_completed(&child).await;
    assert_eq!(
        failure_message(&child).replace("`b`", "`Q`"),
        failure_message(&into_nowhere).replace("`nope`", "`Q`")
    );

    // Revoked: 401, as a missing or unknown token.
    let (status, _) = admin.delete("/v1/tokens/alice").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for http in [
        &alice,
        &s.http_without_token(),
        &Http::new(&s.url, Some("wst_00".into())),
    ] {
        let (status, body) = http.get("/v1/queues/a").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

/// Modules: the admin's uploads are shared; a token's are seen by the
/// tokens sharing one of its queue globs only, and its uploads never take
/// a name from a module it does not own.
async fn tokens_see_only_the_modules_they_may(backend: Backend) {
    let _machine = shared().await;
    let (s, admin) = tenants(backend, &["hello"]).await;
    let all = ["upload", "read", "put"];
    let uploader = Http::new(&s.url, Some(token(&admin, "up", &["a"], &all).await));
    let neighbour = Http::new(
        &s.url,
        Some(token(&admin, "nb", &["a"], &["read", "put"]).await),
    );
    let stranger = Http::new(&s.url, Some(token(&admin, "st", &["b"], &all).await));

    let bytes = wasync_example_components::bytes("annotate");
    let (status, module) = uploader
        .post_bytes("/v1/modules?name=mine", bytes.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{module}");
    let (status, _) = neighbour.post_bytes("/v1/modules", bytes).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no `upload` scope");

    let names = |listing: Value| -> Vec<String> {
        let mut names: Vec<String> = listing["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap_or("").to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(neighbour.ok("/v1/modules").await), ["hello", "mine"]);
    assert_eq!(names(stranger.ok("/v1/modules").await), ["hello"]);
    assert_eq!(names(admin.ok("/v1/modules").await), ["hello", "mine"]);
    let (status, _) = stranger.get("/v1/modules/mine").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let put = |queue: &str| json!({ "module": "mine", "function": "set", "args": ["k", 1, null], "queue": queue });
    let (status, body) = stranger.post("/v1/jobs", put("b")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = neighbour.post("/v1/jobs", put("a")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = stranger
        .post(
            "/v1/jobs",
            json!({ "module": "hello", "function": "hello", "queue": "b" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the admin's modules are shared: {body}"
    );

    let hostile = wasync_example_components::bytes("hostile");
    let (status, body) = stranger.post_bytes("/v1/modules?name=hello", hostile).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(admin.ok("/v1/modules/hello").await["name"], "hello");
}

/// A token's schedule puts its jobs with the token: in its queue only, and
/// they act with it (a put into another queue is "not found").
async fn a_schedule_puts_with_its_creators_token(backend: Backend) {
    let _machine = shared().await;
    let (s, admin) = tenants(backend, &["fanout"]).await;
    let scopes = ["read", "put", "manage"];
    let carol = Http::new(&s.url, Some(token(&admin, "carol", &["a"], &scopes).await));
    let schedule = |queue: &str| {
        json!({ "name": format!("tick-{queue}"), "module": "fanout",
                "function": "put_with_quotas", "args": ["second_job", [1], [], "b"],
                "queue": queue, "delay": "1s" })
    };
    let (status, body) = carol.post("/v1/schedules", schedule("b")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, created) = carol.post("/v1/schedules", schedule("a")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["active"], true,
        "resumed once its token is recorded"
    );

    let first = crate::support::wait_until("the schedule's first job", || async {
        let shown = carol.ok("/v1/schedules/tick-a?runs=1").await;
        shown["runs"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let job = carol.wait_completed(&first).await;
    assert_eq!(job["queue"], "a");
    assert!(
        failure_message(&job).contains("queue `b` not found"),
        "the job acts with carol's token: {job}"
    );
    let listed = admin.ok("/v1/jobs?queue=b").await;
    assert_eq!(listed["jobs"], json!([]), "nothing was put in `b`");
}

/// A token that may only read queue `a` searches jobs as the dashboard
/// does (`GET /v1/jobs/query`, `/v1/jobs/count`, their filters, the time
/// range included) and sees only `a`'s jobs; a filter naming `b` is 403
/// naming it; every action on the jobs it sees is refused.
async fn a_read_token_searches_only_its_queues(backend: Backend) {
    let _machine = shared().await;
    let (s, admin) = tenants(backend, &["hello"]).await;
    let reader = Http::new(
        &s.url,
        Some(token(&admin, "reader", &["a"], &["read"]).await),
    );
    let mut in_a = Vec::new();
    for (i, queue) in ["a", "b", "a", "b"].into_iter().enumerate() {
        let (status, body) = admin
            .post(&format!("/v1/queues/{queue}/pause"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body = json!({ "module": "hello", "function": "echo", "args": [i] });
        let (status, job) = admin.post(&format!("/v1/queues/{queue}/jobs"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        if queue == "a" {
            in_a.push(job["id"].as_str().unwrap().to_owned());
        }
    }
    let ids = |page: &Value| -> Vec<String> {
        page["jobs"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"))
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let count = |answer: Value| {
        answer["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("{answer}"))
    };
    let since = "created_since=2000-01-01T00:00:00Z";
    assert_eq!(ids(&reader.ok("/v1/jobs/query?function=echo").await), in_a);
    assert_eq!(ids(&reader.ok("/v1/jobs/query?queue=a").await), in_a);
    let newest = reader
        .ok(&format!("/v1/jobs/query?{since}&order=newest"))
        .await;
    assert_eq!(ids(&newest), in_a.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(
        count(reader.ok(&format!("/v1/jobs/count?{since}")).await),
        2
    );
    assert_eq!(count(reader.ok("/v1/jobs/count?state=pending").await), 2);
    assert_eq!(count(admin.ok("/v1/jobs/count?state=pending").await), 4);
    for path in [
        "/v1/jobs/query?queue=b",
        "/v1/jobs/count?queue=b&state=pending",
    ] {
        let (status, body) = reader.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`read`") && message.contains("`b`"),
            "{message}"
        );
    }

    // Reading is all it may do, on the jobs it sees too.
    let job = &in_a[0];
    for (status, body) in [
        reader
            .post(&format!("/v1/jobs/{job}/cancel"), json!({}))
            .await,
        reader
            .patch(&format!("/v1/jobs/{job}"), json!({"priority": 1}))
            .await,
        reader.post("/v1/jobs/delete", json!({"ids": [job]})).await,
        reader
            .post(
                "/v1/jobs/remove",
                json!({"queue": "a", "statuses": ["pending"]}),
            )
            .await,
        reader.post("/v1/queues/a/pause", json!({})).await,
    ] {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    assert_eq!(
        count(admin.ok("/v1/jobs/count?queue=a&state=pending").await),
        2
    );
}

crate::on_both_backends!(
    a_token_is_held_to_its_queues,
    tokens_see_only_the_modules_they_may,
    a_schedule_puts_with_its_creators_token,
    a_read_token_searches_only_its_queues,
);

/// The secret is printed once by `wasync tokens create`; the database
/// keeps only its SHA-256; `list` never shows it; `revoke` refuses it at
/// once. Only the admin manages tokens.
#[tokio::test]
async fn the_secret_is_shown_once_and_only_its_hash_is_stored() {
    let _machine = shared().await;
    let s = server(Backend::Sqlite).await;
    let created = admin_cli(
        &s,
        &[
            "tokens", "create", "bob", "--queues", "a*,c", "--scopes", "read,put",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        crate::support::stderr(&created)
    );
    let secret = crate::support::stdout(&created).trim().to_owned();
    assert!(secret.starts_with("wst_") && secret.len() > 60, "{secret}");

    let listed = admin_cli(&s, &["--json", "tokens", "list"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["tokens"][0]["name"], "bob");
    assert_eq!(listed["tokens"][0]["queues"], json!(["a*", "c"]));
    assert!(!listed.to_string().contains(&secret[4..]), "{listed}");

    // The database holds the hash, and the secret nowhere.
    let db = s.data_dir.join("wasync.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}?mode=ro", db.display()))
        .await
        .unwrap();
    let (name, hash): (String, String) = sqlx::query_as("SELECT name, hash FROM tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(name, "bob");
    assert_eq!(hash, hex::encode(Sha256::digest(secret.as_bytes())));
    for file in ["wasync.db", "wasync.db-wal"] {
        let bytes = std::fs::read(s.data_dir.join(file)).unwrap_or_default();
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "the secret is in {file}");
    }

    let bob = Http::new(&s.url, Some(secret.clone()));
    let (status, body) = bob.get("/v1/tokens").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    create_queue(&s.http(), "ab").await;
    let (status, _) = bob.get("/v1/queues/ab").await;
    assert_eq!(status, StatusCode::OK, "`a*` matches `ab`");

    let revoked = admin_cli(&s, &["tokens", "revoke", "bob"]);
    assert!(
        revoked.status.success(),
        "{}",
        crate::support::stderr(&revoked)
    );
    let (status, _) = bob.get("/v1/queues/ab").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let listed = admin_cli(&s, &["--json", "tokens", "list"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["tokens"], json!([]));
}
