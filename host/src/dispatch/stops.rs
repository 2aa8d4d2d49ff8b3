//! Stopping runs whose jobs are no longer this dispatcher's: a job
//! cancelled while it runs, or handed to another dispatcher.
//!
//! In this process a cancel stops the run at once ([`Events::completed`]
//! names the job); a cancel made through another process's API reaches
//! this one as a completion notification on PostgreSQL. Where there are
//! no notifications (SQLite), and as a net under them, every
//! [`STOP_CHECK_INTERVAL`] while guests run the dispatcher reads the jobs
//! the store says it holds (one range of the in-flight index) and stops
//! the runs of the jobs that are not among them. A cancelled running job
//! therefore stops within about that interval, wherever it runs.
//!
//! [`Events::completed`]: crate::service::Events::completed

use std::collections::HashSet;
use std::sync::Weak;
use std::time::Duration;

use super::Shared;
use crate::model::JobId;

/// How often a dispatcher running guests checks that their jobs are still
/// its own.
pub const STOP_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Checks every [`STOP_CHECK_INTERVAL`], until aborted or the dispatcher
/// is gone.
pub(super) async fn stop_check_loop(shared: Weak<Shared>) {
    let mut ticks = tokio::time::interval(STOP_CHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        check(&shared).await;
    }
}

/// Stops the runs of jobs the store no longer lists as this dispatcher's.
async fn check(shared: &Shared) {
    let events = &shared.parts.events;
    // Taken before the read: every job registered by then was started
    // (its start committed), so the store lists it unless it was cancelled
    // or handed back since.
    let running = events.running_jobs();
    if running.is_empty() || shared.taken_over.borrow().is_some() {
        return;
    }
    let store = &shared.parts.store;
    match store.dispatcher_held_jobs(shared.config.id).await {
        Ok(listed) => {
            let listed: HashSet<JobId> = listed.into_iter().collect();
            let gone: Vec<JobId> = running
                .into_iter()
                .filter(|job| !listed.contains(job))
                .collect();
            if !gone.is_empty() {
                events.stop_runs(&gone);
            }
        }
        Err(error) => shared.store_failed(
            &error,
            "could not check that the running jobs are still this dispatcher's",
        ),
    }
}
