//! Partitioned quotas (issue 18 §3): a quota's size applied to each key
//! separately, claims that skip full keys and take the others in queue
//! order, exactly however many stores claim at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{ModuleInfo, NewJob, Quota, RunOutcome, stored_quota_names};
use crate::store::{QuotaCreateParams, Store};

/// Creates a partitioned quota of the default queue.
pub(super) async fn create_partitioned(s: &dyn Store, name: &str, size: u32) -> Quota {
    s.quota_create(QuotaCreateParams {
        queue: String::new(),
        name: name.to_owned(),
        size,
        partitioned: true,
        rate: None,
        now: t(0),
    })
    .await
    .expect("create partitioned quota")
}

/// A job of the default queue with `key` in partitioned quota `quota`
/// and the plain quotas `names`.
pub(super) fn keyed_job(
    module: &ModuleInfo,
    quota: &str,
    key: &str,
    names: &[&str],
    at: i64,
) -> NewJob {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let keys = BTreeMap::from([(quota.to_owned(), key.to_owned())]);
    NewJob {
        quota_names: stored_quota_names(&names, &keys),
        ..new_job("", module, "mul", t(at))
    }
}

/// Each key's (running, pending) as the quota shows them.
async fn keys(s: &dyn Store, quota: &str) -> HashMap<String, (u64, u64)> {
    s.quota_get("", quota)
        .await
        .expect("quota")
        .keys
        .into_iter()
        .map(|k| (k.key, (k.running, k.pending)))
        .collect()
}

pub(crate) async fn a_jobs_key_is_stored_apart_from_its_quota_names<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let quota = create_partitioned(&*s, "tenants", 2).await;
    assert!(quota.partitioned && quota.keys.is_empty() && !quota.filled);
    let job = put(&*s, vec![keyed_job(&m, "tenants", "acme", &["b"], 0)])
        .await
        .remove(0);
    assert_eq!(job.quota_names, ["b"]);
    assert_eq!(
        job.quota_keys,
        BTreeMap::from([("tenants".into(), "acme".into())])
    );
    assert_eq!(s.job_get(job.id).await.unwrap(), job);
    assert_eq!(keys(&*s, "tenants").await["acme"], (0, 1));
    assert!(s.quota_list("").await.unwrap()[0].partitioned);
}

/// Size 2 per key: two jobs of each key run at once, whatever the other
/// keys hold; jobs without a key are not held back, and the queue order
/// (priority first) holds across keys.
pub(crate) async fn a_partitioned_quota_holds_each_key_to_its_size<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    create_partitioned(&*s, "tenants", 2).await;
    let mut jobs = Vec::new();
    for i in 0..4 {
        jobs.push(keyed_job(&m, "tenants", "a", &[], i));
    }
    for i in 4..7 {
        jobs.push(keyed_job(&m, "tenants", "b", &[], i));
    }
    jobs.push(new_job("", &m, "mul", t(7)));
    jobs.push(NewJob {
        priority: 5,
        ..keyed_job(&m, "tenants", "c", &[], 8)
    });
    let j = ids(&put(&*s, jobs).await);
    let d = dispatcher(&*s).await;
    assert_eq!(
        ids(&claim(&*s, d, "", 3, t(10)).await),
        [j[8], j[0], j[1]],
        "the priority first, then a's two"
    );
    assert_eq!(
        ids(&claim(&*s, d, "", 10, t(10)).await),
        [j[4], j[5], j[7]],
        "a is full: b's two and the job without a key"
    );
    assert!(claim(&*s, d, "", 10, t(10)).await.is_empty());
    let held = keys(&*s, "tenants").await;
    assert_eq!((held["a"], held["b"], held["c"]), ((2, 2), (2, 1), (1, 0)));
    let quota = s.quota_get("", "tenants").await.unwrap();
    assert_eq!(quota.active.len(), 5);
    assert!(!quota.filled && quota.keys[0].filled && !quota.keys[2].filled);
    start_claimed(&*s, d, &[j[0]]).await;
    assert!(
        claim(&*s, d, "", 10, t(11)).await.is_empty(),
        "started holds"
    );
    finish(&*s, d, j[0], RunOutcome::Value(json!(1)), t(12)).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(13)).await), [j[2]]);
    assert_eq!(keys(&*s, "tenants").await["a"], (2, 1));
}

/// A job's key and its plain quotas must all have room.
pub(crate) async fn a_keyed_job_needs_room_in_its_plain_quotas_too<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    create_partitioned(&*s, "tenants", 2).await;
    super::quota::create(&*s, "", "serial", 1).await;
    let j = ids(&put(
        &*s,
        vec![
            keyed_job(&m, "tenants", "a", &["serial"], 0),
            keyed_job(&m, "tenants", "b", &["serial"], 1),
            keyed_job(&m, "tenants", "a", &[], 2),
            new_job("", &m, "mul", t(3)),
        ],
    )
    .await);
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(10)).await), [j[0], j[2], j[3]]);
    assert!(claim(&*s, d, "", 10, t(10)).await.is_empty(), "serial full");
    start_claimed(&*s, d, &[j[0]]).await;
    finish(&*s, d, j[0], RunOutcome::Value(json!(1)), t(11)).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(12)).await), [j[1]]);
}

/// A partitioned quota whose keys have jobs is not removed (they are found
/// through their keys); once they are done it is, and its keys with it.
pub(crate) async fn a_partitioned_quota_with_jobs_stays<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    create_partitioned(&*s, "tenants", 1).await;
    let j = ids(&put(&*s, vec![keyed_job(&m, "tenants", "a", &[], 0)]).await);
    assert_conflict(
        s.quota_delete("", "tenants").await,
        &["quota `tenants`", "1 keys"],
    );
    let d = dispatcher(&*s).await;
    assert_eq!(ids(&claim(&*s, d, "", 10, t(10)).await), j);
    assert_conflict(s.quota_delete("", "tenants").await, &["quota `tenants`"]);
    start_claimed(&*s, d, &j).await;
    finish(&*s, d, j[0], RunOutcome::Value(json!(1)), t(11)).await;
    s.quota_delete("", "tenants").await.unwrap();
    assert_not_found(s.quota_get("", "tenants").await, &["quota `tenants`"]);
    let quota = create_partitioned(&*s, "tenants", 1).await;
    assert!(quota.keys.is_empty(), "its keys went with it");
}

/// Claimers on several stores (as separate processes have) claim, run and
/// finish jobs of many keys at once: no committed state ever shows a key
/// holding more than its size, and every job runs once.
pub(crate) async fn concurrent_claimers_never_exceed_a_key<H: Harness>(h: H) {
    const SIZE: u64 = 2;
    let stores = [h.store(), h.another().await, h.another().await];
    let s = stores[0].clone();
    let m = module(&*s, "m", None).await;
    create_partitioned(&*s, "tenants", SIZE as u32).await;
    let jobs: Vec<NewJob> = (0..90)
        .map(|i| match i % 5 {
            4 => new_job("", &m, "mul", t(i)),
            k => keyed_job(&m, "tenants", &format!("k{k}"), &[], i),
        })
        .collect();
    let put_ids = ids(&put(&*s, jobs).await);
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let store = stores[1].clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                for (key, (running, _)) in keys(&*store, "tenants").await {
                    assert!(running <= SIZE, "key {key} holds {running} of {SIZE}");
                    peak = peak.max(running);
                }
                tokio::task::yield_now().await;
            }
            peak
        })
    };
    race_claimers(&stores, 6, 3, &put_ids, |_| async {}).await;
    done.store(true, Ordering::SeqCst);
    let peak = watcher.await.unwrap();
    assert!(peak <= SIZE);
    assert!(
        keys(&*s, "tenants").await.is_empty(),
        "every count back to 0"
    );
}

/// Stores (as separate processes have) write batches over the same keys
/// at once, half of them in key order and half in reverse: puts, claims,
/// starts and finishes each change their keys' counts. No batch fails
/// (PostgreSQL aborts one of two transactions that wait for each other's
/// rows with a deadlock, `40P01`), and every count ends back at 0.
pub(crate) async fn batches_over_the_same_keys_in_opposite_orders_do_not_deadlock<H: Harness>(
    h: H,
) {
    const KEYS: usize = 12;
    const ROUNDS: usize = 25;
    let stores = [h.store(), h.another().await];
    let s = stores[0].clone();
    let m = module(&*s, "m", None).await;
    create_partitioned(&*s, "tenants", 1_000).await;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let store = stores[w % 2].clone();
            let m = m.clone();
            tokio::spawn(async move {
                let d = dispatcher(&*store).await;
                let mut keys: Vec<String> = (0..KEYS).map(|k| format!("k{k:02}")).collect();
                if w % 2 == 1 {
                    keys.reverse();
                }
                let place = |job: &crate::model::Job| {
                    let key = &job.quota_keys["tenants"];
                    keys.iter()
                        .position(|k| k == key)
                        .expect("a key of the test")
                };
                for round in 0..ROUNDS {
                    let jobs: Vec<NewJob> = keys
                        .iter()
                        .flat_map(|k| [k, k])
                        .map(|k| keyed_job(&m, "tenants", k, &[], round as i64))
                        .collect();
                    store.job_insert_many(&jobs).await.expect("put");
                    let mut claimed = claim(&*store, d, "", KEYS as u32, t(1_000)).await;
                    claimed.sort_by_key(|j| place(j));
                    let claimed = ids(&claimed);
                    start_claimed(&*store, d, &claimed).await;
                    let finishes: Vec<_> = claimed
                        .iter()
                        .map(|id| outcome(d, *id, RunOutcome::Value(json!(1)), t(2_000)))
                        .collect();
                    store.job_finish_many(&finishes).await.expect("finish");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let d = dispatcher(&*s).await;
    loop {
        let left = run(&*s, d, "", 100, t(3_000)).await;
        if left.is_empty() {
            break;
        }
        for id in left {
            finish(&*s, d, id, RunOutcome::Value(json!(1)), t(3_000)).await;
        }
    }
    assert!(
        keys(&*s, "tenants").await.is_empty(),
        "every count back to 0"
    );
}
