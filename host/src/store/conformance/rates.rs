//! Rate limits (issue 18 §4): at most N starts per fixed window, on a
//! queue or on each key of a partitioned quota; jobs over the rate stay
//! pending and are claimed once a window opens, exactly across stores.
//! Times are the harness's (`now` is passed to every call).

use std::sync::Arc;

use super::Harness;
use super::kit::*;
use super::partitions::keyed_job;
use crate::model::{JobStatus, Rate};
use crate::store::{JobNextDueParams, QuotaCreateParams, Store};

fn rate(limit: u32, period_ms: u64) -> Rate {
    Rate { limit, period_ms }
}

async fn next_due(s: &dyn Store, queue: &str, now: i64) -> Option<crate::model::Timestamp> {
    s.job_next_due(JobNextDueParams {
        queues: vec![queue.to_owned()],
        now: t(now),
    })
    .await
    .expect("next due")
    .begin_after
}

/// Two starts per second: the third job waits, pending, for the next
/// window; the queue shows the window and the jobs waiting on it; the
/// dispatcher's next wake-up is the window's end.
pub(crate) async fn a_queue_rate_holds_starts_to_its_window<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let queue = s.queue_rate_set("", Some(rate(2, 1_000))).await.unwrap();
    assert_eq!(queue.rate_stored.map(|r| r.0), Some(rate(2, 1_000)));
    let j = ids(&put(&*s, (0..5).map(|i| new_job("", &m, "mul", t(i))).collect()).await);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(100)).await), j[..2]);
    assert!(claim(&*s, d, "", 10, t(200)).await.is_empty());
    assert_eq!(s.job_get(j[2]).await.unwrap().status, JobStatus::Pending);
    let status = s.queue_get("").await.unwrap().at(t(300)).rate.unwrap();
    assert_eq!((status.starts, status.waiting), (2, 3));
    assert_eq!((status.window_start, status.window_end), (t(0), t(1_000)));
    assert_eq!(
        next_due(&*s, "", 300).await,
        Some(t(1_000)),
        "wakes when it opens"
    );
    assert_eq!(ids(&claim(&*s, d, "", 1, t(1_000)).await), [j[2]]);
    assert_eq!(ids(&claim(&*s, d, "", 10, t(1_001)).await), [j[3]]);
    assert!(claim(&*s, d, "", 10, t(1_999)).await.is_empty());
    let status = s.queue_get("").await.unwrap().at(t(2_500)).rate.unwrap();
    assert_eq!((status.starts, status.waiting), (0, 0), "a new window");
    // Cleared, the queue is claimed without one.
    let queue = s.queue_rate_set("", None).await.unwrap();
    assert!(queue.rate_stored.is_none());
    assert_eq!(ids(&claim(&*s, d, "", 10, t(1_999)).await), [j[4]]);
    assert_not_found(s.queue_rate_set("nope", None).await, &["queue `nope`"]);
}

/// A partitioned quota's rate applies to each key: one start per key per
/// window, whatever the others do.
pub(crate) async fn a_keys_rate_is_its_own<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let quota = s
        .quota_create(QuotaCreateParams {
            queue: String::new(),
            name: "tenants".into(),
            size: 10,
            partitioned: true,
            rate: Some(rate(1, 1_000)),
            now: t(0),
        })
        .await
        .unwrap();
    assert_eq!(quota.rate, Some(rate(1, 1_000)));
    let mut jobs = Vec::new();
    for i in 0..3 {
        jobs.push(keyed_job(&m, "tenants", "a", &[], i));
        jobs.push(keyed_job(&m, "tenants", "b", &[], i));
    }
    let j = ids(&put(&*s, jobs).await);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(100)).await), [j[0], j[1]]);
    assert!(claim(&*s, d, "", 10, t(500)).await.is_empty());
    let quota = s.quota_get("", "tenants").await.unwrap().at(t(500));
    let a = quota.keys[0].rate.clone().unwrap();
    assert_eq!((a.starts, a.waiting, a.window_end), (1, 2, t(1_000)));
    assert_eq!(next_due(&*s, "", 500).await, Some(t(1_000)));
    assert_eq!(ids(&claim(&*s, d, "", 10, t(1_000)).await), [j[2], j[3]]);
}

/// Claimers on several stores claim one rate-limited queue at the same
/// moment: exactly `limit` jobs start in the window, never more.
pub(crate) async fn concurrent_claimers_keep_a_rate<H: Harness>(h: H) {
    let stores: [Arc<dyn Store>; 3] = [h.store(), h.another().await, h.another().await];
    let s = stores[0].clone();
    let m = module(&*s, "m", None).await;
    s.queue_rate_set("", Some(rate(5, 60_000))).await.unwrap();
    put(&*s, (0..40).map(|i| new_job("", &m, "mul", t(i))).collect()).await;
    for window in 0..2 {
        let now = 100 + window * 60_000;
        let claimers: Vec<_> = (0..6)
            .map(|i| {
                let store = stores[i % 3].clone();
                tokio::spawn(async move {
                    let d = dispatcher(&*store).await;
                    let mut n = 0;
                    for _ in 0..3 {
                        n += claim(&*store, d, "", 2, t(now)).await.len();
                    }
                    n
                })
            })
            .collect();
        let mut claimed = 0;
        for c in claimers {
            claimed += c.await.unwrap();
        }
        assert_eq!(claimed, 5, "window {window}");
    }
}
