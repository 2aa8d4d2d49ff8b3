//! Queues and zc.async's queue semantics: FIFO, `pull`, `remove`, put back,
//! scheduled calls.

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{AgentSpec, JobId, JobLimits, JobStatus, ModuleDigest, RunOutcome};
use crate::store::{
    JobDetachParams, JobListParams, JobPullParams, JobPutBackParams, QueueCapsSetParams,
    QueueJobsParams,
};

fn pull(queue: &str, index: i64) -> JobPullParams {
    JobPullParams {
        queue: queue.to_owned(),
        index,
        now: t(0),
    }
}

fn detach(id: JobId) -> JobDetachParams {
    JobDetachParams {
        id,
        queue: None,
        now: t(0),
    }
}

fn put_back(id: JobId, queue: &str) -> JobPutBackParams {
    JobPutBackParams {
        id,
        queue: queue.to_owned(),
        now: t(0),
    }
}

pub(crate) async fn default_queue_always_exists<H: Harness>(h: H) {
    let s = h.store();
    let queues = s.queue_list().await.unwrap();
    assert_eq!(queues.len(), 1);
    assert_eq!((queues[0].name.as_str(), queues[0].length), ("", 0));
    assert_eq!(s.queue_get("").await.unwrap().name, "");
    assert_conflict(s.queue_delete("").await, &["default queue"]);
    assert_conflict(s.queue_create("", t(0)).await, &["already exists"]);
}

pub(crate) async fn queues_create_list_delete<H: Harness>(h: H) {
    let s = h.store();
    let video = s.queue_create("video", t(5)).await.unwrap();
    assert_eq!(
        (video.name.as_str(), video.length, video.created_at),
        ("video", 0, t(5))
    );
    assert_conflict(
        s.queue_create("video", t(6)).await,
        &["queue `video`", "exists"],
    );
    s.queue_create("audio", t(7)).await.unwrap();
    let names: Vec<String> = s
        .queue_list()
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(names, ["", "audio", "video"]);
    assert_eq!(s.queue_get("video").await.unwrap().created_at, t(5));
    assert_not_found(s.queue_get("nope").await, &["queue `nope`"]);

    let m = module(&*s, "m", Some("m")).await;
    put_n(&*s, "video", &m, 3).await;
    put_n(&*s, "", &m, 1).await;
    assert_eq!(s.queue_get("video").await.unwrap().length, 3);
    let lengths: Vec<u64> = s
        .queue_list()
        .await
        .unwrap()
        .iter()
        .map(|q| q.length)
        .collect();
    assert_eq!(lengths, [1, 0, 3]);

    s.queue_delete("audio").await.unwrap();
    assert_not_found(s.queue_get("audio").await, &["audio"]);
    assert_not_found(s.queue_delete("audio").await, &["queue `audio`"]);
    let listing = s
        .queue_jobs(QueueJobsParams {
            queue: "audio".to_owned(),
            offset: 0,
            limit: 10,
        })
        .await;
    assert_not_found(listing, &["audio"]);
}

/// A queue's caps are none until set, read back with the queue (and in
/// the listing), cleared with `None`; an unknown queue is not found.
pub(crate) async fn queue_caps_set_and_cleared<H: Harness>(h: H) {
    let s = h.store();
    let fresh = s.queue_create("fan", t(1)).await.unwrap();
    assert_eq!((fresh.put_cap, fresh.pending_cap), (None, None));
    let capped = s
        .queue_caps_set(QueueCapsSetParams {
            queue: "fan".into(),
            put_cap: Some(100_000),
            pending_cap: Some(0),
        })
        .await
        .unwrap();
    assert_eq!(
        (capped.put_cap, capped.pending_cap),
        (Some(100_000), Some(0))
    );
    let listed = s.queue_list().await.unwrap();
    let fan = listed.iter().find(|q| q.name == "fan").unwrap();
    assert_eq!((fan.put_cap, fan.pending_cap), (Some(100_000), Some(0)));
    let default = listed.iter().find(|q| q.name.is_empty()).unwrap();
    assert_eq!((default.put_cap, default.pending_cap), (None, None));
    // The largest count a cap can hold is kept as the largest the
    // database stores.
    s.queue_caps_set(QueueCapsSetParams {
        queue: "fan".into(),
        put_cap: None,
        pending_cap: Some(u64::MAX),
    })
    .await
    .unwrap();
    let got = s.queue_get("fan").await.unwrap();
    assert_eq!(
        (got.put_cap, got.pending_cap),
        (None, Some(i64::MAX as u64))
    );
    assert_not_found(
        s.queue_caps_set(QueueCapsSetParams {
            queue: "nope".into(),
            put_cap: Some(1),
            pending_cap: None,
        })
        .await,
        &["queue `nope`"],
    );
}

pub(crate) async fn queue_delete_refused_while_holding_jobs<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("q", t(0)).await.unwrap();
    let d = dispatcher(&*s).await;
    s.agent_upsert(d, AgentSpec::new("q", "main"))
        .await
        .unwrap();
    let id = put_n(&*s, "q", &m, 1).await[0];
    assert_conflict(s.queue_delete("q").await, &["queue `q`", "1 pending"]);

    s.job_detach(detach(id)).await.unwrap();
    assert_conflict(s.queue_delete("q").await, &["1 new"]);
    s.job_put_back(put_back(id, "q")).await.unwrap();

    assert_eq!(run(&*s, d, "q", 1, t(1)).await, [id]);
    assert_conflict(s.queue_delete("q").await, &["1 active"]);
    finish(&*s, d, id, RunOutcome::Value(json!(1)), t(2)).await;

    s.queue_delete("q").await.unwrap();
    assert_not_found(s.queue_get("q").await, &["q"]);
    assert!(
        s.agent_list(Some(d)).await.unwrap().is_empty(),
        "agents go with their queue"
    );
    let job = s.job_get(id).await.unwrap();
    assert_eq!(
        (job.queue.as_str(), job.status),
        ("q", JobStatus::Completed)
    );
}

pub(crate) async fn put_lists_in_fifo_order<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("other", t(0)).await.unwrap();
    let mut expected = Vec::new();
    for i in 0..4 {
        let job = put(&*s, vec![new_job("", &m, "f", t(i))]).await;
        assert_eq!(job[0].status, JobStatus::Pending);
        expected.push(job[0].id);
        put(&*s, vec![new_job("other", &m, "f", t(i))]).await;
    }
    let batch: Vec<_> = (0..3).map(|_| new_job("", &m, "f", t(10))).collect();
    let batch_ids: Vec<JobId> = batch.iter().map(|j| j.id).collect();
    let stored = put(&*s, batch).await;
    assert_eq!(
        ids(&stored),
        batch_ids,
        "insert returns the jobs in batch order"
    );
    expected.extend(batch_ids);

    assert_eq!(queue_ids(&*s, "").await, expected);
    assert_eq!(s.queue_get("").await.unwrap().length, 7);
    let page = s
        .queue_jobs(QueueJobsParams {
            queue: String::new(),
            offset: 2,
            limit: 3,
        })
        .await
        .unwrap();
    assert_eq!(ids(&page), expected[2..5]);
}

pub(crate) async fn pull_first_then_put_back_at_the_end<H: Harness>(h: H) {
    // The doctest of zc.async's usage guide, every step at the same instant.
    let s = h.store();
    let m = module(&*s, "m", None).await;
    assert_eq!(s.queue_get("").await.unwrap().length, 0);
    let job1 = put(&*s, vec![new_job("", &m, "send_message", t(0))]).await[0].id;
    let job2 = put(&*s, vec![new_job("", &m, "send_message", t(0))]).await[0].id;
    assert_eq!(s.queue_get("").await.unwrap().length, 2);

    let pulled = s.job_pull(pull("", 0)).await.unwrap();
    assert_eq!((pulled.id, pulled.status), (job1, JobStatus::New));
    assert_eq!(queue_ids(&*s, "").await, [job2]);

    let back = s.job_put_back(put_back(job1, "")).await.unwrap();
    assert_eq!((back.id, back.status), (job1, JobStatus::Pending));
    assert_eq!(queue_ids(&*s, "").await, [job2, job1]);

    assert_eq!(s.job_pull(pull("", -1)).await.unwrap().id, job1);
    assert_eq!(s.job_pull(pull("", 0)).await.unwrap().id, job2);
    assert_eq!(s.queue_get("").await.unwrap().length, 0);
}

pub(crate) async fn pull_by_index_and_from_the_end<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let j = put_n(&*s, "", &m, 5).await;
    assert_eq!(s.job_pull(pull("", 2)).await.unwrap().id, j[2]);
    assert_eq!(s.job_pull(pull("", -2)).await.unwrap().id, j[3]);
    assert_eq!(s.job_pull(pull("", -1)).await.unwrap().id, j[4]);
    assert_eq!(queue_ids(&*s, "").await, [j[0], j[1]]);
    assert_not_found(
        s.job_pull(pull("", 2)).await,
        &["index 2", "default queue", "2 pending"],
    );
    assert_not_found(s.job_pull(pull("", -3)).await, &["index -3"]);
    assert_not_found(s.job_pull(pull("nope", 0)).await, &["queue `nope`"]);
    assert_eq!(s.job_get(j[2]).await.unwrap().status, JobStatus::New);
    assert_eq!(
        queue_ids(&*s, "").await,
        [j[0], j[1]],
        "failed pulls take nothing"
    );
}

pub(crate) async fn remove_then_put_back_at_the_end<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let job1 = put(&*s, vec![new_job("", &m, "send_message", t(0))]).await[0].id;
    let job2 = put(&*s, vec![new_job("", &m, "send_message", t(0))]).await[0].id;

    let removed = s.job_detach(detach(job1)).await.unwrap();
    assert_eq!(removed.status, JobStatus::New);
    assert_eq!(queue_ids(&*s, "").await, [job2]);
    s.job_put_back(put_back(job1, "")).await.unwrap();
    assert_eq!(queue_ids(&*s, "").await, [job2, job1]);
    s.job_detach(detach(job1)).await.unwrap();
    assert_eq!(queue_ids(&*s, "").await, [job2]);
    let in_queue = JobDetachParams {
        queue: Some(String::new()),
        ..detach(job2)
    };
    s.job_detach(in_queue).await.unwrap();
    assert_eq!(s.queue_get("").await.unwrap().length, 0);

    assert_conflict(s.job_detach(detach(job2)).await, &["not in a queue", "new"]);
    s.job_put_back(put_back(job2, "")).await.unwrap();
    s.queue_create("other", t(0)).await.unwrap();
    let wrong_queue = JobDetachParams {
        queue: Some("other".to_owned()),
        ..detach(job2)
    };
    assert_not_found(s.job_detach(wrong_queue).await, &["queue `other`"]);
    assert_not_found(s.job_detach(detach(JobId::new())).await, &["job"]);
}

pub(crate) async fn claimed_job_cannot_be_pulled_or_removed<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let j = put_n(&*s, "", &m, 2).await;
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 1, t(10)).await), [j[0]]);
    let d_text = d.to_string();
    assert_conflict(
        s.job_detach(detach(j[0])).await,
        &["assigned", &d_text, "`main`", "cannot be pulled or removed"],
    );
    s.job_start_many(crate::store::JobStartParams {
        dispatcher: d,
        ids: vec![j[0]],
        now: t(11),
    })
    .await
    .unwrap();
    assert_conflict(s.job_detach(detach(j[0])).await, &["active", &d_text]);
    // The claimed job is no longer in the queue: pull sees only the other.
    assert_eq!(s.job_pull(pull("", 0)).await.unwrap().id, j[1]);
    assert_not_found(s.job_pull(pull("", 0)).await, &["index 0"]);
    finish(&*s, d, j[0], RunOutcome::Value(json!("done")), t(12)).await;
    assert_conflict(s.job_detach(detach(j[0])).await, &["completed"]);
    assert_eq!(s.job_get(j[0]).await.unwrap().status, JobStatus::Completed);
}

pub(crate) async fn put_back_rules<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let id = put_n(&*s, "", &m, 1).await[0];
    assert_conflict(
        s.job_put_back(put_back(id, "")).await,
        &["pending", "status new"],
    );
    s.job_detach(detach(id)).await.unwrap();
    assert_not_found(
        s.job_put_back(put_back(id, "nope")).await,
        &["queue `nope`"],
    );
    assert_eq!(s.job_get(id).await.unwrap().status, JobStatus::New);

    s.queue_create("b", t(0)).await.unwrap();
    let back = s
        .job_put_back(JobPutBackParams {
            id,
            queue: "b".to_owned(),
            now: t(500),
        })
        .await
        .unwrap();
    assert_eq!(back.queue, "b");
    assert_eq!((back.begin_after, back.scheduled), (t(500), false));
    assert_eq!(queue_ids(&*s, "b").await, [id]);
    assert!(queue_ids(&*s, "").await.is_empty());
    assert_not_found(s.job_put_back(put_back(JobId::new(), "")).await, &["job"]);
}

pub(crate) async fn future_begin_after_waits_until_due<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let later = put(&*s, vec![scheduled_job("", &m, t(0), t(60_000))]).await[0].id;
    let now = put(&*s, vec![new_job("", &m, "f", t(0))]).await[0].id;
    assert_eq!(queue_ids(&*s, "").await, [now, later], "due jobs first");
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(1_000)).await), [now]);
    assert!(claim(&*s, d, "", 10, t(59_999)).await.is_empty());
    let due = claim(&*s, d, "", 10, t(60_000)).await;
    assert_eq!(ids(&due), [later]);
    assert_eq!(due[0].status, JobStatus::Assigned);
}

pub(crate) async fn scheduled_jobs_go_first_on_ties<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let plain100 = put(&*s, vec![new_job("", &m, "f", t(100))]).await[0].id;
    let sched100 = put(&*s, vec![scheduled_job("", &m, t(0), t(100))]).await[0].id;
    let plain200 = put(&*s, vec![new_job("", &m, "f", t(200))]).await[0].id;
    let sched150 = put(&*s, vec![scheduled_job("", &m, t(0), t(150))]).await[0].id;
    let expected = [sched100, plain100, sched150, plain200];
    assert_eq!(queue_ids(&*s, "").await, expected);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(1_000)).await), expected);
}

pub(crate) async fn past_begin_after_joins_the_end_of_the_fifo<H: Harness>(h: H) {
    // zc.async: a begin_after already past at put is "as soon as possible",
    // at the end of the FIFO, without the scheduled jobs' preference. The
    // service passes it as begin_after = now, scheduled = false.
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let a = put(&*s, vec![new_job("", &m, "f", t(100))]).await[0].id;
    let b = put(&*s, vec![new_job("", &m, "f", t(300))]).await[0].id;
    let past = put(&*s, vec![new_job("", &m, "asked-for-t50", t(300))]).await[0].id;
    let c = put(&*s, vec![new_job("", &m, "f", t(300))]).await[0].id;
    assert_eq!(queue_ids(&*s, "").await, [a, b, past, c]);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(400)).await), [a, b, past, c]);
}

pub(crate) async fn insert_is_all_or_nothing<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", Some("hello")).await;
    assert!(s.job_insert_many(&[]).await.unwrap().is_empty());

    let good = new_job("", &m, "f", t(0));
    let lost = new_job("nope", &m, "f", t(0));
    let result = s.job_insert_many(&[good.clone(), lost]).await;
    assert_not_found(result, &["queue `nope`"]);
    assert_not_found(s.job_get(good.id).await, &["job"]);

    let mut unknown = new_job("", &m, "f", t(0));
    unknown.module = ModuleDigest::of(b"never stored");
    let result = s.job_insert_many(&[good.clone(), unknown]).await;
    assert_not_found(result, &["module sha256:"]);
    assert!(queue_ids(&*s, "").await.is_empty());

    let mut full = new_job("", &m, "f", t(7));
    full.limits = JobLimits {
        fuel: Some(1_000_000),
        memory_bytes: Some(u64::from(u32::MAX) + 1),
        timeout_ms: Some(2_500),
    };
    full.begin_by_ms = Some(60_000);
    full.parent = Some(JobId::new());
    full.args = json!({"name": "ünïcode ✓", "n": 12345678901234_i64, "nested": [null, true]});
    let stored = put(&*s, vec![full.clone()]).await.remove(0);
    assert_eq!(stored, s.job_get(full.id).await.unwrap());
    assert_eq!(stored.status, JobStatus::Pending);
    assert_eq!(stored.module_name.as_deref(), Some("hello"));
    assert_eq!(
        (&stored.limits, stored.begin_by_ms),
        (&full.limits, Some(60_000))
    );
    assert_eq!((stored.parent, &stored.args), (full.parent, &full.args));
    assert_eq!((stored.created_at, stored.begin_after), (t(7), t(7)));
    assert_eq!(
        (stored.attempts, stored.dispatcher, &stored.result),
        (0, None, &None)
    );

    let again = s.job_insert_many(&[good.clone(), full.clone()]).await;
    assert_conflict(again, &[&full.id.to_string(), "already exists"]);
    assert_not_found(s.job_get(good.id).await, &["job"]);
}

pub(crate) async fn large_batches_keep_their_order<H: Harness>(h: H) {
    // One put of 3,000 jobs over two queues, with the default queue's jobs
    // due in reverse: each queue lists them in due order, then batch order.
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("b", t(0)).await.unwrap();
    let batch: Vec<_> = (0..3_000)
        .map(|i| match i % 3 {
            0 => new_job("", &m, "f", t(10 - (i / 1_000))),
            _ => new_job("b", &m, "f", t(0)),
        })
        .collect();
    let stored = put(&*s, batch.clone()).await;
    assert_eq!(ids(&stored), batch.iter().map(|j| j.id).collect::<Vec<_>>());
    let mut in_default: Vec<_> = batch.iter().filter(|j| j.queue.is_empty()).collect();
    in_default.sort_by_key(|j| j.begin_after); // stable: batch order on ties
    let in_b: Vec<JobId> = batch
        .iter()
        .filter(|j| j.queue == "b")
        .map(|j| j.id)
        .collect();
    assert_eq!(
        queue_ids(&*s, "").await,
        in_default.iter().map(|j| j.id).collect::<Vec<_>>()
    );
    assert_eq!(queue_ids(&*s, "b").await, in_b);
}

pub(crate) async fn jobs_get_and_list<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("b", t(0)).await.unwrap();
    let a = put_n(&*s, "", &m, 3).await;
    let b = put_n(&*s, "b", &m, 2).await;
    let d = dispatcher(&*s).await;
    claim(&*s, d, "", 1, t(10)).await;

    let all = s
        .job_list(JobListParams {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&all), [a.clone(), b.clone()].concat());
    let in_b = s
        .job_list(JobListParams {
            queue: Some("b".to_owned()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&in_b), b);
    let assigned = s
        .job_list(JobListParams {
            statuses: vec![JobStatus::Assigned, JobStatus::Active],
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&assigned), [a[0]]);
    assert_eq!(assigned[0].dispatcher, Some(d));
    assert_eq!(assigned[0].agent.as_deref(), Some("main"));
    let page = s
        .job_list(JobListParams {
            after: Some(a[1]),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&page), [a[2], b[0]]);
    assert_not_found(s.job_get(JobId::new()).await, &["job"]);
}
