//! Faults injected under every store operation that writes: a
//! full disk under SQLite (a small tmpfs, filled to the last byte), and
//! under PostgreSQL a server that goes away (a proxy the test controls
//! drops every connection and closes new ones), connections the server
//! kills inside a transaction, and a private cluster stopped and restarted
//! with `pg_ctl`. Every write fails with the fault named, writes nothing,
//! and leaves no transaction open: once the database is back, every
//! operation succeeds on the same store, without reopening it.
//!
//! Before the fix, a commit that met a full disk left sqlx counting an
//! open transaction on SQLite's one writer connection, and every later
//! write failed with "attempted to call begin_with at non-zero transaction
//! depth", forever.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wasync_faults::{PrivatePostgres, SmallDisk};

use super::conformance::kit::{self, t};
use super::postgres::PgStore;
use super::postgres::testing::{self, TestSchema};
use super::sqlite::SqliteStore;
use super::{
    AnnotationSetParams, Error, FaultKind, HandBackParams, JobCancelParams, JobClaimParams,
    JobRetryParams, JobStartParams, ModuleInsertParams, PollRecordParams,
};
use crate::model::{
    AgentSpec, CapturedOutput, DispatcherId, Failure, FailureKind, JobId, ModuleDigest, ModuleInfo,
    RetryPolicy, RunOutcome,
};
use crate::store::prelude::*;

/// The state every operation starts from: jobs in each state it needs.
struct Scene {
    module: ModuleInfo,
    dispatcher: DispatcherId,
    pending: Vec<JobId>,
    assigned: JobId,
    active: Vec<JobId>,
}

async fn scene(store: &dyn Store) -> Scene {
    let module = kit::module(store, "m", Some("m")).await;
    let dispatcher = kit::dispatcher(store).await;
    // Failed runs are tried again (the default policy does not).
    let three = RetryPolicy::from_json(&json!({"max_attempts": 3})).expect("a policy");
    store.queue_retry_set("", Some(three)).await.unwrap();
    let active = kit::put_n(store, "", &module, 3).await;
    assert_eq!(kit::run(store, dispatcher, "", 3, t(1)).await, active);
    let assigned = kit::put_n(store, "", &module, 1).await[0];
    assert_eq!(
        kit::ids(&kit::claim(store, dispatcher, "", 1, t(2)).await),
        [assigned]
    );
    let pending = kit::put_n(store, "", &module, 4).await;
    Scene {
        module,
        dispatcher,
        pending,
        assigned,
        active,
    }
}

/// Every store operation that writes, as a job queue's life calls them.
#[derive(Debug, Clone, Copy)]
enum Op {
    Put,
    PutMany,
    Claim,
    Start,
    Finish,
    Retry,
    HandBack,
    Ping,
    Annotate,
    Module,
    Queue,
    Agent,
    Cancel,
    Polls,
    Pause,
    Probe,
}

const OPS: [Op; 16] = [
    Op::Put,
    Op::PutMany,
    Op::Claim,
    Op::Start,
    Op::Finish,
    Op::Retry,
    Op::HandBack,
    Op::Ping,
    Op::Annotate,
    Op::Module,
    Op::Queue,
    Op::Agent,
    Op::Cancel,
    Op::Polls,
    Op::Pause,
    Op::Probe,
];

/// More jobs than one SQLite statement takes: a transaction of several.
const MANY: usize = 1_500;

/// Runs `op` once; `round` makes its new names unique.
async fn write(store: &dyn Store, s: &Scene, op: Op, round: u32) -> super::Result<()> {
    let now = t(10 + i64::from(round));
    match op {
        Op::Put => {
            let job = kit::new_job("", &s.module, "put", now);
            store.job_insert_many(&[job]).await.map(drop)
        }
        Op::PutMany => {
            let jobs: Vec<_> = (0..MANY)
                .map(|_| kit::new_job("", &s.module, "many", now))
                .collect();
            store.job_insert_many(&jobs).await.map(drop)
        }
        Op::Claim => store
            .job_claim_many(JobClaimParams {
                dispatcher: s.dispatcher,
                queue: String::new(),
                agent: "main".to_owned(),
                filter: None,
                preferred: None,
                limit: 1,
                now,
                start: false,
            })
            .await
            .map(drop),
        Op::Start => store
            .job_start_many(JobStartParams {
                dispatcher: s.dispatcher,
                ids: vec![s.assigned],
                now,
            })
            .await
            .map(drop),
        Op::Finish => store
            .job_finish_many(&[kit::outcome(
                s.dispatcher,
                s.active[0],
                RunOutcome::Value(json!("done")),
                now,
            )])
            .await
            .map(drop),
        Op::Retry => store
            .job_retry(JobRetryParams {
                id: s.active[1],
                dispatcher: s.dispatcher,
                failure: Failure::new(FailureKind::GuestError, "try again"),
                output: CapturedOutput::default(),
                now,
            })
            .await
            .map(drop),
        Op::HandBack => store
            .dispatcher_hand_back(HandBackParams {
                dispatcher: s.dispatcher,
                job: Some(s.active[2]),
                reason: "handed back".into(),
                now,
            })
            .await
            .map(drop),
        Op::Ping => store
            .dispatcher_ping(super::DispatcherPingParams {
                id: s.dispatcher,
                process: kit::test_process(),
                now,
            })
            .await
            .map(drop),
        Op::Annotate => {
            store
                .annotation_set(AnnotationSetParams {
                    job: s.pending[0],
                    name: format!("note-{round}"),
                    value: json!({"round": round}),
                    now,
                })
                .await
        }
        Op::Module => {
            let bytes = kit::component(&format!("new{round}"));
            store
                .module_insert(ModuleInsertParams {
                    digest: ModuleDigest::of(&bytes),
                    name: Some(format!("new-{round}")),
                    bytes,
                    exports: vec!["wasync:job/run@0.3.0: func(...)".to_owned()],
                    now,
                })
                .await
                .map(drop)
        }
        Op::Queue => store
            .queue_create(&format!("q{round}"), now)
            .await
            .map(drop),
        Op::Agent => store
            .agent_upsert(s.dispatcher, AgentSpec::new("", format!("agent-{round}")))
            .await
            .map(drop),
        Op::Cancel => store
            .job_cancel(JobCancelParams {
                id: s.pending[1],
                now,
            })
            .await
            .map(drop),
        Op::Polls => store
            .poll_record_many(&[PollRecordParams {
                dispatcher: s.dispatcher,
                queue: String::new(),
                agent: "main".to_owned(),
                jobs: vec![s.pending[2]],
                now,
                keep: 10,
            }])
            .await
            .map(drop),
        Op::Pause => store.queue_pause("", now).await,
        Op::Probe => store.store_probe(now).await,
    }
}

/// Runs every operation while the fault lasts: each must fail with `kind`.
async fn every_write_fails(store: &dyn Store, s: &Scene, kind: FaultKind) {
    for (round, op) in OPS.into_iter().enumerate() {
        match write(store, s, op, round as u32).await {
            Err(Error::Fault(fault)) if fault.kind == kind => {}
            other => panic!("{op:?} while the database fails: expected {kind:?}, got {other:?}"),
        }
    }
}

/// Runs every operation once the database is back: each must succeed, on
/// the connections the failures went through.
async fn every_write_succeeds(store: &dyn Store, s: &Scene) {
    for (round, op) in OPS.into_iter().enumerate() {
        if let Err(error) = write(store, s, op, 100 + round as u32).await {
            panic!("{op:?} once the database is back: {error}");
        }
    }
}

/// What the scene's jobs became once every operation succeeded once, and
/// that the failed tries wrote nothing: one put and one batch of
/// [`MANY`] more jobs, no more.
async fn check_written_once(store: &dyn Store, s: &Scene, jobs_before: usize) {
    let jobs = all_jobs(store).await;
    assert_eq!(
        jobs.len(),
        jobs_before + 1 + MANY,
        "only the successful puts wrote"
    );
    let status = |id| jobs.iter().find(|j| j.id == id).unwrap().status;
    use crate::model::JobStatus::*;
    assert_eq!(status(s.assigned), Active, "started");
    assert_eq!(status(s.active[0]), Completed, "finished");
    assert_eq!(status(s.active[1]), Pending, "retried");
    assert_eq!(status(s.active[2]), Pending, "handed back");
    assert_eq!(status(s.pending[1]), Cancelled);
    let notes = store.annotation_list(s.pending[0]).await.unwrap();
    assert_eq!(notes.len(), 1, "one annotation written: {notes:?}");
    let attempts = store.job_attempts(s.active[1]).await.unwrap();
    assert_eq!(attempts.len(), 1, "one retry recorded: {attempts:?}");
}

async fn all_jobs(store: &dyn Store) -> Vec<crate::model::Job> {
    let params = super::JobListParams {
        limit: 100_000,
        ..Default::default()
    };
    store.job_list(params).await.unwrap()
}

async fn job_count(store: &dyn Store) -> usize {
    all_jobs(store).await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_full_disk_fails_every_write_and_leaves_no_transaction_open() {
    let Some(disk) = SmallDisk::mount_or_skip(16 << 20) else {
        return;
    };
    let store = SqliteStore::open(&disk.path().join("wasync.db"))
        .await
        .expect("open on the small disk");
    let s = scene(&store).await;
    let before = job_count(&store).await;
    disk.fill().expect("fill the disk");
    every_write_fails(&store, &s, FaultKind::StorageFull).await;
    // Reads still work on a full disk.
    assert_eq!(job_count(&store).await, before);
    disk.free().expect("free the disk");
    every_write_succeeds(&store, &s).await;
    check_written_once(&store, &s, before).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_server_gone_away_fails_every_write_and_the_pool_recovers() {
    let Some((proxy, schema)) = testing::behind_proxy() else {
        return;
    };
    let store = schema.open().await;
    let s = scene(&store).await;
    let before = job_count(&store).await;
    proxy.cut();
    every_write_fails(&store, &s, FaultKind::Unavailable).await;
    proxy.restore();
    every_write_succeeds(&store, &s).await;
    check_written_once(&store, &s, before).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_connection_killed_inside_a_transaction_is_not_used_again() {
    let Some(url) = testing::url_or_skip() else {
        return;
    };
    let schema = TestSchema::new(&url);
    let store = Arc::new(schema.open_tagged("victim").await);
    let s = scene(&*store).await;
    let before = job_count(&*store).await;
    // Another machine's transaction holds the job's row: the finish waits
    // for it inside its own transaction, and is killed there.
    let other = schema.open().await;
    let locks = other
        .lock_jobs(&[s.active[0]], "FOR UPDATE")
        .await
        .expect("lock the job");
    let finishing = tokio::spawn({
        let store = store.clone();
        let finish = kit::outcome(s.dispatcher, s.active[0], RunOutcome::Value(json!(1)), t(5));
        async move { store.job_finish_many(&[finish]).await }
    });
    let tag = schema.tag("victim");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(&tag)
        .fetch_all(other.pool())
        .await
        .unwrap();
        if killed.contains(&true) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the finish never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match finishing.await.unwrap() {
        Err(Error::Fault(fault)) => assert_eq!(fault.kind, FaultKind::Unavailable, "{fault}"),
        other => panic!("a killed finish: {other:?}"),
    }
    locks.rollback().await.unwrap();
    every_write_succeeds(&*store, &s).await;
    check_written_once(&*store, &s, before).await;
    store.close().await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_restarted_server_is_a_pause_and_a_stopped_one_a_fault() {
    let Some(cluster) = PrivatePostgres::start_or_skip() else {
        return;
    };
    let store = PgStore::open(&cluster.url())
        .await
        .expect("open on the private cluster");
    let s = scene(&store).await;
    let before = job_count(&store).await;
    // `pg_ctl restart -m fast`: every connection of the pool is killed;
    // the next operations open new ones, waiting while it restarts.
    cluster.restart().expect("restart");
    every_write_succeeds(&store, &s).await;
    check_written_once(&store, &s, before).await;

    cluster.stop().expect("stop");
    let started = std::time::Instant::now();
    match write(&store, &s, Op::Put, 1_000).await {
        Err(Error::Fault(fault)) => assert_eq!(fault.kind, FaultKind::Unavailable, "{fault}"),
        other => panic!("a put while the server is stopped: {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited < super::postgres::ACQUIRE_TIMEOUT + Duration::from_secs(5),
        "a put waits at most the acquire timeout for a stopped server: {waited:?}"
    );
    cluster.start_again().expect("start");
    write(&store, &s, Op::Put, 1_001)
        .await
        .expect("a put once the server is back");
    assert_eq!(job_count(&store).await, before + 1 + MANY + 1);
    store.close().await;
}
