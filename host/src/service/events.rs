//! Wake-ups: a put wakes this process's dispatcher at once, a schedule
//! created or changed wakes its scheduler, and a completion wakes whoever
//! waits for that job, so nothing in one process
//! waits for a poll interval. Other processes' puts and completions arrive
//! through the store's notifications when the backend has them
//! (PostgreSQL's LISTEN/NOTIFY, relayed by [`relay_store_events`]); with
//! SQLite, polling finds them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use crate::model::JobId;
use crate::store::{Store, StoreEvent};

/// The wake-ups of one process.
#[derive(Debug, Default)]
pub struct Events {
    work: Arc<Notify>,
    agents: Arc<Notify>,
    /// How many agent changes were announced: a dispatcher compares it
    /// with the count its agents were loaded at (see
    /// [`Events::agents_version`]).
    agents_version: AtomicU64,
    schedules: Arc<Notify>,
    completion_waiters: Mutex<HashMap<JobId, Vec<oneshot::Sender<()>>>>,
    /// The jobs whose guests run in this process, and how to stop each.
    running: Mutex<HashMap<JobId, CancellationToken>>,
}

/// A job's guest running in this process (see [`Events::running`]); the
/// job is forgotten when this is dropped.
#[derive(Debug)]
pub struct RunningGuest<'a> {
    events: &'a Events,
    job: JobId,
    stop: CancellationToken,
}

impl RunningGuest<'_> {
    /// Cancelled when the run must stop.
    pub fn stop(&self) -> CancellationToken {
        self.stop.clone()
    }
}

impl Drop for RunningGuest<'_> {
    fn drop(&mut self) {
        self.events.running.lock().unwrap().remove(&self.job);
    }
}

impl Events {
    /// No one waiting yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the dispatcher waits on: notified when work may be available
    /// (a put, a freed slot, an agent changed).
    pub fn work(&self) -> Arc<Notify> {
        self.work.clone()
    }

    /// Says that work may be available.
    pub fn work_available(&self) {
        self.work.notify_one();
    }

    /// What the dispatcher waits on to reload its agents.
    pub fn agents(&self) -> Arc<Notify> {
        self.agents.clone()
    }

    /// Says that agents were added, changed or removed.
    pub fn agents_changed(&self) {
        self.agents_version.fetch_add(1, Ordering::SeqCst);
        self.agents.notify_one();
    }

    /// How many agent changes were announced so far. Read before loading
    /// the agents and again after a claim, it tells whether the claim may
    /// have taken a job put after a change its agents do not reflect yet
    /// (the change was acknowledged before that put was made).
    pub fn agents_version(&self) -> u64 {
        self.agents_version.load(Ordering::SeqCst)
    }

    /// What the scheduler waits on: notified when a schedule was created
    /// or changed in this process.
    pub fn schedules(&self) -> Arc<Notify> {
        self.schedules.clone()
    }

    /// Says that a schedule was created or changed.
    pub fn schedules_changed(&self) {
        self.schedules.notify_one();
    }

    /// A receiver that fires when `job` completes in this process.
    /// Register before reading the job's status, so no completion is missed
    /// between the read and the wait.
    pub fn on_completion(&self, job: JobId) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.completion_waiters.lock().unwrap();
        let list = waiters.entry(job).or_default();
        // Drop waiters that gave up, so a job polled many times does not
        // accumulate dead senders.
        list.retain(|sender| !sender.is_closed());
        list.push(tx);
        rx
    }

    /// Registers a guest of `job` running in this process, until the
    /// answer is dropped: its stop token is cancelled when the job
    /// completes by other means (a cancel, here or in another process) or
    /// when [`Events::stop_runs`] names it.
    pub fn running(&self, job: JobId) -> RunningGuest<'_> {
        let stop = CancellationToken::new();
        self.running.lock().unwrap().insert(job, stop.clone());
        RunningGuest {
            events: self,
            job,
            stop,
        }
    }

    /// The jobs whose guests run in this process now.
    pub fn running_jobs(&self) -> Vec<JobId> {
        self.running.lock().unwrap().keys().copied().collect()
    }

    /// Stops the guests of these jobs, if they run in this process.
    pub fn stop_runs(&self, jobs: &[JobId]) {
        let running = self.running.lock().unwrap();
        for job in jobs {
            if let Some(stop) = running.get(job) {
                tracing::info!(%job, "stopping the job's run: it completed elsewhere (cancelled)");
                stop.cancel();
            }
        }
    }

    /// Wakes everyone waiting for these jobs, and stops their guests if
    /// they still run here: a job that completed while its guest runs was
    /// cancelled (its own outcome is written only after its guest ends).
    pub fn completed(&self, jobs: &[JobId]) {
        self.stop_runs(jobs);
        let mut waiters = self.completion_waiters.lock().unwrap();
        for job in jobs {
            if let Some(list) = waiters.remove(job) {
                for sender in list {
                    let _ = sender.send(());
                }
            }
        }
    }
}

/// Turns the store's notifications (other processes' puts, completions and
/// agent changes) into this process's wake-ups, for as long as the task
/// runs. Does nothing for a backend without notifications.
pub async fn relay_store_events(store: Arc<dyn Store>, events: Arc<Events>) {
    // Said once per outage, not once per try.
    let mut lost = false;
    let mut listener = loop {
        match store.listen().await {
            Ok(Some(listener)) => break listener,
            Ok(None) => return,
            Err(error) => {
                if !std::mem::replace(&mut lost, true) {
                    tracing::warn!(%error, "cannot listen for the store's notifications; polling meanwhile");
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        let received = listener.recv().await;
        if received.is_ok() && std::mem::replace(&mut lost, false) {
            tracing::info!("listening for the store's notifications again");
        }
        match received {
            Ok(StoreEvent::JobsPut { .. }) => events.work_available(),
            Ok(StoreEvent::JobsCompleted { ids }) => {
                // Announced because someone waits (a wait here marked
                // it), it held quota slots, or it was cancelled (its guest
                // may run here).
                events.completed(&ids);
                // Jobs completed elsewhere may have freed quota slots.
                events.work_available();
            }
            Ok(StoreEvent::AgentsChanged { .. }) => events.agents_changed(),
            Err(error) => {
                // Notifications may have been missed while the connection
                // was down: look for work now; waiters poll anyway.
                if !std::mem::replace(&mut lost, true) {
                    tracing::warn!(%error, "lost the store's notifications; listening again");
                }
                events.work_available();
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completion_wakes_only_its_waiters() {
        let events = Events::new();
        let a = JobId::new();
        let b = JobId::new();
        let wait_a = events.on_completion(a);
        let mut wait_b = events.on_completion(b);
        events.completed(&[a]);
        wait_a.await.expect("a's waiter is woken");
        assert!(wait_b.try_recv().is_err(), "b's waiter keeps waiting");
    }

    #[tokio::test]
    async fn a_put_before_the_wait_is_not_lost() {
        let events = Events::new();
        events.work_available();
        tokio::time::timeout(std::time::Duration::from_secs(1), events.work().notified())
            .await
            .expect("the stored permit wakes the next waiter");
    }
}
