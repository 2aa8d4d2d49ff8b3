//! Per-queue caps (issue 13): a queue's fan-out cap replaces the server's
//! for the jobs run from it (lower or higher), and a queue at its pending
//! cap refuses puts, from HTTP, the CLI and a running job alike, naming
//! the cap. Only an admin sets caps.

use reqwest::StatusCode;
use serde_json::json;

use crate::runs::id;
use crate::support::{Backend, Http, Server, ServerOptions, shared, stderr, stdout};

/// The server allows 40 puts a run; the default queue lowers that to 10,
/// queue `fan` raises it to 60: a put storm stops at its queue's cap, with
/// an error naming whose cap it is.
async fn a_queues_put_cap_replaces_the_servers(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--job-put-cap", "40"]),
    )
    .await;
    let http = server.http();
    http.upload_example("hostile").await;
    let (code, _) = http.post("/v1/queues", json!({"name": "fan"})).await;
    assert_eq!(code, StatusCode::CREATED);
    let dispatcher = http.dispatcher_id().await;
    let (code, agent) = http
        .put(
            &format!("/v1/dispatchers/{dispatcher}/agents/fan/main"),
            json!({"size": 3}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{agent}");

    let out = server.cli(&["queues", "caps", "fan", "--put-cap", "60"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("put cap 60"), "{}", stdout(&out));
    let (code, capped) = http
        .put("/v1/queues/default/caps", json!({"put_cap": 10}))
        .await;
    assert_eq!(code, StatusCode::OK, "{capped}");
    assert_eq!(capped["put_cap"], 10, "{capped}");
    assert_eq!(
        http.ok("/v1/queues/fan/caps").await,
        json!({"put_cap": 60, "pending_cap": null})
    );

    for (queue, cap) in [("default", 10), ("fan", 60)] {
        let storm = id(&http
            .put_job_with(json!({
                "module": "hostile", "function": "put_storm", "args": [1000], "queue": queue,
            }))
            .await);
        let done = http.wait_completed(&storm).await;
        let result = &done["result"];
        assert_eq!(result["put"], cap, "{done}");
        let error = result["error"].as_str().expect("the refusal");
        assert!(error.contains(&format!("at most {cap}")), "{error}");
        assert!(error.contains("its queue's `put_cap`"), "{error}");
    }

    // Cleared, the server's cap is back.
    let (code, _) = http.put("/v1/queues/fan/caps", json!({})).await;
    assert_eq!(code, StatusCode::OK);
    let storm = id(&http
        .put_job_with(json!({
            "module": "hostile", "function": "put_storm", "args": [1000], "queue": "fan",
        }))
        .await);
    let done = http.wait_completed(&storm).await;
    assert_eq!(done["result"]["put"], 40, "{done}");
    assert!(
        done["result"]["error"]
            .as_str()
            .unwrap()
            .contains("the server's `job_put_cap`"),
        "{done}"
    );
}

/// Queue `held` (no agent claims from it) takes 2 pending jobs: a third put
/// is refused over HTTP (429 `queue_full`), by the CLI (exit 2) and to a
/// running job (its put fails, naming the cap); once one is taken out, a
/// put fits again.
async fn a_queue_at_its_pending_cap_refuses_puts(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("hello").await;
    http.upload_example("fanout").await;
    http.post("/v1/queues", json!({"name": "held"})).await;
    let (code, queue) = http
        .put("/v1/queues/held/caps", json!({"pending_cap": 2}))
        .await;
    assert_eq!(code, StatusCode::OK, "{queue}");
    let put = json!({"module": "hello", "function": "hello", "queue": "held"});
    let first = id(&http.put_job_with(put.clone()).await);
    http.put_job_with(put.clone()).await;

    let (code, refused) = http.post("/v1/jobs", put.clone()).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["error"]["code"], "queue_full", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("queue `held`"), "{message}");
    assert!(message.contains("pending cap is 2"), "{message}");

    let out = server.cli(&["put", "hello", "hello", "--queue", "held"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("pending cap is 2"),
        "{}",
        stderr(&out)
    );

    let guest = id(&http
        .put_job(
            "fanout",
            "put_with_quotas",
            json!(["second_job", [1], [], "held"]),
        )
        .await);
    let done = http.wait_completed(&guest).await;
    let failure = &done["failure"];
    assert!(
        failure["message"]
            .as_str()
            .unwrap_or_default()
            .contains("pending cap is 2"),
        "{done}"
    );

    let length = http.ok("/v1/queues/held").await["length"].clone();
    assert_eq!(length, 2, "nothing past the cap was stored");
    let (code, _) = http.delete(&format!("/v1/queues/held/jobs/{first}")).await;
    assert_eq!(code, StatusCode::OK);
    let (code, again) = http.post("/v1/jobs", put).await;
    assert_eq!(code, StatusCode::CREATED, "{again}");
}

/// A token with `manage` on a queue may read its caps but not move them:
/// caps bound what the tenant's jobs may do.
async fn only_an_admin_sets_caps(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on_with(
        backend,
        ServerOptions::default().args(["--token", "the-admin-token"]),
    )
    .await;
    let http = Http::new(&server.url, Some("the-admin-token".to_owned()));
    http.post("/v1/queues", json!({"name": "a"})).await;
    let (code, token) = http
        .post(
            "/v1/tokens",
            json!({"name": "tenant", "queues": ["a"], "scopes": ["read", "put", "manage"]}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{token}");
    let tenant = Http::new(
        &server.url,
        Some(token["secret"].as_str().unwrap().to_owned()),
    );
    let (code, caps) = tenant.get("/v1/queues/a/caps").await;
    assert_eq!(code, StatusCode::OK, "{caps}");
    let (code, refused) = tenant
        .put("/v1/queues/a/caps", json!({"put_cap": 1_000_000}))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("admin"),
        "{refused}"
    );
}

crate::on_both_backends!(
    a_queues_put_cap_replaces_the_servers,
    a_queue_at_its_pending_cap_refuses_puts,
    only_an_admin_sets_caps,
);
