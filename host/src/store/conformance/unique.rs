//! Unique jobs: a put whose uniqueness key a job of its queue holds, in
//! one of the key's states, inserts nothing and is answered with that job;
//! the database decides, so two stores racing the same key insert one job.

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{
    JobLimits, JobName, JobSpec, JobStatus, ModuleInfo, NewJob, RetryPolicy, RunOutcome, UniqueKey,
    UniqueSpec,
};
use crate::store::{JobCancelParams, JobDetachParams, JobPutBackParams, JobUpdateParams};

/// A job of `queue` holding `key` in `states` (default: the model's).
fn unique_job(m: &ModuleInfo, queue: &str, key: &str, states: &[JobStatus]) -> NewJob {
    let spec = UniqueSpec {
        key: Some(key.to_owned()),
        states: states.to_vec(),
        period_ms: None,
    };
    let unique: UniqueKey = spec.resolve("m", "work", &json!([]), t(0)).unwrap();
    NewJob {
        unique: Some(unique),
        ..new_job(queue, m, "work", t(0))
    }
}

pub(crate) async fn unique_puts_insert_one_job_per_key_and_queue<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("other", t(0)).await.unwrap();
    let first = unique_job(&m, "", "k", &[]);
    let stored = put(&*s, vec![first.clone()]).await;
    assert_eq!(stored[0].id, first.id, "the first put of a key inserts");

    // The same key again, in a batch with a plain job, a new key, the
    // same key in another queue and the new key twice over.
    let again = unique_job(&m, "", "k", &[]);
    let plain = new_job("", &m, "work", t(1));
    let fresh = unique_job(&m, "", "k2", &[]);
    let elsewhere = unique_job(&m, "other", "k", &[]);
    let fresh_again = unique_job(&m, "", "k2", &[]);
    let batch = vec![
        again.clone(),
        plain.clone(),
        fresh.clone(),
        elsewhere.clone(),
        fresh_again.clone(),
    ];
    let answers = put(&*s, batch).await;
    assert_eq!(
        ids(&answers),
        [first.id, plain.id, fresh.id, elsewhere.id, fresh.id],
        "a held key answers with its holder; keys are per queue"
    );
    assert_eq!(answers[0].status, JobStatus::Pending);
    assert_eq!(
        queue_ids(&*s, "").await,
        [first.id, fresh.id, plain.id],
        "nothing inserted for the duplicates (the plain job is due at t(1))"
    );
    for duplicate in [again.id, fresh_again.id] {
        assert!(
            s.job_get(duplicate).await.is_err(),
            "{duplicate} not stored"
        );
    }
}

/// Explicit keys are stored as themselves: the longest key, one with a
/// NUL (which PostgreSQL's text cannot hold: stored hashed), Unicode, and
/// keys that differ only past a shared prefix each block only their own
/// duplicate.
pub(crate) async fn keys_at_their_limits_block_only_their_duplicates<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let longest = "é".repeat(crate::model::UNIQUE_KEY_MAX_LEN / 2);
    let keys = [longest.as_str(), "a\0b", "a\0c", "ключ", "k:1", "k:10", "x"];
    let firsts: Vec<NewJob> = keys.iter().map(|k| unique_job(&m, "", k, &[])).collect();
    let first_ids: Vec<_> = firsts.iter().map(|j| j.id).collect();
    let stored = put(&*s, firsts).await;
    assert_eq!(ids(&stored), first_ids, "every key is a key of its own");
    let again: Vec<NewJob> = keys.iter().map(|k| unique_job(&m, "", k, &[])).collect();
    let answers = put(&*s, again).await;
    assert_eq!(ids(&answers), first_ids, "each duplicate meets its holder");
}

/// A job put past its deadline is inserted `completed`: outside the
/// default states of its key, so it does not meet the key's holder and is
/// inserted, in a batch with keyed jobs that do meet theirs; with
/// `completed` among its states, it meets the holder like any other.
pub(crate) async fn a_job_expired_at_put_meets_the_holder_only_if_completed_is_a_state<
    H: Harness,
>(
    h: H,
) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let holder = unique_job(&m, "", "k", &[]);
    put(&*s, vec![holder.clone()]).await;
    let expired = NewJob {
        expired: true,
        ..unique_job(&m, "", "k", &[])
    };
    let duplicate = unique_job(&m, "", "k", &[]);
    let answers = put(&*s, vec![expired.clone(), duplicate]).await;
    assert_eq!(ids(&answers), [expired.id, holder.id]);
    assert_eq!(answers[0].status, JobStatus::Completed);
    // Every state up to `completed` (a key's states must not skip one).
    let through_completed: Vec<JobStatus> = JobStatus::ALL
        .into_iter()
        .filter(|s| *s != JobStatus::Cancelled)
        .collect();
    let counted = NewJob {
        expired: true,
        ..unique_job(&m, "", "k", &through_completed)
    };
    let answers = put(&*s, vec![counted]).await;
    assert_eq!(ids(&answers), [holder.id], "the holder meets it");
}

pub(crate) async fn a_unique_key_stops_blocking_once_its_job_leaves_its_states<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let d = dispatcher(&*s).await;
    // Default states: held while pending, assigned, active; free once
    // completed.
    let first = put(&*s, vec![unique_job(&m, "", "k", &[])]).await[0].clone();
    let started = run(&*s, d, "", 1, t(10)).await;
    assert_eq!(started, [first.id]);
    let while_active = put(&*s, vec![unique_job(&m, "", "k", &[])]).await;
    assert_eq!(while_active[0].id, first.id, "held while active");
    finish(&*s, d, first.id, RunOutcome::Value(json!(1)), t(20)).await;
    let after = unique_job(&m, "", "k", &[]);
    let stored = put(&*s, vec![after.clone()]).await;
    assert_eq!(stored[0].id, after.id, "free once completed");

    // Cancelled: free again (the default states end before it).
    s.job_cancel(JobCancelParams {
        id: after.id,
        now: t(30),
    })
    .await
    .unwrap();
    let third = unique_job(&m, "", "k", &[]);
    assert_eq!(put(&*s, vec![third.clone()]).await[0].id, third.id);

    // A key held in every state blocks even after completion.
    use JobStatus::*;
    let all = [
        New, Pending, Assigned, Active, Callbacks, Completed, Cancelled,
    ];
    let forever = put(&*s, vec![unique_job(&m, "", "once", &all)]).await[0].clone();
    s.job_cancel(JobCancelParams {
        id: forever.id,
        now: t(40),
    })
    .await
    .unwrap();
    let later = put(&*s, vec![unique_job(&m, "", "once", &all)]).await;
    assert_eq!(later[0].id, forever.id, "held while cancelled too");
    assert_eq!(later[0].status, JobStatus::Cancelled);
}

pub(crate) async fn a_job_put_back_over_its_held_key_is_a_conflict<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    use JobStatus::*;
    // Not held while `new` (pulled out of its queue).
    let states = [Pending, Assigned, Active];
    let first = put(&*s, vec![unique_job(&m, "", "k", &states)]).await[0].clone();
    s.job_detach(JobDetachParams {
        id: first.id,
        queue: None,
        now: t(1),
    })
    .await
    .unwrap();
    let second = unique_job(&m, "", "k", &states);
    assert_eq!(put(&*s, vec![second.clone()]).await[0].id, second.id);
    assert_conflict(
        s.job_put_back(JobPutBackParams {
            id: first.id,
            queue: String::new(),
            now: t(2),
        })
        .await,
        &["uniqueness key"],
    );
    assert_eq!(s.job_get(first.id).await.unwrap().status, New);
}

pub(crate) async fn two_stores_racing_the_same_key_insert_one_job<H: Harness>(h: H) {
    let (a, b) = (h.store(), h.another().await);
    let m = module(&*a, "m", None).await;
    for round in 0..5 {
        let key = format!("race-{round}");
        let puts: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let job = unique_job(&m, "", &key, &[]);
                tokio::spawn(async move { store.job_insert_many(&[job]).await })
            })
            .collect();
        let mut winners = std::collections::HashSet::new();
        for answer in puts {
            let jobs = answer.await.unwrap().expect("every racer is answered");
            winners.insert(jobs[0].id);
        }
        assert_eq!(winners.len(), 1, "round {round}: one job for the key");
    }
    assert_eq!(queue_ids(&*a, "").await.len(), 5, "one job per key");
}

pub(crate) async fn named_jobs_keep_their_policy<H: Harness>(h: H) {
    let s = h.store();
    let policy = JobSpec {
        queue: Some(String::new()),
        retry: Some(RetryPolicy::from_json(&json!({"max_attempts": 7})).unwrap()),
        limits: JobLimits {
            fuel: Some(1_000),
            ..JobLimits::default()
        },
        priority: -3,
        unique: Some(UniqueSpec {
            key: None,
            states: vec![JobStatus::Pending, JobStatus::Assigned, JobStatus::Active],
            period_ms: Some(60_000),
        }),
        quota_keys: [("tenants".to_owned(), "acme".to_owned())].into(),
        ..JobSpec::new("hello", "echo", json!([1]))
    };
    let named = JobName {
        name: "digest".to_owned(),
        job: policy.clone(),
        created_at: t(1),
        updated_at: t(1),
    };
    assert_eq!(s.job_name_set(&named).await.unwrap(), named);
    assert_eq!(s.job_name_get("digest").await.unwrap().job, policy);
    // Replaced without a policy: none is kept.
    let plain = JobName {
        job: JobSpec {
            queue: Some(String::new()),
            ..JobSpec::new("hello", "echo", json!([1]))
        },
        updated_at: t(2),
        ..named.clone()
    };
    let stored = s.job_name_set(&plain).await.unwrap();
    assert_eq!(stored.job, plain.job);
    assert_eq!(s.job_name_list().await.unwrap()[0].job, plain.job);
}

/// A job of the default queue whose key is derived from `args` (put at
/// `t(1_500)` with a period of a second, so the bucket counts).
fn derived_job(m: &ModuleInfo, args: serde_json::Value) -> NewJob {
    let spec = UniqueSpec {
        period_ms: Some(1_000),
        ..UniqueSpec::default()
    };
    let reference = m.name.clone().unwrap_or_else(|| m.digest.to_string());
    let unique = spec.resolve(&reference, "work", &args, t(1_500)).unwrap();
    NewJob {
        args,
        unique: Some(unique),
        ..new_job("", m, "work", t(1_500))
    }
}

fn new_args(id: crate::model::JobId, args: serde_json::Value) -> JobUpdateParams {
    JobUpdateParams {
        id,
        args: Some(args),
        ..JobUpdateParams::default()
    }
}

pub(crate) async fn a_change_of_args_derives_the_key_again_and_a_held_one_is_refused<H: Harness>(
    h: H,
) {
    let s = h.store();
    let m = module(&*s, "m", Some("m")).await;
    let a = put(&*s, vec![derived_job(&m, json!([1]))]).await[0].clone();
    let b = put(&*s, vec![derived_job(&m, json!([2]))]).await[0].clone();
    let explicit = put(&*s, vec![unique_job(&m, "", "k", &[])]).await[0].clone();

    // A's key follows its new arguments: a put of them answers with A, and
    // its old arguments' key is free.
    let changed = s.job_update(new_args(a.id, json!([3]))).await.unwrap();
    assert_eq!(changed.args, json!([3]));
    let same = put(&*s, vec![derived_job(&m, json!([3]))]).await;
    assert_eq!(same[0].id, a.id, "the key derived from [3] is A's");
    let old = derived_job(&m, json!([1]));
    assert_eq!(
        put(&*s, vec![old.clone()]).await[0].id,
        old.id,
        "[1] is free"
    );

    // B taking A's arguments would hold A's key: refused, naming A, and B
    // unchanged.
    match s.job_update(new_args(b.id, json!([3]))).await {
        Err(crate::store::Error::UniqueKeyHeld { job, holder }) => {
            assert_eq!((job, holder), (b.id, a.id));
        }
        other => panic!("expected the key held by {}, got {other:?}", a.id),
    }
    assert_eq!(s.job_get(b.id).await.unwrap().args, json!([2]));
    let b_again = put(&*s, vec![derived_job(&m, json!([2]))]).await;
    assert_eq!(b_again[0].id, b.id, "B keeps its key");

    // Once A has left its states, its key is free for B.
    s.job_cancel(JobCancelParams {
        id: a.id,
        now: t(2_000),
    })
    .await
    .unwrap();
    let moved = s.job_update(new_args(b.id, json!([3]))).await.unwrap();
    assert_eq!(moved.args, json!([3]));

    // An explicit key is not derived from the arguments: it stays.
    s.job_update(new_args(explicit.id, json!([9])))
        .await
        .unwrap();
    let held = put(&*s, vec![unique_job(&m, "", "k", &[])]).await;
    assert_eq!(held[0].id, explicit.id, "the explicit key is still held");
}
