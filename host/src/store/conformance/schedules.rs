//! Schedules: definitions, the take / advance / fail cycle and its lock
//! (m01.remote's `updateRetryTime` / `pullNextSchedulerItem` doctests),
//! one job per occurrence, and schedulers racing on several stores.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::json;

use super::Harness;
use super::kit::{self, assert_conflict, assert_not_found, t};
use crate::model::cron::CronSpec;
use crate::model::{
    CatchUp, FailureKind, JobId, JobLimits, JobSpec, JobStatus, NewJob, NewSchedule, Schedule,
    ScheduleId, ScheduleRun, Timestamp, Timing,
};
use crate::store::{
    ScheduleAdvanceParams, ScheduleLock, ScheduleTakeParams, ScheduleUpdateParams, Store,
};

/// A Delay schedule putting `hello:echo` every `delay_ms`, locked
/// `retry_delay_ms` by a take, first due at `next`.
pub(crate) fn delay(
    name: &str,
    delay_ms: u64,
    retry_delay_ms: u64,
    next: Timestamp,
) -> NewSchedule {
    NewSchedule {
        id: ScheduleId::new(),
        name: name.to_owned(),
        job: JobSpec {
            queue: Some(String::new()),
            ..JobSpec::new("hello", "echo", json!([name]))
        },
        timing: Timing::Delay { delay_ms },
        catch_up: CatchUp::Once,
        active: true,
        retry_delay_ms,
        next_call_time: Some(next),
        created_at: t(0),
    }
}

async fn take(store: &dyn Store, holder: &str, now: Timestamp) -> Vec<Schedule> {
    take_up_to(store, holder, 100, now).await
}

async fn take_up_to(store: &dyn Store, holder: &str, limit: u32, now: Timestamp) -> Vec<Schedule> {
    store
        .schedule_take_many(ScheduleTakeParams {
            holder: holder.to_owned(),
            limit,
            now,
        })
        .await
        .expect("take")
}

async fn advance(store: &dyn Store, lock: &ScheduleLock, next: Timestamp) -> bool {
    store
        .schedule_advance(ScheduleAdvanceParams {
            lock: lock.clone(),
            next_call_time: Some(next),
            last_call_time: lock.taken,
        })
        .await
        .expect("advance")
}

fn update_of(s: &Schedule, now: Timestamp) -> ScheduleUpdateParams {
    ScheduleUpdateParams {
        id: s.id,
        version: s.version,
        job: s.job.clone(),
        timing: s.timing.clone(),
        catch_up: s.catch_up,
        active: s.active,
        retry_delay_ms: s.retry_delay_ms,
        next_call_time: s.next_call_time,
        now,
    }
}

pub(crate) async fn schedules_create_get_list_update_delete<H: Harness>(h: H) {
    let store = h.store();
    let every = store
        .schedule_insert(&delay("poll:feed", 10_000, 5_000, t(10_000)))
        .await
        .unwrap();
    assert_eq!(every.name, "poll:feed");
    assert_eq!(every.job.args, json!(["poll:feed"]));
    assert_eq!(every.timing, Timing::Delay { delay_ms: 10_000 });
    assert_eq!(every.next_call_time, Some(t(10_000)));
    assert_eq!((every.retry_time, every.holder.as_deref()), (None, None));
    assert!(every.active);
    let cron = NewSchedule {
        timing: Timing::Cron {
            spec: CronSpec::parse("10 4 * * *").unwrap(),
            expression: Some("10 4 * * *".to_owned()),
        },
        job: JobSpec {
            queue: Some("reports".to_owned()),
            limits: JobLimits {
                fuel: Some(1_000_000),
                ..Default::default()
            },
            begin_by_ms: Some(60_000),
            // Every occurrence is put with them.
            priority: 4,
            quota_keys: [("tenants".to_owned(), "acme".to_owned())].into(),
            ..every.job.clone()
        },
        catch_up: CatchUp::All,
        ..delay("report:daily", 1, 300_000, t(3_600_000))
    };
    let daily = store.schedule_insert(&cron).await.unwrap();
    assert_eq!(daily.timing, cron.timing);
    assert_eq!(daily.job, cron.job);
    assert_eq!(daily.catch_up, CatchUp::All);
    assert_eq!(store.schedule_get("report:daily").await.unwrap(), daily);
    let names: Vec<String> = store
        .schedule_list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["poll:feed", "report:daily"]);
    assert_conflict(
        store
            .schedule_insert(&delay("poll:feed", 1_000, 500, t(0)))
            .await,
        &["schedule `poll:feed` already exists"],
    );

    // An update replaces the definition and bumps the version; one made
    // from a stale read is refused.
    let mut change = update_of(&every, t(1));
    change.active = false;
    change.timing = Timing::Delay { delay_ms: 20_000 };
    change.next_call_time = Some(t(20_000));
    let paused = store.schedule_update(change.clone()).await.unwrap();
    assert!(!paused.active);
    assert_eq!(paused.timing, Timing::Delay { delay_ms: 20_000 });
    assert_eq!(paused.next_call_time, Some(t(20_000)));
    assert_eq!(paused.updated_at, t(1));
    assert_eq!(paused.created_at, t(0));
    assert!(paused.version > every.version);
    // Its jobs' quota keys, set and removed by updates.
    let mut keyed = update_of(&daily, t(2));
    keyed.job.quota_keys = [("tenants".to_owned(), "globex".to_owned())].into();
    let rekeyed = store.schedule_update(keyed.clone()).await.unwrap();
    assert_eq!(rekeyed.job.quota_keys, keyed.job.quota_keys);
    assert_eq!(store.schedule_get("report:daily").await.unwrap(), rekeyed);
    let mut unkeyed = update_of(&rekeyed, t(3));
    unkeyed.job.quota_keys.clear();
    let plain = store.schedule_update(unkeyed).await.unwrap();
    assert!(plain.job.quota_keys.is_empty(), "{plain:?}");
    assert_conflict(
        store.schedule_update(change.clone()).await,
        &["changed since version"],
    );

    store.schedule_delete("poll:feed").await.unwrap();
    assert_not_found(
        store.schedule_get("poll:feed").await,
        &["schedule `poll:feed`"],
    );
    assert_not_found(store.schedule_delete("poll:feed").await, &["poll:feed"]);
    change.version = paused.version;
    assert_not_found(store.schedule_update(change).await, &["schedule"]);
}

/// m01.remote's Delay doctest: delay 10, retryDelay 5, nextCallTime
/// now + 10. Not taken before it is due; taken at now + 10 with a lock
/// until now + 15; not taken again while locked; taken again at now + 15
/// (the lock expired), locked until now + 20: the lock counts from the
/// time of the take, not from the call time.
pub(crate) async fn take_locks_until_retry_time<H: Harness>(h: H) {
    let store = h.store();
    let s = t(1_000_000);
    let at = |seconds: i64| s + TimeDelta::seconds(seconds);
    let echo = store
        .schedule_insert(&delay("echo 1", 10_000, 5_000, at(10)))
        .await
        .unwrap();
    assert!(take(&*store, "a", at(0)).await.is_empty(), "not yet due");
    assert!(
        take(&*store, "a", at(10) - TimeDelta::milliseconds(1))
            .await
            .is_empty()
    );

    let taken = take(&*store, "a", at(10)).await;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, echo.id);
    assert_eq!(
        taken[0].next_call_time,
        Some(at(10)),
        "the occurrence taken"
    );
    assert_eq!(taken[0].retry_time, Some(at(15)));
    assert_eq!(taken[0].holder.as_deref(), Some("a"));
    let lock_a = ScheduleLock::of(&taken[0]).unwrap();

    assert!(take(&*store, "b", at(10)).await.is_empty(), "locked");
    assert!(
        take(&*store, "b", at(15) - TimeDelta::milliseconds(1))
            .await
            .is_empty()
    );
    let shown = store.schedule_get("echo 1").await.unwrap();
    assert_eq!(
        (shown.retry_time, shown.holder.as_deref()),
        (Some(at(15)), Some("a"))
    );

    // `a` died: its lock expires and `b` takes the same occurrence.
    let taken = take(&*store, "b", at(15)).await;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].next_call_time, Some(at(10)));
    assert_eq!(taken[0].retry_time, Some(at(20)));
    let lock_b = ScheduleLock::of(&taken[0]).unwrap();
    assert!(
        !advance(&*store, &lock_a, at(20)).await,
        "a's take no longer holds"
    );
    assert!(!store.schedule_fail(&lock_a, "late").await.unwrap());
    assert!(advance(&*store, &lock_b, at(20)).await);
    let advanced = store.schedule_get("echo 1").await.unwrap();
    assert_eq!(advanced.next_call_time, Some(at(20)));
    assert_eq!(advanced.retry_time, None);
    assert_eq!(advanced.last_call_time, Some(at(10)));
    assert!(
        !advance(&*store, &lock_b, at(30)).await,
        "a take advances once"
    );
    assert!(take(&*store, "a", at(19)).await.is_empty());
    assert_eq!(take(&*store, "a", at(20)).await.len(), 1);
}

pub(crate) async fn failed_puts_keep_the_lock_and_updates_release_it<H: Harness>(h: H) {
    let store = h.store();
    store
        .schedule_insert(&delay("flaky", 60_000, 30_000, t(60_000)))
        .await
        .unwrap();
    let taken = take(&*store, "a", t(60_000)).await;
    let lock = ScheduleLock::of(&taken[0]).unwrap();
    assert!(
        store
            .schedule_fail(&lock, "queue `gone` not found")
            .await
            .unwrap()
    );
    let failed = store.schedule_get("flaky").await.unwrap();
    assert_eq!(failed.last_error.as_deref(), Some("queue `gone` not found"));
    assert_eq!(failed.retry_time, Some(t(90_000)), "the lock stays");
    assert!(take(&*store, "b", t(89_999)).await.is_empty());
    let retaken = take(&*store, "b", t(90_000)).await;
    assert_eq!(
        retaken[0].last_error.as_deref(),
        Some("queue `gone` not found")
    );
    let lock = ScheduleLock::of(&retaken[0]).unwrap();

    // An update that keeps the next call time keeps the lock (the holder
    // may still advance); one that moves it releases the lock.
    let mut edit = update_of(&retaken[0], t(90_001));
    edit.job.args = json!(["edited"]);
    let edited = store.schedule_update(edit).await.unwrap();
    assert_eq!(edited.retry_time, Some(t(120_000)));
    let mut edit = update_of(&edited, t(90_002));
    edit.next_call_time = Some(t(95_000));
    let moved = store.schedule_update(edit).await.unwrap();
    assert_eq!(moved.retry_time, None);
    assert!(!advance(&*store, &lock, t(120_000)).await, "the update won");
    let taken = take(&*store, "c", t(95_000)).await;
    assert_eq!(taken[0].next_call_time, Some(t(95_000)));
    assert_eq!(taken[0].job.args, json!(["edited"]));
    assert!(advance(&*store, &ScheduleLock::of(&taken[0]).unwrap(), t(155_000)).await);
    let done = store.schedule_get("flaky").await.unwrap();
    assert_eq!(done.last_error, None, "a successful put clears the error");
    assert_eq!(done.last_call_time, Some(t(95_000)));
}

pub(crate) async fn paused_schedules_are_never_due<H: Harness>(h: H) {
    let store = h.store();
    assert_eq!(store.schedule_next_due().await.unwrap(), None);
    let a = store
        .schedule_insert(&delay("a", 60_000, 30_000, t(60_000)))
        .await
        .unwrap();
    store
        .schedule_insert(&NewSchedule {
            active: false,
            ..delay("b", 60_000, 30_000, t(1_000))
        })
        .await
        .unwrap();
    assert_eq!(store.schedule_next_due().await.unwrap(), Some(t(60_000)));
    assert!(
        take(&*store, "x", t(59_999)).await.is_empty(),
        "b is paused"
    );
    let taken = take(&*store, "x", t(60_000)).await;
    assert_eq!(taken.iter().map(|s| s.id).collect::<Vec<_>>(), [a.id]);
    // While locked, it is due again when the lock expires.
    assert_eq!(store.schedule_next_due().await.unwrap(), Some(t(90_000)));
    let mut pause = update_of(&taken[0], t(60_001));
    pause.active = false;
    store.schedule_update(pause).await.unwrap();
    assert_eq!(store.schedule_next_due().await.unwrap(), None);
    assert!(take(&*store, "x", t(1_000_000)).await.is_empty());
}

/// The (schedule, occurrence) unique constraint: a second job for an
/// occurrence is refused even if two schedulers raced past the lock.
pub(crate) async fn one_job_per_schedule_occurrence<H: Harness>(h: H) {
    let store = h.store();
    let module = kit::module(&*store, "hello", Some("hello")).await;
    let schedule = ScheduleId::new();
    let run = |ms: i64| ScheduleRun {
        schedule_id: schedule,
        occurrence: t(ms),
    };
    let scheduled = |ms: i64| NewJob {
        schedule: Some(run(ms)),
        ..kit::new_job("", &module, "echo", t(ms))
    };
    let first = kit::put(&*store, vec![scheduled(1_000)]).await;
    assert_eq!(first[0].schedule, Some(run(1_000)));
    assert_eq!(
        store.job_get(first[0].id).await.unwrap().schedule,
        Some(run(1_000))
    );
    assert_conflict(
        store.job_insert_many(&[scheduled(1_000)]).await,
        &[&schedule.to_string(), "already put its occurrence"],
    );
    // All or nothing: a batch holding a duplicate puts none.
    let batch = vec![scheduled(2_000), scheduled(1_000)];
    assert_conflict(store.job_insert_many(&batch).await, &["already put"]);
    assert!(store.job_get(batch[0].id).await.is_err());
    kit::put(&*store, vec![scheduled(2_000), scheduled(3_000)]).await;
    // Other schedules and plain jobs are not affected.
    kit::put(
        &*store,
        vec![
            NewJob {
                schedule: Some(ScheduleRun {
                    schedule_id: ScheduleId::new(),
                    occurrence: t(1_000),
                }),
                ..kit::new_job("", &module, "echo", t(0))
            },
            kit::new_job("", &module, "echo", t(0)),
        ],
    )
    .await;
    let runs = store.schedule_runs(schedule, 2).await.unwrap();
    let occurrences: Vec<_> = runs
        .iter()
        .map(|j| j.schedule.unwrap().occurrence)
        .collect();
    assert_eq!(occurrences, [t(3_000), t(2_000)], "latest first");
}

/// An occurrence's job carries quota names and a deadline like any job,
/// and one put past its deadline is stored expired but still counts as
/// the occurrence's job: every column of the insert lands where the read
/// expects it, in one batch mixing them.
pub(crate) async fn occurrence_jobs_keep_quotas_and_deadlines<H: Harness>(h: H) {
    let store = h.store();
    let module = kit::module(&*store, "hello", Some("hello")).await;
    let schedule = ScheduleId::new();
    let run = |ms: i64| ScheduleRun {
        schedule_id: schedule,
        occurrence: t(ms),
    };
    let limited = NewJob {
        quota_names: vec!["mail".to_owned(), "smtp".to_owned()],
        begin_by_ms: Some(60_000),
        schedule: Some(run(1_000)),
        ..kit::new_job("", &module, "echo", t(1_000))
    };
    let late = NewJob {
        begin_after: t(-3_600_000),
        begin_by_ms: Some(60_000),
        expired: true,
        quota_names: vec!["mail".to_owned()],
        schedule: Some(run(2_000)),
        ..kit::new_job("", &module, "echo", t(2_000))
    };
    let put = kit::put(&*store, vec![limited, late.clone()]).await;
    for job in &put {
        assert_eq!(&store.job_get(job.id).await.unwrap(), job, "read as put");
    }
    assert_eq!(put[0].status, JobStatus::Pending);
    assert_eq!(put[0].quota_names, ["mail", "smtp"]);
    assert_eq!(put[0].begin_by_ms, Some(60_000));
    assert_eq!(put[0].schedule, Some(run(1_000)));
    assert_eq!(put[1].status, JobStatus::Completed);
    assert_eq!(
        put[1].failure.as_ref().map(|f| f.kind),
        Some(FailureKind::Timeout)
    );
    assert_eq!(put[1].quota_names, ["mail"]);
    assert_eq!(put[1].schedule, Some(run(2_000)));
    let runs = store.schedule_runs(schedule, 10).await.unwrap();
    assert_eq!(runs, [put[1].clone(), put[0].clone()], "latest first");
    assert_conflict(
        store
            .job_insert_many(&[NewJob {
                id: JobId::new(),
                ..late
            }])
            .await,
        &["already put its occurrence"],
    );
}

/// Schedulers on three stores (three processes), four takers each, race
/// for twenty schedules over fifty occurrences each: every occurrence is
/// taken exactly once (by the lock alone: no job is put here).
pub(crate) async fn concurrent_takers_take_each_occurrence_once<H: Harness>(h: H) {
    const SCHEDULES: usize = 20;
    const STEPS: i64 = 50;
    let stores = [h.store(), h.another().await, h.another().await];
    for i in 0..SCHEDULES {
        stores[0]
            .schedule_insert(&delay(&format!("s{i:02}"), 1_000, 900, t(1_000)))
            .await
            .unwrap();
    }
    let mut taken: HashMap<(ScheduleId, Timestamp), Vec<String>> = HashMap::new();
    for step in 1..=STEPS {
        let now = t(step * 1_000);
        let mut takers = Vec::new();
        for (s, store) in stores.iter().enumerate() {
            for k in 0..4 {
                let store = Arc::clone(store);
                let holder = format!("store{s}/taker{k}");
                takers.push(tokio::spawn(async move {
                    // Two at a time, until none is left to take: the
                    // takers' statements interleave.
                    let mut mine = Vec::new();
                    loop {
                        let batch = take_up_to(&*store, &holder, 2, now).await;
                        if batch.is_empty() {
                            break mine;
                        }
                        for schedule in batch {
                            let lock = ScheduleLock::of(&schedule).unwrap();
                            assert!(advance(&*store, &lock, now + TimeDelta::seconds(1)).await);
                            mine.push(((schedule.id, lock.taken), holder.clone()));
                        }
                    }
                }));
            }
        }
        for taker in takers {
            for (occurrence, holder) in taker.await.expect("taker") {
                taken.entry(occurrence).or_default().push(holder);
            }
        }
        assert_eq!(
            taken.len(),
            SCHEDULES * step as usize,
            "every schedule taken at step {step}"
        );
    }
    let twice: Vec<_> = taken.iter().filter(|(_, who)| who.len() > 1).collect();
    assert!(twice.is_empty(), "taken more than once: {twice:?}");
    assert_eq!(taken.len(), SCHEDULES * STEPS as usize);
}
