//! Broadcast jobs (issue 18 §5): one `serve` (no dispatcher of its own)
//! and two `wasync worker` processes sharing one database. A broadcast put
//! through HTTP, the CLI or a running job's `put` runs once on each worker
//! (counted by the jobs themselves: `annotate::mark` leaves one mark per
//! execution on a ledger job), and completes with the map dispatcher →
//! outcome; a worker killed with SIGKILL before it ran its copy is
//! recorded there, and a worker started after the put gets no copy.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::runs::{dispatcher_id, id, ledger, marks};
use crate::support::{
    Backend, Database, Http, Server, ServerOptions, exclusive, stdout, wait_until,
};

/// Short pings and death, so a death is noticed within a few seconds;
/// the API process takes the same death interval to tell live
/// dispatchers. Only the test of a killed worker uses them. Three
/// seconds, not one: a process of a loaded machine (CI, parallel builds)
/// can miss a second of pings, and a paused worker that must stay live
/// until it is killed was then found dead early.
const SHORT_INTERVALS: [&str; 4] = ["--ping-interval", "200ms", "--death-interval", "3s"];

/// Pings and death for the tests where every worker stays live.
const STEADY_INTERVALS: [&str; 4] = ["--ping-interval", "500ms", "--death-interval", "30s"];

async fn api(backend: Backend, database: &Database, intervals: [&str; 4]) -> Server {
    let options = ServerOptions::default()
        .database(database)
        .args(["--no-dispatcher"])
        .args(intervals);
    Server::start_on_with(backend, options).await
}

async fn worker(backend: Backend, database: &Database, intervals: [&str; 4]) -> Server {
    let options = ServerOptions::default()
        .command("worker")
        .database(database)
        .args(["--main-agent-size", "2"])
        .args(intervals);
    Server::start_on_with(backend, options).await
}

/// Waits until each of `workers` has its `main` agent recorded.
async fn wait_agents(http: &Http, workers: &[&Server]) {
    for worker in workers {
        let id = dispatcher_id(worker);
        wait_until("the worker's agent", || async {
            let (status, agents) = http.get(&format!("/v1/dispatchers/{id}/agents")).await;
            (status == StatusCode::OK && agents.to_string().contains("\"main\"")).then_some(())
        })
        .await;
    }
}

/// The broadcast `job` as completed, checked: one copy per dispatcher of
/// `expected`, each run once on that dispatcher, its outcome in the map.
async fn check_completed(http: &Http, job: &str, expected: &BTreeSet<String>) -> Value {
    let done = http.wait_completed(job).await;
    assert_eq!(done["function"], "@broadcast", "{done}");
    let result = done["result"].as_object().expect("a map").clone();
    let keys: BTreeSet<String> = result.keys().cloned().collect();
    assert_eq!(&keys, expected, "{done}");
    let view = http.ok(&format!("/v1/jobs/{job}")).await;
    let copies = view["copies"].as_array().expect("its copies listed");
    assert_eq!(copies.len(), expected.len(), "{view}");
    let pinned: Vec<&str> = done["args"]["dispatchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for (copy, dispatcher) in copies.iter().zip(pinned) {
        assert_eq!(copy["status"], "completed", "{copy}");
        if copy.get("failure").is_none() {
            assert_eq!(copy["dispatcher"], dispatcher, "ran where pinned: {copy}");
            assert_eq!(copy["attempts"], 1, "{copy}");
            assert_eq!(result[dispatcher], copy["result"], "{done}");
        }
    }
    done
}

/// A broadcast put through HTTP, then the CLI, then a running job's `put`
/// runs once on each of the two workers.
async fn a_broadcast_runs_once_on_each_worker(backend: Backend) {
    let _machine = exclusive().await;
    let database = backend.database();
    let api = api(backend, &database, STEADY_INTERVALS).await;
    let http = api.http();
    let (one, two) = (
        worker(backend, &database, STEADY_INTERVALS).await,
        worker(backend, &database, STEADY_INTERVALS).await,
    );
    wait_agents(&http, &[&one, &two]).await;
    let workers: BTreeSet<String> = [dispatcher_id(&one), dispatcher_id(&two)].into();
    let ledger = ledger(&http).await;
    http.upload_example("fanout").await;

    // HTTP.
    let (status, put) = http
        .post(
            "/v1/jobs",
            json!({"module": "annotate", "function": "mark", "args": [ledger],
                   "broadcast": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{put}");
    assert_eq!(put["function"], "@broadcast", "{put}");
    let by_http = id(&put);
    check_completed(&http, &by_http, &workers).await;

    // The CLI.
    let output = api.cli(&[
        "put",
        "annotate",
        "mark",
        &json!([ledger]).to_string(),
        "--broadcast",
    ]);
    assert!(output.status.success(), "{output:?}");
    let by_cli = stdout(&output).trim().to_owned();
    check_completed(&http, &by_cli, &workers).await;

    // Every copy ran exactly once: the marks they left, by copy.
    let ran = marks(&http, &ledger, "ran:").await;
    for broadcast in [&by_http, &by_cli] {
        let view = http.ok(&format!("/v1/jobs/{broadcast}")).await;
        for copy in view["copies"].as_array().unwrap() {
            assert_eq!(ran.get(copy["id"].as_str().unwrap()), Some(&1), "{ran:?}");
        }
    }
    assert_eq!(ran.len(), 4, "nothing else ran: {ran:?}");

    // A running job's `put` (fanout's `broadcast_put` awaits it).
    let parent = http
        .put_job("fanout", "broadcast_put", json!(["second_job", [21]]))
        .await;
    let done = http.wait_completed(&id(&parent)).await;
    let expected: Value = workers.iter().map(|w| (w.clone(), json!(42))).collect();
    assert_eq!(done["result"], expected, "{done}");
}

/// A worker killed before it runs its copy (it was paused) is recorded as
/// `aborted` once it is found dead, and the broadcast completes; a worker
/// started after the put gets no copy.
async fn a_killed_workers_copy_is_recorded_and_the_broadcast_completes(backend: Backend) {
    let _machine = exclusive().await;
    let database = backend.database();
    let api = api(backend, &database, SHORT_INTERVALS).await;
    let http = api.http();
    let (live, mut doomed) = (
        worker(backend, &database, SHORT_INTERVALS).await,
        worker(backend, &database, SHORT_INTERVALS).await,
    );
    wait_agents(&http, &[&live, &doomed]).await;
    let (live_id, doomed_id) = (dispatcher_id(&live), dispatcher_id(&doomed));
    let ledger = ledger(&http).await;
    let (status, body) = http
        .post(&format!("/v1/dispatchers/{doomed_id}/pause"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let broadcast = id(&http
        .put_job_with(
            json!({"module": "annotate", "function": "mark", "args": [ledger],
                             "broadcast": true}),
        )
        .await);
    let late = worker(backend, &database, SHORT_INTERVALS).await;
    wait_agents(&http, &[&late]).await;
    let copies = wait_until("the live worker's copy to complete", || async {
        let view = http.ok(&format!("/v1/jobs/{broadcast}")).await;
        let copies = view["copies"].as_array().cloned().unwrap_or_default();
        copies
            .iter()
            .any(|c| c["status"] == "completed")
            .then_some(copies)
    })
    .await;
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_eq!(
        http.ok(&format!("/v1/jobs/{broadcast}")).await["status"],
        "new",
        "it waits for the paused worker's copy"
    );
    doomed.kill();

    let expected: BTreeSet<String> = [live_id.clone(), doomed_id.clone()].into();
    let done = check_completed(&http, &broadcast, &expected).await;
    let recorded = &done["result"][&doomed_id];
    assert_eq!(recorded["kind"], "aborted", "{done}");
    assert!(
        recorded["message"]
            .as_str()
            .unwrap()
            .contains("stopped pinging"),
        "{done}"
    );
    assert!(done["result"][&live_id].as_str().is_some(), "{done}");
    assert!(
        done["result"].get(dispatcher_id(&late)).is_none(),
        "a worker started after the put gets no copy: {done}"
    );
    let ran = marks(&http, &ledger, "ran:").await;
    assert_eq!(ran.len(), 1, "only the live worker's copy ran: {ran:?}");
}

/// With no live dispatcher the broadcast completes at once with an empty
/// map; a batch refuses a broadcast, naming it, and so does a put of a
/// unique broadcast (its copies would share the key).
async fn a_broadcast_with_no_dispatcher_completes_empty(backend: Backend) {
    let _machine = exclusive().await;
    let database = backend.database();
    let api = api(backend, &database, STEADY_INTERVALS).await;
    let http = api.http();
    http.upload_example("hello").await;
    let put = http
        .put_job_with(json!({"module": "hello", "function": "hello", "broadcast": true}))
        .await;
    assert_eq!(put["status"], "completed", "{put}");
    assert_eq!(put["result"], json!({}), "{put}");
    let (status, body) = http
        .post(
            "/v1/jobs/batch",
            json!([{"module": "hello", "function": "hello", "broadcast": true}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broadcast"),
        "{body}"
    );
    let (status, body) = http
        .post(
            "/v1/jobs",
            json!({"module": "hello", "function": "hello", "broadcast": true,
                   "unique": {"key": "k"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a broadcast put takes no `unique`"),
        "{body}"
    );
}

on_both_backends!(
    a_broadcast_runs_once_on_each_worker,
    a_killed_workers_copy_is_recorded_and_the_broadcast_completes,
    a_broadcast_with_no_dispatcher_completes_empty,
);
