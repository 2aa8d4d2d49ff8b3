//! What operators do: cancel, pauses, named jobs, removal by status and
//! retention; job queries, polls and statistics.

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{
    AgentSpec, Failure, FailureKind, JobFilter, JobName, JobSpec, JobStatus, QueryState,
    RemovalReport, RunOutcome, TimeRange,
};
use crate::store::{
    AnnotationSetParams, DispatcherStatsParams, JobCancelParams, JobDetachParams, JobOrder,
    JobQueryParams, JobRemoveParams, JobRetainParams, PollRecordParams, Store,
};

async fn cancel(s: &dyn Store, id: crate::model::JobId) -> crate::store::Result<crate::model::Job> {
    s.job_cancel(JobCancelParams { id, now: t(50) })
        .await
        .map(|report| report.job)
}

pub(crate) async fn cancelled_jobs_never_run<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let j = put_n(&*s, "", &m, 4).await;
    // A pending job and a detached one (status new) can be cancelled.
    let cancelled = cancel(&*s, j[0]).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(cancelled.failure, Some(Failure::cancelled()));
    assert_eq!(cancelled.completed_at, Some(t(50)));
    s.job_detach(JobDetachParams {
        id: j[1],
        queue: None,
        now: t(1),
    })
    .await
    .unwrap();
    assert_eq!(
        cancel(&*s, j[1]).await.unwrap().status,
        JobStatus::Cancelled
    );
    assert_eq!(queue_ids(&*s, "").await, vec![j[2], j[3]]);

    // Claims never see them.
    let d = dispatcher(&*s).await;
    let ran = run(&*s, d, "", 10, t(60)).await;
    assert_eq!(ran, vec![j[2], j[3]]);
    // A running job can be cancelled: it is no longer its dispatcher's,
    // whose outcome for it is then dropped.
    let stopped = cancel(&*s, j[2]).await.unwrap();
    assert_eq!(stopped.status, JobStatus::Cancelled);
    assert_eq!(stopped.failure, Some(Failure::cancelled_while_held()));
    assert_eq!(s.dispatcher_held_jobs(d).await.unwrap(), vec![j[3]]);
    let late = finish(&*s, d, j[2], RunOutcome::Value(json!(2)), t(65)).await;
    assert_eq!(late.reassigned, vec![j[2]]);
    assert_eq!(s.job_get(j[2]).await.unwrap().status, JobStatus::Cancelled);
    // Once it finished, cancel is refused.
    finish(&*s, d, j[3], RunOutcome::Value(json!(1)), t(70)).await;
    assert_conflict(cancel(&*s, j[3]).await, &["is completed"]);
    assert_conflict(cancel(&*s, j[0]).await, &["is cancelled"]);
    assert_not_found(cancel(&*s, crate::model::JobId::new()).await, &["job"]);
}

pub(crate) async fn cancelling_an_awaited_job_completes_its_waiters<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let outer = put_n(&*s, "", &m, 1).await[0];
    let d = dispatcher(&*s).await;
    run(&*s, d, "", 1, t(1)).await;
    let inner = put_n(&*s, "", &m, 1).await[0];
    let report = finish(&*s, d, outer, RunOutcome::Await(inner), t(2)).await;
    assert_eq!(report.awaiting, vec![outer]);

    let report = s
        .job_cancel(JobCancelParams {
            id: inner,
            now: t(3),
        })
        .await
        .unwrap();
    assert_eq!(report.cascaded, vec![outer]);
    let outer = s.job_get(outer).await.unwrap();
    assert_eq!(outer.status, JobStatus::Completed);
    assert_eq!(
        outer.failure.map(|f| f.kind),
        Some(FailureKind::Cancelled),
        "the waiter completes with the cancelled job's failure"
    );

    // Awaiting a job already cancelled completes at once.
    let late = put_n(&*s, "", &m, 1).await[0];
    run(&*s, d, "", 1, t(4)).await;
    let report = finish(&*s, d, late, RunOutcome::Await(inner), t(5)).await;
    assert_eq!(report.completed, vec![late]);
}

pub(crate) async fn paused_queues_and_dispatchers_claim_nothing<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("video", t(0)).await.unwrap();
    let j = put_n(&*s, "video", &m, 3).await;
    let d = dispatcher(&*s).await;
    let other = dispatcher(&*s).await;

    s.queue_pause("video", t(1)).await.unwrap();
    s.queue_pause("video", t(2)).await.unwrap();
    assert!(claim(&*s, d, "video", 1, t(3)).await.is_empty());
    assert!(claim(&*s, other, "video", 1, t(3)).await.is_empty());
    let pauses = s.pause_list().await.unwrap();
    assert_eq!(
        pauses.queues,
        vec![("video".to_owned(), t(1))],
        "first pause kept"
    );
    s.queue_resume("video").await.unwrap();
    assert_eq!(ids(&claim(&*s, d, "video", 1, t(4)).await), vec![j[0]]);

    s.dispatcher_pause(d, t(5)).await.unwrap();
    assert!(claim(&*s, d, "video", 1, t(6)).await.is_empty());
    assert_eq!(ids(&claim(&*s, other, "video", 1, t(6)).await), vec![j[1]]);
    assert_eq!(s.pause_list().await.unwrap().dispatchers, vec![(d, t(5))]);
    s.dispatcher_resume(d).await.unwrap();
    assert_eq!(ids(&claim(&*s, d, "video", 1, t(7)).await), vec![j[2]]);
    assert_eq!(s.pause_list().await.unwrap(), Default::default());

    assert_not_found(s.queue_pause("nope", t(8)).await, &["queue `nope`"]);
    assert_not_found(s.queue_resume("nope").await, &["queue `nope`"]);
    let unknown = crate::model::DispatcherId::new();
    assert_not_found(s.dispatcher_pause(unknown, t(8)).await, &["dispatcher"]);
    // A queue with quotas is claimed apart; a pause holds there too.
    s.queue_create("limited", t(9)).await.unwrap();
    s.quota_create(crate::store::QuotaCreateParams {
        queue: "limited".to_owned(),
        name: "one".to_owned(),
        size: 1,
        partitioned: false,
        rate: None,
        now: t(9),
    })
    .await
    .unwrap();
    let limited = put_n(&*s, "limited", &m, 1).await;
    s.queue_pause("limited", t(9)).await.unwrap();
    assert!(claim(&*s, d, "limited", 1, t(10)).await.is_empty());
    s.dispatcher_pause(d, t(10)).await.unwrap();
    s.queue_resume("limited").await.unwrap();
    assert!(claim(&*s, d, "limited", 1, t(10)).await.is_empty());
    s.dispatcher_resume(d).await.unwrap();
    assert_eq!(ids(&claim(&*s, d, "limited", 1, t(11)).await), limited);

    // A deleted queue takes its pause with it.
    s.queue_create("gone", t(9)).await.unwrap();
    s.queue_pause("gone", t(9)).await.unwrap();
    s.queue_delete("gone").await.unwrap();
    assert!(s.pause_list().await.unwrap().queues.is_empty());
}

pub(crate) async fn named_jobs_set_get_list_delete<H: Harness>(h: H) {
    let s = h.store();
    let echo = JobName {
        name: "echo".to_owned(),
        job: JobSpec {
            queue: Some(String::new()),
            ..JobSpec::new("hello", "echo", json!({"text": "hi"}))
        },
        created_at: t(1),
        updated_at: t(1),
    };
    assert_eq!(s.job_name_set(&echo).await.unwrap(), echo);
    let replaced = JobName {
        job: JobSpec {
            function: "shout".to_owned(),
            args: json!([]),
            ..echo.job.clone()
        },
        created_at: t(2),
        updated_at: t(2),
        ..echo.clone()
    };
    let stored = s.job_name_set(&replaced).await.unwrap();
    assert_eq!(stored.job.function, "shout");
    assert_eq!(
        (stored.created_at, stored.updated_at),
        (t(1), t(2)),
        "a replacement keeps the creation time"
    );
    let add = JobName {
        name: "add".to_owned(),
        ..echo.clone()
    };
    s.job_name_set(&add).await.unwrap();
    let names: Vec<String> = s
        .job_name_list()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, ["add", "echo"]);
    assert_eq!(s.job_name_get("echo").await.unwrap(), stored);
    s.job_name_delete("echo").await.unwrap();
    assert_not_found(s.job_name_get("echo").await, &["job name `echo`"]);
    assert_not_found(s.job_name_delete("echo").await, &["job name `echo`"]);
}

/// Four finished jobs (succeeded, failed, cancelled, succeeded) completed
/// at t(10), t(20), t(30), t(40), and one pending; returns them in that
/// order.
pub(crate) async fn finished_jobs(s: &dyn Store) -> Vec<crate::model::JobId> {
    let m = module(s, "m", None).await;
    let j = put_n(s, "", &m, 5).await;
    let d = dispatcher(s).await;
    run(s, d, "", 2, t(5)).await;
    finish(s, d, j[0], RunOutcome::Value(json!(1)), t(10)).await;
    let trap = Failure::new(FailureKind::Trap, "boom");
    finish(s, d, j[1], RunOutcome::Failure(trap), t(20)).await;
    s.job_cancel(JobCancelParams {
        id: j[2],
        now: t(30),
    })
    .await
    .unwrap();
    s.job_detach(JobDetachParams {
        id: j[4],
        queue: None,
        now: t(31),
    })
    .await
    .unwrap();
    run(s, d, "", 1, t(35)).await;
    finish(s, d, j[3], RunOutcome::Value(json!(2)), t(40)).await;
    s.job_put_back(crate::store::JobPutBackParams {
        id: j[4],
        queue: String::new(),
        now: t(41),
    })
    .await
    .unwrap();
    j
}

pub(crate) async fn remove_finished_counts_per_status<H: Harness>(h: H) {
    let s = h.store();
    let j = finished_jobs(&*s).await;
    s.annotation_set(AnnotationSetParams {
        job: j[1],
        name: "progress".to_owned(),
        value: json!(1),
        now: t(21),
    })
    .await
    .unwrap();
    let report = s
        .job_remove_finished(JobRemoveParams {
            states: vec![QueryState::Failed],
            queue: None,
        })
        .await
        .unwrap();
    assert_eq!(report, RemovalReport::from([("failed".to_owned(), 1)]));
    assert_not_found(s.job_get(j[1]).await, &["job"]);
    assert_not_found(s.annotation_list(j[1]).await, &["job"]);

    let report = s
        .job_remove_finished(JobRemoveParams {
            states: vec![
                QueryState::Status(JobStatus::Completed),
                QueryState::Status(JobStatus::Cancelled),
            ],
            queue: Some("other".to_owned()),
        })
        .await
        .unwrap();
    assert_eq!(
        report,
        RemovalReport::from([("cancelled".to_owned(), 0), ("completed".to_owned(), 0)]),
        "another queue's jobs stay"
    );
    let report = s
        .job_remove_finished(JobRemoveParams {
            states: vec![
                QueryState::Succeeded,
                QueryState::Status(JobStatus::Cancelled),
            ],
            queue: Some(String::new()),
        })
        .await
        .unwrap();
    assert_eq!(
        report,
        RemovalReport::from([("cancelled".to_owned(), 1), ("succeeded".to_owned(), 2)])
    );
    assert_eq!(
        s.job_get(j[4]).await.unwrap().status,
        JobStatus::Pending,
        "jobs not finished are never removed"
    );
}

pub(crate) async fn retention_keeps_by_age_and_count<H: Harness>(h: H) {
    let s = h.store();
    let j = finished_jobs(&*s).await;
    let retain = |completed_before, keep_latest, limit| JobRetainParams {
        completed_before,
        keep_latest,
        limit,
    };
    assert_eq!(
        s.job_retain(retain(Some(t(10)), None, 100)).await.unwrap(),
        0
    );
    assert_eq!(s.job_retain(retain(Some(t(21)), None, 1)).await.unwrap(), 1);
    assert_not_found(s.job_get(j[0]).await, &["job"]);
    assert_eq!(s.job_retain(retain(Some(t(21)), None, 1)).await.unwrap(), 1);
    assert_not_found(s.job_get(j[1]).await, &["job"]);
    // Keep the latest one: the cancelled job (t(30)) goes, j[3] stays.
    assert_eq!(s.job_retain(retain(None, Some(1), 100)).await.unwrap(), 1);
    assert_not_found(s.job_get(j[2]).await, &["job"]);
    assert_eq!(s.job_get(j[3]).await.unwrap().status, JobStatus::Completed);
    assert_eq!(s.job_retain(retain(None, Some(0), 100)).await.unwrap(), 1);
    assert_eq!(s.job_get(j[4]).await.unwrap().status, JobStatus::Pending);
}

pub(crate) async fn job_queries_filter_and_count<H: Harness>(h: H) {
    let s = h.store();
    let j = finished_jobs(&*s).await;
    let m = module(&*s, "other", Some("resizer")).await;
    s.queue_create("video", t(0)).await.unwrap();
    let mut resize = new_job("video", &m, "resize_png", t(100));
    resize.begin_after = t(500);
    resize.scheduled = true;
    let r = put(&*s, vec![resize]).await[0].id;

    let query = |filter: JobFilter| JobQueryParams {
        filter,
        order: JobOrder::Created,
        after: None,
        limit: 100,
    };
    let found = |jobs: Vec<crate::model::Job>| ids(&jobs);
    let by_state = |states: Vec<QueryState>| JobFilter {
        states,
        ..JobFilter::default()
    };
    let q = s
        .job_query(query(by_state(vec![QueryState::Succeeded])))
        .await
        .unwrap();
    assert_eq!(found(q), vec![j[0], j[3]]);
    let q = s
        .job_query(query(by_state(vec![
            QueryState::Failed,
            QueryState::Status(JobStatus::Cancelled),
        ])))
        .await
        .unwrap();
    assert_eq!(found(q), vec![j[1], j[2]]);
    let completed = by_state(vec![QueryState::Status(JobStatus::Completed)]);
    assert_eq!(s.job_count(&completed).await.unwrap(), 3);
    assert_eq!(s.job_count(&JobFilter::default()).await.unwrap(), 6);

    let glob = JobFilter {
        function: Some("resize_*".to_owned()),
        ..JobFilter::default()
    };
    assert_eq!(found(s.job_query(query(glob)).await.unwrap()), vec![r]);
    let literal = JobFilter {
        function: Some("resize?png".to_owned()),
        module: Some("resi*".to_owned()),
        queue: Some("video".to_owned()),
        ..JobFilter::default()
    };
    assert_eq!(s.job_count(&literal).await.unwrap(), 1);
    let underscore_is_literal = JobFilter {
        function: Some("w_rk".to_owned()),
        ..JobFilter::default()
    };
    assert_eq!(s.job_count(&underscore_is_literal).await.unwrap(), 0);

    let held = s.job_get(j[0]).await.unwrap();
    let by_holder = JobFilter {
        dispatcher: held.dispatcher,
        agent: Some("main".to_owned()),
        ..JobFilter::default()
    };
    assert_eq!(
        found(s.job_query(query(by_holder)).await.unwrap()),
        vec![j[0], j[1], j[3]]
    );
    let ended = JobFilter {
        end: TimeRange {
            since: Some(t(20)),
            before: Some(t(40)),
        },
        ..JobFilter::default()
    };
    assert_eq!(
        found(s.job_query(query(ended)).await.unwrap()),
        vec![j[1], j[2]]
    );
    let started = JobFilter {
        start: TimeRange {
            since: Some(t(30)),
            before: None,
        },
        ..JobFilter::default()
    };
    assert_eq!(
        found(s.job_query(query(started)).await.unwrap()),
        vec![j[3]]
    );
    let requested = JobFilter {
        requested_start: TimeRange {
            since: Some(t(400)),
            before: Some(t(501)),
        },
        ..JobFilter::default()
    };
    assert_eq!(found(s.job_query(query(requested)).await.unwrap()), vec![r]);

    let latest = s
        .job_query(JobQueryParams {
            filter: completed,
            order: JobOrder::LatestCompleted,
            after: None,
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(found(latest), vec![j[3]]);
    let page = s
        .job_query(JobQueryParams {
            after: Some(j[1]),
            limit: 2,
            ..query(JobFilter::default())
        })
        .await
        .unwrap();
    assert_eq!(found(page), vec![j[2], j[3]]);
    // Newest first, paged back from a job.
    let newest = |after, limit| JobQueryParams {
        order: JobOrder::Newest,
        after,
        limit,
        ..query(JobFilter::default())
    };
    let page = s.job_query(newest(None, 2)).await.unwrap();
    assert_eq!(found(page), vec![r, j[4]]);
    let page = s.job_query(newest(Some(j[3]), 2)).await.unwrap();
    assert_eq!(found(page), vec![j[2], j[1]]);
}

pub(crate) async fn polls_are_bounded_and_find_their_jobs<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let j = put_n(&*s, "", &m, 5).await;
    let d = dispatcher(&*s).await;
    let other = dispatcher(&*s).await;
    let record = |dispatcher, jobs: Vec<crate::model::JobId>, at| PollRecordParams {
        dispatcher,
        queue: String::new(),
        agent: "main".to_owned(),
        jobs,
        now: t(at),
        keep: 2,
    };
    let first = s
        .poll_record_many(&[record(d, vec![j[0], j[1]], 1)])
        .await
        .unwrap()[0];
    // A batch: in order, one transaction, the bound applied per dispatcher.
    let batch = s
        .poll_record_many(&[record(d, vec![j[2]], 2), record(other, vec![j[4]], 2)])
        .await
        .unwrap();
    let second = batch[0];
    assert_eq!(s.poll_of_job(d, j[1]).await.unwrap(), Some(first));
    let third = s
        .poll_record_many(&[record(d, vec![j[3]], 3)])
        .await
        .unwrap()[0];
    assert!(s.poll_record_many(&[]).await.unwrap().is_empty());
    assert!(first < second && second < third);

    let polls = s.poll_list(d, 10).await.unwrap();
    assert_eq!(
        polls.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![third, second],
        "only the latest two are kept, latest first"
    );
    assert_eq!(polls[1].jobs, vec![j[2]]);
    assert_eq!(
        (polls[1].polled_at, polls[1].agent.as_str()),
        (t(2), "main")
    );
    assert_eq!(s.poll_of_job(d, j[1]).await.unwrap(), None, "rotated out");
    assert_eq!(s.poll_of_job(d, j[3]).await.unwrap(), Some(third));
    assert_eq!(s.poll_list(other, 10).await.unwrap().len(), 1);
}

pub(crate) async fn dispatcher_stats_count_and_rank_jobs<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let j = put_n(&*s, "", &m, 6).await;
    let d = dispatcher(&*s).await;
    let started = run(&*s, d, "", 6, t(100)).await;
    assert_eq!(started, j);
    finish(&*s, d, j[0], RunOutcome::Value(json!(1)), t(150)).await;
    finish(&*s, d, j[1], RunOutcome::Value(json!(1)), t(400)).await;
    finish(&*s, d, j[2], RunOutcome::Value(json!(1)), t(200)).await;
    let trap = |m: &str| RunOutcome::Failure(Failure::new(FailureKind::Trap, m));
    finish(&*s, d, j[3], trap("a"), t(120)).await;
    // j[4] and j[5] still run; one more job started later, outside the
    // window asked for.
    let late = put_n(&*s, "", &m, 1).await[0];
    run(&*s, d, "", 1, t(900)).await;
    let other = dispatcher(&*s).await;
    s.agent_upsert(other, AgentSpec::new("", "main"))
        .await
        .unwrap();

    let stats = s
        .dispatcher_stats(DispatcherStatsParams {
            dispatcher: d,
            since: Some(t(50)),
            before: t(800),
            now: t(1_000),
        })
        .await
        .unwrap();
    assert_eq!(
        (
            stats.started,
            stats.successful,
            stats.failed,
            stats.active,
            stats.unknown
        ),
        (6, 3, 1, 2, 0)
    );
    let pick = |d: Option<crate::model::JobDuration>| d.map(|d| (d.id, d.ms));
    assert_eq!(pick(stats.shortest_successful), Some((j[0], 50)));
    assert_eq!(pick(stats.longest_successful), Some((j[1], 300)));
    assert_eq!(pick(stats.shortest_failed), Some((j[3], 20)));
    assert_eq!(pick(stats.longest_failed), Some((j[3], 20)));
    let first = j[4].min(j[5]);
    assert_eq!(
        pick(stats.shortest_active),
        Some((first, 900)),
        "ties by id"
    );
    assert_eq!(pick(stats.longest_active), Some((first, 900)));
    assert_eq!(
        (stats.statistics_start, stats.statistics_end),
        (Some(t(50)), t(800))
    );

    let all = s
        .dispatcher_stats(DispatcherStatsParams {
            dispatcher: d,
            since: None,
            before: t(1_000),
            now: t(1_000),
        })
        .await
        .unwrap();
    assert_eq!((all.started, all.active), (7, 3));
    assert_eq!(pick(all.shortest_active), Some((late, 100)));
    let none = s
        .dispatcher_stats(DispatcherStatsParams {
            dispatcher: other,
            since: None,
            before: t(1_000),
            now: t(1_000),
        })
        .await
        .unwrap();
    assert_eq!((none.started, none.longest_successful), (0, None));
}
