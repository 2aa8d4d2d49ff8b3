//! The scheduler on a real SQLite store with a manual clock: rounds,
//! catch-up, pause and resume, failures and their retry, a crash between
//! put and advance, and the loop itself.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;

use super::*;
use crate::app::App;
use crate::clock::{Clock, ManualClock, from_millis};
use crate::model::{CatchUp, JobSpec, Timing};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::service::{ScheduleRequest, ServiceConfig};
use crate::store::prelude::*;
use crate::store::sqlite::SqliteStore;

struct Fixture {
    service: Service,
    store: Arc<SqliteStore>,
    parts: SchedulerParts,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// 2030-01-01T00:00:00Z plus `seconds`.
fn t(seconds: i64) -> Timestamp {
    from_millis(1_893_456_000_000) + TimeDelta::seconds(seconds)
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("wasync.db"))
        .await
        .unwrap();
    let bytes = wat::parse_str("(component $hello)").unwrap();
    store
        .module_insert(crate::store::ModuleInsertParams {
            digest: crate::model::ModuleDigest::of(&bytes),
            name: Some("hello".into()),
            bytes,
            exports: Vec::new(),
            now: t(0),
        })
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(t(0)));
    let store = Arc::new(store);
    let app = App::new(
        store.clone(),
        Runtime::new(RuntimeConfig::default()).unwrap(),
        clock.clone(),
        ServiceConfig::default(),
    );
    Fixture {
        parts: app.scheduler_parts(),
        service: app.service,
        store,
        clock,
        _dir: dir,
    }
}

fn request(name: &str, timing: Timing) -> ScheduleRequest {
    ScheduleRequest {
        name: name.to_owned(),
        job: JobSpec {
            queue: Some("default".to_owned()),
            ..JobSpec::new("hello", "echo", json!([name]))
        },
        timing,
        active: None,
        catch_up: None,
        retry_delay_ms: None,
        next_call_time: None,
    }
}

const EVERY_10S: Timing = Timing::Delay { delay_ms: 10_000 };

fn config(holder: &str) -> SchedulerConfig {
    SchedulerConfig {
        holder: holder.to_owned(),
        ..SchedulerConfig::default()
    }
}

impl Fixture {
    async fn round(&self, holder: &str) -> Round {
        run_round(&self.parts, &config(holder)).await.unwrap()
    }

    fn at(&self, seconds: i64) {
        self.clock.set(t(seconds));
    }

    /// The occurrences a schedule put, oldest first.
    async fn occurrences(&self, name: &str) -> Vec<Timestamp> {
        let schedule = self.service.schedule_get(name).await.unwrap();
        let mut runs: Vec<Timestamp> = self
            .service
            .schedule_runs(schedule.id, 1000)
            .await
            .unwrap()
            .iter()
            .map(|job| job.schedule.unwrap().occurrence)
            .collect();
        runs.reverse();
        runs
    }
}

#[tokio::test]
async fn a_round_puts_due_occurrences_as_jobs_and_advances() {
    let f = fixture().await;
    let created = f
        .service
        .schedule_create(request("poll:feed", EVERY_10S))
        .await
        .unwrap();
    assert!(created.active, "active by default");
    assert_eq!(created.next_call_time, Some(t(10)));
    assert_eq!(created.retry_delay_ms, 5_000);
    f.at(9);
    assert_eq!(f.round("a").await, Round::default());
    f.at(10);
    let round = f.round("a").await;
    assert_eq!((round.taken, round.put), (1, 1));
    let shown = f.service.schedule_get("poll:feed").await.unwrap();
    assert_eq!(shown.next_call_time, Some(t(20)));
    assert_eq!(shown.last_call_time, Some(t(10)));
    assert_eq!(shown.retry_time, None);
    assert_eq!(shown.holder.as_deref(), Some("a"));
    let runs = f.service.schedule_runs(shown.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].queue, "");
    assert_eq!(runs[0].function, "echo");
    assert_eq!(runs[0].args, json!(["poll:feed"]));
    assert_eq!(runs[0].module_name.as_deref(), Some("hello"));
    assert_eq!(runs[0].schedule.unwrap().schedule_id, shown.id);
    // The next round, a moment later, has nothing to do.
    f.at(11);
    assert_eq!(f.round("b").await.taken, 0);
}

#[tokio::test]
async fn after_downtime_once_puts_one_job_and_all_puts_each_missed_one() {
    let f = fixture().await;
    f.service
        .schedule_create(request("once", EVERY_10S))
        .await
        .unwrap();
    f.service
        .schedule_create(ScheduleRequest {
            catch_up: Some(CatchUp::All),
            ..request("all", EVERY_10S)
        })
        .await
        .unwrap();
    // No scheduler ran from 0 s to 75 s: 10, 20, ..., 70 were missed.
    f.at(75);
    let round = f.round("a").await;
    assert_eq!((round.taken, round.put), (2, 8));
    assert_eq!(f.occurrences("once").await, vec![t(10)]);
    assert_eq!(
        f.occurrences("all").await,
        (1..=7).map(|i| t(10 * i)).collect::<Vec<_>>()
    );
    for name in ["once", "all"] {
        let s = f.service.schedule_get(name).await.unwrap();
        assert_eq!(
            s.next_call_time,
            Some(t(80)),
            "{name} continues on its grid"
        );
    }
}

#[tokio::test]
async fn a_paused_schedule_puts_nothing_and_resumes_from_the_next_slot() {
    let f = fixture().await;
    f.service
        .schedule_create(request("every", EVERY_10S))
        .await
        .unwrap();
    f.at(10);
    f.round("a").await;
    let paused = f.service.schedule_pause("every").await.unwrap();
    assert!(!paused.active);
    f.at(45);
    assert_eq!(f.round("a").await.taken, 0, "paused: nothing taken");
    let resumed = f.service.schedule_resume("every").await.unwrap();
    assert!(resumed.active);
    assert_eq!(
        resumed.next_call_time,
        Some(t(50)),
        "20, 30, 40 were missed while paused and are not caught up"
    );
    assert_eq!(f.round("a").await.taken, 0);
    f.at(50);
    assert_eq!(f.round("a").await.put, 1);
    assert_eq!(f.occurrences("every").await, vec![t(10), t(50)]);
}

#[tokio::test]
async fn a_failed_put_keeps_the_lock_and_is_retried_after_the_retry_delay() {
    let f = fixture().await;
    f.service.queue_create("reports").await.unwrap();
    f.service
        .schedule_create(ScheduleRequest {
            job: JobSpec {
                queue: Some("reports".into()),
                ..request("report", EVERY_10S).job
            },
            retry_delay_ms: Some(3_000),
            ..request("report", EVERY_10S)
        })
        .await
        .unwrap();
    f.service.queue_delete("reports").await.unwrap();
    f.at(10);
    let round = f.round("a").await;
    assert_eq!((round.taken, round.put, round.failed), (1, 0, 1));
    let failed = f.service.schedule_get("report").await.unwrap();
    assert!(
        failed.last_error.as_deref().unwrap().contains("reports"),
        "{failed:?}"
    );
    assert_eq!(failed.next_call_time, Some(t(10)), "not advanced");
    assert_eq!(failed.retry_time, Some(t(13)));
    f.service.queue_create("reports").await.unwrap();
    f.at(12);
    assert_eq!(f.round("b").await.taken, 0, "locked until 13 s");
    f.at(13);
    let round = f.round("b").await;
    assert_eq!((round.put, round.failed), (1, 0));
    assert_eq!(f.occurrences("report").await, vec![t(10)]);
    let ok = f.service.schedule_get("report").await.unwrap();
    assert_eq!(ok.last_error, None);
    assert_eq!(ok.next_call_time, Some(t(20)));
}

/// A schedule naming a function its module does not declare is refused at
/// creation, listing the module's functions; one whose module name moved
/// to a component without the function is refused at the occurrence's
/// put, which records the reason, and stores no job to fail at run time.
#[tokio::test]
async fn a_schedule_s_function_is_checked_against_its_module_s() {
    let f = fixture().await;
    let declared = |tag: &str, functions: &[&str]| {
        let bytes = wat::parse_str(format!("(component ${tag})")).unwrap();
        crate::store::ModuleInsertParams {
            digest: crate::model::ModuleDigest::of(&bytes),
            name: Some("declared".into()),
            bytes,
            exports: functions.iter().map(|f| format!("function {f}")).collect(),
            now: t(0),
        }
    };
    f.store
        .module_insert(declared("one", &["echo", "add"]))
        .await
        .unwrap();
    let on = |function: &str| ScheduleRequest {
        job: JobSpec::new("declared", function, json!([])),
        ..request(function, EVERY_10S)
    };
    let error = f.service.schedule_create(on("nope")).await.unwrap_err();
    assert!(
        matches!(&error, service::Error::UnknownFunction { functions, .. }
            if functions == &["echo", "add"]),
        "{error}"
    );
    f.service.schedule_create(on("echo")).await.unwrap();
    // The name moves to a component that no longer declares `echo`.
    f.store
        .module_insert(declared("two", &["add"]))
        .await
        .unwrap();
    f.at(10);
    let round = f.round("a").await;
    assert_eq!((round.put, round.failed), (0, 1));
    let failed = f.service.schedule_get("echo").await.unwrap();
    let reason = failed.last_error.unwrap_or_default();
    assert!(reason.contains("no job function `echo`"), "{reason}");
    assert!(f.occurrences("echo").await.is_empty());
}

/// A scheduler took the schedule and put the job, then died before
/// advancing: the next one takes it after the lock expires, finds the
/// occurrence put, and advances without putting it again.
#[tokio::test]
async fn a_crash_between_put_and_advance_puts_the_occurrence_once() {
    let f = fixture().await;
    f.service
        .schedule_create(request("every", EVERY_10S))
        .await
        .unwrap();
    f.at(10);
    let taken = f
        .parts
        .store
        .schedule_take_many(ScheduleTakeParams {
            holder: "dead".into(),
            limit: 10,
            now: f.clock.now(),
        })
        .await
        .unwrap();
    let put = f.service.schedule_put(&taken[0], t(10)).await.unwrap();
    assert!(matches!(put, OccurrencePut::Put(_)));
    f.at(14);
    assert_eq!(f.round("b").await.taken, 0, "still locked by the dead one");
    f.at(15);
    let round = f.round("b").await;
    assert_eq!((round.taken, round.put, round.already_put), (1, 0, 1));
    assert_eq!(f.occurrences("every").await, vec![t(10)]);
    let s = f.service.schedule_get("every").await.unwrap();
    assert_eq!(s.next_call_time, Some(t(20)));
    assert_eq!(s.holder.as_deref(), Some("b"));
}

#[tokio::test]
async fn updates_reschedule_and_are_checked() {
    let f = fixture().await;
    f.service
        .schedule_create(request("s", EVERY_10S))
        .await
        .unwrap();
    f.at(3);
    let cron = Timing::Cron {
        spec: crate::model::cron::CronSpec::parse("*/5 * * * *").unwrap(),
        expression: Some("*/5 * * * *".into()),
    };
    let patch = crate::service::SchedulePatch {
        timing: Some(cron.clone()),
        args: Some(json!({"value": 1})),
        ..Default::default()
    };
    let updated = f.service.schedule_update("s", patch).await.unwrap();
    assert_eq!(updated.timing, cron);
    assert_eq!(updated.next_call_time, Some(t(300)), "rescheduled from now");
    assert_eq!(
        updated.retry_delay_ms, 5_000,
        "kept: shorter than the new timing"
    );
    assert_eq!(updated.job.args, json!({"value": 1}));
    let bad = crate::service::SchedulePatch {
        module: Some("missing".into()),
        ..Default::default()
    };
    assert!(matches!(
        f.service.schedule_update("s", bad).await,
        Err(service::Error::NotFound { .. })
    ));
    let bad = crate::service::SchedulePatch {
        timing: Some(Timing::Delay { delay_ms: 2_000 }),
        retry_delay_ms: Some(2_000),
        ..Default::default()
    };
    assert!(matches!(
        f.service.schedule_update("s", bad).await,
        Err(service::Error::Invalid(_))
    ));
    // A shorter delay brings a lock shorter than it by default.
    let shorter = crate::service::SchedulePatch {
        timing: Some(Timing::Delay { delay_ms: 4_000 }),
        ..Default::default()
    };
    let updated = f.service.schedule_update("s", shorter).await.unwrap();
    assert_eq!(updated.retry_delay_ms, 2_000);
    assert_eq!(updated.next_call_time, Some(t(7)));
}

#[tokio::test]
async fn creation_checks_names_queues_modules_and_timing() {
    let f = fixture().await;
    let invalid = |e: service::Error| matches!(e, service::Error::Invalid(_));
    let bad_name = f.service.schedule_create(request("no spaces", EVERY_10S));
    assert!(invalid(bad_name.await.unwrap_err()));
    let mut missing_queue = request("q", EVERY_10S);
    missing_queue.job.queue = Some("nowhere".into());
    assert!(matches!(
        f.service.schedule_create(missing_queue).await,
        Err(service::Error::NotFound { .. })
    ));
    let mut bad_args = request("a", EVERY_10S);
    bad_args.job.args = json!("text");
    assert!(invalid(
        f.service.schedule_create(bad_args).await.unwrap_err()
    ));
    let too_long_lock = ScheduleRequest {
        retry_delay_ms: Some(10_000),
        ..request("l", EVERY_10S)
    };
    assert!(invalid(
        f.service.schedule_create(too_long_lock).await.unwrap_err()
    ));
    f.service
        .schedule_create(request("dup", EVERY_10S))
        .await
        .unwrap();
    assert!(matches!(
        f.service.schedule_create(request("dup", EVERY_10S)).await,
        Err(service::Error::Conflict(_))
    ));
}

/// A schedule's `begin_by` is checked as a put's is (at most
/// [`service::BEGIN_BY_MAX_MS`]), at creation and at update: a schedule
/// whose every put would be refused is never stored.
#[tokio::test]
async fn a_schedule_s_begin_by_is_checked_as_a_put_s() {
    let f = fixture().await;
    let mut too_late = request("late", EVERY_10S);
    too_late.job.begin_by_ms = Some(service::BEGIN_BY_MAX_MS + 1);
    let error = f.service.schedule_create(too_late).await.unwrap_err();
    assert!(matches!(error, service::Error::Invalid(_)), "{error}");
    let mut ok = request("ok", EVERY_10S);
    ok.job.begin_by_ms = Some(service::BEGIN_BY_MAX_MS);
    f.service.schedule_create(ok).await.unwrap();
    let patch = service::SchedulePatch {
        begin_by_ms: Some(Some(service::BEGIN_BY_MAX_MS + 1)),
        ..Default::default()
    };
    let error = f.service.schedule_update("ok", patch).await.unwrap_err();
    assert!(matches!(error, service::Error::Invalid(_)), "{error}");
}

/// The loop: woken at once by a schedule created in this process, then
/// waking by itself when the next one is due (the manual clock moved).
#[tokio::test]
async fn the_loop_puts_jobs_as_the_clock_moves() {
    let f = fixture().await;
    let scheduler = Scheduler::start(
        f.parts.clone(),
        SchedulerConfig {
            interval: Duration::from_millis(20),
            ..config("loop")
        },
    );
    assert_eq!(scheduler.holder(), "loop");
    f.service
        .schedule_create(ScheduleRequest {
            next_call_time: Some(t(0)),
            ..request("now", EVERY_10S)
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for expected in 1..=3 {
        loop {
            if f.occurrences("now").await.len() == expected {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no put #{expected}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if expected < 3 {
            f.clock.advance(Duration::from_secs(10));
        }
    }
    scheduler.stop().await;
    assert_eq!(f.occurrences("now").await, vec![t(0), t(10), t(20)]);
}
