//! The scheduler: the part of a `wasync` process that turns due schedule
//! occurrences into jobs. It only puts
//! jobs; dispatchers run them, in this process or any other. `wasync
//! serve` runs one unless `--no-scheduler`; `wasync scheduler` runs only
//! this; `wasync worker` never schedules.
//!
//! Each round:
//!
//! 1. take the due schedules, locking each until `now + retry_delay`
//!    ([`ScheduleStore::schedule_take_many`](crate::store::ScheduleStore::schedule_take_many):
//!    one statement, so any number of schedulers share the schedules and
//!    no two take the same one while it is locked);
//! 2. for each, put the job of each occurrence to put
//!    ([`Timing::after_take`](crate::model::Timing::after_take): one, or
//!    every missed one with `catch_up = all`) through
//!    [`OccurrencePuts`] (the service's validated put);
//! 3. advance it to its next occurrence, clearing the lock — or, if a put
//!    failed, record the error and keep the lock: the schedule is tried
//!    again after `retry_time`.
//!
//! A scheduler that dies between 1 and 3 leaves the lock to expire; the
//! next scheduler to take the schedule puts the same occurrence, and the
//! store's one-job-per-occurrence rule turns a put that already happened
//! into [`OccurrencePut::AlreadyPut`].
//!
//! When the database fails (a full disk, a server restarting) a round
//! fails as a whole and the next tries again an interval later: the
//! schedules' locks and the one-job-per-occurrence rule make the retry
//! safe, and the fault is logged once by the store's health.
//!
//! It reads when the next schedule is due and sleeps until then, at most
//! the interval (default 1 s: the clock of a process, or
//! a schedule created by another one, may move under it), waking at once
//! when this process creates or changes a schedule. An idle scheduler
//! costs one read per interval, no write.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::model::{Schedule, Timestamp};
use crate::service::{self, Events, OccurrencePut, Service, StoreHealth};
use crate::store::{ScheduleAdvanceParams, ScheduleLock, ScheduleStore, ScheduleTakeParams};

#[cfg(test)]
mod tests;

/// How often a scheduler looks for due schedules when nothing is due
/// sooner.
pub const SCHEDULER_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);

/// The most schedules one round takes.
pub const TAKE_BATCH_DEFAULT: u32 = 64;

/// The shortest pause between rounds, so that a schedule due but not taken
/// (taken by another scheduler a moment ago) does not spin the loop.
const PAUSE_MIN: Duration = Duration::from_millis(10);

/// Puts the job of one occurrence of a schedule: the one thing the
/// scheduler needs from the layer above it, handed to it as a part
/// ([`SchedulerParts::puts`]).
#[async_trait]
pub trait OccurrencePuts: Send + Sync + std::fmt::Debug {
    /// Puts the job of `schedule` for `occurrence`, once: an occurrence
    /// put already is [`OccurrencePut::AlreadyPut`].
    async fn put_occurrence(
        &self,
        schedule: &Schedule,
        occurrence: Timestamp,
    ) -> service::Result<OccurrencePut>;
}

/// A schedule's jobs are put as any other: validated, group-committed.
#[async_trait]
impl OccurrencePuts for Service {
    async fn put_occurrence(
        &self,
        schedule: &Schedule,
        occurrence: Timestamp,
    ) -> service::Result<OccurrencePut> {
        self.schedule_put(schedule, occurrence).await
    }
}

/// What a scheduler is built from; the composition root (`crate::app`)
/// hands it these, shared with the service of the same process.
#[derive(Debug, Clone)]
pub struct SchedulerParts {
    /// The database, as far as schedules go: schedules taken, advanced,
    /// failed (the jobs themselves are put through [`OccurrencePuts`]).
    pub store: Arc<dyn ScheduleStore>,
    /// The clock occurrences are due by.
    pub clock: Arc<dyn Clock>,
    /// This process's wake-ups: a schedule created or changed.
    pub events: Arc<Events>,
    /// Whether the store takes writes; a fault is logged once there.
    pub health: Arc<StoreHealth>,
    /// Where the occurrences' jobs are put.
    pub puts: Arc<dyn OccurrencePuts>,
}

/// Settings of a scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Who takes the schedules: `host:pid:random`, unique per scheduler.
    pub holder: String,
    /// See [`SCHEDULER_INTERVAL_DEFAULT`].
    pub interval: Duration,
    /// See [`TAKE_BATCH_DEFAULT`].
    pub take_batch: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        SchedulerConfig {
            holder: format!(
                "{}:{}:{}",
                crate::dispatch::hostname(),
                std::process::id(),
                &random[..8]
            ),
            interval: SCHEDULER_INTERVAL_DEFAULT,
            take_batch: TAKE_BATCH_DEFAULT,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Schedules taken.
    pub taken: usize,
    /// Jobs put.
    pub put: usize,
    /// Occurrences found already put (by a scheduler that stopped before
    /// advancing its take).
    pub already_put: usize,
    /// Schedules whose put failed (tried again after their retry time).
    pub failed: usize,
    /// Schedules whose take no longer held when advanced (its lock
    /// expired and another scheduler took it, or it was changed).
    pub lost: usize,
}

impl Round {
    fn add(&mut self, other: Round) {
        self.taken += other.taken;
        self.put += other.put;
        self.already_put += other.already_put;
        self.failed += other.failed;
        self.lost += other.lost;
    }
}

/// One round (see the module docs), at the clock's now.
pub async fn run_round(parts: &SchedulerParts, config: &SchedulerConfig) -> service::Result<Round> {
    let now = parts.clock.now();
    let taken = parts
        .store
        .schedule_take_many(ScheduleTakeParams {
            holder: config.holder.clone(),
            limit: config.take_batch,
            now,
        })
        .await?;
    let fired = futures::future::join_all(taken.iter().map(|s| fire(parts, s, now))).await;
    let mut round = Round::default();
    for outcome in fired {
        round.add(outcome?);
    }
    Ok(round)
}

/// Puts the occurrences of one taken schedule, then advances it (or
/// records why it could not).
async fn fire(
    parts: &SchedulerParts,
    schedule: &Schedule,
    now: Timestamp,
) -> service::Result<Round> {
    let mut round = Round {
        taken: 1,
        ..Round::default()
    };
    let Some(lock) = ScheduleLock::of(schedule) else {
        return Ok(round);
    };
    let plan = schedule
        .timing
        .after_take(lock.taken, now, schedule.catch_up);
    if plan.skipped > 0 {
        tracing::warn!(
            schedule = %schedule.name,
            skipped = plan.skipped,
            "more missed occurrences than catch-up puts; the oldest are skipped"
        );
    }
    let puts = futures::future::join_all(
        plan.occurrences
            .iter()
            .map(|occurrence| parts.puts.put_occurrence(schedule, *occurrence)),
    )
    .await;
    let mut error = None;
    for (occurrence, put) in plan.occurrences.iter().zip(puts) {
        match put {
            Ok(OccurrencePut::Put(job)) => {
                round.put += 1;
                tracing::debug!(schedule = %schedule.name, %occurrence, job = %job.id, "put");
            }
            Ok(OccurrencePut::AlreadyPut(job)) => {
                round.already_put += 1;
                tracing::warn!(
                    schedule = %schedule.name, %occurrence, %job,
                    "occurrence already put (a scheduler stopped before advancing it)"
                );
            }
            Err(e) => {
                if !database_fault(parts, &e) {
                    tracing::warn!(
                        schedule = %schedule.name, %occurrence, error = %e,
                        "could not put a scheduled job; trying again after the retry delay"
                    );
                }
                error.get_or_insert(e.to_string());
            }
        }
    }
    let store = &parts.store;
    if let Some(error) = error {
        round.failed += 1;
        if !store.schedule_fail(&lock, &error).await? {
            round.lost += 1;
        }
        return Ok(round);
    }
    let advanced = store
        .schedule_advance(ScheduleAdvanceParams {
            lock,
            next_call_time: plan.next,
            last_call_time: *plan.occurrences.last().expect("one occurrence at least"),
        })
        .await?;
    if !advanced {
        round.lost += 1;
        tracing::info!(
            schedule = %schedule.name,
            "the schedule changed (or its lock expired) while its job was put; not advanced"
        );
    }
    Ok(round)
}

/// A running scheduler. Stop it with [`Scheduler::stop`].
#[derive(Debug)]
pub struct Scheduler {
    holder: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Scheduler {
    /// Starts the scheduler loop on the current tokio runtime.
    pub fn start(parts: SchedulerParts, config: SchedulerConfig) -> Scheduler {
        let (stop, stopped) = watch::channel(false);
        let holder = config.holder.clone();
        tracing::info!(%holder, interval = ?config.interval, "scheduler started");
        let task = tokio::spawn(schedule_loop(parts, config, stopped));
        Scheduler { holder, stop, task }
    }

    /// Its holder name, as schedules it takes show it.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Stops after the round in progress, if any.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        tracing::info!(holder = %self.holder, "scheduler stopped");
    }
}

/// True when `error` is a fault of the database, which the store's health
/// records (and logs once per episode): the next round tries again.
fn database_fault(parts: &SchedulerParts, error: &service::Error) -> bool {
    matches!(error, service::Error::Store(error) if parts.health.failed(error))
}

async fn schedule_loop(
    parts: SchedulerParts,
    config: SchedulerConfig,
    mut stopped: watch::Receiver<bool>,
) {
    let changed = parts.events.schedules();
    while !*stopped.borrow() {
        // Registered before reading: a change made meanwhile is not lost.
        let woken = changed.notified();
        let pause = match parts.store.schedule_next_due().await {
            Err(error) => {
                if !parts.health.failed(&error) {
                    tracing::warn!(%error, "could not read when the next schedule is due");
                }
                config.interval
            }
            Ok(None) => config.interval,
            Ok(Some(due)) => {
                let wait = (due - parts.clock.now()).to_std().ok();
                match wait.filter(|w| !w.is_zero()) {
                    // Nothing due yet: a read, no write, while idle.
                    Some(wait) => wait.clamp(PAUSE_MIN, config.interval.max(PAUSE_MIN)),
                    None => match run_round(&parts, &config).await {
                        // More may be due than one round takes.
                        Ok(round) if round.taken >= config.take_batch as usize => continue,
                        Ok(_) => PAUSE_MIN,
                        Err(error) => {
                            if !database_fault(&parts, &error) {
                                tracing::warn!(%error, "scheduler round failed");
                            }
                            config.interval
                        }
                    },
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = woken => {}
            _ = stopped.changed() => {}
        }
    }
}
