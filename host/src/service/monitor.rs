//! Introspection: job queries (count, jobs, a job, its failure, the next
//! pending, the last completed), dispatcher statistics, status and recent
//! polls, and job info.

use serde::Serialize;

use super::job_reads::JobPage;
use super::names::queue_from_alias;
use super::queues::LIST_LIMIT_MAX;
use super::{Error, Result, Service};
use crate::model::{
    DispatcherId, DispatcherStats, DispatcherStatus, Failure, FailureKind, Job, JobFilter, JobId,
    JobStatus, POLLS_KEPT_DEFAULT, PollRecord, Timestamp, UsageTotals, result_summary,
};
use crate::store::runs::DispatcherUsageParams;
use crate::store::{DispatcherStatsParams, JobOrder, JobQueryParams, QueueJobsParams};

/// Who ran a job, when, how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct JobInfo {
    /// The job.
    pub id: JobId,
    /// Its status.
    pub status: JobStatus,
    /// What it calls: `module:function`.
    pub call: String,
    /// Its queue.
    pub queue: String,
    /// Its quota names.
    pub quota_names: Vec<String>,
    /// The dispatcher that claimed it last.
    pub dispatcher: Option<DispatcherId>,
    /// The agent that claimed it last.
    pub agent: Option<String>,
    /// The kept poll that claimed it, if still kept.
    pub poll_id: Option<i64>,
    /// How many times it started.
    pub attempts: u32,
    /// Whether a dispatcher lost it while running it: its history holds an `interrupted` attempt, the run
    /// of a dispatcher that died or stopped, handed to another.
    pub reassigned: bool,
    /// When its latest attempt started.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started: Option<Timestamp>,
    /// When it completed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed: Option<Timestamp>,
    /// Whether it completed with a failure.
    pub failed: bool,
    /// Its value or failure as text, cut at 10,000 characters.
    pub result: Option<String>,
}

/// A dispatcher's statistics over a window, with what its runs that ended
/// in the window consumed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DispatcherStatsView {
    /// Jobs started, finished and running, the quickest and slowest.
    #[serde(flatten)]
    pub stats: DispatcherStats,
    /// The runs it ended in the window, summed.
    pub usage: UsageTotals,
}

/// A dispatcher's status, with its active jobs.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DispatcherStatusView {
    /// The dispatcher.
    pub id: DispatcherId,
    /// STARTING, RUNNING, STOPPED or STUCK.
    pub status: DispatcherStatus,
    /// Whether it is paused (claims nothing).
    pub paused: bool,
    /// When it was activated.
    #[schema(value_type = String, format = DateTime)]
    pub activated_at: Timestamp,
    /// Milliseconds since then (until it stopped, if it stopped).
    pub uptime_ms: i64,
    /// Its last poll.
    #[schema(value_type = String, format = DateTime)]
    pub last_poll: Timestamp,
    /// Its poll interval.
    pub poll_interval_ms: u64,
    /// The jobs it runs now.
    pub active_jobs: Vec<JobId>,
}

/// The most active job ids a status shows.
pub const ACTIVE_IDS_MAX: u32 = 1_000;

impl Service {
    /// Jobs matching `filter` in `order` (oldest or newest first), a page
    /// at a time: `after` is the last job of the page before.
    pub async fn job_query(
        &self,
        mut filter: JobFilter,
        order: JobOrder,
        after: Option<JobId>,
        limit: u32,
    ) -> Result<JobPage> {
        let limit = check_limit(limit)?;
        filter.queue = filter.queue.map(|q| queue_from_alias(&q).to_owned());
        let jobs = self
            .store()
            .job_query(JobQueryParams {
                filter,
                order,
                after,
                limit,
            })
            .await?;
        Ok(JobPage::of(jobs, limit))
    }

    /// How many jobs match `filter`.
    pub async fn job_count(&self, mut filter: JobFilter) -> Result<u64> {
        filter.queue = filter.queue.map(|q| queue_from_alias(&q).to_owned());
        Ok(self.store().job_count(&filter).await?)
    }

    /// The metrics of this process, with the jobs by queue and status
    /// read from the store now (one grouped count), as OpenMetrics text.
    pub async fn metrics_text(&self) -> Result<String> {
        let counts = crate::metrics::timed("count", self.store().job_counts()).await?;
        Ok(crate::metrics::render(Some(&counts)))
    }

    /// The job completed last among those matching `filter` (its states
    /// are replaced by "completed or cancelled").
    pub async fn job_last_completed(&self, mut filter: JobFilter) -> Result<Option<Job>> {
        filter.queue = filter.queue.map(|q| queue_from_alias(&q).to_owned());
        filter.states = vec![
            crate::model::QueryState::Status(JobStatus::Completed),
            crate::model::QueryState::Status(JobStatus::Cancelled),
        ];
        let jobs = self
            .store()
            .job_query(JobQueryParams {
                filter,
                order: JobOrder::LatestCompleted,
                after: None,
                limit: 1,
            })
            .await?;
        Ok(jobs.into_iter().next())
    }

    /// The job a queue will hand out next (the first in queue order).
    pub async fn queue_next_pending(&self, queue: &str) -> Result<Option<Job>> {
        let jobs = self
            .store()
            .queue_jobs(QueueJobsParams {
                queue: queue_from_alias(queue).to_owned(),
                offset: 0,
                limit: 1,
            })
            .await?;
        Ok(jobs.into_iter().next())
    }

    /// The failure of a job; `None` if it has
    /// none.
    pub async fn job_failure(&self, id: JobId) -> Result<Option<Failure>> {
        Ok(self.store().job_get(id).await?.failure)
    }

    /// Who ran a job, when, how it ended ([`JobInfo`]).
    pub async fn job_info(&self, id: JobId) -> Result<JobInfo> {
        let job = self.store().job_get(id).await?;
        let poll_id = match job.dispatcher {
            Some(dispatcher) => self.store().poll_of_job(dispatcher, id).await?,
            None => None,
        };
        let reassigned = self
            .store()
            .job_attempts(id)
            .await?
            .iter()
            .any(|attempt| attempt.failure.kind == FailureKind::Interrupted);
        Ok(JobInfo {
            id,
            status: job.status,
            call: format!(
                "{}:{}",
                job.module_name.as_deref().unwrap_or(job.module.as_str()),
                job.function
            ),
            queue: job.queue.clone(),
            quota_names: job.quota_names.clone(),
            dispatcher: job.dispatcher,
            agent: job.agent.clone(),
            poll_id,
            attempts: job.attempts,
            reassigned,
            started: job.started_at,
            completed: job.completed_at,
            failed: job.failure.is_some(),
            result: result_summary(&job),
        })
    }

    /// A dispatcher's statistics: the jobs it started
    /// from `since` (default: the beginning) until `before` (default: now).
    pub async fn dispatcher_stats(
        &self,
        dispatcher: DispatcherId,
        since: Option<Timestamp>,
        before: Option<Timestamp>,
    ) -> Result<DispatcherStatsView> {
        self.store().dispatcher_get(dispatcher).await?;
        let now = self.clock().now();
        let before = before.unwrap_or(now + chrono::TimeDelta::milliseconds(1));
        if since.is_some_and(|since| since >= before) {
            return Err(Error::Invalid(
                "`since` must be before `before` (the window is empty)".into(),
            ));
        }
        let stats = self
            .store()
            .dispatcher_stats(DispatcherStatsParams {
                dispatcher,
                since,
                before,
                now,
            })
            .await?;
        let usage = self
            .store()
            .dispatcher_usage(DispatcherUsageParams {
                dispatcher,
                since,
                before,
            })
            .await?;
        Ok(DispatcherStatsView { stats, usage })
    }

    /// A dispatcher's status and the jobs it runs now.
    pub async fn dispatcher_status(&self, id: DispatcherId) -> Result<DispatcherStatusView> {
        let info = self.store().dispatcher_get(id).await?;
        let now = self.clock().now();
        let filter = JobFilter {
            states: vec![crate::model::QueryState::Status(JobStatus::Active)],
            dispatcher: Some(id),
            ..JobFilter::default()
        };
        let (active, pauses) = tokio::try_join!(
            self.store().job_query(JobQueryParams {
                filter,
                order: JobOrder::Created,
                after: None,
                limit: ACTIVE_IDS_MAX,
            }),
            self.store().pause_list()
        )?;
        let end = info.deactivated_at.unwrap_or(now);
        Ok(DispatcherStatusView {
            id,
            status: DispatcherStatus::at(
                info.activated_at,
                info.last_ping_at,
                info.deactivated_at,
                info.poll_interval_ms,
                now,
            ),
            paused: pauses.dispatchers.iter().any(|(d, _)| *d == id),
            activated_at: info.activated_at,
            uptime_ms: (end - info.activated_at).num_milliseconds().max(0),
            last_poll: info.last_ping_at,
            poll_interval_ms: info.poll_interval_ms,
            active_jobs: active.into_iter().map(|j| j.id).collect(),
        })
    }

    /// A dispatcher's latest polls that claimed something, latest first.
    pub async fn dispatcher_polls(&self, id: DispatcherId, count: u32) -> Result<Vec<PollRecord>> {
        if count == 0 || count > POLLS_KEPT_DEFAULT {
            return Err(Error::Invalid(format!(
                "`count` must be 1 to {POLLS_KEPT_DEFAULT}, got {count}"
            )));
        }
        self.store().dispatcher_get(id).await?;
        Ok(self.store().poll_list(id, count).await?)
    }
}

fn check_limit(limit: u32) -> Result<u32> {
    if limit == 0 || limit > LIST_LIMIT_MAX {
        return Err(Error::Invalid(format!(
            "`limit` must be 1 to {LIST_LIMIT_MAX}, got {limit}"
        )));
    }
    Ok(limit)
}
