//! No forgotten claims: the jobs this dispatcher holds in memory, and the
//! self-check that hands back the jobs the store says it holds but it does
//! not.
//!
//! A job the store assigned to this dispatcher is claimed but not yet
//! started, running, or waiting for its outcome to be written: held, from
//! the claim until the store has its outcome (or its retry, or its
//! release). A write that fails while the database fails can leave the
//! store and the dispatcher disagreeing — a claim whose answer was lost
//! with its connection, a start that failed (its jobs stay `assigned`), a
//! start that committed though its answer never came. Nobody rescues a
//! live dispatcher's jobs, so the dispatcher checks itself: every ping
//! interval, at once after the database recovers, and soon after a start
//! failed, it reads the jobs the store says it holds (one range of the
//! in-flight index) and hands back, one by one and by state, those it does
//! not hold: a claimed one goes back to its queue, a started one is
//! interrupted (its retry policy decides). Claims wait while it checks, so
//! a job just claimed is never mistaken for a forgotten one. A dispatcher
//! whose id another process took over checks nothing: the jobs under the
//! id are that process's.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedRwLockReadGuard, RwLock, RwLockReadGuard};

use super::Shared;
use crate::model::JobId;
use crate::store::HandBackParams;

/// The jobs this dispatcher holds in memory.
#[derive(Debug, Default)]
pub(super) struct HeldJobs {
    jobs: Mutex<HashSet<JobId>>,
    /// Claims read, the self-check writes.
    claims: Arc<RwLock<()>>,
    /// Asks for a self-check soon.
    check: Notify,
}

impl HeldJobs {
    /// Held while claiming and starting: the self-check waits for it.
    pub(super) async fn claiming(&self) -> RwLockReadGuard<'_, ()> {
        self.claims.read().await
    }

    /// [`Self::claiming`], for a claim that rides on a put's commit and
    /// holds it until the put's transaction ends.
    pub(super) async fn claiming_owned(&self) -> OwnedRwLockReadGuard<()> {
        self.claims.clone().read_owned().await
    }

    /// As [`Self::claiming_owned`], unless the self-check holds claims
    /// off now.
    pub(super) fn try_claiming_owned(&self) -> Option<OwnedRwLockReadGuard<()>> {
        self.claims.clone().try_read_owned().ok()
    }

    /// Jobs just claimed.
    pub(super) fn hold(&self, ids: &[JobId]) {
        self.jobs.lock().unwrap().extend(ids.iter().copied());
    }

    /// A job the store no longer counts as this dispatcher's (its outcome,
    /// retry or release is written), or one the dispatcher gives up (its
    /// start failed: the self-check hands it back).
    pub(super) fn let_go(&self, id: JobId) {
        self.jobs.lock().unwrap().remove(&id);
    }

    /// How many jobs are held.
    pub(super) fn len(&self) -> usize {
        self.jobs.lock().unwrap().len()
    }

    /// Asks for a self-check soon (a write about held jobs failed).
    pub(super) fn check_soon(&self) {
        self.check.notify_one();
    }

    /// Resolves when a self-check was asked for.
    pub(super) async fn check_asked(&self) {
        self.check.notified().await;
    }
}

/// Hands back the jobs the store says this dispatcher holds and it does
/// not. Returns how many.
pub(super) async fn self_check(shared: &Shared) -> usize {
    let _no_claims = shared.held.claims.write().await;
    if shared.taken_over.borrow().is_some() {
        // The id names another process's jobs now: none is this one's to
        // hand back.
        return 0;
    }
    // Taken before reading the store: a job let go meanwhile had its write
    // committed first, so the store no longer lists it as held.
    let held: HashSet<JobId> = shared.held.jobs.lock().unwrap().clone();
    let store = &shared.parts.store;
    let dispatcher = shared.config.id;
    let listed = match store.dispatcher_held_jobs(dispatcher).await {
        Ok(listed) => listed,
        Err(error) => {
            shared.store_failed(&error, "could not check the jobs the store says it holds");
            return 0;
        }
    };
    let mut handed = 0;
    for job in listed.into_iter().filter(|job| !held.contains(job)) {
        let params = HandBackParams {
            dispatcher,
            job: Some(job),
            reason: format!(
                "its dispatcher {dispatcher} lost track of it (a write failed while the \
                 database was failing) and handed it back"
            ),
            now: shared.parts.clock.now(),
        };
        match store.dispatcher_hand_back(params).await {
            Ok(report) => {
                if report.is_empty() {
                    continue;
                }
                handed += 1;
                tracing::warn!(
                    %job,
                    released = !report.released.is_empty(),
                    retried = !report.retried.is_empty(),
                    aborted = !report.aborted.is_empty(),
                    "handed back a job this dispatcher no longer held"
                );
                let events = &shared.parts.events;
                events.completed(&report.completed);
                events.work_available();
            }
            Err(error) => {
                shared.store_failed(&error, "could not hand back a job it no longer held");
                return handed;
            }
        }
    }
    handed
}
