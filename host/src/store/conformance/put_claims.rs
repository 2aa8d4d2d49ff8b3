//! Claims that ride on a put's commit (`job_insert_many_claiming`): the
//! same jobs as a claim after the put would take, in queue order, in the
//! same transaction as the put, and none when the put fails.

use super::Harness;
use super::kit::*;
use crate::model::{DispatcherId, JobStatus};
use crate::store::JobClaimParams;

fn offer(d: DispatcherId, queue: &str, limit: u32, at: i64) -> JobClaimParams {
    JobClaimParams {
        dispatcher: d,
        queue: queue.to_owned(),
        agent: "main".to_owned(),
        filter: None,
        preferred: None,
        limit,
        now: t(at),
        start: true,
    }
}

pub(crate) async fn a_put_claims_in_its_commit_the_oldest_due_jobs_first<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    let older = put_n(&*s, "", &m, 2).await;
    let later = new_job("", &m, "work", t(5_000));
    let jobs = vec![
        new_job("", &m, "work", t(10)),
        new_job("", &m, "work", t(10)),
        later.clone(),
    ];
    let (put, claimed) = s
        .job_insert_many_claiming(&jobs, &[offer(d, "", 3, 100)])
        .await
        .expect("put and claim");
    assert_eq!(ids(&put), ids_of(&jobs));
    assert_eq!(claimed.len(), 1);
    // The two put before, then the first of this put: queue order, and
    // the job not yet due stays pending.
    let expected = [older[0], older[1], jobs[0].id];
    assert_eq!(ids(&claimed[0]), expected);
    for job in &claimed[0] {
        assert_eq!(job.status, JobStatus::Active);
        assert_eq!((job.dispatcher, job.attempts), (Some(d), 1));
        assert_eq!(job.started_at, Some(t(100)));
    }
    for id in expected {
        assert_eq!(s.job_get(id).await.unwrap().status, JobStatus::Active);
    }
    for id in [jobs[1].id, later.id] {
        assert_eq!(s.job_get(id).await.unwrap().status, JobStatus::Pending);
    }
    // Nothing claimed, nothing offered: a plain put.
    let (put, claimed) = s
        .job_insert_many_claiming(&[new_job("", &m, "work", t(20))], &[])
        .await
        .unwrap();
    assert_eq!(put[0].status, JobStatus::Pending);
    assert!(claimed.is_empty());
}

pub(crate) async fn a_put_claims_nothing_apart_paused_or_when_it_fails<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    s.queue_create("limited", t(0)).await.unwrap();
    super::quota::create(&*s, "limited", "q", 5).await;
    s.queue_create("paused", t(0)).await.unwrap();
    s.queue_pause("paused", t(0)).await.unwrap();
    let jobs = vec![
        new_job("limited", &m, "work", t(10)),
        new_job("paused", &m, "work", t(10)),
    ];
    let (_, claimed) = s
        .job_insert_many_claiming(
            &jobs,
            &[offer(d, "limited", 3, 100), offer(d, "paused", 3, 100)],
        )
        .await
        .expect("put");
    // A queue with quotas is claimed apart, by the claim loop; a paused
    // one not at all.
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(Vec::is_empty), "{claimed:?}");
    // A put that fails (its queue does not exist) claims nothing either:
    // the job already pending stays so.
    let pending = put_n(&*s, "", &m, 1).await;
    let failed = s
        .job_insert_many_claiming(
            &[new_job("nope", &m, "work", t(10))],
            &[offer(d, "", 3, 100)],
        )
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let job = s.job_get(pending[0]).await.unwrap();
    assert_eq!((job.status, job.dispatcher), (JobStatus::Pending, None));
}

/// The ids of jobs to put.
fn ids_of(jobs: &[crate::model::NewJob]) -> Vec<crate::model::JobId> {
    jobs.iter().map(|job| job.id).collect()
}
