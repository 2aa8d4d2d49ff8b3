//! Priorities: among a queue's due jobs, a higher priority is claimed (and
//! listed, and pulled) first; equal priorities keep the queue order.

use super::Harness;
use super::kit::*;
use crate::model::{CallbackOn, JobId, JobLink, LinkedJob, ModuleInfo, NewJob};
use crate::store::{CallbackAddParams, JobPullParams, JobUpdateParams, QuotaCreateParams};

fn with_priority(module: &ModuleInfo, priority: i32, at: i64) -> NewJob {
    NewJob {
        priority,
        ..new_job("", module, "work", t(at))
    }
}

pub(crate) async fn higher_priority_due_jobs_are_claimed_first<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let plain = put(&*s, vec![with_priority(&m, 0, 0), with_priority(&m, 0, 1)]).await;
    let high = put(&*s, vec![with_priority(&m, 5, 2), with_priority(&m, 5, 3)]).await;
    let low = put(&*s, vec![with_priority(&m, -1, 4)]).await;
    // Due later than the claim below: a higher priority does not make a
    // job due, and the claim steps over it rather than waiting.
    let future = put(
        &*s,
        vec![NewJob {
            priority: 9,
            ..scheduled_job("", &m, t(5), t(10_000))
        }],
    )
    .await;
    assert_eq!(plain[0].priority, 0);
    assert_eq!(high[0].priority, 5);
    assert_eq!(s.job_get(low[0].id).await.unwrap().priority, -1);

    let listed = queue_ids(&*s, "").await;
    let expected: Vec<JobId> = [&future, &high, &plain, &low]
        .into_iter()
        .flat_map(|jobs| ids(jobs))
        .collect();
    assert_eq!(listed, expected, "listed by priority, then queue order");

    let d = dispatcher(&*s).await;
    let first = claim(&*s, d, "", 3, t(100)).await;
    assert_eq!(ids(&first), [high[0].id, high[1].id, plain[0].id]);
    let rest = claim(&*s, d, "", 10, t(100)).await;
    assert_eq!(ids(&rest), [plain[1].id, low[0].id]);
    let due = claim(&*s, d, "", 10, t(10_000)).await;
    assert_eq!(ids(&due), ids(&future));
}

pub(crate) async fn priority_changes_while_pending_reorder_the_queue<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let jobs = put(&*s, (0..3).map(|i| with_priority(&m, 0, i)).collect()).await;
    let raised = s
        .job_update(JobUpdateParams {
            id: jobs[2].id,
            priority: Some(3),
            ..JobUpdateParams::default()
        })
        .await
        .unwrap();
    assert_eq!(raised.priority, 3);
    assert_eq!(raised.args, jobs[2].args, "the rest of the job unchanged");
    assert_eq!(
        queue_ids(&*s, "").await,
        [jobs[2].id, jobs[0].id, jobs[1].id]
    );
    let pulled = s
        .job_pull(JobPullParams {
            queue: String::new(),
            index: 0,
            now: t(50),
        })
        .await
        .unwrap();
    assert_eq!(pulled.id, jobs[2].id, "a pull takes the first in priority");
    let last = s
        .job_pull(JobPullParams {
            queue: String::new(),
            index: -1,
            now: t(50),
        })
        .await
        .unwrap();
    assert_eq!(last.id, jobs[1].id);
    let d = dispatcher(&*s).await;
    let claimed = claim(&*s, d, "", 10, t(100)).await;
    assert_eq!(ids(&claimed), [jobs[0].id]);
    assert_conflict(
        s.job_update(JobUpdateParams {
            id: jobs[0].id,
            priority: Some(1),
            ..JobUpdateParams::default()
        })
        .await,
        &["assigned"],
    );
}

pub(crate) async fn quota_claims_follow_priority<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.quota_create(QuotaCreateParams {
        queue: String::new(),
        name: "q".to_owned(),
        size: 1,
        partitioned: false,
        rate: None,
        now: t(0),
    })
    .await
    .unwrap();
    let in_quota = |priority, at| NewJob {
        quota_names: vec!["q".to_owned()],
        ..with_priority(&m, priority, at)
    };
    let jobs = put(
        &*s,
        vec![
            in_quota(0, 0),
            in_quota(2, 1),
            with_priority(&m, 1, 2),
            with_priority(&m, 0, 3),
        ],
    )
    .await;
    let d = dispatcher(&*s).await;
    let claimed = claim(&*s, d, "", 10, t(100)).await;
    assert_eq!(
        ids(&claimed),
        [jobs[1].id, jobs[2].id, jobs[3].id],
        "the quota's slot goes to its higher-priority job; the claim returns queue order"
    );
}

/// The walk over a queue with quotas reads its jobs a page at a time (a
/// claim of 2 reads 16); every page follows the queue order, so a job of a
/// higher priority that is due earlier than the last job of the first page
/// is still taken before a lower-priority one due later.
pub(crate) async fn quota_claims_follow_priority_past_the_first_page<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.quota_create(QuotaCreateParams {
        queue: String::new(),
        name: "q".to_owned(),
        size: 1,
        partitioned: false,
        rate: None,
        now: t(0),
    })
    .await
    .unwrap();
    // 20 jobs of priority 5 in a quota of size 1: the first page holds 16
    // of them, and 15 are passed over once the first takes the slot.
    let in_quota: Vec<NewJob> = (0..20)
        .map(|i| NewJob {
            quota_names: vec!["q".to_owned()],
            ..with_priority(&m, 5, 50 + i)
        })
        .collect();
    let first = put(&*s, in_quota).await;
    let earlier = put(&*s, vec![with_priority(&m, 1, 10)]).await;
    let later = put(&*s, vec![with_priority(&m, 0, 90)]).await;
    let d = dispatcher(&*s).await;
    let claimed = claim(&*s, d, "", 2, t(100)).await;
    assert_eq!(
        ids(&claimed),
        [first[0].id, earlier[0].id],
        "priority 1 (due at 10) before priority 0 (due at 90), on the second page"
    );
    let rest = claim(&*s, d, "", 2, t(100)).await;
    assert_eq!(ids(&rest), ids(&later), "the quota is full");
}

/// Linked jobs (callbacks, parts, held puts) keep the priority they are
/// inserted with, at put and when added later: the service gives a
/// callback or part the priority of the job it hangs on.
pub(crate) async fn linked_jobs_keep_their_priority<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let parent = with_priority(&m, 7, 0);
    let held = with_priority(&m, 7, 0);
    let (parent_id, held_id) = (parent.id, held.id);
    s.job_insert_linked(
        &[
            LinkedJob {
                job: parent,
                held: false,
                link: None,
            },
            LinkedJob {
                job: held,
                held: true,
                link: Some(JobLink::Callback {
                    of: parent_id,
                    on: CallbackOn::Always,
                }),
            },
        ],
        t(0),
    )
    .await
    .unwrap();
    assert_eq!(s.job_get(held_id).await.unwrap().priority, 7);
    let added = s
        .callback_add(CallbackAddParams {
            job: parent_id,
            callback: with_priority(&m, -2, 1),
            on: CallbackOn::Success,
            now: t(1),
        })
        .await
        .unwrap();
    assert_eq!(s.job_get(added).await.unwrap().priority, -2);
}
