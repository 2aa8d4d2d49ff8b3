//! Removal of finished jobs: on request, by status (`POST
//! /v1/jobs/remove`), and by retention, a small background loop,
//! like the scheduler's, that deletes completed and cancelled jobs older
//! than an age or beyond a count. Time comes from the service's clock, so
//! tests move it by hand.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::names::queue_from_alias;
use super::{Error, Result, Service};
use crate::model::{
    DELETE_IDS_MAX, DeletionReport, JobId, JobStatus, QueryState, REMOVABLE_STATES, RemovalReport,
};
use crate::store::{JobRemoveParams, JobRetainParams};

/// How often retention looks for jobs to delete: 60 s.
pub const RETENTION_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);

/// The most jobs one delete statement takes (a round repeats it while it
/// comes back full), so that a large backlog never holds the database's
/// write lock for long.
pub const RETENTION_BATCH: u32 = 1_000;

/// What retention keeps. With neither limit set, it keeps everything (and
/// no loop runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Delete finished jobs that completed longer ago than this.
    pub max_age: Option<Duration>,
    /// Keep at most this many finished jobs (the latest completed).
    pub max_count: Option<u64>,
    /// How often to look. Default [`RETENTION_INTERVAL_DEFAULT`].
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            max_age: None,
            max_count: None,
            interval: RETENTION_INTERVAL_DEFAULT,
        }
    }
}

impl RetentionConfig {
    /// True when some limit is set.
    pub fn is_active(&self) -> bool {
        self.max_age.is_some() || self.max_count.is_some()
    }
}

impl Service {
    /// One retention round: deletes, in batches, every finished job the
    /// configuration no longer keeps. Returns how many.
    pub async fn retain_finished(&self, config: &RetentionConfig) -> Result<u64> {
        let now = self.clock().now();
        // An age beyond the calendar keeps everything ever completed.
        let completed_before = config.max_age.map(|age| {
            chrono::TimeDelta::from_std(age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
        });
        let mut total = 0;
        loop {
            let removed = self
                .store()
                .job_retain(JobRetainParams {
                    completed_before,
                    keep_latest: config.max_count,
                    limit: RETENTION_BATCH,
                })
                .await?;
            total += removed;
            if removed < u64::from(RETENTION_BATCH) {
                return Ok(total);
            }
        }
    }
}

/// The states removal takes by default: completed and cancelled jobs
/// (failed ones are completed with a failure).
pub const REMOVE_DEFAULT: [QueryState; 2] = [
    QueryState::Status(JobStatus::Completed),
    QueryState::Status(JobStatus::Cancelled),
];

impl Service {
    /// Removes finished jobs in `states` (default: completed and
    /// cancelled), of one queue or all, and counts them per state.
    pub async fn jobs_remove(
        &self,
        states: Vec<String>,
        queue: Option<String>,
    ) -> Result<RemovalReport> {
        let states = if states.is_empty() {
            REMOVE_DEFAULT.to_vec()
        } else {
            states
                .iter()
                .map(|s| parse_removable(s))
                .collect::<Result<Vec<_>>>()?
        };
        let queue = queue.map(|q| queue_from_alias(&q).to_owned());
        Ok(self
            .store()
            .job_remove_finished(JobRemoveParams { states, queue })
            .await?)
    }

    /// Deletes the finished jobs among `ids` (at most
    /// [`DELETE_IDS_MAX`]; none is an error too), saying which were
    /// deleted, which are not finished and which name no job: the
    /// dashboard's batch delete of selected jobs.
    pub async fn jobs_delete(&self, ids: &[JobId]) -> Result<DeletionReport> {
        if ids.is_empty() || ids.len() > DELETE_IDS_MAX {
            return Err(Error::Invalid(format!(
                "ids: give 1 to {DELETE_IDS_MAX} job ids to delete, not {}",
                ids.len()
            )));
        }
        Ok(self.store().job_delete_finished(ids).await?)
    }
}

/// A state removal accepts, or the refusal naming those it does.
fn parse_removable(text: &str) -> Result<QueryState> {
    let state: QueryState = text
        .parse()
        .map_err(|e: crate::model::UnknownState| Error::Invalid(e.to_string()))?;
    if !REMOVABLE_STATES.contains(&state) {
        return Err(Error::Invalid(format!(
            "can't remove jobs with status {text}: only finished jobs can be removed \
             (completed, succeeded, failed, cancelled)"
        )));
    }
    Ok(state)
}

/// The running retention loop. Stop it with [`Retention::stop`].
#[derive(Debug)]
pub struct Retention {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Retention {
    /// Starts the loop, or returns `None` when `config` keeps everything.
    pub fn start(service: Service, config: RetentionConfig) -> Option<Retention> {
        if !config.is_active() {
            return None;
        }
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tick.tick() => {}
                }
                match service.retain_finished(&config).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "retention deleted finished jobs"),
                    Err(super::Error::Store(error)) if service.health().failed(&error) => {}
                    Err(error) => tracing::error!(%error, "retention failed; trying again later"),
                }
            }
        });
        Some(Retention { stop, task })
    }

    /// Stops the loop (a round in progress finishes first).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
