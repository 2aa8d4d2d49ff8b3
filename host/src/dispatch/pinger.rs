//! The pinger: a dispatcher's pings, and the checks for dead ones.
//!
//! Every `ping_interval` the dispatcher records that it is alive, then
//! looks for dead dispatchers: those whose last ping is older than
//! `death_interval`. The store hands each dead one's jobs back in one
//! transaction that takes the dead dispatcher's row first, so however many
//! live dispatchers look at once, exactly one handles it (a guarded write,
//! with no order among dispatchers to agree on).
//!
//! The claim loop also pings before it claims when the last ping is older
//! than the ping or the poll interval, whichever is shorter
//! ([`ping_if_due`]): a dispatcher that was paused long enough to be
//! declared dead learns it (and is reactivated) before it takes new work,
//! and the last ping doubles as the "last poll", which the
//! dispatcher status (`STUCK` after two silent poll intervals) reads.
//!
//! A ping names this process: if another process took the id over while
//! this one was silent (`store/identity.rs`), the ping writes nothing and
//! the dispatcher stops working under the id ([`Shared::taken_over`]).
//!
//! The same loop runs the dispatcher's self-check (see [`super::held`]):
//! after each ping but the first (activation has just handed back what
//! the store listed under the id), when a start failed, and as soon as
//! the database takes writes again after a fault — when it also pings and
//! looks for work at once. For a death interval after such a fault it
//! declares no other dispatcher dead: their pings failed for the same
//! reason its own did.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Shared, held};
use crate::store::{DispatcherPingParams, DispatcherRescueParams, Ping};

/// Pings and looks for dead dispatchers until told to stop.
pub(super) async fn ping_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(shared.config.ping_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut health = shared.parts.health.watch();
    // The first tick comes at once, just after activation handed back
    // every job the store listed under this id: the store lists nothing
    // then that this dispatcher does not hold, so that round pings and
    // rescues but does not self-check.
    let mut activated_just_now = true;
    loop {
        let mut check = true;
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tick.tick() => {
                ping(&shared).await;
                if shared.taken_over.borrow().is_some() {
                    return;
                }
                rescue(&shared).await;
                check = !std::mem::take(&mut activated_just_now);
            }
            _ = shared.held.check_asked() => {}
            changed = health.changed() => {
                let recovered = changed.is_ok() && health.borrow_and_update().is_none();
                if !recovered {
                    continue;
                }
                ping(&shared).await;
                shared.parts.events.work_available();
            }
        }
        if *stopped.borrow() {
            return;
        }
        if shared.taken_over.borrow().is_some() {
            return;
        }
        if check {
            held::self_check(&shared).await;
        }
    }
}

/// Pings if the last ping is older than the ping or the poll interval.
pub(super) async fn ping_if_due(shared: &Shared) {
    let last = *shared.last_ping.lock().unwrap();
    let due_after = shared.config.ping_interval.min(shared.config.poll_interval);
    if last.elapsed() >= due_after {
        ping(shared).await;
    }
}

/// Pings if this dispatcher has been silent for half its death interval:
/// long enough that, paused, it may have been declared dead and its id
/// taken over. A run about to record its outcome asks first, so that an
/// outcome of a run handed back meanwhile is dropped instead of landing on
/// the new holder's run of the same job.
pub(super) async fn ping_if_silent(shared: &Shared) {
    if silent(shared) {
        ping(shared).await;
    }
}

/// Whether this dispatcher has been silent for half its death interval
/// (see [`ping_if_silent`]).
pub(super) fn silent(shared: &Shared) -> bool {
    let last = *shared.last_ping.lock().unwrap();
    last.elapsed() >= shared.config.death_interval / 2
}

/// Records that this dispatcher is alive, or learns that its id was taken
/// over.
pub(super) async fn ping(shared: &Shared) {
    let params = DispatcherPingParams {
        id: shared.config.id,
        process: shared.config.process.clone(),
        now: shared.parts.clock.now(),
    };
    match shared.parts.store.dispatcher_ping(params).await {
        Ok(ping) => {
            if !matches!(ping, Ping::TakenOver { .. }) {
                shared.parts.health.wrote();
                crate::metrics::pinged();
            }
            *shared.last_ping.lock().unwrap() = Instant::now();
            match ping {
                Ping::Alive => {}
                Ping::Reactivated => tracing::warn!(
                    dispatcher = %shared.config.id,
                    running = shared.running.len(),
                    "this dispatcher was declared dead (silent longer than the death interval) \
                     and its jobs were handed back; reactivated. The outcomes of the runs it \
                     still has will be dropped (reassigned)."
                ),
                Ping::TakenOver { by } => {
                    tracing::error!(
                        dispatcher = %shared.config.id,
                        holder = %by,
                        running = shared.running.len(),
                        "this dispatcher's id was taken over by another process while this one \
                         was silent (longer than the death interval): no longer claiming; the \
                         outcomes of the runs it still has will be dropped"
                    );
                    shared.taken_over.send_replace(Some(by));
                    crate::metrics::dispatcher_up(false);
                }
            }
        }
        Err(error) => shared.store_failed(&error, "could not record the dispatcher's ping"),
    }
}

/// Hands back the jobs of every dead dispatcher this one gets to first.
async fn rescue(shared: &Shared) {
    if shared
        .parts
        .health
        .troubled_within(shared.config.death_interval)
    {
        tracing::debug!("the database failed within a death interval: declaring no one dead");
        return;
    }
    let params = DispatcherRescueParams {
        rescuer: shared.config.id,
        death_interval: shared.config.death_interval,
        now: shared.parts.clock.now(),
    };
    let reports = match shared.parts.store.dispatcher_rescue(params).await {
        Ok(reports) => reports,
        Err(error) => {
            shared.store_failed(&error, "could not look for dead dispatchers");
            return;
        }
    };
    for report in reports {
        tracing::warn!(
            dead = ?report.dispatcher,
            released = report.released.len(),
            retried = report.retried.len(),
            aborted = report.aborted.len(),
            "handed back the jobs of a dead dispatcher"
        );
        let events = &shared.parts.events;
        events.completed(&report.completed);
        if !report.queues.is_empty() || !report.completed.is_empty() {
            events.work_available();
        }
    }
}
