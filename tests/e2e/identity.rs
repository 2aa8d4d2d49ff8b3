//! Two processes, one identity (issue 19): a second `wasync` on a data
//! directory or a dispatcher id another live process holds refuses to
//! start (exit code 2, naming the holder) and changes nothing, so the
//! first process's running job completes once; a start that cannot listen
//! changes nothing either; a restart after SIGKILL still hands back the
//! killed run's jobs, at once on the same data directory (its lock proves
//! the old process gone), after the death interval elsewhere; a process
//! whose id was taken over while it was paused stops; several workers on
//! one machine run side by side, each with a data directory of its own or
//! as instances of one. Every job's runs are counted by the jobs
//! themselves ([`crate::runs`]).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::runs::{
    attempts, dispatcher_id, id, ledger, marks, release, wait_active_on, wait_started,
};
use crate::support::{
    Backend, Database, Http, Refusal, Server, ServerOptions, refused, shared, signal, wait_until,
};

/// A job that waits for the ledger's release (two minutes at most).
async fn long_job(http: &Http, ledger: &str) -> String {
    id(&http
        .put_job("annotate", "long_mark", json!([ledger, 120_000]))
        .await)
}

/// What a refused start must leave as it was: the job (status, attempts,
/// times, holder), its failed attempts, and every dispatcher (all but its
/// last ping, which a live dispatcher keeps moving) with its agents.
async fn snapshot(http: &Http, job: &str) -> Value {
    let dispatchers = http.ok("/v1/dispatchers").await;
    let dispatchers: Vec<Value> = dispatchers["dispatchers"]
        .as_array()
        .expect("dispatchers")
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.as_object_mut().unwrap().remove("last_ping_at");
            d
        })
        .collect();
    json!({
        "job": http.ok(&format!("/v1/jobs/{job}")).await,
        "attempts": attempts(http, job).await,
        "dispatchers": dispatchers,
    })
}

/// Asserts a refused start: exit code 2 and a message with every part.
#[track_caller]
fn assert_refused(refusal: &Refusal, parts: &[&str]) {
    assert_eq!(
        refusal.status.code(),
        Some(2),
        "refused with exit code 2: {refusal:?}"
    );
    for part in parts {
        assert!(
            refusal.stderr.contains(part),
            "the message names `{part}`: {}",
            refusal.stderr
        );
    }
}

/// Releases the long jobs and checks each completed once: one attempt, no
/// failed one, its code started and ended once.
async fn assert_each_ran_once(http: &Http, ledger: &str, jobs: &[String]) {
    release(http, ledger).await;
    for job in jobs {
        let done = http.wait_completed(job).await;
        assert!(done.get("failure").is_none(), "{done}");
        assert_eq!(done["attempts"], 1, "{done}");
        assert!(attempts(http, job).await.is_empty());
    }
    let (started, ran) = (
        marks(http, ledger, "started:").await,
        marks(http, ledger, "ran:").await,
    );
    for job in jobs {
        assert_eq!(started.get(job), Some(&1), "{job} started once");
        assert_eq!(ran.get(job), Some(&1), "{job} ran once");
    }
}

/// A long job running on `first`, and everything about it a refused
/// second process must leave as it was.
struct Busy {
    http: Http,
    ledger: String,
    job: String,
    before: Value,
}

impl Busy {
    /// Puts a long job and waits until its code runs on `first`.
    async fn on(first: &Server) -> Busy {
        let http = first.http();
        let ledger = ledger(&http).await;
        let job = long_job(&http, &ledger).await;
        wait_active_on(&http, std::slice::from_ref(&job), &dispatcher_id(first)).await;
        wait_started(&http, &ledger, std::slice::from_ref(&job), 1).await;
        let before = snapshot(&http, &job).await;
        Busy {
            http,
            ledger,
            job,
            before,
        }
    }

    /// Nothing changed; released, the job completes once, `attempts: 1`.
    async fn assert_untouched_then_ran_once(self) {
        assert_eq!(
            snapshot(&self.http, &self.job).await,
            self.before,
            "nothing changed"
        );
        assert_each_ran_once(&self.http, &self.ledger, &[self.job]).await;
    }
}

/// `--database` for `backend` when it needs one: SQLite stays in the data
/// directory, as by default.
fn own_database(backend: Backend) -> Option<Database> {
    (backend == Backend::Postgres).then(|| backend.database())
}

fn with_database(options: ServerOptions, database: &Option<Database>) -> ServerOptions {
    match database {
        Some(database) => options.database(database),
        None => options,
    }
}

/// The first scenarios: while `serve` runs a long job, a second
/// `serve` on its data directory (on the same port, or on another), a
/// `worker` and a `scheduler` there are each refused before they touch
/// anything, naming the holder; the job, its dispatcher and its attempts
/// stay as they were, and it completes once, with `attempts: 1`.
async fn a_second_process_on_a_data_directory_in_use_is_refused(backend: Backend) {
    let _machine = shared().await;
    let dir = tempfile::tempdir().unwrap();
    let database = own_database(backend);
    let options = || with_database(ServerOptions::default().data_dir(dir.path()), &database);
    let first = Server::start_with(options()).await;
    let busy = Busy::on(&first).await;

    let port = first.url.trim_start_matches("http://").to_owned();
    let holder = format!("`wasync serve`, pid {} on host", first.pid());
    for second in [
        options().args(["--listen", port.as_str()]),
        options(),
        options().command("worker"),
        options().command("scheduler"),
    ] {
        let refusal = refused(second).await;
        assert_refused(
            &refusal,
            &[
                "is in use by another wasync process",
                &holder,
                "since",
                "wasync.lock",
                "--instance NAME",
            ],
        );
    }
    busy.assert_untouched_then_ran_once().await;
}

/// A `worker` and a `serve`, each with a data directory of its own but
/// given the `--dispatcher-id` a live process holds, are refused at
/// activation, naming that process and how to proceed; nothing about its
/// running job changes, and it completes once.
async fn a_second_process_with_a_dispatcher_id_in_use_is_refused(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let first = Server::start_with(ServerOptions::default().database(&database)).await;
    let held = dispatcher_id(&first);
    let busy = Busy::on(&first).await;

    let holder = format!("pid {} on host", first.pid());
    for command in ["worker", "serve"] {
        let refusal = refused(
            ServerOptions::default()
                .command(command)
                .database(&database)
                .args(["--dispatcher-id", held.as_str()]),
        )
        .await;
        assert_refused(
            &refusal,
            &[
                &format!("dispatcher {held} is held by a live process"),
                &holder,
                "given by --dispatcher-id",
                "death interval",
                "--instance NAME",
            ],
        );
    }
    busy.assert_untouched_then_ran_once().await;
}

/// A `serve` whose port is taken fails before it activates its
/// dispatcher: a new dispatcher id is never registered, and an id in use
/// is not even looked at (the port comes first).
async fn a_start_that_cannot_listen_changes_nothing_in_the_database(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let first = Server::start_with(ServerOptions::default().database(&database)).await;
    let http = first.http();
    let before = http.ok("/v1/dispatchers").await["dispatchers"]
        .as_array()
        .unwrap()
        .len();
    let port = first.url.trim_start_matches("http://").to_owned();
    let fresh = uuid::Uuid::now_v7().to_string();
    for id in [fresh.clone(), dispatcher_id(&first)] {
        let refusal = refused(ServerOptions::default().database(&database).args([
            "--listen",
            port.as_str(),
            "--dispatcher-id",
            id.as_str(),
        ]))
        .await;
        assert_refused(&refusal, &[&format!("cannot listen on {port}")]);
        assert!(!refusal.stderr.contains("held by"), "{}", refusal.stderr);
    }
    let (status, _) = http.get(&format!("/v1/dispatchers/{fresh}")).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "never registered");
    let after = http.ok("/v1/dispatchers").await["dispatchers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before);
}

/// A `serve` without a dispatcher: the API the tests talk to, which
/// rescues nobody (only activation hands jobs back here).
async fn api(database: &Database) -> Server {
    Server::start_with(
        ServerOptions::default()
            .database(database)
            .args(["--no-dispatcher"]),
    )
    .await
}

/// A worker killed with SIGKILL and restarted on its data directory takes
/// its dispatcher id back at once — its lock proves the killed process
/// gone, long before the (ten-minute) death interval — and hands back the
/// killed run: an `interrupted` attempt, then one more run that completes.
async fn a_restart_after_sigkill_takes_the_id_back_at_once_and_hands_back_the_killed_run(
    backend: Backend,
) {
    let _machine = shared().await;
    let database = backend.database();
    let api = api(&database).await;
    let http = api.http();
    let ledger = ledger(&http).await;
    let dir = tempfile::tempdir().unwrap();
    let worker = || {
        ServerOptions::default()
            .command("worker")
            .data_dir(dir.path())
            .database(&database)
            .args(["--ping-interval", "5m", "--death-interval", "10m"])
    };
    let mut killed = Server::start_with(worker()).await;
    let id = Server::kept_dispatcher_id(dir.path());
    let job = long_job(&http, &ledger).await;
    let jobs = [job.clone()];
    wait_active_on(&http, &jobs, &id).await;
    wait_started(&http, &ledger, &jobs, 1).await;
    let killed_pid = killed.pid();
    killed.kill();

    let started = Instant::now();
    let restarted = Server::start_with(worker()).await;
    wait_started(&http, &ledger, &jobs, 2).await;
    let history = attempts(&http, &job).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["dispatcher"], id.as_str());
    assert_eq!(history[0]["failure"]["kind"], "interrupted");
    let message = history[0]["failure"]["message"].as_str().unwrap();
    assert!(
        message.contains("ended without stopping")
            && message.contains(&format!("pid {killed_pid} on host")),
        "{message}"
    );
    release(&http, &ledger).await;
    let done = http.wait_completed(&job).await;
    assert_eq!(
        (done["attempts"].as_u64(), done["dispatcher"].as_str()),
        (Some(2), Some(id.as_str()))
    );
    assert_eq!(marks(&http, &ledger, "ran:").await.get(&job), Some(&1));
    let info = http.ok(&format!("/v1/dispatchers/{id}")).await;
    assert_eq!(info["pid"], restarted.pid(), "{info}");
    eprintln!(
        "SIGKILL → restarted on its data directory, killed run handed back and running again \
         after {:?} (death interval 10 min)",
        started.elapsed()
    );
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// Waits until dispatcher `id` has been silent for longer than `death`.
async fn wait_silent(http: &Http, id: &str, death: Duration) {
    wait_until("the dispatcher silent for its death interval", || async {
        let info = http.ok(&format!("/v1/dispatchers/{id}")).await;
        let silent = Utc::now() - time(&info["last_ping_at"]);
        (silent.to_std().unwrap_or_default() > death + Duration::from_millis(200)).then_some(())
    })
    .await;
}

/// Ping and death intervals for the tests that wait for a death: a start
/// takes far less than 10 s, even on a loaded machine.
const INTERVALS: [&str; 4] = ["--ping-interval", "500ms", "--death-interval", "10s"];

/// A killed worker's id, given to a process elsewhere (another data
/// directory: no lock proves anything), is refused while the killed one
/// counts as alive, and taken over once it has been silent for the death
/// interval: its run is handed back and runs again.
async fn a_killed_workers_id_is_taken_over_elsewhere_after_the_death_interval(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let api = api(&database).await;
    let http = api.http();
    let ledger = ledger(&http).await;
    let mut killed = Server::start_with(
        ServerOptions::default()
            .command("worker")
            .database(&database)
            .args(INTERVALS),
    )
    .await;
    let id = dispatcher_id(&killed);
    let job = long_job(&http, &ledger).await;
    let jobs = [job.clone()];
    wait_active_on(&http, &jobs, &id).await;
    wait_started(&http, &ledger, &jobs, 1).await;
    killed.kill();

    let elsewhere = tempfile::tempdir().unwrap();
    let successor = || {
        ServerOptions::default()
            .command("worker")
            .data_dir(elsewhere.path())
            .database(&database)
            .args(INTERVALS)
            .args(["--dispatcher-id", id.as_str()])
    };
    let refusal = refused(successor()).await;
    assert_refused(
        &refusal,
        &["is held by a live process", "death interval (10s)"],
    );
    wait_silent(&http, &id, Duration::from_secs(10)).await;
    let successor = Server::start_with(successor()).await;
    wait_started(&http, &ledger, &jobs, 2).await;
    let history = attempts(&http, &job).await;
    assert_eq!(history.len(), 1, "{history:?}");
    let message = history[0]["failure"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("taken over by pid {} on host", successor.pid())),
        "{message}"
    );
    release(&http, &ledger).await;
    let done = http.wait_completed(&job).await;
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(marks(&http, &ledger, "ran:").await.get(&job), Some(&1));
}

/// A worker paused (SIGSTOP) for longer than the death interval loses its
/// id to a process started with it elsewhere; when it continues, its
/// first ping tells it, and it exits with code 2 without touching what is
/// now the other process's: the job completes once, run by the successor.
async fn a_worker_whose_id_was_taken_over_while_paused_exits(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let api = api(&database).await;
    let http = api.http();
    let ledger = ledger(&http).await;
    // A long poll: the paused worker writes (pings) as seldom as possible,
    // so that on SQLite it is rarely paused in the middle of a write.
    let mut paused = Server::start_with(
        ServerOptions::default()
            .command("worker")
            .database(&database)
            .args(INTERVALS)
            .args(["--poll-interval", "30s"]),
    )
    .await;
    let id = dispatcher_id(&paused);
    let job = long_job(&http, &ledger).await;
    let jobs = [job.clone()];
    wait_active_on(&http, &jobs, &id).await;
    wait_started(&http, &ledger, &jobs, 1).await;

    // A process stopped inside a transaction keeps its locks: on SQLite
    // the file's write lock, which blocks every other writer; on
    // PostgreSQL its rows' (a ping's lock on the dispatcher's row), which
    // the successor's activation would wait on for ever. Then let it go
    // and pause it again.
    let mut pauses = 0;
    loop {
        signal(paused.pid(), "STOP");
        pauses += 1;
        let stopped_at = database.clock().await;
        let probe = format!("/v1/jobs/{ledger}/annotations/probe");
        let write = http.put(&probe, json!(pauses));
        let wrote = tokio::time::timeout(Duration::from_secs(3), write)
            .await
            .is_ok();
        if wrote
            && database
                .transactions_end(stopped_at.as_deref(), Duration::from_secs(3))
                .await
        {
            break;
        }
        assert!(pauses < 5, "the paused worker kept the database locked");
        signal(paused.pid(), "CONT");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_silent(&http, &id, Duration::from_secs(10)).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let successor = Server::start_with(
        ServerOptions::default()
            .command("worker")
            .data_dir(elsewhere.path())
            .database(&database)
            .args(INTERVALS)
            .args(["--dispatcher-id", id.as_str()]),
    )
    .await;
    wait_started(&http, &ledger, &jobs, 2).await;
    signal(paused.pid(), "CONT");
    let status = paused.wait_exit("the paused worker did not stop");
    assert_eq!(status.code(), Some(2), "{status:?}");
    let log = paused.log();
    assert!(
        log.contains(&format!(
            "was taken over by another process (pid {} on host",
            successor.pid()
        )),
        "{log}"
    );
    let info = http.ok(&format!("/v1/dispatchers/{id}")).await;
    assert_eq!(info["pid"], successor.pid(), "{info}");
    assert!(info.get("deactivated_at").is_none(), "{info}");
    release(&http, &ledger).await;
    let done = http.wait_completed(&job).await;
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(marks(&http, &ledger, "ran:").await.get(&job), Some(&1));
    assert_eq!(attempts(&http, &job).await.len(), 1);
}

/// Two workers on one machine, each with a data directory of its own and
/// one shared database, run side by side: each runs a job at the same
/// time as the other, under a dispatcher id of its own.
async fn two_workers_with_data_directories_of_their_own_run_side_by_side(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let api = api(&database).await;
    let http = api.http();
    let ledger = ledger(&http).await;
    let worker = || {
        ServerOptions::default()
            .command("worker")
            .database(&database)
            .args(["--main-agent-size", "1"])
    };
    let workers = [
        Server::start_with(worker()).await,
        Server::start_with(worker()).await,
    ];
    let jobs = [
        long_job(&http, &ledger).await,
        long_job(&http, &ledger).await,
    ];
    wait_started(&http, &ledger, &jobs, 1).await;
    assert_side_by_side(&http, &jobs, &workers, dispatcher_id).await;
    assert_each_ran_once(&http, &ledger, &jobs).await;
}

/// Each job runs on a different one of `processes` (their ids by
/// `id_of`), all at once, and each process is its dispatcher's holder.
async fn assert_side_by_side(
    http: &Http,
    jobs: &[String],
    processes: &[Server],
    id_of: impl Fn(&Server) -> String,
) {
    let mut holders = Vec::new();
    for job in jobs {
        let job = http.ok(&format!("/v1/jobs/{job}")).await;
        assert_eq!(job["status"], "active", "{job}");
        holders.push(job["dispatcher"].as_str().unwrap().to_owned());
    }
    let mut ids: Vec<String> = processes.iter().map(&id_of).collect();
    holders.sort();
    ids.sort();
    assert_eq!(holders, ids, "one job on each process at once");
    for process in processes {
        let info = http
            .ok(&format!("/v1/dispatchers/{}", id_of(process)))
            .await;
        assert_eq!(info["pid"], process.pid(), "{info}");
    }
}

/// The default data directory, shared on one machine: a `worker` started
/// next to a `serve` in the same directory (both with the default
/// `./wasync-data`) is refused and told about `--instance`; workers given
/// `--instance a` and `--instance b` each get an identity of their own in
/// `wasync-data/instances/` and run side by side with the server on its
/// database; a second `--instance a` is refused.
async fn workers_share_the_default_data_directory_as_instances(backend: Backend) {
    let _machine = shared().await;
    let cwd = tempfile::tempdir().unwrap();
    let database = own_database(backend);
    let options = |command: &str| {
        with_database(
            ServerOptions::default()
                .command(command)
                .in_dir(cwd.path())
                .args(["--main-agent-size", "1"]),
            &database,
        )
    };
    let server = Server::start_with(options("serve")).await;
    let http = server.http();
    let ledger = ledger(&http).await;
    http.wait_completed(&ledger).await;

    let refusal = refused(options("worker")).await;
    assert_refused(
        &refusal,
        &[
            "wasync-data is in use",
            &format!("`wasync serve`, pid {}", server.pid()),
            "--instance NAME",
        ],
    );
    let instance = |name: &str| options("worker").args(["--instance", name]);
    let a = Server::start_with(instance("a")).await;
    let b = Server::start_with(instance("b")).await;
    assert_refused(
        &refused(instance("a")).await,
        &[
            "instances/a is in use",
            "`wasync worker`",
            "another `--instance` name",
        ],
    );
    let data_dir = cwd.path().join("wasync-data");
    let own_dirs = [
        (server.pid(), data_dir.clone()),
        (a.pid(), data_dir.join("instances/a")),
        (b.pid(), data_dir.join("instances/b")),
    ];
    let id_of = |process: &Server| {
        let (_, own) = own_dirs
            .iter()
            .find(|(pid, _)| *pid == process.pid())
            .expect("one of the three");
        Server::kept_dispatcher_id(own)
    };
    let processes = [server, a, b];
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(long_job(&http, &ledger).await);
    }
    wait_started(&http, &ledger, &jobs, 1).await;
    assert_side_by_side(&http, &jobs, &processes, id_of).await;
    assert_each_ran_once(&http, &ledger, &jobs).await;
}

on_both_backends!(
    a_second_process_on_a_data_directory_in_use_is_refused,
    a_second_process_with_a_dispatcher_id_in_use_is_refused,
    a_start_that_cannot_listen_changes_nothing_in_the_database,
    a_restart_after_sigkill_takes_the_id_back_at_once_and_hands_back_the_killed_run,
    a_killed_workers_id_is_taken_over_elsewhere_after_the_death_interval,
    a_worker_whose_id_was_taken_over_while_paused_exits,
    two_workers_with_data_directories_of_their_own_run_side_by_side,
    workers_share_the_default_data_directory_as_instances,
);
