//! When workers fail (issue 7): a worker killed with SIGKILL while it runs
//! long jobs, whose jobs three live workers race to take over; a worker
//! stopped with SIGTERM; a second signal; and retries spaced by their
//! backoff on a moved clock. Every job's runs are counted by the jobs
//! themselves (`annotate::long_mark` marks a ledger job as it starts and
//! as it ends), not by the queue's bookkeeping.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::runs::{
    attempts, dispatcher_id, id, ledger, marks, release, wait_active_on, wait_started,
};
use crate::support::{
    Backend, Database, Http, Server, ServerOptions, exclusive, shared, signal, stderr, stdout,
    wait_until,
};

/// Short pings and death, so a death is noticed within about a second.
const SHORT_INTERVALS: [&str; 4] = ["--ping-interval", "200ms", "--death-interval", "1s"];

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// A `serve` without a dispatcher: the API the test talks to.
async fn api(backend: Backend, database: &Database) -> Server {
    let options = ServerOptions::default()
        .database(database)
        .args(["--no-dispatcher"]);
    Server::start_on_with(backend, options).await
}

/// A `wasync worker` with a main agent of `size` and short intervals.
async fn worker(backend: Backend, database: &Database, size: u32, extra: &[&str]) -> Server {
    let mut args = SHORT_INTERVALS.to_vec();
    args.extend_from_slice(extra);
    worker_with(backend, database, size, &args).await
}

/// A `wasync worker` with a main agent of `size` and exactly `args`.
async fn worker_with(backend: Backend, database: &Database, size: u32, args: &[&str]) -> Server {
    let size = size.to_string();
    let options = ServerOptions::default()
        .command("worker")
        .database(database)
        .args(["--main-agent-size", size.as_str()])
        .args(args.iter().copied());
    Server::start_on_with(backend, options).await
}

/// Acceptance: a worker running 10 long jobs is killed with SIGKILL; three
/// live workers race to take them over after the death interval; every
/// job completes, none is lost, none completes twice, exactly one of the
/// three handed each back (one `interrupted` attempt each, by the dead
/// dispatcher), and each shows that attempt in its history.
async fn a_killed_workers_jobs_are_taken_over_once_by_one_of_three_racing_workers(
    backend: Backend,
) {
    let _machine = exclusive().await;
    let database = backend.database();
    let api = api(backend, &database).await;
    let http = api.http();
    let ledger = ledger(&http).await;

    let mut doomed = worker(backend, &database, 10, &[]).await;
    let doomed_id = dispatcher_id(&doomed);
    let mut jobs = Vec::new();
    for _ in 0..10 {
        let job = http
            .put_job("annotate", "long_mark", json!([ledger, 120_000]))
            .await;
        jobs.push(id(&job));
    }
    wait_active_on(&http, &jobs, &doomed_id).await;
    wait_started(&http, &ledger, &jobs, 1).await;
    doomed.kill();
    let killed = Instant::now();

    let rescuers = [
        worker(backend, &database, 10, &[]).await,
        worker(backend, &database, 10, &[]).await,
        worker(backend, &database, 10, &[]).await,
    ];
    let rescuer_ids: Vec<String> = rescuers.iter().map(dispatcher_id).collect();
    for job in &jobs {
        wait_until("the killed run recorded as interrupted", || async {
            (!attempts(&http, job).await.is_empty()).then_some(())
        })
        .await;
    }
    let taken_over = killed.elapsed();
    release(&http, &ledger).await;

    for job in &jobs {
        let done = http.wait_completed(job).await;
        assert!(done.get("failure").is_none(), "{done}");
        assert_eq!(done["attempts"], 2, "the killed run and one more: {done}");
        let ran_on = done["dispatcher"].as_str().unwrap();
        assert!(rescuer_ids.iter().any(|r| r == ran_on), "{done}");
        let history = attempts(&http, job).await;
        assert_eq!(history.len(), 1, "handed back once: {history:?}");
        assert_eq!(history[0]["attempt"], 1);
        assert_eq!(history[0]["dispatcher"], doomed_id.as_str());
        assert_eq!(history[0]["failure"]["kind"], "interrupted");
        assert!(
            history[0]["failure"]["message"]
                .as_str()
                .unwrap()
                .contains("stopped pinging"),
            "{history:?}"
        );
        let info = http.ok(&format!("/v1/jobs/{job}/info")).await;
        assert_eq!(info["reassigned"], true, "{info}");
    }
    let started = marks(&http, &ledger, "started:").await;
    let ran = marks(&http, &ledger, "ran:").await;
    for job in &jobs {
        assert_eq!(
            started.get(job),
            Some(&2),
            "{job}: killed run + rescued run"
        );
        assert_eq!(ran.get(job), Some(&1), "{job} completed exactly once");
    }
    assert_eq!(ran.len(), jobs.len(), "nothing else ran to the end");
    let dispatchers = http.ok("/v1/dispatchers").await;
    let dead = dispatchers["dispatchers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == doomed_id.as_str())
        .expect("the killed dispatcher is listed");
    assert!(dead.get("deactivated_at").is_some(), "{dead}");
    eprintln!("SIGKILL → all 10 jobs handed back after {taken_over:?} (death interval 1 s)");
}

/// Acceptance: SIGTERM during long jobs: the short ones finish within the
/// grace period on the stopping worker; the long ones are handed back as
/// interrupted and complete on another worker; the stopped dispatcher is
/// deactivated and the process exits cleanly.
async fn sigterm_lets_short_jobs_finish_and_hands_long_ones_to_another_worker(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let api = api(backend, &database).await;
    let http = api.http();
    let ledger = ledger(&http).await;

    let mut stopping = worker(backend, &database, 6, &["--shutdown-grace", "10s"]).await;
    let stopping_id = dispatcher_id(&stopping);
    let mut short = Vec::new();
    let mut long = Vec::new();
    for _ in 0..3 {
        short.push(id(&http
            .put_job("annotate", "long_mark", json!([ledger, 3_000]))
            .await));
        long.push(id(&http
            .put_job("annotate", "long_mark", json!([ledger, 120_000]))
            .await));
    }
    let all: Vec<String> = short.iter().chain(&long).cloned().collect();
    wait_active_on(&http, &all, &stopping_id).await;
    wait_started(&http, &ledger, &all, 1).await;
    let status = stopping.terminate();
    assert!(status.success(), "a clean exit: {status:?}");

    for job in &short {
        let done = http.ok(&format!("/v1/jobs/{job}")).await;
        assert_eq!(
            done["status"], "completed",
            "finished within the grace: {done}"
        );
        assert_eq!(done["dispatcher"], stopping_id.as_str());
        assert!(attempts(&http, job).await.is_empty());
    }
    for job in &long {
        let back = http.ok(&format!("/v1/jobs/{job}")).await;
        assert_eq!(back["status"], "pending", "back in the queue: {back}");
        let history = attempts(&http, job).await;
        assert_eq!(history.len(), 1, "{history:?}");
        assert_eq!(history[0]["failure"]["kind"], "interrupted");
        assert!(
            history[0]["failure"]["message"]
                .as_str()
                .unwrap()
                .contains("stopped before it finished"),
            "{history:?}"
        );
    }
    let dispatcher = http.ok(&format!("/v1/dispatchers/{stopping_id}")).await;
    assert!(dispatcher.get("deactivated_at").is_some(), "{dispatcher}");

    let other = worker(backend, &database, 6, &[]).await;
    let other_id = dispatcher_id(&other);
    release(&http, &ledger).await;
    for job in &long {
        let done = http.wait_completed(job).await;
        assert!(done.get("failure").is_none(), "{done}");
        assert_eq!(done["dispatcher"], other_id.as_str(), "{done}");
        assert_eq!(done["attempts"], 2);
    }
    let ran = marks(&http, &ledger, "ran:").await;
    for job in &all {
        assert_eq!(ran.get(job), Some(&1), "{job} completed exactly once");
    }
}

/// A second SIGTERM cuts the grace period short: the worker hands its
/// running jobs back and exits at once, not after its 120 s grace.
async fn a_second_signal_stops_at_once(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let api = api(backend, &database).await;
    let http = api.http();
    let ledger = ledger(&http).await;
    let mut stopping = worker(backend, &database, 2, &["--shutdown-grace", "120s"]).await;
    let stopping_id = dispatcher_id(&stopping);
    let job = id(&http
        .put_job("annotate", "long_mark", json!([ledger, 120_000]))
        .await);
    wait_active_on(&http, std::slice::from_ref(&job), &stopping_id).await;
    signal(stopping.pid(), "TERM");
    wait_until("the first signal heard", || async {
        stopping.log().contains("shutting down").then_some(())
    })
    .await;
    let asked = Instant::now();
    let status = stopping.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );
    let back = http.ok(&format!("/v1/jobs/{job}")).await;
    assert_eq!(back["status"], "pending", "{back}");
    assert_eq!(attempts(&http, &job).await.len(), 1);
}

/// Acceptance: a job allowed 3 attempts whose guest always fails ends
/// after 3 attempts with 3 recorded failures, each retry due exactly its
/// backoff after the failure before it (5 s, then 10 s: zc.async's), on a
/// clock the test moves instead of waiting. Put with the CLI's `--retry`;
/// the history read with `wasync attempts`.
async fn a_job_failing_three_times_ends_after_three_attempts_spaced_by_its_backoff(
    backend: Backend,
) {
    let _machine = shared().await;
    let clock_dir = tempfile::tempdir().unwrap();
    let clock = clock_dir.path().join("clock");
    let options = ServerOptions {
        env: vec![("WASYNC_CLOCK_FILE".to_owned(), clock.display().to_string())],
        ..ServerOptions::default()
    };
    let server = Server::start_on_with(backend, options).await;
    let http = server.http();
    http.upload_example("failing").await;
    let move_clock = |seconds: i64| {
        wasync::clock::OffsetFileClock::write_offset(&clock, seconds * 1_000).unwrap();
    };

    let bad = server.cli(&[
        "put",
        "failing",
        "typed_error",
        "[\"x\"]",
        "--retry",
        "sometimes",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("unknown retry policy `sometimes`"),
        "{}",
        stderr(&bad)
    );
    let (status, body) = http
        .post(
            "/v1/jobs",
            json!({"module": "failing", "function": "typed_error", "args": ["x"],
                   "retry": {"max_attempts": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_attempts"),
        "{body}"
    );

    let put = server.cli(&[
        "put",
        "failing",
        "typed_error",
        "[\"x\"]",
        "--retry",
        "{\"max_attempts\": 3}",
    ]);
    assert!(put.status.success(), "{}", stderr(&put));
    let job = stdout(&put).trim().to_owned();

    let mut failed_at = Vec::new();
    for (n, backoff) in [(1, 5), (2, 10)] {
        let history = wait_until("a failed attempt recorded", || async {
            let history = attempts(&http, &job).await;
            (history.len() == n).then_some(history)
        })
        .await;
        let last = time(&history[n - 1]["failed_at"]);
        failed_at.push(last);
        let waiting = http.ok(&format!("/v1/jobs/{job}")).await;
        assert_eq!(waiting["status"], "pending", "{waiting}");
        assert_eq!(
            time(&waiting["begin_after"]),
            last + chrono::Duration::seconds(backoff),
            "due its backoff after the failure: {waiting}"
        );
        let held = http.ok(&format!("/v1/jobs/{job}/wait?timeout=300ms")).await;
        assert_eq!(held["status"], "pending", "not before its backoff");
        move_clock(if n == 1 { 5 } else { 15 });
    }
    let done = http.wait_completed(&job).await;
    assert_eq!(done["failure"]["kind"], "guest-error", "{done}");
    assert_eq!(done["attempts"], 3);
    let history = attempts(&http, &job).await;
    assert_eq!(history.len(), 3, "{history:?}");
    failed_at.push(time(&history[2]["failed_at"]));
    assert!(failed_at[1] - failed_at[0] >= chrono::Duration::seconds(5));
    assert!(failed_at[2] - failed_at[1] >= chrono::Duration::seconds(10));
    for (i, attempt) in history.iter().enumerate() {
        assert_eq!(attempt["attempt"], i + 1);
        assert_eq!(attempt["failure"]["kind"], "guest-error");
    }

    let shown = server.cli(&["attempts", &job]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(
        stdout(&shown).matches("guest-error").count(),
        3,
        "{}",
        stdout(&shown)
    );
}

/// A queue's default policy, set with the CLI (and shown over HTTP),
/// applies to jobs put without one; a permanent error is never retried.
async fn a_queue_default_policy_applies_and_permanent_errors_are_final(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("failing").await;
    let before = http.ok("/v1/queues/default/retry").await;
    assert_eq!(before["retry"], Value::Null);
    assert_eq!(before["effective"]["preset"], "common-four-times");
    assert_eq!(before["effective"]["max_interruptions"], 9);

    let set = server.cli(&[
        "retry-policy",
        "default",
        "{\"max_attempts\": 2, \"backoff\": {\"initial_ms\": 10}}",
    ]);
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(stdout(&set).contains("max attempts: 2"), "{}", stdout(&set));
    let after = http.ok("/v1/queues/default/retry").await;
    assert_eq!(after["retry"]["max_attempts"], 2, "{after}");

    let typed = id(&http.put_job("failing", "typed_error", json!(["x"])).await);
    let permanent = id(&http.put_job("failing", "permanent_error", json!([])).await);
    let done = http.wait_completed(&typed).await;
    assert_eq!(
        (
            done["attempts"].clone(),
            attempts(&http, &typed).await.len()
        ),
        (json!(2), 2)
    );
    let done = http.wait_completed(&permanent).await;
    assert_eq!(done["attempts"], 1, "never retried: {done}");
    assert_eq!(attempts(&http, &permanent).await.len(), 1);

    let cleared = server.cli(&["retry-policy", "default", "--clear"]);
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    assert!(
        stdout(&cleared).contains("built-in default"),
        "{}",
        stdout(&cleared)
    );
    let (status, body) = http
        .put("/v1/queues/nope/retry", json!({"retry": "never"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// A dispatcher's row, over HTTP.
async fn dispatcher_row(http: &Http, dispatcher: &str) -> Value {
    http.ok(&format!("/v1/dispatchers/{dispatcher}")).await
}

/// The last lines of a log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// A worker paused (SIGSTOP) for longer than the death interval is
/// declared dead and its job runs elsewhere; when it comes back (SIGCONT)
/// its ping tells it so and reactivates it, and the outcome of the run it
/// still had is dropped (`reassigned`): the job completes once, with the
/// rescued run's outcome.
async fn a_paused_worker_is_reactivated_and_its_late_outcome_dropped(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let api = api(backend, &database).await;
    let http = api.http();
    let ledger = ledger(&http).await;
    // It pings every second; the others find it dead after one.
    let paused = worker_with(
        backend,
        &database,
        2,
        &["--ping-interval", "1s", "--death-interval", "3s"],
    )
    .await;
    let paused_id = dispatcher_id(&paused);
    let job = id(&http
        .put_job("annotate", "long_mark", json!([ledger, 120_000]))
        .await);
    let jobs = [job.clone()];
    wait_active_on(&http, &jobs, &paused_id).await;
    wait_started(&http, &ledger, &jobs, 1).await;

    let rescuer = worker(backend, &database, 2, &[]).await;
    let rescuer_id = dispatcher_id(&rescuer);
    // On SQLite a process stopped while it holds the file's write lock (a
    // claim or a ping: a millisecond in every 200) would block the others
    // until it continues: then let it go and pause it again, once it has
    // pinged since, so that the write the stop cut short is done (pausing
    // it again at once could cut the same write short, pause after pause).
    let mut pauses = 0;
    loop {
        signal(paused.pid(), "STOP");
        pauses += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut rescued = false;
        let mut seen = Value::Null;
        while !rescued && Instant::now() < deadline {
            seen = http.ok(&format!("/v1/jobs/{job}")).await;
            rescued = seen["status"] == "active" && seen["dispatcher"] == rescuer_id.as_str();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if rescued {
            break;
        }
        if pauses == 4 {
            // What each process saw, for a failure that happens once in many runs.
            let paused_info = dispatcher_row(&http, &paused_id).await;
            let rescuer_info = dispatcher_row(&http, &rescuer_id).await;
            panic!(
                "the paused worker's job never moved: {seen}\npaused: {paused_info}\n\
                 rescuer: {rescuer_info}\n--- the rescuer's log ---\n{}\n\
                 --- the paused worker's log ---\n{}",
                tail(&rescuer.log()),
                tail(&paused.log())
            );
        }
        let pinged = &dispatcher_row(&http, &paused_id).await["last_ping_at"];
        signal(paused.pid(), "CONT");
        wait_until("the paused worker's next ping", || async {
            let info = dispatcher_row(&http, &paused_id).await;
            (&info["last_ping_at"] != pinged).then_some(())
        })
        .await;
    }
    wait_started(&http, &ledger, &jobs, 2).await;
    signal(paused.pid(), "CONT");
    wait_until(
        "the paused worker learning it was declared dead",
        || async { paused.log().contains("was declared dead").then_some(()) },
    )
    .await;
    let info = http.ok(&format!("/v1/dispatchers/{paused_id}")).await;
    assert!(info.get("deactivated_at").is_none(), "reactivated: {info}");

    release(&http, &ledger).await;
    let done = http.wait_completed(&job).await;
    assert_eq!(done["dispatcher"], rescuer_id.as_str(), "{done}");
    assert_eq!(done["attempts"], 2, "{done}");
    wait_until("the paused run's outcome dropped", || async {
        paused.log().contains("reassigned").then_some(())
    })
    .await;
    let after = http.ok(&format!("/v1/jobs/{job}")).await;
    assert_eq!(
        after["result"], done["result"],
        "the rescued run's outcome stands"
    );
    let history = attempts(&http, &job).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["dispatcher"], paused_id.as_str());
    assert_eq!(history[0]["failure"]["kind"], "interrupted");
}

/// A job puts another from inside its run with a retry policy (the WIT
/// `job-request.retry`, `JobRequest::retry` in the SDK): the child runs
/// twice, keeps both failures, and the parent awaiting it completes with
/// the last one.
async fn a_job_puts_a_child_with_its_own_retry_policy(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("failing").await;
    let parent = id(&http.put_job("failing", "retried_child", json!([2])).await);
    let done = http.wait_completed(&parent).await;
    assert_eq!(done["failure"]["kind"], "guest-error", "{done}");
    let children = http.ok("/v1/jobs?limit=10").await;
    let child = children["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["parent"] == parent.as_str())
        .expect("the child")
        .clone();
    assert_eq!(child["retry"]["max_attempts"], 2, "{child}");
    assert_eq!(child["attempts"], 2, "{child}");
    assert_eq!(attempts(&http, &id(&child)).await.len(), 2);
}

on_both_backends!(
    a_paused_worker_is_reactivated_and_its_late_outcome_dropped,
    a_job_puts_a_child_with_its_own_retry_policy,
    a_killed_workers_jobs_are_taken_over_once_by_one_of_three_racing_workers,
    sigterm_lets_short_jobs_finish_and_hands_long_ones_to_another_worker,
    a_second_signal_stops_at_once,
    a_job_failing_three_times_ends_after_three_attempts_spaced_by_its_backoff,
    a_queue_default_policy_applies_and_permanent_errors_are_final,
);
