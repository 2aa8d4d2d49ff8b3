//! Schedules end to end: three `wasync scheduler` processes sharing one
//! database (SQLite file; PostgreSQL with `WASYNC_TEST_PG`) put 1,000
//! simulated occurrences exactly once; a killed scheduler's schedule is
//! taken by another after its retry delay; a paused schedule puts nothing
//! and resumes from the next slot; each run is an ordinary job, linked to
//! its schedule and shown by `show`.
//!
//! Time is simulated: every process reads its clock through
//! `WASYNC_CLOCK_FILE` (`clock::OffsetFileClock`), and the test sets that
//! clock to chosen instants (the clock keeps flowing in real time between
//! settings). No test waits for minutes of real time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{
    Backend, Database, Http, Server, ServerOptions, exclusive, shared, wait_until,
};

crate::on_both_backends!(
    three_schedulers_put_each_of_1000_occurrences_exactly_once,
    a_killed_holder_s_schedule_is_taken_by_another_after_its_retry_delay,
    a_paused_schedule_puts_nothing_and_resumes_from_the_next_slot,
);

/// The first occurrence of every schedule here: a whole minute.
fn m0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap()
}

fn minute(k: i64) -> DateTime<Utc> {
    m0() + TimeDelta::minutes(k)
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// The clock every process of a test reads.
struct Clock {
    path: PathBuf,
    _dir: TempDir,
}

impl Clock {
    /// A clock file showing `at`.
    fn at(at: DateTime<Utc>) -> Clock {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock {
            path: dir.path().join("clock"),
            _dir: dir,
        };
        clock.set(at);
        clock
    }

    /// Makes every process's clock show `at` now (and flow on from there).
    fn set(&self, at: DateTime<Utc>) {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        wasync::clock::OffsetFileClock::write_offset(&self.path, at.timestamp_millis() - real)
            .expect("write the clock file");
    }

    fn env(&self) -> (String, String) {
        (
            "WASYNC_CLOCK_FILE".to_owned(),
            self.path.display().to_string(),
        )
    }
}

/// A process of `command` on `database` with the test's clock.
async fn start(command: &str, database: &Database, clock: &Clock, args: &[&str]) -> Server {
    let mut options = ServerOptions::default()
        .command(command)
        .database(database)
        .args(args.iter().copied());
    options.env.push(clock.env());
    Server::start_with(options).await
}

/// Three schedulers polling every 20 ms.
async fn schedulers(database: &Database, clock: &Clock) -> Vec<Server> {
    let mut schedulers = Vec::new();
    for _ in 0..3 {
        schedulers.push(
            start(
                "scheduler",
                database,
                clock,
                &["--scheduler-interval", "20ms"],
            )
            .await,
        );
    }
    schedulers
}

async fn create(http: &Http, body: Value) -> Value {
    let (status, schedule) = http.post("/v1/schedules", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "create {body}: {schedule}");
    schedule
}

async fn show(http: &Http, name: &str, runs: u32) -> Value {
    let name = name.replace('/', "%2F");
    http.ok(&format!("/v1/schedules/{name}?runs={runs}")).await
}

/// A schedule's runs, oldest occurrence first: (occurrence, job).
fn runs(schedule: &Value) -> Vec<(DateTime<Utc>, Value)> {
    let mut runs: Vec<_> = schedule["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| (time(&job["occurrence"]), job.clone()))
        .collect();
    runs.reverse();
    runs
}

/// How many jobs a scheduler's log says it put.
fn puts_logged(scheduler: &Server) -> usize {
    scheduler
        .log()
        .lines()
        .filter(|l| l.contains(": put schedule="))
        .count()
}

/// Ten Delay schedules (every 60 s from `m0`) and ten cron schedules
/// (`* * * * *`), driven by three schedulers through fifty simulated
/// minutes: each of the 1,000 occurrences becomes exactly one job, run to
/// completion by a `worker`. No scheduler ever found an occurrence already
/// put (the lock alone kept them apart), each took part, and neither
/// `serve --no-scheduler` nor `worker` scheduled anything.
async fn three_schedulers_put_each_of_1000_occurrences_exactly_once(backend: Backend) {
    const STEPS: i64 = 50;
    let _machine = exclusive().await;
    let database = backend.database();
    let clock = Clock::at(m0() - TimeDelta::seconds(50));
    let api = start(
        "serve",
        &database,
        &clock,
        &["--no-scheduler", "--no-dispatcher"],
    )
    .await;
    let worker = start("worker", &database, &clock, &["--main-agent-size", "8"]).await;
    let schedulers = schedulers(&database, &clock).await;
    let http = api.http();
    http.upload_example("hello").await;
    let mut names = Vec::new();
    for i in 0..10 {
        let name = format!("every-minute/{i}");
        create(
            &http,
            json!({"name": name, "module": "hello", "function": "echo", "args": [name],
                   "delay": 60, "retry_delay": 30, "next_call_time": m0().to_rfc3339()}),
        )
        .await;
        names.push(name);
        let name = format!("cron/{i}");
        let cron = create(
            &http,
            json!({"name": name, "module": "hello", "function": "echo", "args": [name],
                   "cron": "* * * * *"}),
        )
        .await;
        assert_eq!(time(&cron["next_call_time"]), m0(), "{cron}");
        names.push(name);
    }

    for k in 0..STEPS {
        // Ten seconds into minute k: occurrence k of every schedule is due.
        clock.set(minute(k) + TimeDelta::seconds(10));
        wait_until(&format!("every schedule put minute {k}"), || async {
            let all = http.ok("/v1/schedules").await;
            let advanced = all["schedules"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| time(&s["next_call_time"]) == minute(k + 1));
            advanced.then_some(())
        })
        .await;
    }

    let expected: Vec<DateTime<Utc>> = (0..STEPS).map(minute).collect();
    let mut jobs = 0;
    for name in &names {
        let schedule = wait_until(&format!("{name}'s runs completed"), || async {
            let schedule = show(&http, name, 1000).await;
            runs(&schedule)
                .iter()
                .all(|(_, job)| job["status"] == "completed")
                .then_some(schedule)
        })
        .await;
        let runs = runs(&schedule);
        let occurrences: Vec<DateTime<Utc>> = runs.iter().map(|(at, _)| *at).collect();
        assert_eq!(
            occurrences, expected,
            "{name}: one job per occurrence, none missing"
        );
        for (_, job) in &runs {
            assert_eq!(job["schedule_id"], schedule["id"]);
            assert_eq!(job["result"], json!(name), "{job}");
            assert_eq!(job["attempts"], 1);
        }
        jobs += runs.len();
    }
    assert_eq!(jobs, 1000);
    // Counted another way: every job linked to a schedule, by occurrence.
    let mut per_occurrence: BTreeMap<(String, DateTime<Utc>), usize> = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = http
            .ok(&match &after {
                Some(id) => format!("/v1/jobs?limit=1000&after={id}"),
                None => "/v1/jobs?limit=1000".to_owned(),
            })
            .await;
        for job in page["jobs"].as_array().unwrap() {
            let key = (
                job["schedule_id"].as_str().unwrap().to_owned(),
                time(&job["occurrence"]),
            );
            *per_occurrence.entry(key).or_default() += 1;
        }
        match page["next"].as_str() {
            Some(id) => after = Some(id.to_owned()),
            None => break,
        }
    }
    assert_eq!(per_occurrence.len(), 1000);
    assert!(per_occurrence.values().all(|&n| n == 1));

    let puts: Vec<usize> = schedulers.iter().map(puts_logged).collect();
    eprintln!("jobs put by each scheduler: {puts:?}");
    assert_eq!(
        puts.iter().sum::<usize>(),
        1000,
        "puts per scheduler: {puts:?}"
    );
    assert!(
        puts.iter().all(|&n| n > 0),
        "every scheduler took part: {puts:?}"
    );
    for scheduler in &schedulers {
        let log = scheduler.log();
        assert!(
            !log.contains("already put"),
            "no occurrence raced past the lock"
        );
        assert!(!log.contains("could not put"), "{log}");
    }
    for process in [&api, &worker] {
        assert!(
            !process.log().contains("scheduler started"),
            "only `scheduler` schedules"
        );
    }
}

/// A schedule whose put fails (its module is gone) stays locked by the
/// scheduler that took it. SIGKILL that scheduler: the two others leave
/// the schedule alone until its retry time (a sentinel schedule due just
/// before it shows they ran meanwhile), then one of them takes it and puts
/// the occurrence — once, and it runs.
async fn a_killed_holder_s_schedule_is_taken_by_another_after_its_retry_delay(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let clock = Clock::at(m0() - TimeDelta::seconds(50));
    let api = start("serve", &database, &clock, &["--no-scheduler"]).await;
    let mut schedulers = schedulers(&database, &clock).await;
    let http = api.http();
    http.upload_example("hello").await;
    create(
        &http,
        json!({"name": "held", "module": "hello", "function": "echo", "args": ["held"],
               "delay": "60s", "retry_delay": "30s", "next_call_time": m0().to_rfc3339()}),
    )
    .await;
    create(
        &http,
        json!({"name": "sentinel", "module": "hello", "function": "hello",
               "delay": "1h", "next_call_time": (m0() + TimeDelta::hours(1)).to_rfc3339()}),
    )
    .await;
    let (status, _) = http.delete("/v1/modules/hello").await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    clock.set(m0() + TimeDelta::seconds(5));
    let held = wait_until("a scheduler to take `held` and fail", || async {
        let held = show(&http, "held", 10).await;
        held.get("last_error").is_some().then_some(held)
    })
    .await;
    assert!(
        held["last_error"]
            .as_str()
            .unwrap()
            .contains("module `hello` not found"),
        "{held}"
    );
    assert!(runs(&held).is_empty());
    let retry_time = time(&held["retry_time"]);
    let holder = held["holder"].as_str().unwrap().to_owned();
    assert!(retry_time >= m0() + TimeDelta::seconds(35), "{held}");
    let pid: u32 = holder.split(':').nth(1).unwrap().parse().unwrap();
    let index = schedulers
        .iter()
        .position(|s| s.pid() == pid)
        .unwrap_or_else(|| panic!("holder {holder} is one of the schedulers"));
    schedulers[index].kill();
    http.upload_example("hello").await;

    // Three seconds before the lock expires: the survivors run (they put
    // the sentinel, due then) but leave `held` alone.
    let before = retry_time - TimeDelta::seconds(3);
    let (status, body) = http
        .patch(
            "/v1/schedules/sentinel",
            json!({"next_call_time": before.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    clock.set(before);
    wait_until("the sentinel to be put", || async {
        let sentinel = show(&http, "sentinel", 1).await;
        (!runs(&sentinel).is_empty()).then_some(())
    })
    .await;
    let still = show(&http, "held", 10).await;
    assert!(
        runs(&still).is_empty(),
        "not taken before its retry time: {still}"
    );
    assert_eq!(still["holder"], json!(holder));
    assert_eq!(time(&still["retry_time"]), retry_time);

    clock.set(retry_time + TimeDelta::seconds(1));
    let taken = wait_until("another scheduler to put `held`", || async {
        let held = show(&http, "held", 10).await;
        (runs(&held).len() == 1 && held.get("last_error").is_none()).then_some(held)
    })
    .await;
    let (occurrence, job) = runs(&taken).remove(0);
    assert_eq!(occurrence, m0(), "the occurrence the dead scheduler held");
    assert_ne!(taken["holder"], json!(holder));
    assert_eq!(time(&taken["next_call_time"]), minute(1));
    assert!(taken.get("retry_time").is_none(), "{taken}");
    let done = http.wait_completed(job["id"].as_str().unwrap()).await;
    assert_eq!(done["result"], "held");
    assert_eq!(done["schedule_id"], taken["id"]);
}

/// `serve` schedules by itself. A paused schedule puts nothing while a
/// sentinel with the same timing goes on; resumed, it continues from the
/// next slot (the paused ones are not caught up). `wasync schedules show`
/// lists its runs.
async fn a_paused_schedule_puts_nothing_and_resumes_from_the_next_slot(backend: Backend) {
    let _machine = shared().await;
    let database = backend.database();
    let clock = Clock::at(m0() - TimeDelta::seconds(50));
    let server = start(
        "serve",
        &database,
        &clock,
        &["--scheduler-interval", "20ms"],
    )
    .await;
    let http = server.http();
    http.upload_example("hello").await;
    for name in ["paused", "sentinel"] {
        create(
            &http,
            json!({"name": name, "module": "hello", "function": "echo", "args": [name],
                   "cron": {"minute": [0, 10, 20, 30, 40, 50]}}),
        )
        .await;
    }
    let (clock, http) = (&clock, &http);
    let step = |minutes: i64| async move {
        clock.set(minute(minutes) + TimeDelta::seconds(5));
        wait_until(&format!("the sentinel to put minute {minutes}"), || async {
            let sentinel = show(http, "sentinel", 1).await;
            (time(&sentinel["next_call_time"]) > minute(minutes)).then_some(())
        })
        .await;
    };
    step(0).await;
    let output = server.cli(&["schedules", "pause", "paused"]);
    assert!(output.status.success(), "{output:?}");
    step(10).await;
    step(20).await;
    let paused = show(http, "paused", 10).await;
    assert_eq!(paused["active"], false);
    let occurrences: BTreeSet<_> = runs(&paused).iter().map(|(at, _)| *at).collect();
    assert_eq!(
        occurrences,
        BTreeSet::from([minute(0)]),
        "nothing put while paused"
    );

    let output = server.cli(&["schedules", "resume", "paused"]);
    assert!(output.status.success(), "{output:?}");
    let resumed = show(http, "paused", 10).await;
    assert_eq!(
        time(&resumed["next_call_time"]),
        minute(30),
        "the next slot"
    );
    step(30).await;
    let resumed = wait_until("the resumed schedule to put minute 30", || async {
        let s = show(http, "paused", 10).await;
        let runs = runs(&s);
        (runs.len() == 2 && runs.iter().all(|(_, j)| j["status"] == "completed")).then_some(s)
    })
    .await;
    let occurrences: Vec<_> = runs(&resumed).iter().map(|(at, _)| *at).collect();
    assert_eq!(occurrences, [minute(0), minute(30)]);

    let output = server.cli(&["schedules", "show", "paused"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("state      active"), "{text}");
    assert!(text.contains("2031-01-01T00:30:00Z"), "{text}");
    assert!(text.contains("result \"paused\""), "{text}");
    assert_eq!(text.matches("completed").count(), 2, "{text}");
    let job = runs(&resumed)[1].1["id"].as_str().unwrap().to_owned();
    let output = server.cli(&["show", &job]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!("schedule   {}", resumed["id"].as_str().unwrap())),
        "{text}"
    );
}
