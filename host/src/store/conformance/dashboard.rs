//! What the dashboard's jobs list needs of the store: jobs by creation
//! time, and deleting given finished jobs (its batch delete).

use serde_json::json;

use super::Harness;
use super::kit::*;
use super::operators::finished_jobs;
use crate::model::{DeletionReport, JobFilter, JobId, TimeRange};
use crate::store::{AnnotationSetParams, JobOrder, JobQueryParams};

pub(crate) async fn jobs_are_found_by_creation_time<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let jobs: Vec<_> = [0, 100, 200, 300]
        .into_iter()
        .map(|at| new_job("", &m, "work", t(at)))
        .collect();
    let j = ids(&put(&*s, jobs).await);
    let created = |since: Option<i64>, before: Option<i64>, order| JobQueryParams {
        filter: JobFilter {
            created: TimeRange {
                since: since.map(t),
                before: before.map(t),
            },
            ..JobFilter::default()
        },
        order,
        after: None,
        limit: 100,
    };
    // Since is inclusive, before exclusive, as every other range.
    let found = s
        .job_query(created(Some(100), Some(300), JobOrder::Created))
        .await
        .unwrap();
    assert_eq!(ids(&found), vec![j[1], j[2]]);
    let found = s
        .job_query(created(Some(100), None, JobOrder::Newest))
        .await
        .unwrap();
    assert_eq!(ids(&found), vec![j[3], j[2], j[1]]);
    let found = s
        .job_query(created(None, Some(100), JobOrder::Created))
        .await
        .unwrap();
    assert_eq!(ids(&found), vec![j[0]]);
    let range = created(Some(50), Some(250), JobOrder::Created).filter;
    assert_eq!(s.job_count(&range).await.unwrap(), 2);
}

pub(crate) async fn only_finished_jobs_are_deleted_by_id<H: Harness>(h: H) {
    let s = h.store();
    // 0 succeeded, 1 failed, 2 cancelled, 3 succeeded, 4 new (detached
    // and put back: pending).
    let j = finished_jobs(&*s).await;
    s.annotation_set(AnnotationSetParams {
        job: j[0],
        name: "progress".to_owned(),
        value: json!(1),
        now: t(50),
    })
    .await
    .unwrap();
    let nobody = JobId::new();
    let report = s
        .job_delete_finished(&[j[0], j[4], nobody, j[1], j[2], j[0]])
        .await
        .unwrap();
    assert_eq!(
        report,
        DeletionReport {
            deleted: vec![j[0], j[1], j[2]],
            unfinished: vec![j[4]],
            missing: vec![nobody],
        }
    );
    for gone in [j[0], j[1], j[2]] {
        assert!(s.job_get(gone).await.is_err(), "{gone} deleted");
    }
    // The deleted job is gone with its annotations (they cascade); the
    // others are untouched.
    assert!(matches!(
        s.annotation_list(j[0]).await,
        Err(crate::store::Error::NotFound { .. })
    ));
    assert_eq!(
        s.job_count(&JobFilter::default()).await.unwrap(),
        2,
        "j[3] and j[4] remain"
    );
    let again = s.job_delete_finished(&[j[0], j[3]]).await.unwrap();
    assert_eq!((again.deleted, again.missing), (vec![j[3]], vec![j[0]]));
}
