//! When the database fails (issue 20), as an operator meets it: SQLite's
//! disk fills up (a small tmpfs the test fills to the last byte, then
//! gives space back), and PostgreSQL is stopped and started again with
//! `pg_ctl` (a cluster of the test's own) while four clients put jobs into
//! a `serve`, a `worker` and a `scheduler`. In both: every put is either
//! acknowledged or refused with 507 `storage_full` / 503
//! `database_unavailable`, never a 500; `/v1/health` goes 503 with the
//! cause and back to 200 by itself; every acknowledged job completes, run
//! once; a job put after recovery completes within 10 s; the schedule
//! puts again; the log tells of the episode once, not once per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use wasync_faults::{PrivatePostgres, SmallDisk};

use crate::support::{Http, Server, ServerOptions, exclusive, stderr, wait_until};

/// Clients putting at once, as in the issue.
const CLIENTS: usize = 4;

/// How long a job put after recovery may take to complete.
const AFTER_RECOVERY: Duration = Duration::from_secs(10);

/// One put's answer.
#[derive(Debug)]
struct Answer {
    n: u64,
    status: StatusCode,
    body: Value,
}

/// Clients putting `hello:echo [n]` jobs, each `n` once, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<Vec<Answer>>>,
}

impl Load {
    fn start(http: &Http) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..CLIENTS as u64)
            .map(|client| {
                let (http, stop) = (http.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    let mut n = client;
                    while !stop.load(Ordering::SeqCst) {
                        let body = json!({"module": "hello", "function": "echo", "args": [n]});
                        let (status, body) = http.post("/v1/jobs", body).await;
                        answers.push(Answer { n, status, body });
                        n += CLIENTS as u64;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    answers
                })
            })
            .collect();
        Load { stop, clients }
    }

    async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::SeqCst);
        let mut answers = Vec::new();
        for client in self.clients {
            answers.extend(client.await.expect("a client"));
        }
        answers
    }
}

/// Every answer is a job acknowledged, or a refusal naming the fault:
/// never an anonymous 500. Returns the refusals.
fn refusals_name_the_fault(answers: &[Answer], status: StatusCode, code: &str) -> usize {
    let mut refused = 0;
    for answer in answers {
        if answer.status == StatusCode::CREATED {
            continue;
        }
        assert_eq!(
            (answer.status, answer.body["error"]["code"].as_str()),
            (status, Some(code)),
            "put {}: {}",
            answer.n,
            answer.body
        );
        refused += 1;
    }
    refused
}

/// Every acknowledged job completes with its own value, run once: its
/// starts are one, plus the ones a dispatcher's self-check handed back
/// before the job ran (a start that committed though its answer was lost).
/// Returns how many were acknowledged, and how many of them a self-check
/// handed back.
async fn acknowledged_jobs_complete_once(http: &Http, answers: &[Answer]) -> (usize, usize) {
    let mut acknowledged = 0;
    let mut handed_back = 0;
    for answer in answers.iter().filter(|a| a.status == StatusCode::CREATED) {
        acknowledged += 1;
        let id = answer.body["id"].as_str().expect("an id");
        let job = http.wait_completed(id).await;
        assert_eq!(job["result"], json!(answer.n), "{job}");
        let history = http.ok(&format!("/v1/jobs/{id}/attempts")).await;
        let history = history["attempts"].as_array().expect("attempts");
        for attempt in history {
            let message = attempt["failure"]["message"].as_str().unwrap_or_default();
            assert!(
                attempt["failure"]["kind"] == "interrupted" && message.contains("lost track"),
                "job {id} failed a run: {attempt}"
            );
        }
        assert_eq!(
            job["attempts"].as_u64().unwrap(),
            history.len() as u64 + 1,
            "job {id} ran once: {job} {history:?}"
        );
        handed_back += usize::from(!history.is_empty());
    }
    (acknowledged, handed_back)
}

/// Waits until `/v1/health` answers `want`; returns its body.
async fn health_is(http: &Http, want: StatusCode) -> Value {
    wait_until(&format!("health {want}"), || async {
        let (status, body) = http.get("/v1/health").await;
        (status == want).then_some(body)
    })
    .await
}

/// A job put now completes within [`AFTER_RECOVERY`].
async fn a_job_put_now_completes_soon(http: &Http) {
    let started = Instant::now();
    let job = http.put_job("hello", "echo", json!(["after"])).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let done = http.wait_completed(&id).await;
    assert_eq!(done["result"], json!("after"));
    let took = started.elapsed();
    assert!(
        took < AFTER_RECOVERY,
        "a job put after recovery took {took:?}"
    );
    eprintln!("a job put after recovery completed in {took:?}");
}

/// A schedule putting `hello:echo` every second.
async fn every_second(http: &Http) {
    let body = json!({"name": "beat", "module": "hello", "function": "echo", "args": ["beat"],
                      "delay": "1s", "retry_delay": "500ms"});
    let (status, schedule) = http.post("/v1/schedules", body).await;
    assert_eq!(status, StatusCode::CREATED, "{schedule}");
}

/// The schedule puts again: a run of it created after `since` completes.
async fn the_schedule_puts_again(http: &Http, since: chrono::DateTime<chrono::Utc>) {
    wait_until("a scheduled job put after recovery completes", || async {
        let schedule = http.ok("/v1/schedules/beat?runs=5").await;
        schedule["runs"].as_array()?.iter().find_map(|run| {
            let created = chrono::DateTime::parse_from_rfc3339(run["created_at"].as_str()?).ok()?;
            (created >= since && run["status"] == "completed").then_some(())
        })
    })
    .await;
}

/// The `hello` component, a job run (its module compiled and cached),
/// a schedule putting every second, then the clients putting for half a
/// second.
async fn under_load(http: &Http) -> Load {
    http.upload_example("hello").await;
    a_job_put_now_completes_soon(http).await;
    every_second(http).await;
    let load = Load::start(http);
    tokio::time::sleep(Duration::from_millis(500)).await;
    load
}

/// The acceptance of both scenarios, once the database recovered (at
/// `recovered`): every put answered acknowledged or `refusal`, every
/// acknowledged job completed once, a job put now completes soon, the
/// schedule puts again, no job stays with a dispatcher. Returns how many
/// puts were refused.
async fn nothing_lost(
    http: &Http,
    answers: &[Answer],
    refusal: (StatusCode, &str),
    recovered: chrono::DateTime<chrono::Utc>,
) -> usize {
    let refused = refusals_name_the_fault(answers, refusal.0, refusal.1);
    a_job_put_now_completes_soon(http).await;
    let (acknowledged, handed_back) = acknowledged_jobs_complete_once(http, answers).await;
    the_schedule_puts_again(http, recovered).await;
    // No job stays with a dispatcher once the schedule stops putting.
    let (status, _) = http.delete("/v1/schedules/beat").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_until("no job assigned or active", || async {
        let held = http.ok("/v1/jobs?status=assigned,active").await;
        (held["jobs"] == json!([])).then_some(())
    })
    .await;
    eprintln!(
        "{acknowledged} puts acknowledged and completed once ({handed_back} handed back by a \
         self-check first), {refused} refused"
    );
    refused
}

/// How many times the log says the database failed, and that it
/// recovered.
fn episodes(log: &str) -> (usize, usize) {
    (
        log.matches("the database fails:").count(),
        log.matches("the database takes writes again").count(),
    )
}

/// `serve` (the API and a dispatcher), `worker` and `scheduler` on one
/// database: each must recover by itself.
struct Processes {
    serve: Server,
    worker: Server,
    scheduler: Server,
}

impl Processes {
    async fn start(database: &str) -> Processes {
        let on = |command: &str, args: &[&str]| ServerOptions {
            database: Some(database.to_owned()),
            command: Some(command.to_owned()),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..ServerOptions::default()
        };
        Processes {
            serve: Server::start_with(on("serve", &["--no-scheduler"])).await,
            worker: Server::start_with(on("worker", &[])).await,
            scheduler: Server::start_with(on("scheduler", &[])).await,
        }
    }

    /// Each process's log tells of each episode once, its end too, and of
    /// no more than `most` episodes (not one per failed operation). A
    /// process whose operations all waited through the fault (a pool
    /// connecting again) logs none. Returns how many the `serve` logged.
    async fn episodes_logged_once(&self, most: usize) -> usize {
        for (name, process) in [
            ("serve", &self.serve),
            ("worker", &self.worker),
            ("scheduler", &self.scheduler),
        ] {
            let (failed, recovered) = wait_until("every episode logged as ended", || async {
                let (failed, recovered) = episodes(&process.log());
                (failed == recovered).then_some((failed, recovered))
            })
            .await;
            eprintln!("{name}: the log tells of {failed} failure(s) and {recovered} recovery(ies)");
            let log = process.log();
            if std::env::var_os("WASYNC_SHOW_LOG").is_some() {
                eprintln!("{log}");
            }
            assert!(!log.contains("non-zero transaction depth"), "{name}: {log}");
            assert!(failed <= most, "{name}: {failed} episodes logged: {log}");
            // Not one error line per refused put or failed operation.
            let errors = log.lines().filter(|l| l.contains(" ERROR ")).count();
            assert!(
                errors <= 3 * failed,
                "{name}: {errors} error lines for {failed} episodes: {log}"
            );
        }
        let self_checked: usize = [&self.serve, &self.worker]
            .iter()
            .map(|p| {
                p.log()
                    .matches("handed back a job this dispatcher no longer held")
                    .count()
            })
            .sum();
        eprintln!("the dispatchers' self-checks handed back {self_checked} job(s)");
        episodes(&self.serve.log()).0
    }
}

#[tokio::test]
async fn sqlite_a_full_disk_refuses_puts_honestly_and_recovers_by_itself() {
    let _machine = exclusive().await;
    let Some(disk) = SmallDisk::mount_or_skip(32 << 20) else {
        return;
    };
    // Only the database on the small disk: the logs and the compiled
    // caches stay in the processes' data directories.
    let processes = Processes::start(&format!(
        "sqlite:{}",
        disk.path().join("wasync.db").display()
    ))
    .await;
    let http = processes.serve.http();
    let load = under_load(&http).await;
    let ballast = disk.fill().expect("fill the disk");
    eprintln!("the disk is full ({ballast} bytes of ballast)");
    let degraded = health_is(&http, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    assert_eq!(degraded["error"]["code"], "storage_full", "{degraded}");
    // A nearly full disk takes some writes and not others (the health's
    // relapses), so the server may answer healthy for a moment between two
    // failed writes: asked again until it names the cause, as `/v1/health`
    // is above.
    wait_until("`wasync health` names storage_full", || async {
        let cli = processes.serve.cli(&["health"]);
        (!cli.status.success() && stderr(&cli).contains("storage_full")).then_some(())
    })
    .await;
    // Puts are refused meanwhile, by name.
    wait_until("puts refused", || async {
        let (status, body) = http
            .post(
                "/v1/jobs",
                json!({"module": "hello", "function": "echo", "args": [-1]}),
            )
            .await;
        if status != StatusCode::INSUFFICIENT_STORAGE {
            return None;
        }
        assert_eq!(body["error"]["code"], "storage_full", "{body}");
        Some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    disk.free().expect("give the space back");
    let freed = Instant::now();
    health_is(&http, StatusCode::OK).await;
    eprintln!("health ok {:?} after space returned", freed.elapsed());
    let recovered = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = load.stop().await;

    let refused = nothing_lost(
        &http,
        &answers,
        (StatusCode::INSUFFICIENT_STORAGE, "storage_full"),
        recovered,
    )
    .await;
    assert!(refused > 0, "no put met the full disk");
    // One episode (a relapse right after a recovery is part of it), not
    // one per refused put.
    let logged = processes.episodes_logged_once(3).await;
    assert!(logged >= 1, "the serve that answered 507 logged why");
}

#[tokio::test]
async fn postgres_a_restarted_server_strands_no_job_and_everything_resumes() {
    let _machine = exclusive().await;
    let Some(cluster) = PrivatePostgres::start_or_skip() else {
        return;
    };
    let processes = Processes::start(&cluster.url()).await;
    let http = processes.serve.http();
    let load = under_load(&http).await;
    // `pg_ctl restart -m fast` under load, as in the issue: every session
    // is killed, claims and starts among them.
    cluster.restart().expect("restart PostgreSQL");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // `pg_ctl stop -m fast` then `start`: a restart with the server away
    // long enough for operations to fail and health to say so.
    cluster.stop().expect("stop PostgreSQL");
    let degraded = health_is(&http, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        degraded["error"]["code"], "database_unavailable",
        "{degraded}"
    );
    cluster.start_again().expect("start PostgreSQL");
    let started = Instant::now();
    health_is(&http, StatusCode::OK).await;
    eprintln!(
        "health ok {:?} after the server was back",
        started.elapsed()
    );
    let recovered = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = load.stop().await;

    nothing_lost(
        &http,
        &answers,
        (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
        recovered,
    )
    .await;
    let logged = processes.episodes_logged_once(3).await;
    assert!(logged >= 1, "the serve that answered 503 logged why");
}
