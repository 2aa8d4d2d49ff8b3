//! Claims and starts: limits, order, filters, and no job claimed twice
//! however many claimers (tasks, or stores as separate processes have).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Harness;
use super::kit::*;
use crate::model::{AgentFilter, DispatcherId, JobId, JobStatus};
use crate::store::{
    HandBackParams, JobClaimParams, JobStartParams, JobStarted, JobUnstartParams, Store,
};

fn filtered(d: DispatcherId, modules: &[&str], functions: &[&str]) -> JobClaimParams {
    JobClaimParams {
        dispatcher: d,
        queue: String::new(),
        agent: "filtered".to_owned(),
        filter: Some(AgentFilter {
            modules: modules.iter().map(|m| m.to_string()).collect(),
            functions: functions.iter().map(|f| f.to_string()).collect(),
        }),
        preferred: None,
        limit: 10,
        now: t(1_000),
        start: false,
    }
}

pub(crate) async fn claim_respects_limit_and_queue_order<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("b", t(0)).await.unwrap();
    let j = put_n(&*s, "", &m, 10).await;
    put_n(&*s, "b", &m, 3).await;
    let d = dispatcher(&*s).await;

    let first = claim(&*s, d, "", 4, t(100)).await;
    assert_eq!(ids(&first), j[..4]);
    for job in &first {
        assert_eq!(job.status, JobStatus::Assigned);
        assert_eq!(
            (job.dispatcher, job.agent.as_deref()),
            (Some(d), Some("main"))
        );
        assert_eq!(job.attempts, 0);
    }
    assert!(claim(&*s, d, "", 0, t(100)).await.is_empty());
    assert_eq!(ids(&claim(&*s, d, "", 100, t(100)).await), j[4..]);
    assert!(claim(&*s, d, "", 100, t(100)).await.is_empty());
    assert_eq!(s.queue_get("").await.unwrap().length, 0);
    assert_eq!(s.queue_get("b").await.unwrap().length, 3);
    assert!(claim(&*s, d, "nope", 1, t(100)).await.is_empty());
}

pub(crate) async fn claim_applies_module_and_function_filters<H: Harness>(h: H) {
    let s = h.store();
    let resize = module(&*s, "resize", Some("image-resize")).await;
    let thumb = module(&*s, "thumb", Some("image-thumb")).await;
    let mail = module(&*s, "mail", Some("mail")).await;
    let odd = module(&*s, "odd", Some("odd[1]")).await;
    let anon = module(&*s, "anon", None).await;
    let put_one = |m: &crate::model::ModuleInfo, f: &str| new_job("", m, f, t(0));
    let jobs = vec![
        put_one(&mail, "send"),
        put_one(&resize, "run"),
        put_one(&anon, "run"),
        put_one(&thumb, "run"),
        put_one(&mail, "run"),
        put_one(&odd, "run"),
        put_one(&mail, "sendall"),
    ];
    let j = ids(&put(&*s, jobs).await);
    let d = dispatcher(&*s).await;
    let take = |p: JobClaimParams| {
        let s = s.clone();
        async move { ids(&s.job_claim_many(p).await.unwrap()) }
    };

    assert!(take(filtered(d, &["zzz*"], &[])).await.is_empty());
    assert_eq!(take(filtered(d, &["image-*"], &[])).await, [j[1], j[3]]);
    assert_eq!(take(filtered(d, &[], &["s?nd"])).await, [j[0]]);
    assert_eq!(
        take(filtered(d, &["mail"], &["run", "nothing"])).await,
        [j[4]]
    );
    assert_eq!(take(filtered(d, &["odd[1]"], &[])).await, [j[5]]);
    assert_eq!(
        take(filtered(d, &[anon.digest.as_str()], &[])).await,
        [j[2]]
    );
    let any = JobClaimParams {
        filter: Some(AgentFilter::default()),
        ..filtered(d, &[], &[])
    };
    let rest = s.job_claim_many(any).await.unwrap();
    assert_eq!(ids(&rest), [j[6]]);
    assert_eq!(rest[0].agent.as_deref(), Some("filtered"));
}

/// Claims from `store` with `limit` until the queue is empty and `done`
/// says no more jobs are coming; returns what it claimed.
async fn claim_all(store: Arc<dyn Store>, limit: u32, done: Arc<AtomicBool>) -> Vec<JobId> {
    let d = dispatcher(&*store).await;
    let mut mine = Vec::new();
    loop {
        let finished = done.load(Ordering::SeqCst);
        let claimed = claim(&*store, d, "", limit, t(1_000_000)).await;
        for job in &claimed {
            assert_eq!(
                job.dispatcher,
                Some(d),
                "the claim returns the claimer's jobs"
            );
        }
        if claimed.is_empty() && finished {
            return mine;
        }
        mine.extend(ids(&claimed));
        tokio::task::yield_now().await;
    }
}

/// Asserts every id in `put` was claimed exactly once.
fn assert_exactly_once(put: &[JobId], claimed: &[Vec<JobId>]) {
    let all: Vec<JobId> = claimed.iter().flatten().copied().collect();
    let unique: HashSet<JobId> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a job was claimed twice");
    assert_eq!(unique, put.iter().copied().collect::<HashSet<_>>());
}

pub(crate) async fn concurrent_claimers_never_share_a_job<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let put = put_n(&*s, "", &m, 500).await;
    let done = Arc::new(AtomicBool::new(true));
    let claimers: Vec<_> = (0..8)
        .map(|_| tokio::spawn(claim_all(s.clone(), 7, done.clone())))
        .collect();
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.push(c.await.unwrap());
    }
    assert_exactly_once(&put, &claimed);
}

pub(crate) async fn two_stores_on_one_database_never_share_a_job<H: Harness>(h: H) {
    let s1 = h.store();
    let s2 = h.another().await;
    let m = module(&*s1, "m", None).await;
    let mut put = put_n(&*s1, "", &m, 300).await;
    let done = Arc::new(AtomicBool::new(false));
    let claimers: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { s1.clone() } else { s2.clone() };
            tokio::spawn(claim_all(store, 3, done.clone()))
        })
        .collect();
    // Meanwhile the second store puts more jobs.
    for batch in 0..10 {
        let jobs: Vec<_> = (0..30)
            .map(|i| new_job("", &m, "late", t(1_000 + batch * 30 + i)))
            .collect();
        put.extend(ids(&s2.job_insert_many(&jobs).await.unwrap()));
    }
    done.store(true, Ordering::SeqCst);
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.push(c.await.unwrap());
    }
    assert_exactly_once(&put, &claimed);
    // Which store claims how many is up to the database's lock: SQLite
    // gives its write lock to no one in particular, so one process may
    // take most (even all) of a short burst. That is fair enough for a
    // queue; what must hold is that no job is claimed twice.
}

pub(crate) async fn start_counts_attempts<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let j = put_n(&*s, "", &m, 4).await;
    let d = dispatcher(&*s).await;
    let other = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 3, t(1)).await), j[..3]);
    let start = |dispatcher, ids: Vec<JobId>| JobStartParams {
        dispatcher,
        ids,
        now: t(5),
    };

    let started = s.job_start_many(start(d, vec![j[1], j[0]])).await.unwrap();
    let expected = |id| JobStarted {
        id,
        attempts: 1,
        started_at: t(5),
    };
    assert_eq!(
        started,
        [expected(j[1]), expected(j[0])],
        "in the order asked"
    );
    for id in [j[0], j[1]] {
        let job = s.job_get(id).await.unwrap();
        assert_eq!((job.status, job.attempts), (JobStatus::Active, 1));
        assert_eq!((job.started_at, job.dispatcher), (Some(t(5)), Some(d)));
    }
    assert!(
        s.job_start_many(start(d, vec![j[0]]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.job_start_many(start(other, vec![j[2]]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.job_start_many(start(d, vec![j[3]]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.job_start_many(start(d, vec![])).await.unwrap().is_empty());
    let last = s
        .job_start_many(start(d, vec![JobId::new(), j[2]]))
        .await
        .unwrap();
    assert_eq!(last, [expected(j[2])]);
    assert_eq!(s.job_get(j[3]).await.unwrap().status, JobStatus::Pending);
    assert_eq!(s.job_get(j[0]).await.unwrap().attempts, 1);
}

/// Claims from `store` until the queue is empty; each claim must return
/// within `patience` (a claim that waits for another transaction's locks
/// would not).
async fn drain(store: Arc<dyn Store>, patience: std::time::Duration) -> Vec<JobId> {
    let d = dispatcher(&*store).await;
    let mut mine = Vec::new();
    loop {
        let claimed = tokio::time::timeout(patience, claim(&*store, d, "", 16, t(1_000_000)))
            .await
            .expect("a claim waited for locks held by another transaction");
        if claimed.is_empty() {
            return mine;
        }
        mine.extend(ids(&claimed));
        tokio::task::yield_now().await;
    }
}

pub(crate) async fn many_stores_drain_a_large_queue_past_locked_jobs<H: Harness>(h: H) {
    let stores = [h.store(), h.another().await, h.another().await];
    let m = module(&*stores[0], "m", None).await;
    let mut put = Vec::new();
    for i in 0..6 {
        put.extend(put_n(&*stores[i % 3], "", &m, 500).await);
    }
    // Another transaction holds the first jobs of the queue, as a claim in
    // progress on another machine does: claimers skip them and go on.
    let locks = h.lock_jobs(&put[..10]).await;
    let expected = if locks.is_some() {
        &put[10..]
    } else {
        &put[..]
    };
    let claimers: Vec<_> = (0..6)
        .map(|i| {
            let store = stores[i % 3].clone();
            tokio::spawn(drain(store, std::time::Duration::from_secs(10)))
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.push(c.await.unwrap());
    }
    assert_exactly_once(expected, &claimed);
    if let Some(locks) = locks {
        // Skipped, not claimed: still pending, still first in the queue.
        assert_eq!(queue_ids(&*stores[1], "").await, put[..10]);
        locks.release().await;
        let d = dispatcher(&*stores[2]).await;
        let rest = claim(&*stores[2], d, "", 100, t(1_000_001)).await;
        assert_eq!(ids(&rest), put[..10]);
    }
}

/// A claim that starts its jobs: they come back and are stored `active`,
/// their attempt counted, started at the claim's time; in a queue with
/// quotas (claimed apart, under a lock) they come back `assigned`, for the
/// caller to start at a time read after the claim.
pub(crate) async fn claim_can_start_at_once<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let plain = put_n(&*s, "", &m, 3).await;
    let d = dispatcher(&*s).await;
    let started = |queue: &str, limit| JobClaimParams {
        queue: queue.to_owned(),
        filter: None,
        limit,
        now: t(7),
        start: true,
        ..filtered(d, &[], &[])
    };
    let check = |jobs: &[crate::model::Job]| {
        for job in jobs {
            assert_eq!((job.status, job.attempts), (JobStatus::Active, 1));
            assert_eq!((job.started_at, job.dispatcher), (Some(t(7)), Some(d)));
        }
    };
    let taken = s.job_claim_many(started("", 2)).await.unwrap();
    assert_eq!(ids(&taken), plain[..2]);
    check(&taken);
    check(&[s.job_get(plain[0]).await.unwrap()]);

    s.queue_create("limited", t(0)).await.unwrap();
    super::quota::create(&*s, "limited", "q", 1).await;
    let limited = put_n(&*s, "limited", &m, 2).await;
    let taken = s.job_claim_many(started("limited", 2)).await.unwrap();
    assert_eq!(
        ids(&taken),
        limited,
        "jobs naming no quota are not held back"
    );
    for job in &taken {
        assert_eq!((job.status, job.attempts), (JobStatus::Assigned, 0));
        assert_eq!((job.started_at, job.dispatcher), (None, Some(d)));
    }
    let later = s
        .job_start_many(crate::store::JobStartParams {
            dispatcher: d,
            ids: limited.clone(),
            now: t(9),
        })
        .await
        .unwrap();
    assert_eq!(later.len(), 2);
    let stored = s.job_get(limited[1]).await.unwrap();
    assert_eq!(
        (stored.status, stored.attempts, stored.started_at),
        (JobStatus::Active, 1, Some(t(9)))
    );
    assert_eq!(
        s.job_get(plain[2]).await.unwrap().status,
        JobStatus::Pending
    );
}

/// Jobs started ahead and never run go back unstarted: `active` →
/// `pending` at the places they had, the attempt not counted (a first
/// start's time cleared, an earlier run's count kept); a job no longer
/// `active` or another dispatcher's is left as it is.
pub(crate) async fn unstarted_jobs_go_back_uncounted<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let jobs = put_n(&*s, "", &m, 3).await;
    let d = dispatcher(&*s).await;
    let other = dispatcher(&*s).await;
    assert_eq!(run(&*s, d, "", 3, t(1)).await, jobs);
    let later = put_n(&*s, "", &m, 1).await;
    let unstart = |dispatcher, ids: &[JobId]| {
        s.job_unstart_many(JobUnstartParams {
            dispatcher,
            ids: ids.to_vec(),
        })
    };

    assert!(unstart(other, &jobs).await.unwrap().is_empty(), "not its");
    let back = unstart(d, &[jobs[2], jobs[1]]).await.unwrap();
    assert_eq!(back, [jobs[2], jobs[1]], "in the order asked");
    for id in &jobs[1..] {
        let job = s.job_get(*id).await.unwrap();
        assert_eq!((job.status, job.attempts), (JobStatus::Pending, 0));
        assert_eq!(job.started_at, None);
        assert!(s.job_attempts(*id).await.unwrap().is_empty());
    }
    assert_eq!(
        queue_ids(&*s, "").await,
        [jobs[1], jobs[2], later[0]],
        "back at their places, before the job put after them"
    );
    assert!(unstart(d, &jobs[1..2]).await.unwrap().is_empty(), "pending");
    let first = s.job_get(jobs[0]).await.unwrap();
    assert_eq!((first.status, first.attempts), (JobStatus::Active, 1));

    // A job that ran before keeps that run's count.
    let handed = s
        .dispatcher_hand_back(HandBackParams {
            dispatcher: d,
            job: Some(jobs[0]),
            reason: "interrupted".into(),
            now: t(2),
        })
        .await
        .unwrap();
    assert_eq!(handed.retried, [jobs[0]]);
    assert_eq!(run(&*s, other, "", 1, t(3)).await, [jobs[0]]);
    assert_eq!(s.job_get(jobs[0]).await.unwrap().attempts, 2);
    assert_eq!(unstart(other, &jobs[..1]).await.unwrap(), [jobs[0]]);
    let again = s.job_get(jobs[0]).await.unwrap();
    assert_eq!((again.status, again.attempts), (JobStatus::Pending, 1));
    assert_eq!(
        again.started_at,
        Some(t(3)),
        "a start time kept (the earlier run's is not stored apart)"
    );
    assert!(unstart(d, &[]).await.unwrap().is_empty());

    // One statement for a whole list: the jobs the guard matches, each
    // once, in the order asked, whatever else the list names.
    let all = run(&*s, d, "", 4, t(4)).await;
    assert_eq!(all.len(), 4);
    let back = unstart(d, &[all[3], JobId::new(), all[3], all[0]])
        .await
        .unwrap();
    assert_eq!(back, [all[3], all[0]]);
    for id in [all[0], all[3]] {
        assert_eq!(s.job_get(id).await.unwrap().status, JobStatus::Pending);
    }
    for id in [all[1], all[2]] {
        assert_eq!(s.job_get(id).await.unwrap().status, JobStatus::Active);
    }
}
