//! Is the store taking writes? The one record, per process, of the
//! database's faults (`store::Fault`: full storage, a database that cannot
//! be reached), written once above the backends.
//!
//! Every part that writes reports here: a fault starts a degraded
//! *episode* (logged once, with the database's own words, not once per
//! request), and the first write that succeeds afterwards ends it (logged
//! once, with how long it lasted and how many operations failed). While an
//! episode lasts, [`probe_while_degraded`] rewrites the store's probe row
//! every [`PROBE_INTERVAL`], so the process learns that the database
//! recovered even when nothing else writes. `/v1/health` answers 503 with
//! the cause during an episode; the dispatcher's completer waits for its
//! end to write the outcomes it keeps; the pinger does not declare other
//! dispatchers dead right after one (their silence was the database's).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::model::Timestamp;
use crate::store::{self, FailureStore, Fault};

/// How often a degraded store is probed with a write.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The first pause of [`StoreHealth::through_faults`] between tries.
pub const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(50);

/// The longest pause of [`StoreHealth::through_faults`] between tries.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// A fault this soon after a recovery is a relapse of the same episode in
/// the log (an operation that started before the recovery and failed
/// after it; a nearly full disk taking some writes and not others): the
/// health answers degraded again at once, but the log does not tell of a
/// new episode.
pub const RELAPSE_WINDOW: Duration = Duration::from_secs(10);

/// A degraded episode: since when, why, how many operations failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    /// The latest fault met.
    pub fault: Fault,
    /// When the first operation failed.
    pub since: Timestamp,
    /// How many operations failed since.
    pub failures: u64,
    /// Within [`RELAPSE_WINDOW`] of the previous episode's end: not logged
    /// as an episode of its own.
    pub relapse: bool,
}

/// The store's health as this process sees it. Shared by every part of
/// the process through the [`Service`](super::Service).
#[derive(Debug)]
pub struct StoreHealth {
    clock: Arc<dyn Clock>,
    /// `None`: writes succeed.
    state: watch::Sender<Option<Degraded>>,
    /// When the current episode started (for its length in the log).
    started: Mutex<Option<Instant>>,
    /// When the last episode ended.
    recovered: Mutex<Option<Instant>>,
}

impl StoreHealth {
    /// A healthy store, with `clock` dating episodes.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        StoreHealth {
            clock,
            state: watch::Sender::new(None),
            started: Mutex::new(None),
            recovered: Mutex::new(None),
        }
    }

    /// Records a failed store operation. True when the error is a fault
    /// (logged here once per episode: the caller logs it at debug level at
    /// most); false for any other error, which the caller reports itself.
    pub fn failed(&self, error: &store::Error) -> bool {
        match error.fault() {
            Some(fault) => {
                self.fault(fault);
                true
            }
            None => false,
        }
    }

    /// Records a fault.
    pub fn fault(&self, fault: &Fault) {
        self.state.send_if_modified(|state| match state {
            None => {
                let relapse = self
                    .recovered
                    .lock()
                    .unwrap()
                    .is_some_and(|at| at.elapsed() < RELAPSE_WINDOW);
                if relapse {
                    tracing::debug!(
                        code = fault.kind.code(),
                        detail = %fault.detail,
                        "the database fails again right after recovering"
                    );
                } else {
                    tracing::error!(
                        code = fault.kind.code(),
                        detail = %fault.detail,
                        "the database fails: {}. Puts are refused and outcomes kept until \
                         it recovers; wasync retries by itself",
                        fault.kind.meaning()
                    );
                    *self.started.lock().unwrap() = Some(Instant::now());
                }
                *state = Some(Degraded {
                    fault: fault.clone(),
                    since: self.clock.now(),
                    failures: 1,
                    relapse,
                });
                true
            }
            Some(degraded) => {
                degraded.failures += 1;
                if degraded.fault.kind == fault.kind {
                    return false;
                }
                tracing::error!(
                    code = fault.kind.code(),
                    detail = %fault.detail,
                    "the database fails differently now: {}",
                    fault.kind.meaning()
                );
                degraded.fault = fault.clone();
                true
            }
        });
    }

    /// Records that a write succeeded: ends an episode, if one lasts.
    pub fn wrote(&self) {
        if self.state.borrow().is_none() {
            return;
        }
        self.state.send_if_modified(|state| {
            let Some(degraded) = state.take() else {
                return false;
            };
            // From the episode's first fault, relapses included.
            let lasted = self
                .started
                .lock()
                .unwrap()
                .map(|started| started.elapsed())
                .unwrap_or_default();
            if degraded.relapse {
                tracing::debug!(
                    failed_operations = degraded.failures,
                    "writes succeed again after a relapse of the episode"
                );
            } else {
                tracing::warn!(
                    code = degraded.fault.kind.code(),
                    lasted = ?lasted,
                    failed_operations = degraded.failures,
                    "the database takes writes again; resuming"
                );
            }
            *self.recovered.lock().unwrap() = Some(Instant::now());
            true
        });
    }

    /// The episode that lasts, if one does.
    pub fn degraded(&self) -> Option<Degraded> {
        self.state.borrow().clone()
    }

    /// Follows the state: `None` while writes succeed.
    pub fn watch(&self) -> watch::Receiver<Option<Degraded>> {
        self.state.subscribe()
    }

    /// Waits until no episode lasts.
    pub async fn until_healthy(&self) {
        let mut state = self.state.subscribe();
        let _ = state.wait_for(Option::is_none).await;
    }

    /// Runs `op` until it does not fail with a fault, and returns what it
    /// gave then (a value, or another error). Between tries it waits for
    /// the episode to end (the probe's first successful write) or for a
    /// backoff of at most [`RETRY_BACKOFF_MAX`], whichever comes first:
    /// what must not be lost (a job's outcome) is written within moments
    /// of the database's recovery, however long it was down.
    pub async fn through_faults<T, F, Fut>(&self, mut op: F) -> store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = store::Result<T>>,
    {
        let mut backoff = RETRY_BACKOFF_MIN;
        loop {
            match op().await {
                Err(error) if self.failed(&error) => {
                    tracing::debug!(%error, ?backoff, "trying again once the database recovers");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.until_healthy() => {}
                    }
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                }
                other => return other,
            }
        }
    }

    /// True while an episode lasts or when one ended less than `window`
    /// ago.
    pub fn troubled_within(&self, window: Duration) -> bool {
        self.state.borrow().is_some()
            || self
                .recovered
                .lock()
                .unwrap()
                .is_some_and(|at| at.elapsed() < window)
    }
}

/// Probes the store with a write every [`PROBE_INTERVAL`] while `health`
/// reports an episode, and ends the episode at the first that succeeds.
/// Runs for as long as the task does.
pub async fn probe_while_degraded(store: Arc<dyn FailureStore>, health: Arc<StoreHealth>) {
    let mut state = health.watch();
    loop {
        if state.wait_for(Option::is_some).await.is_err() {
            return;
        }
        while health.degraded().is_some() {
            tokio::time::sleep(PROBE_INTERVAL).await;
            match store.store_probe(health.clock.now()).await {
                Ok(()) => health.wrote(),
                Err(error) => {
                    if !health.failed(&error) {
                        tracing::warn!(%error, "the store's probe failed");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::FaultKind;

    fn health() -> StoreHealth {
        StoreHealth::new(Arc::new(ManualClock::new(crate::clock::from_millis(0))))
    }

    fn full() -> store::Error {
        store::Error::Fault(Fault::new(
            FaultKind::StorageFull,
            "database or disk is full",
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn an_episode_lasts_from_the_first_fault_to_the_first_write() {
        let health = health();
        assert_eq!(health.degraded(), None);
        health.wrote();
        assert!(!health.failed(&store::Error::Conflict("not a fault".into())));
        assert_eq!(health.degraded(), None, "only faults degrade");

        assert!(health.failed(&full()));
        assert!(health.failed(&full()));
        let degraded = health.degraded().expect("degraded");
        assert_eq!(degraded.fault.kind, FaultKind::StorageFull);
        assert_eq!(degraded.failures, 2);
        assert!(health.troubled_within(Duration::ZERO));
        health.fault(&Fault::new(FaultKind::Unavailable, "connection refused"));
        assert_eq!(
            health.degraded().unwrap().fault.kind,
            FaultKind::Unavailable,
            "the latest cause is shown"
        );

        let waiting = tokio::spawn({
            let mut state = health.watch();
            async move { state.wait_for(Option::is_none).await.is_ok() }
        });
        health.wrote();
        assert_eq!(health.degraded(), None);
        assert!(waiting.await.unwrap(), "waiters learn of the recovery");
        assert!(health.troubled_within(Duration::from_secs(60)));

        // A fault right after the recovery: degraded at once, a relapse of
        // the same episode; after the window, a new episode.
        assert!(health.failed(&full()));
        assert!(health.degraded().unwrap().relapse);
        health.wrote();
        tokio::time::advance(RELAPSE_WINDOW + Duration::from_secs(1)).await;
        assert!(health.failed(&full()));
        assert!(!health.degraded().unwrap().relapse);
        health.wrote();
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!health.troubled_within(Duration::from_secs(60)));
    }
}
