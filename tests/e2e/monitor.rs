//! Introspection end to end (issue 7, point 4): a dispatcher's statistics,
//! status, polls and job info match what ran, and the job queries of
//! zc.async's `asyncdb` find jobs by state, function, queue, agent,
//! dispatcher and time, over HTTP and through the CLI.
//!
//! The jobs' durations are chosen by the test: `annotate wait_for` jobs
//! run until the test sets their `go` annotation, and the test moves the
//! server's clock (`WASYNC_CLOCK_FILE`) between releases, so one job runs
//! for one hour and another for three, whatever the machine's speed.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{Backend, Http, Server, ServerOptions, shared, stderr, stdout, wait_until};

crate::on_both_backends!(statistics_and_job_info_match_what_ran);

fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

const HOUR_MS: i64 = 3_600_000;

/// A job that runs until annotation `go` is set on it.
fn blocking() -> Value {
    json!({"module": "annotate", "function": "wait_for",
           "args": ["go", 120_000, "timed out", null]})
}

async fn release(http: &Http, id: &str) {
    let (status, body) = http
        .put(&format!("/v1/jobs/{id}/annotations/go"), json!("released"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn wait_status(http: &Http, id: &str, status: &str) -> Value {
    wait_until(&format!("job {id} to be {status}"), || async {
        let job = http.ok(&format!("/v1/jobs/{id}")).await;
        (job["status"] == status).then_some(job)
    })
    .await
}

struct Clock {
    path: PathBuf,
    _dir: TempDir,
}

impl Clock {
    fn set_offset_ms(&self, ms: i64) {
        wasync::clock::OffsetFileClock::write_offset(&self.path, ms).unwrap();
    }
}

/// Waits until the server reads the moved clock (it reads the clock file
/// at most every 10 ms): the dispatcher's uptime, measured on the server's
/// clock, passes `offset_ms`.
async fn server_clock_reaches(http: &Http, dispatcher: &str, offset_ms: i64) {
    wait_until("the server to read the moved clock", || async {
        let status = http
            .ok(&format!("/v1/dispatchers/{dispatcher}/status"))
            .await;
        (status["uptime_ms"].as_i64()? >= offset_ms).then_some(())
    })
    .await;
}

fn duration_ms(stat: &Value) -> i64 {
    stat["ms"]
        .as_i64()
        .unwrap_or_else(|| panic!("a duration: {stat}"))
}

/// zc.async's `getStatistics`, `getStatusInfo`, `getActiveJobIds` and
/// `getJobInfo`, and the `asyncdb` queries, after four jobs of known fate:
/// one that ran an hour, one three hours, one that failed at once, and one
/// still running.
async fn statistics_and_job_info_match_what_ran(backend: Backend) {
    let _machine = shared().await;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock {
        path: dir.path().join("clock"),
        _dir: dir,
    };
    let mut options = ServerOptions::default().args(["--main-agent-size", "4"]);
    options.env.push((
        "WASYNC_CLOCK_FILE".to_owned(),
        clock.path.display().to_string(),
    ));
    let server = Server::start_on_with(backend, options).await;
    let http = server.http();
    http.upload_example("annotate").await;
    http.upload_example("failing").await;
    let dispatcher = http.dispatcher_id().await;

    let failed = http.put_job("failing", "typed_error", json!(["x"])).await;
    let failed = id(&http.wait_completed(&id(&failed)).await);
    let one_hour = id(&http.put_job_with(blocking()).await);
    let three_hours = id(&http.put_job_with(blocking()).await);
    let running = id(&http.put_job_with(blocking()).await);
    for job in [&one_hour, &three_hours, &running] {
        wait_status(&http, job, "active").await;
    }
    clock.set_offset_ms(HOUR_MS);
    server_clock_reaches(&http, &dispatcher, HOUR_MS).await;
    release(&http, &one_hour).await;
    http.wait_completed(&one_hour).await;
    clock.set_offset_ms(3 * HOUR_MS);
    server_clock_reaches(&http, &dispatcher, 3 * HOUR_MS).await;
    release(&http, &three_hours).await;
    http.wait_completed(&three_hours).await;

    // Statistics: counts, and the shortest and longest of each kind.
    let stats = http
        .ok(&format!("/v1/dispatchers/{dispatcher}/stats"))
        .await;
    assert_eq!(
        (
            &stats["started"],
            &stats["successful"],
            &stats["failed"],
            &stats["active"],
            &stats["unknown"]
        ),
        (&json!(4), &json!(2), &json!(1), &json!(1), &json!(0)),
        "{stats}"
    );
    assert_eq!(
        stats["shortest_successful"]["id"],
        one_hour.as_str(),
        "{stats}"
    );
    assert_eq!(
        stats["longest_successful"]["id"],
        three_hours.as_str(),
        "{stats}"
    );
    let short = duration_ms(&stats["shortest_successful"]);
    let long = duration_ms(&stats["longest_successful"]);
    assert!((HOUR_MS..HOUR_MS + 60_000).contains(&short), "{stats}");
    assert!(
        (3 * HOUR_MS..3 * HOUR_MS + 60_000).contains(&long),
        "{stats}"
    );
    assert_eq!(stats["shortest_failed"]["id"], failed.as_str());
    assert_eq!(stats["longest_failed"]["id"], failed.as_str());
    assert_eq!(stats["longest_active"]["id"], running.as_str());
    assert!(
        duration_ms(&stats["longest_active"]) >= 3 * HOUR_MS,
        "{stats}"
    );
    // A window that ends before anything started is empty.
    let (status, early) = http
        .get(&format!(
            "/v1/dispatchers/{dispatcher}/stats?before=2000-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{early}");
    assert_eq!(early["started"], 0, "{early}");
    let out = server.cli(&["monitor", "stats", &dispatcher]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cli_stats: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(cli_stats["successful"], 2);

    // Status: running (once it has polled since the clock moved three
    // hours: until then its last poll looks hours old, and it is STUCK),
    // with the one active job.
    let status = wait_until("the dispatcher to be RUNNING", || async {
        let status = http
            .ok(&format!("/v1/dispatchers/{dispatcher}/status"))
            .await;
        (status["status"] == "RUNNING").then_some(status)
    })
    .await;
    assert_eq!(status["active_jobs"], json!([running]), "{status}");
    assert_eq!(status["paused"], false);

    // Job info: who ran it, from which poll, when, and how it ended. Poll
    // records are written in batches, within 200 ms of the claim.
    let info = wait_until("the claiming poll to be recorded", || async {
        let info = http.ok(&format!("/v1/jobs/{one_hour}/info")).await;
        info["poll_id"].is_i64().then_some(info)
    })
    .await;
    assert_eq!(info["dispatcher"], dispatcher.as_str(), "{info}");
    assert_eq!(info["agent"], "main");
    assert_eq!(info["queue"], "");
    assert_eq!(info["call"], "annotate:wait_for");
    assert_eq!(info["failed"], false);
    assert_eq!(info["reassigned"], false, "{info}");
    assert_eq!(info["result"], "\"released\"");
    assert!(
        info["started"].is_string() && info["completed"].is_string(),
        "{info}"
    );
    let poll_id = info["poll_id"].as_i64().expect("the claiming poll is kept");
    let polls = http
        .ok(&format!("/v1/dispatchers/{dispatcher}/polls?count=10"))
        .await;
    let poll = polls["polls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == poll_id)
        .unwrap_or_else(|| panic!("poll {poll_id} in {polls}"));
    assert!(
        poll["jobs"].as_array().unwrap().contains(&json!(one_hour)),
        "{poll}"
    );
    assert_eq!(poll["agent"], "main");
    let info = http.ok(&format!("/v1/jobs/{failed}/info")).await;
    assert_eq!(info["failed"], true);
    assert!(
        info["result"].as_str().unwrap().starts_with("guest-error"),
        "{info}"
    );
    let failure = http.ok(&format!("/v1/jobs/{failed}/failure")).await;
    assert_eq!(failure["failure"]["kind"], "guest-error", "{failure}");
    let out = server.cli(&["monitor", "failure", &failed]);
    assert!(stdout(&out).starts_with("guest-error"), "{}", stdout(&out));

    // asyncdb: count and list by state, function glob, dispatcher, times.
    let count = |query: &'static str| {
        let http = http.clone();
        async move { http.ok(&format!("/v1/jobs/count?{query}")).await["count"].clone() }
    };
    assert_eq!(count("state=succeeded").await, 2);
    assert_eq!(count("state=failed,active").await, 2);
    assert_eq!(count("function=wait_*").await, 3);
    assert_eq!(count("module=fail*&state=completed").await, 1);
    assert_eq!(count("state=completed&agent=main").await, 3);
    let by_dispatcher = http
        .ok(&format!(
            "/v1/jobs/count?dispatcher={dispatcher}&state=active"
        ))
        .await;
    assert_eq!(by_dispatcher["count"], 1);
    // Ended within the last two hours of the moved clock: the three-hour job.
    let since = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let ended = http
        .ok(&format!(
            "/v1/jobs/query?end_since={}",
            since.replace('+', "%2B")
        ))
        .await;
    let ended: Vec<&str> = ended["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ended, vec![three_hours.as_str()]);
    let last = http.ok("/v1/jobs/last-completed").await;
    assert_eq!(last["job"]["id"], three_hours.as_str(), "{last}");
    let next = http.ok("/v1/queues/default/next").await;
    assert_eq!(next["job"], Value::Null, "{next}");
    let (status, body) = http.get("/v1/jobs/count?state=done").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let out = server.cli(&["monitor", "count", "--state", "succeeded"]);
    assert_eq!(stdout(&out).trim(), "2", "{}", stderr(&out));
    let out = server.cli(&["monitor", "jobs", "--function", "typed_*"]);
    assert!(stdout(&out).contains(&failed), "{}", stdout(&out));
    let out = server.cli(&["monitor", "info", &three_hours]);
    assert!(stdout(&out).contains("\"poll_id\""), "{}", stdout(&out));

    release(&http, &running).await;
    http.wait_completed(&running).await;
}
