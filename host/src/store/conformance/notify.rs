//! Notifications ([`Store::listen`]): what another store (another process,
//! another machine) writes is announced to a listener, once committed and
//! only if committed. A backend without notifications returns no listener.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{AgentSpec, JobId, RunOutcome};
use crate::store::{
    JobCancelParams, JobDetachParams, JobPutBackParams, Store, StoreEvent, StoreListener,
};

/// How long an announcement may take to arrive.
const DEADLINE: Duration = Duration::from_secs(10);

/// The next event, within [`DEADLINE`].
async fn next(listener: &mut Box<dyn StoreListener>) -> StoreEvent {
    tokio::time::timeout(DEADLINE, listener.recv())
        .await
        .expect("an announcement within the deadline")
        .expect("the listener's connection holds")
}

/// A listener on `store`, or `None` (after checking the backend has none)
/// when `H` has no notifications.
async fn listener<H: Harness>(store: &dyn Store) -> Option<Box<dyn StoreListener>> {
    let listener = store.listen().await.expect("listen");
    assert_eq!(
        listener.is_some(),
        H::NOTIFIES,
        "{} listener",
        store.backend()
    );
    listener
}

fn put_in(queues: &[&str]) -> StoreEvent {
    StoreEvent::JobsPut {
        queues: queues.iter().map(|q| q.to_string()).collect(),
    }
}

pub(crate) async fn puts_are_announced_on_commit<H: Harness>(h: H) {
    let s = h.store();
    let Some(mut heard) = listener::<H>(&*s).await else {
        return;
    };
    let other = h.another().await;
    other.queue_create("video", t(0)).await.unwrap();
    let m = module(&*other, "m", None).await;

    // One announcement per put, naming each queue once.
    let batch = vec![
        new_job("video", &m, "f", t(1)),
        new_job("", &m, "f", t(1)),
        new_job("video", &m, "f", t(1)),
    ];
    other.job_insert_many(&batch).await.unwrap();
    assert_eq!(next(&mut heard).await, put_in(&["", "video"]));

    // A put that fails (one job's queue is missing) announces nothing: the
    // next announcement is the put after it.
    let failed = other
        .job_insert_many(&[
            new_job("video", &m, "f", t(2)),
            new_job("nope", &m, "f", t(2)),
        ])
        .await;
    assert_not_found(failed, &["queue `nope`"]);
    let id = put(&*other, vec![new_job("video", &m, "f", t(3))]).await[0].id;
    assert_eq!(next(&mut heard).await, put_in(&["video"]));

    // Taking a job out is not announced; putting it back is, in its new
    // queue.
    other
        .job_detach(JobDetachParams {
            id,
            queue: None,
            now: t(4),
        })
        .await
        .unwrap();
    other
        .job_put_back(JobPutBackParams {
            id,
            queue: String::new(),
            now: t(5),
        })
        .await
        .unwrap();
    assert_eq!(next(&mut heard).await, put_in(&[""]));

    // Every listener hears every store, its own included.
    let mut also = other.listen().await.unwrap().expect("a listener");
    put(&*s, vec![new_job("video", &m, "f", t(6))]).await;
    assert_eq!(next(&mut heard).await, put_in(&["video"]));
    assert_eq!(next(&mut also).await, put_in(&["video"]));
}

/// A completion is announced when someone can use it: a client waits for
/// the job (`job_watch`), the job held quota slots, or it completed by
/// other means than its own run (a cancel: its guest may still run
/// somewhere). Nobody else needs to hear that a job's own run ended, and a
/// notifying commit takes PostgreSQL's database-wide notification lock.
pub(crate) async fn completions_are_announced_to_whoever_can_use_them<H: Harness>(h: H) {
    let s = h.store();
    let heard = listener::<H>(&*s).await;
    // Watching an unknown job is no error (the wait's read says it is
    // unknown), nor is it on a backend without announcements.
    s.job_watch(JobId::new()).await.unwrap();
    let Some(mut heard) = heard else {
        return;
    };
    let other = h.another().await;
    let m = module(&*other, "m", None).await;
    let j = put_n(&*other, "", &m, 320).await;
    assert_eq!(next(&mut heard).await, put_in(&[""]));
    // Clients of `s` wait for the first 201 (one of which, j[0], will
    // complete in cascade); nobody waits for the others.
    let watched = &j[..201];
    // They are pending: marked beside their rows, which a claim running
    // meanwhile must not find held, and nothing is announced.
    for &id in watched {
        s.job_watch(id).await.unwrap();
    }
    let d = dispatcher(&*other).await;
    assert_eq!(run(&*other, d, "", 320, t(1)).await, j);

    // Parking a job on another completes nothing: nothing is announced.
    let parked = finish(&*other, d, j[0], RunOutcome::Await(j[1]), t(2)).await;
    assert_eq!(parked.awaiting, [j[0]]);

    // A large batch is announced in as many events as the backend needs:
    // the watched jobs it completed, and the watched job that awaited one
    // of them, each once; not the others.
    let batch: Vec<_> = j[1..]
        .iter()
        .map(|&id| outcome(d, id, RunOutcome::Value(json!(id.to_string())), t(3)))
        .collect();
    let report = other.job_finish_many(&batch).await.unwrap();
    assert_eq!(report.completed.len(), 320);
    let mut announced = Vec::new();
    while announced.len() < watched.len() {
        match next(&mut heard).await {
            StoreEvent::JobsCompleted { ids } => announced.extend(ids),
            other => panic!("expected completions, got {other:?}"),
        }
    }
    let unique: HashSet<JobId> = announced.iter().copied().collect();
    assert_eq!(unique.len(), announced.len(), "each job announced once");
    assert_eq!(unique, watched.iter().copied().collect());

    // An outcome dropped as reassigned is not announced, nor is a watch of
    // a completed job anything: the next event is the next announced
    // completion, a job that held a quota's slot (another process may
    // claim into it), though nobody waits for it.
    s.job_watch(j[5]).await.unwrap();
    let dropped = finish(&*other, d, j[5], RunOutcome::Value(json!(0)), t(4)).await;
    assert_eq!(dropped.reassigned, [j[5]]);
    let mut quota_job = new_job("", &m, "f", t(4));
    quota_job.quota_names = vec!["one".into()];
    let quota_jobs = put(&*other, vec![new_job("", &m, "f", t(4)), quota_job]).await;
    assert_eq!(next(&mut heard).await, put_in(&[""]));
    let ran = run(&*other, d, "", 2, t(5)).await;
    assert_eq!(ran, ids(&quota_jobs));
    let batch: Vec<_> = ran
        .iter()
        .map(|&id| outcome(d, id, RunOutcome::Value(json!("done")), t(6)))
        .collect();
    other.job_finish_many(&batch).await.unwrap();
    assert_eq!(
        next(&mut heard).await,
        StoreEvent::JobsCompleted { ids: vec![ran[1]] }
    );

    // A cancel is announced, watched or not: the job's guest may run in
    // another process, which stops it on hearing of it.
    let cancelled = put_n(&*other, "", &m, 1).await[0];
    assert_eq!(next(&mut heard).await, put_in(&[""]));
    run(&*other, d, "", 1, t(7)).await;
    other
        .job_cancel(JobCancelParams {
            id: cancelled,
            now: t(8),
        })
        .await
        .unwrap();
    assert_eq!(
        next(&mut heard).await,
        StoreEvent::JobsCompleted {
            ids: vec![cancelled]
        }
    );
}

pub(crate) async fn agent_changes_are_announced<H: Harness>(h: H) {
    let s = h.store();
    let Some(mut heard) = listener::<H>(&*s).await else {
        return;
    };
    let other = h.another().await;
    other.queue_create("q", t(0)).await.unwrap();
    let d1 = dispatcher(&*other).await;
    let d2 = dispatcher(&*other).await;
    let changed = |dispatcher| StoreEvent::AgentsChanged { dispatcher };

    other
        .agent_upsert(d1, AgentSpec::new("q", "a"))
        .await
        .unwrap();
    assert_eq!(next(&mut heard).await, changed(d1));
    let mut bigger = AgentSpec::new("q", "a");
    bigger.size = 5;
    other.agent_upsert(d1, bigger).await.unwrap();
    assert_eq!(next(&mut heard).await, changed(d1));

    // Failed changes announce nothing.
    assert_not_found(
        other.agent_upsert(d2, AgentSpec::new("nope", "x")).await,
        &["queue `nope`"],
    );
    assert_not_found(other.agent_delete(d2, "", "x").await, &["agent `x`"]);
    other
        .agent_upsert(d2, AgentSpec::new("", "main"))
        .await
        .unwrap();
    assert_eq!(next(&mut heard).await, changed(d2));
    other.agent_delete(d2, "", "main").await.unwrap();
    assert_eq!(next(&mut heard).await, changed(d2));

    // Deleting a queue deletes its agents: each dispatcher that had one
    // there hears of it.
    other
        .agent_upsert(d2, AgentSpec::new("q", "b"))
        .await
        .unwrap();
    assert_eq!(next(&mut heard).await, changed(d2));
    other.queue_delete("q").await.unwrap();
    let both: HashSet<_> = [next(&mut heard).await, next(&mut heard).await]
        .into_iter()
        .map(|e| format!("{e:?}"))
        .collect();
    let expected: HashSet<_> = [changed(d1), changed(d2)]
        .into_iter()
        .map(|e| format!("{e:?}"))
        .collect();
    assert_eq!(both, expected);
    assert!(other.agent_list(None).await.unwrap().is_empty());
}
