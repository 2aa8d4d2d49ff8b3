//! Time and change: jobs past their deadline expire instead of being
//! claimed; a deadline already past at put stores the job completed; when
//! the next job becomes due; changing a job before it is claimed; and an
//! agent's preference (claim these first, then any).

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{AgentFilter, FailureKind, JobStatus, NewJob, RunOutcome};
use crate::store::{
    JobClaimParams, JobDetachParams, JobExpireParams, JobNextDueParams, JobUpdateParams, NextDue,
};

fn expire(queue: &str, now: i64) -> JobExpireParams {
    JobExpireParams {
        queue: queue.to_owned(),
        now: t(now),
        limit: 100,
    }
}

pub(crate) async fn jobs_past_their_deadline_expire_and_never_run<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let with_deadline = |by: u64, at: i64| NewJob {
        begin_by_ms: Some(by),
        ..new_job("", &m, "late", t(at))
    };
    let j = ids(&put(
        &*s,
        vec![
            with_deadline(100, 0),
            new_job("", &m, "plain", t(1)),
            with_deadline(5_000, 2),
            with_deadline(50, 3),
        ],
    )
    .await);
    let d = dispatcher(&*s).await;
    // At t(200) two deadlines have passed: the claim passes them over.
    assert_eq!(ids(&claim(&*s, d, "", 10, t(200)).await), [j[1], j[2]]);
    assert_eq!(queue_ids(&*s, "").await, [j[0], j[3]], "still pending");
    let report = s.job_expire_many(expire("", 200)).await.unwrap();
    assert_eq!(report.expired, [j[3], j[0]], "earliest deadline first");
    assert!(report.cascaded.is_empty());
    for id in [j[0], j[3]] {
        let job = s.job_get(id).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.attempts, 0, "never run");
        assert_eq!(job.completed_at, Some(t(200)));
        let failure = job.failure.expect("a failure");
        assert_eq!(failure.kind, FailureKind::Timeout);
        assert!(
            failure.message.contains("not started"),
            "{}",
            failure.message
        );
    }
    assert!(queue_ids(&*s, "").await.is_empty());
    assert_eq!(
        s.job_expire_many(expire("", 10_000)).await.unwrap(),
        Default::default(),
        "claimed jobs never expire"
    );
    // Exactly at its deadline a job may still start.
    let edge = put(&*s, vec![with_deadline(100, 20_000)]).await[0].id;
    assert!(
        s.job_expire_many(expire("", 20_100))
            .await
            .unwrap()
            .expired
            .is_empty()
    );
    assert_eq!(ids(&claim(&*s, d, "", 10, t(20_100)).await), [edge]);
}

pub(crate) async fn an_expired_job_completes_the_jobs_awaiting_it<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let outer = put_n(&*s, "", &m, 1).await[0];
    let d = dispatcher(&*s).await;
    assert_eq!(run(&*s, d, "", 1, t(1)).await, [outer]);
    let inner = NewJob {
        begin_by_ms: Some(10),
        begin_after: t(1_000),
        scheduled: true,
        ..new_job("", &m, "inner", t(2))
    };
    let inner = put(&*s, vec![inner]).await[0].id;
    let report = finish(&*s, d, outer, RunOutcome::Await(inner), t(3)).await;
    assert_eq!(report.awaiting, [outer]);
    let report = s.job_expire_many(expire("", 1_011)).await.unwrap();
    assert_eq!(
        (report.expired, report.cascaded),
        (vec![inner], vec![outer])
    );
    let outer = s.job_get(outer).await.unwrap();
    assert_eq!(outer.status, JobStatus::Completed);
    assert_eq!(outer.failure.map(|f| f.kind), Some(FailureKind::Timeout));
}

pub(crate) async fn a_put_past_its_deadline_is_stored_completed<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let job = NewJob {
        begin_after: t(-3_600_000),
        begin_by_ms: Some(60_000),
        expired: true,
        ..new_job("", &m, "send_message", t(0))
    };
    let stored = put(&*s, vec![job, new_job("", &m, "plain", t(1))]).await;
    let expired = &stored[0];
    assert_eq!(expired.status, JobStatus::Completed);
    assert_eq!(expired.completed_at, Some(t(0)));
    assert_eq!(
        expired.failure.as_ref().map(|f| f.kind),
        Some(FailureKind::Timeout)
    );
    assert_eq!(&s.job_get(expired.id).await.unwrap(), expired);
    assert_eq!(queue_ids(&*s, "").await, [stored[1].id]);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(5)).await), [stored[1].id]);
}

pub(crate) async fn next_due_gives_the_next_begin_after_and_deadline<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("a", t(0)).await.unwrap();
    s.queue_create("b", t(0)).await.unwrap();
    s.queue_create("c", t(0)).await.unwrap();
    let due = |queues: &[&str], now: i64| {
        let s = s.clone();
        let queues = queues.iter().map(|q| q.to_string()).collect();
        async move {
            s.job_next_due(JobNextDueParams {
                queues,
                now: t(now),
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(due(&["a", "b"], 0).await, NextDue::default());
    put(
        &*s,
        vec![
            scheduled_job("a", &m, t(0), t(500)),
            scheduled_job("a", &m, t(0), t(300)),
            NewJob {
                begin_by_ms: Some(250),
                ..new_job("b", &m, "f", t(0))
            },
            scheduled_job("c", &m, t(0), t(50)),
        ],
    )
    .await;
    assert_eq!(
        due(&["a", "b"], 100).await,
        NextDue {
            begin_after: Some(t(300)),
            deadline: Some(t(250)),
        }
    );
    assert_eq!(due(&["a", "b"], 400).await.begin_after, Some(t(500)));
    assert_eq!(due(&["a"], 600).await, NextDue::default());
    assert_eq!(due(&["c"], 0).await.begin_after, Some(t(50)));
    assert_eq!(due(&[], 0).await, NextDue::default());
}

pub(crate) async fn only_jobs_no_dispatcher_holds_can_be_changed<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let j = put_n(&*s, "", &m, 4).await;
    let update = |id, args| JobUpdateParams {
        id,
        args: Some(args),
        ..JobUpdateParams::default()
    };
    let changed = s.job_update(update(j[0], json!([2, 3]))).await.unwrap();
    assert_eq!(
        (changed.args, changed.status),
        (json!([2, 3]), JobStatus::Pending)
    );
    let changed = s
        .job_update(JobUpdateParams {
            id: j[1],
            quota_names: Some(vec!["q".into()]),
            begin_by_ms: Some(Some(1_000)),
            ..JobUpdateParams::default()
        })
        .await
        .unwrap();
    assert_eq!(changed.quota_names, ["q"]);
    assert_eq!(changed.begin_by_ms, Some(1_000));
    assert_eq!(changed.args, json!([1, "two", {"three": 3.5}]), "untouched");
    let cleared = s
        .job_update(JobUpdateParams {
            id: j[1],
            quota_names: Some(Vec::new()),
            begin_by_ms: Some(None),
            ..JobUpdateParams::default()
        })
        .await
        .unwrap();
    assert!(cleared.quota_names.is_empty() && cleared.begin_by_ms.is_none());
    // A new due time re-sorts the queue: later than the others.
    let moved = s
        .job_update(JobUpdateParams {
            id: j[0],
            begin_after: Some((t(900), true)),
            ..JobUpdateParams::default()
        })
        .await
        .unwrap();
    assert_eq!((moved.begin_after, moved.scheduled), (t(900), true));
    assert_eq!(queue_ids(&*s, "").await, [j[1], j[2], j[3], j[0]]);
    // As soon as possible: at the end of the jobs due at that time.
    s.job_update(JobUpdateParams {
        id: j[0],
        begin_after: Some((t(0), false)),
        ..JobUpdateParams::default()
    })
    .await
    .unwrap();
    assert_eq!(queue_ids(&*s, "").await, [j[1], j[2], j[3], j[0]]);
    // A job pulled out of its queue (new) can be changed too.
    s.job_detach(JobDetachParams {
        id: j[3],
        queue: None,
        now: t(1),
    })
    .await
    .unwrap();
    assert_eq!(
        s.job_update(update(j[3], json!({"value": 10})))
            .await
            .unwrap()
            .args,
        json!({"value": 10})
    );
    // Claimed: refused, naming the status, and unchanged.
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 1, t(10)).await), [j[1]]);
    assert_conflict(
        s.job_update(update(j[1], json!([9]))).await,
        &["is assigned", "dispatcher"],
    );
    assert_eq!(
        s.job_get(j[1]).await.unwrap().args,
        json!([1, "two", {"three": 3.5}])
    );
    assert_not_found(
        s.job_update(update(crate::model::JobId::new(), json!([])))
            .await,
        &["job"],
    );
}

pub(crate) async fn preferred_jobs_are_claimed_first<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "calc", Some("calc")).await;
    let other = module(&*s, "other", Some("other")).await;
    let j = ids(&put(
        &*s,
        vec![
            new_job("", &m, "add", t(0)),
            new_job("", &m, "add", t(1)),
            new_job("", &m, "mul", t(2)),
            new_job("", &other, "mul", t(3)),
            new_job("", &m, "add", t(4)),
            new_job("", &m, "mul", t(5)),
        ],
    )
    .await);
    let d = dispatcher(&*s).await;
    let params = |preferred: Option<AgentFilter>, limit| JobClaimParams {
        dispatcher: d,
        queue: String::new(),
        agent: "mul".to_owned(),
        filter: Some(AgentFilter {
            modules: vec!["calc".into()],
            functions: Vec::new(),
        }),
        preferred,
        limit,
        now: t(10),
        start: false,
    };
    let mul = AgentFilter {
        modules: Vec::new(),
        functions: vec!["mul".into()],
    };
    // The preference within the filter: `other`'s mul is not the agent's.
    let first = s
        .job_claim_many(params(Some(mul.clone()), 3))
        .await
        .unwrap();
    assert_eq!(ids(&first), [j[2], j[5]]);
    // The rest of its slots: any job its filter allows, in queue order.
    let rest = s.job_claim_many(params(None, 1)).await.unwrap();
    assert_eq!(ids(&rest), [j[0]]);
    assert!(
        s.job_claim_many(params(Some(mul), 3))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(queue_ids(&*s, "").await, [j[1], j[3], j[4]]);
}
