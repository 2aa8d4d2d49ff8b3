//! One live process per dispatcher id: activation refuses an id
//! a live process holds and changes nothing; it takes over only an id
//! whose holder is dead, stopped or proven gone by the data-directory
//! lock, handing back its jobs in the same transaction; a ping of a
//! process whose id was taken over writes nothing and says so.

use super::Harness;
use super::kit::{
    activation, assert_conflict, claim, ids, module, process, put_n, queue_ids, run, t,
};
use crate::model::{DispatcherId, FailureKind, JobStatus, Process};
use crate::store::{
    DispatcherActivateParams, DispatcherPingParams, JobListParams, Ping, Store, Vacancy,
};

fn ping(id: DispatcherId, process: Process, now: i64) -> DispatcherPingParams {
    DispatcherPingParams {
        id,
        process,
        now: t(now),
    }
}

/// `process` gone, as its data directory's next holder proves it.
fn proven(mut params: DispatcherActivateParams, gone: Process) -> DispatcherActivateParams {
    params.proven_gone = Some(gone);
    params
}

/// Everything about a dispatcher and its jobs that a refused activation
/// must leave as it was.
async fn snapshot(s: &dyn Store, id: DispatcherId) -> String {
    let mut jobs = Vec::new();
    for job in s
        .job_list(JobListParams {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("jobs")
    {
        let attempts = s.job_attempts(job.id).await.expect("attempts");
        jobs.push(format!("{job:?} {attempts:?}"));
    }
    format!(
        "{:?} {jobs:?}",
        s.dispatcher_get(id).await.expect("dispatcher")
    )
}

/// A dispatcher id held by a live process (pinged within the death
/// interval) is refused to any other process — another host, or another
/// pid on the same host — with a message naming the holder, and nothing
/// changes: not the dispatcher's row, not its running or claimed jobs,
/// not their attempts. A lock that proves some other process gone proves
/// nothing about this holder.
pub(crate) async fn a_live_holder_keeps_its_dispatcher_id<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let id = DispatcherId::new();
    let holder = process("host-a", 100);
    s.dispatcher_activate(activation(id, holder.clone(), t(0)))
        .await
        .expect("the first process activates");
    put_n(&*s, "", &m, 3).await;
    run(&*s, id, "", 1, t(1)).await;
    claim(&*s, id, "", 1, t(1)).await;
    assert_eq!(
        s.dispatcher_ping(ping(id, holder.clone(), 30_000))
            .await
            .unwrap(),
        Ping::Alive
    );
    let before = snapshot(&*s, id).await;

    let others = [
        process("host-b", 200),
        process("host-a", 101),
        process("host-b", 100),
    ];
    for other in others.clone() {
        assert_conflict(
            s.dispatcher_activate(activation(id, other, t(89_999)))
                .await,
            &[&id.to_string(), "pid 100 on host host-a", "live process"],
        );
    }
    assert_conflict(
        s.dispatcher_activate(proven(
            activation(id, others[1].clone(), t(40_000)),
            process("host-a", 99),
        ))
        .await,
        &["pid 100 on host host-a"],
    );
    assert_eq!(snapshot(&*s, id).await, before, "nothing changed");
    assert_eq!(
        s.dispatcher_ping(ping(id, holder, 40_000)).await.unwrap(),
        Ping::Alive,
        "the holder keeps working"
    );
}

/// An id whose holder has not pinged for longer than the death interval
/// is taken over, and only then are its jobs handed back: claimed ones
/// released, running ones interrupted (naming both processes) and back in
/// the queue. The old holder's next ping writes nothing and says who holds
/// the id now.
pub(crate) async fn a_dead_holders_id_is_taken_over_with_its_jobs<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let id = DispatcherId::new();
    let (old, new) = (process("host-a", 100), process("host-b", 200));
    s.dispatcher_activate(activation(id, old.clone(), t(0)))
        .await
        .unwrap();
    put_n(&*s, "", &m, 2).await;
    let running = run(&*s, id, "", 1, t(1)).await;
    let claimed = ids(&claim(&*s, id, "", 1, t(1)).await);

    // Exactly the death interval since its last ping: still alive.
    assert_conflict(
        s.dispatcher_activate(activation(id, new.clone(), t(60_000)))
            .await,
        &["pid 100 on host host-a"],
    );
    let taken = s
        .dispatcher_activate(activation(id, new.clone(), t(60_001)))
        .await
        .expect("a dead holder's id is taken over");
    let takeover = taken.takeover.expect("taken over");
    assert_eq!(takeover.previous, old);
    assert_eq!(takeover.vacancy, Vacancy::Dead { last_ping_at: t(0) });
    assert_eq!(taken.handed_back.retried, running);
    assert_eq!(taken.handed_back.released, claimed);
    assert_eq!(
        (taken.info.pid, taken.info.hostname.as_str()),
        (200, "host-b")
    );
    let attempts = s.job_attempts(running[0]).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].failure.kind, FailureKind::Interrupted);
    let message = &attempts[0].failure.message;
    assert!(
        message.contains("taken over by pid 200 on host host-b")
            && message.contains("pid 100 on host host-a"),
        "{message}"
    );
    let mut pending = queue_ids(&*s, "").await;
    pending.sort();
    let mut all = [running.clone(), claimed].concat();
    all.sort();
    assert_eq!(pending, all, "both jobs are back in the queue");

    let after = s.dispatcher_get(id).await.unwrap();
    assert_eq!(
        s.dispatcher_ping(ping(id, old, 61_000)).await.unwrap(),
        Ping::TakenOver { by: new.clone() }
    );
    assert_eq!(
        s.dispatcher_get(id).await.unwrap(),
        after,
        "nothing written"
    );
    assert_eq!(
        s.dispatcher_ping(ping(id, new, 61_000)).await.unwrap(),
        Ping::Alive
    );
}

/// The data-directory lock proves its previous holder gone: an id that
/// process still holds is taken over at once, long before the death
/// interval, and its running job handed back; the same process starting
/// its dispatcher again takes its own id back; a stopped holder's id is
/// free.
pub(crate) async fn a_proven_gone_stopped_or_same_holder_gives_the_id_up<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let id = DispatcherId::new();
    let killed = process("host-a", 100);
    let restarted = process("host-a", 101);
    s.dispatcher_activate(activation(id, killed.clone(), t(0)))
        .await
        .unwrap();
    put_n(&*s, "", &m, 1).await;
    let running = run(&*s, id, "", 1, t(1)).await;

    let taken = s
        .dispatcher_activate(proven(activation(id, restarted.clone(), t(2_000)), killed))
        .await
        .expect("the lock proves the holder gone");
    assert_eq!(taken.takeover.map(|t| t.vacancy), Some(Vacancy::ProvenGone));
    assert_eq!(taken.handed_back.retried, running);
    let attempts = s.job_attempts(running[0]).await.unwrap();
    assert!(
        attempts[0]
            .failure
            .message
            .contains("ended without stopping"),
        "{attempts:?}"
    );

    let rerun = run(&*s, id, "", 1, t(3_000)).await;
    let again = s
        .dispatcher_activate(activation(id, restarted.clone(), t(4_000)))
        .await
        .expect("the same process takes its own id back");
    assert_eq!(
        again.takeover.map(|t| t.vacancy),
        Some(Vacancy::SameProcess)
    );
    assert_eq!(again.handed_back.retried, rerun);

    s.dispatcher_deactivate(id, t(5_000)).await.unwrap();
    let stopped = s
        .dispatcher_activate(activation(id, process("host-c", 300), t(6_000)))
        .await
        .expect("a stopped holder's id is free");
    assert_eq!(stopped.takeover.map(|t| t.vacancy), Some(Vacancy::Stopped));
    assert!(stopped.handed_back.is_empty());
    let job = s.job_get(running[0]).await.unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Pending, 2));
}

/// Two processes (two stores) activate one new id at the same moment:
/// exactly one gets it, the other is refused, naming the winner.
pub(crate) async fn two_processes_activating_one_new_id_at_once_one_wins<H: Harness>(h: H) {
    let (one, two) = (h.store(), h.another().await);
    for round in 0..5 {
        let id = DispatcherId::new();
        let (p1, p2) = (
            process("host-a", 100 + round),
            process("host-b", 200 + round),
        );
        let (r1, r2) = tokio::join!(
            one.dispatcher_activate(activation(id, p1.clone(), t(0))),
            two.dispatcher_activate(activation(id, p2.clone(), t(0))),
        );
        let winner = match (r1, r2) {
            (Ok(_), refused @ Err(_)) => {
                assert_conflict(refused, &[&p1.to_string()]);
                p1
            }
            (refused @ Err(_), Ok(_)) => {
                assert_conflict(refused, &[&p2.to_string()]);
                p2
            }
            other => panic!("exactly one must win: {other:?}"),
        };
        assert_eq!(one.dispatcher_get(id).await.unwrap().process(), winner);
    }
}
