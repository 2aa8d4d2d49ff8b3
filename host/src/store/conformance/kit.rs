//! The suite's test kit: fixed times, real components, job factories and
//! the few steps most cases share.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use serde_json::json;

use crate::clock::from_millis;
use crate::model::{
    CapturedOutput, DispatcherId, Job, JobId, JobLimits, ModuleDigest, ModuleInfo, NewJob, Process,
    RunOutcome, Timestamp,
};
use crate::store::{
    DispatcherActivateParams, DispatcherPingParams, Error, FinishReport, JobClaimParams,
    JobFinishParams, JobStartParams, ModuleInsertParams, Ping, QueueJobsParams, Result, Store,
};

/// A fixed instant plus `ms` milliseconds: tests never read the wall clock.
pub(crate) fn t(ms: i64) -> Timestamp {
    from_millis(1_700_000_000_000 + ms)
}

/// The bytes of a real (empty) component named `tag`: different tags give
/// different digests.
pub(crate) fn component(tag: &str) -> Vec<u8> {
    wat::parse_str(format!("(component ${tag})")).expect("valid component text")
}

/// Stores the component `tag`, under `name` if given.
pub(crate) async fn module(store: &dyn Store, tag: &str, name: Option<&str>) -> ModuleInfo {
    let bytes = component(tag);
    store
        .module_insert(ModuleInsertParams {
            digest: ModuleDigest::of(&bytes),
            name: name.map(str::to_owned),
            bytes,
            exports: vec!["wasync:job/run@0.3.0: func(...)".to_owned()],
            now: t(0),
        })
        .await
        .expect("insert module")
}

/// A plain job ("as soon as possible"), put at `at`.
pub(crate) fn new_job(queue: &str, module: &ModuleInfo, function: &str, at: Timestamp) -> NewJob {
    NewJob {
        id: JobId::new(),
        queue: queue.to_owned(),
        module: module.digest.clone(),
        module_name: module.name.clone(),
        function: function.to_owned(),
        args: json!([1, "two", {"three": 3.5}]),
        limits: JobLimits::default(),
        begin_after: at,
        scheduled: false,
        begin_by_ms: None,
        quota_names: Vec::new(),
        expired: false,
        parent: None,
        token: None,
        created_at: at,
        schedule: None,
        retry: None,
        priority: 0,
        unique: None,
    }
}

/// A job scheduled at `begin_after`, put at `at`.
pub(crate) fn scheduled_job(
    queue: &str,
    module: &ModuleInfo,
    at: Timestamp,
    begin_after: Timestamp,
) -> NewJob {
    NewJob {
        begin_after,
        scheduled: true,
        ..new_job(queue, module, "scheduled", at)
    }
}

/// Puts jobs and returns them as stored.
pub(crate) async fn put(store: &dyn Store, jobs: Vec<NewJob>) -> Vec<Job> {
    store.job_insert_many(&jobs).await.expect("insert jobs")
}

/// `n` plain jobs in `queue`, put in one batch at `t(0)`: the queue order
/// is the batch order.
pub(crate) async fn put_n(
    store: &dyn Store,
    queue: &str,
    module: &ModuleInfo,
    n: usize,
) -> Vec<JobId> {
    let jobs = (0..n)
        .map(|_| new_job(queue, module, "work", t(0)))
        .collect();
    ids(&put(store, jobs).await)
}

/// The ids of jobs.
pub(crate) fn ids(jobs: &[Job]) -> Vec<JobId> {
    jobs.iter().map(|j| j.id).collect()
}

/// The ids of a queue's pending jobs, in queue order.
pub(crate) async fn queue_ids(store: &dyn Store, queue: &str) -> Vec<JobId> {
    let jobs = store
        .queue_jobs(QueueJobsParams {
            queue: queue.to_owned(),
            offset: 0,
            limit: 10_000,
        })
        .await
        .expect("queue jobs");
    ids(&jobs)
}

/// A process on host `hostname`.
pub(crate) fn process(hostname: &str, pid: u32) -> Process {
    Process {
        hostname: hostname.to_owned(),
        pid,
    }
}

/// The process the kit's dispatchers run in.
pub(crate) fn test_process() -> Process {
    process("test-host", 4242)
}

/// Activates `id` for `process` at `now`, with zc.async's 60 s death
/// interval and no lock proving anyone gone.
pub(crate) fn activation(
    id: DispatcherId,
    process: Process,
    now: Timestamp,
) -> DispatcherActivateParams {
    DispatcherActivateParams {
        id,
        process,
        poll_interval_ms: 5_000,
        now,
        death_interval: std::time::Duration::from_secs(60),
        proven_gone: None,
    }
}

/// A registered, active dispatcher.
pub(crate) async fn dispatcher(store: &dyn Store) -> DispatcherId {
    let id = DispatcherId::new();
    store
        .dispatcher_activate(activation(id, test_process(), t(0)))
        .await
        .expect("activate dispatcher");
    id
}

/// Pings `id` as the kit's process.
pub(crate) async fn ping(store: &dyn Store, id: DispatcherId, now: Timestamp) -> Ping {
    store
        .dispatcher_ping(DispatcherPingParams {
            id,
            process: test_process(),
            now,
        })
        .await
        .expect("ping")
}

/// Claims up to `limit` jobs of `queue` for agent `main`, with no filter.
pub(crate) async fn claim(
    store: &dyn Store,
    dispatcher: DispatcherId,
    queue: &str,
    limit: u32,
    now: Timestamp,
) -> Vec<Job> {
    store
        .job_claim_many(JobClaimParams {
            dispatcher,
            queue: queue.to_owned(),
            agent: "main".to_owned(),
            filter: None,
            preferred: None,
            limit,
            now,
            start: false,
        })
        .await
        .expect("claim")
}

/// Claims and starts up to `limit` jobs; returns their ids.
pub(crate) async fn run(
    store: &dyn Store,
    dispatcher: DispatcherId,
    queue: &str,
    limit: u32,
    now: Timestamp,
) -> Vec<JobId> {
    let claimed = ids(&claim(store, dispatcher, queue, limit, now).await);
    let started = store
        .job_start_many(JobStartParams {
            dispatcher,
            ids: claimed.clone(),
            now,
        })
        .await
        .expect("start");
    let started: Vec<JobId> = started.iter().map(|s| s.id).collect();
    assert_eq!(started, claimed, "every claimed job starts");
    claimed
}

/// A finish of `id` by `dispatcher`, with no output.
pub(crate) fn outcome(
    dispatcher: DispatcherId,
    id: JobId,
    outcome: RunOutcome,
    now: Timestamp,
) -> JobFinishParams {
    JobFinishParams {
        id,
        dispatcher,
        outcome,
        output: CapturedOutput::default(),
        now,
        run: None,
    }
}

/// Finishes one job.
pub(crate) async fn finish(
    store: &dyn Store,
    dispatcher: DispatcherId,
    id: JobId,
    result: RunOutcome,
    now: Timestamp,
) -> FinishReport {
    store
        .job_finish_many(&[outcome(dispatcher, id, result, now)])
        .await
        .expect("finish")
}

/// Starts claimed jobs (they must all start).
pub(crate) async fn start_claimed(store: &dyn Store, dispatcher: DispatcherId, ids: &[JobId]) {
    let started = store
        .job_start_many(JobStartParams {
            dispatcher,
            ids: ids.to_vec(),
            now: t(1),
        })
        .await
        .expect("start");
    assert_eq!(started.len(), ids.len(), "every claimed job starts");
}

/// Races claimers on several stores (as separate processes have): worker
/// `i` of `workers` claims on `stores[i % stores.len()]` up to `limit`
/// jobs of the default queue at a time, runs `check` on its store, starts
/// and finishes them, until 50 claims in a row find nothing. Asserts that
/// the jobs `put` ran, each once.
pub(crate) async fn race_claimers<F, Fut>(
    stores: &[Arc<dyn Store>],
    workers: usize,
    limit: u32,
    put: &[JobId],
    check: F,
) where
    F: Fn(Arc<dyn Store>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let workers: Vec<_> = (0..workers)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            let check = check.clone();
            tokio::spawn(async move {
                let d = dispatcher(&*store).await;
                let mut ran = Vec::new();
                let mut idle = 0;
                while idle < 50 {
                    let claimed = ids(&claim(&*store, d, "", limit, t(1_000)).await);
                    if claimed.is_empty() {
                        idle += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        continue;
                    }
                    idle = 0;
                    check(store.clone()).await;
                    start_claimed(&*store, d, &claimed).await;
                    tokio::task::yield_now().await;
                    for id in &claimed {
                        finish(&*store, d, *id, RunOutcome::Value(json!(1)), t(2_000)).await;
                    }
                    ran.extend(claimed);
                }
                ran
            })
        })
        .collect();
    let mut ran = Vec::new();
    for w in workers {
        ran.extend(w.await.unwrap());
    }
    let once: HashSet<JobId> = ran.iter().copied().collect();
    assert_eq!(once.len(), ran.len(), "a job ran twice");
    assert_eq!(once, put.iter().copied().collect::<HashSet<_>>());
}

/// Asserts `result` is a [`Error::Conflict`] whose message contains every
/// one of `parts`.
#[track_caller]
pub(crate) fn assert_conflict<T: std::fmt::Debug>(result: Result<T>, parts: &[&str]) {
    match result {
        Err(Error::Conflict(message)) => {
            for part in parts {
                assert!(message.contains(part), "`{message}` lacks `{part}`");
            }
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Asserts `result` is a [`Error::NotFound`] whose `what` contains every
/// one of `parts`.
#[track_caller]
pub(crate) fn assert_not_found<T: std::fmt::Debug>(result: Result<T>, parts: &[&str]) {
    match result {
        Err(Error::NotFound { what }) => {
            for part in parts {
                assert!(what.contains(part), "`{what}` lacks `{part}`");
            }
        }
        other => panic!("expected not found, got {other:?}"),
    }
}
