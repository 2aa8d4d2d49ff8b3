//! Quotas: created, listed, resized, removed; and claims that honour them,
//! exactly as zc.async's configuration document lists it, however many
//! claimers run at once on however many stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{JobId, JobStatus, ModuleInfo, NewJob, RunOutcome};
use crate::store::{QuotaCreateParams, Store};

/// A plain job naming `quotas`.
fn quota_job(module: &ModuleInfo, quotas: &[&str], at: i64) -> NewJob {
    NewJob {
        quota_names: quotas.iter().map(|q| q.to_string()).collect(),
        ..new_job("", module, "mul", t(at))
    }
}

pub(super) async fn create(s: &dyn Store, queue: &str, name: &str, size: u32) {
    s.quota_create(QuotaCreateParams {
        queue: queue.to_owned(),
        name: name.to_owned(),
        size,
        partitioned: false,
        rate: None,
        now: t(0),
    })
    .await
    .expect("create quota");
}

async fn active(s: &dyn Store, name: &str) -> (Vec<JobId>, bool) {
    let quota = s.quota_get("", name).await.expect("quota");
    (quota.active, quota.filled)
}

pub(crate) async fn quotas_create_list_resize_delete<H: Harness>(h: H) {
    let s = h.store();
    assert!(s.quota_list("").await.unwrap().is_empty());
    let quota = s
        .quota_create(QuotaCreateParams {
            queue: String::new(),
            name: "testing".into(),
            size: 1,
            partitioned: false,
            rate: None,
            now: t(7),
        })
        .await
        .unwrap();
    assert_eq!(
        (
            quota.queue.as_str(),
            quota.name.as_str(),
            quota.size,
            quota.created_at
        ),
        ("", "testing", 1, t(7))
    );
    assert!(quota.active.is_empty() && !quota.filled);
    create(&*s, "", "content catalog", 2).await;
    create(&*s, "", "frobnitz account", 3).await;
    let names: Vec<(String, u32)> = s
        .quota_list("")
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.name, q.size))
        .collect();
    assert_eq!(
        names,
        [
            ("content catalog".to_owned(), 2),
            ("frobnitz account".to_owned(), 3),
            ("testing".to_owned(), 1)
        ]
    );
    assert_conflict(
        s.quota_create(QuotaCreateParams {
            queue: String::new(),
            name: "testing".into(),
            size: 5,
            partitioned: false,
            rate: None,
            now: t(8),
        })
        .await,
        &["quota `testing`", "already exists"],
    );
    assert_not_found(
        s.quota_create(QuotaCreateParams {
            queue: "nope".into(),
            name: "x".into(),
            size: 1,
            partitioned: false,
            rate: None,
            now: t(8),
        })
        .await,
        &["queue `nope`"],
    );
    assert_not_found(s.quota_list("nope").await, &["queue `nope`"]);
    assert_eq!(s.quota_set_size("", "testing", 4).await.unwrap().size, 4);
    assert_eq!(s.quota_get("", "testing").await.unwrap().size, 4);
    assert_not_found(s.quota_set_size("", "nope", 4).await, &["quota `nope`"]);
    s.quota_delete("", "testing").await.unwrap();
    assert_not_found(s.quota_get("", "testing").await, &["quota `testing`"]);
    assert_not_found(s.quota_delete("", "testing").await, &["quota `testing`"]);
    assert_eq!(s.quota_list("").await.unwrap().len(), 2);

    // A quota belongs to its queue, and goes with it.
    s.queue_create("video", t(0)).await.unwrap();
    create(&*s, "video", "testing", 1).await;
    assert_eq!(s.quota_list("video").await.unwrap().len(), 1);
    assert_not_found(s.quota_get("", "testing").await, &["quota `testing`"]);
    s.queue_delete("video").await.unwrap();
    s.queue_create("video", t(1)).await.unwrap();
    assert!(s.quota_list("video").await.unwrap().is_empty());
}

pub(crate) async fn quota_names_round_trip<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let jobs = put(
        &*s,
        vec![
            quota_job(&m, &["content catalog", "b"], 0),
            quota_job(&m, &[], 1),
        ],
    )
    .await;
    assert_eq!(jobs[0].quota_names, ["content catalog", "b"]);
    let back = s.job_get(jobs[0].id).await.unwrap();
    assert_eq!(back, jobs[0]);
    assert!(s.job_get(jobs[1].id).await.unwrap().quota_names.is_empty());
}

pub(crate) async fn a_full_quota_holds_its_jobs_back_but_not_others<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    create(&*s, "", "q", 1).await;
    let j = ids(&put(
        &*s,
        vec![
            quota_job(&m, &["q"], 0),
            quota_job(&m, &["q"], 1),
            quota_job(&m, &[], 2),
            quota_job(&m, &["q"], 3),
        ],
    )
    .await);
    let d = dispatcher(&*s).await;
    // One of q's jobs; the second is skipped, not blocking the plain one.
    assert_eq!(ids(&claim(&*s, d, "", 10, t(10)).await), [j[0], j[2]]);
    assert_eq!(active(&*s, "q").await, (vec![j[0]], true));
    assert!(claim(&*s, d, "", 10, t(11)).await.is_empty());
    // Started, the job still holds its slot; completed, it frees it.
    start_claimed(&*s, d, &[j[0]]).await;
    assert!(claim(&*s, d, "", 10, t(12)).await.is_empty());
    finish(&*s, d, j[0], RunOutcome::Value(json!(10)), t(13)).await;
    assert_eq!(active(&*s, "q").await, (vec![], false));
    assert_eq!(ids(&claim(&*s, d, "", 10, t(14)).await), [j[1]]);
    assert_eq!(queue_ids(&*s, "").await, [j[3]]);
}

pub(crate) async fn a_quota_of_two_fills_in_one_batch_and_no_further<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    create(&*s, "", "q", 2).await;
    let j = ids(&put(&*s, (0..6).map(|i| quota_job(&m, &["q"], i)).collect()).await);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(10)).await), j[..2]);
    assert_eq!(active(&*s, "q").await, (j[..2].to_vec(), true));
    assert!(claim(&*s, d, "", 10, t(10)).await.is_empty());
}

pub(crate) async fn a_job_naming_several_quotas_needs_room_in_each<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    create(&*s, "", "a", 1).await;
    create(&*s, "", "b", 2).await;
    let j = ids(&put(
        &*s,
        vec![
            quota_job(&m, &["a", "b"], 0),
            quota_job(&m, &["b"], 1),
            quota_job(&m, &["a"], 2),
            quota_job(&m, &["b"], 3),
        ],
    )
    .await);
    let d = dispatcher(&*s).await;
    // x takes a and b, y the last of b: z (a) and w (b) wait.
    assert_eq!(ids(&claim(&*s, d, "", 10, t(10)).await), [j[0], j[1]]);
    assert_eq!(active(&*s, "a").await, (vec![j[0]], true));
    assert_eq!(active(&*s, "b").await, (vec![j[0], j[1]], true));
    start_claimed(&*s, d, &j[..2]).await;
    finish(&*s, d, j[0], RunOutcome::Value(json!(1)), t(11)).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(12)).await), [j[2], j[3]]);
    assert_eq!(active(&*s, "b").await, (vec![j[1], j[3]], true));
}

/// The configuration document's sequence: shrinking a full quota does not
/// touch its running jobs; claims wait until the count is below the new
/// size.
pub(crate) async fn shrinking_a_full_quota_leaves_running_jobs_alone<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    create(&*s, "", "content catalog", 2).await;
    let cc = ["content catalog"];
    let j = ids(&put(&*s, (0..3).map(|i| quota_job(&m, &cc, i)).collect()).await);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 1, t(10)).await), [j[0]]);
    assert_eq!(ids(&claim(&*s, d, "", 1, t(10)).await), [j[1]]);
    assert!(claim(&*s, d, "", 1, t(10)).await.is_empty());
    start_claimed(&*s, d, &j[..2]).await;
    assert_eq!(active(&*s, cc[0]).await, (j[..2].to_vec(), true));
    let shrunk = s.quota_set_size("", cc[0], 1).await.unwrap();
    assert_eq!(
        (shrunk.size, shrunk.active.len(), shrunk.filled),
        (1, 2, true)
    );
    for id in &j[..2] {
        assert_eq!(s.job_get(*id).await.unwrap().status, JobStatus::Active);
    }
    assert!(claim(&*s, d, "", 1, t(11)).await.is_empty());
    finish(&*s, d, j[0], RunOutcome::Value(json!(10)), t(12)).await;
    assert!(claim(&*s, d, "", 1, t(13)).await.is_empty());
    assert_eq!(active(&*s, cc[0]).await, (vec![j[1]], true));
    finish(&*s, d, j[1], RunOutcome::Value(json!(10)), t(14)).await;
    assert_eq!(ids(&claim(&*s, d, "", 1, t(15)).await), [j[2]]);
    assert_eq!(active(&*s, cc[0]).await, (vec![j[2]], true));
    start_claimed(&*s, d, &[j[2]]).await;
    finish(&*s, d, j[2], RunOutcome::Value(json!(10)), t(16)).await;
    assert!(claim(&*s, d, "", 1, t(17)).await.is_empty());
    assert_eq!(active(&*s, cc[0]).await, (vec![], false));
}

pub(crate) async fn a_removed_quota_is_ignored<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    create(&*s, "", "content catalog", 1).await;
    let j = ids(&put(
        &*s,
        (0..3)
            .map(|i| quota_job(&m, &["content catalog", "never defined"], i))
            .collect(),
    )
    .await);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 5, t(10)).await), [j[0]]);
    s.quota_delete("", "content catalog").await.unwrap();
    assert_eq!(ids(&claim(&*s, d, "", 5, t(11)).await), j[1..]);
    let job = s.job_get(j[1]).await.unwrap();
    assert_eq!(
        job.quota_names,
        ["content catalog", "never defined"],
        "names kept"
    );
}

/// Claimers on several stores (as separate processes or machines have)
/// claim, run and finish jobs of one quota at once: no committed state
/// ever shows more jobs holding it than its size, jobs without the quota
/// keep flowing, and every job runs once.
pub(crate) async fn concurrent_claimers_never_exceed_a_quota<H: Harness>(h: H) {
    const SIZE: u32 = 3;
    let stores = [h.store(), h.another().await, h.another().await];
    let s = stores[0].clone();
    let m = module(&*s, "m", None).await;
    create(&*s, "", "q", SIZE).await;
    let mut jobs: Vec<NewJob> = Vec::new();
    for i in 0..90 {
        jobs.push(quota_job(&m, if i % 3 == 2 { &[] } else { &["q"] }, i));
    }
    let put_ids = ids(&put(&*s, jobs).await);
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let store = stores[1].clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                let quota = store.quota_get("", "q").await.unwrap();
                assert!(
                    quota.active.len() <= SIZE as usize,
                    "{} jobs hold a quota of {SIZE}: {:?}",
                    quota.active.len(),
                    quota.active
                );
                peak = peak.max(quota.active.len());
                tokio::task::yield_now().await;
            }
            peak
        })
    };
    race_claimers(&stores, 6, 2, &put_ids, |store| async move {
        let held = store.quota_get("", "q").await.unwrap();
        assert!(held.active.len() <= SIZE as usize, "{:?}", held.active);
    })
    .await;
    done.store(true, Ordering::SeqCst);
    let peak = watcher.await.unwrap();
    assert!(peak <= SIZE as usize);
}
