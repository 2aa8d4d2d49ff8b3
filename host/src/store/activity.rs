//! What each queue did over a recent window, for the overview of the
//! dashboard and anyone asking `GET /v1/activity`: its jobs by state now,
//! and its finished jobs per time bucket (succeeded, failed, cancelled)
//! with their wait from the time they could begin to their start. Two
//! grouped reads, written once for both backends.

use async_trait::async_trait;
use tracing::instrument;

use super::Result;
use super::sql::{lit, ms};
use super::statement::{Arg, Sql, SqlBackend, SqlConn};
use crate::model::{JobStatus, Timestamp};

/// The jobs of one queue in one state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCount {
    /// The queue (`""` is the default queue).
    pub queue: String,
    /// A status, except `completed`, which is split into `succeeded` and
    /// `failed`.
    pub state: String,
    /// How many.
    pub count: u64,
}

/// The jobs of one queue that finished within one bucket of the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishedBucket {
    /// The queue.
    pub queue: String,
    /// The bucket, counted from the window's start (0 is the oldest).
    pub bucket: u32,
    /// Completed with a result.
    pub succeeded: u64,
    /// Completed with a failure.
    pub failed: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// The sum, over the completed jobs that started, of the wait from
    /// the time they could begin (`begin_after`) to their latest start,
    /// in milliseconds.
    pub wait_ms_sum: i64,
    /// How many completed jobs that sum covers.
    pub waits: u64,
}

/// Which window [`ActivityStore::activity_finished`] reads.
#[derive(Debug, Clone, Copy)]
pub struct ActivityWindow {
    /// The window's start (inclusive).
    pub since: Timestamp,
    /// The length of one bucket, in milliseconds (at least 1).
    pub bucket_ms: i64,
}

/// Queue activity.
#[async_trait]
pub trait ActivityStore: Send + Sync + std::fmt::Debug {
    /// How many jobs each queue holds in each state (only the pairs that
    /// have jobs), ordered by queue and state.
    async fn activity_states(&self) -> Result<Vec<StateCount>>;
    /// The jobs finished (completed or cancelled) since the window's
    /// start, per queue and bucket (only the pairs that have some).
    async fn activity_finished(&self, window: ActivityWindow) -> Result<Vec<FinishedBucket>>;
}

static STATES: Sql = Sql::new(|_| {
    format!(
        "SELECT queue, CASE WHEN status = {completed} \
           THEN CASE WHEN failure IS NULL THEN 'succeeded' ELSE 'failed' END \
           ELSE status END AS state, count(*) \
         FROM jobs GROUP BY queue, state ORDER BY queue, state",
        completed = lit(JobStatus::Completed),
    )
});

// `status IN (completed, cancelled)` spelled as the partial index
// `jobs_finished` is, so that both backends read only the window's rows.
static FINISHED: Sql = Sql::new(|_| {
    format!(
        "SELECT queue, (completed_at - ?1) / ?2 AS bucket, \
           count(CASE WHEN status = {completed} AND failure IS NULL THEN 1 END), \
           count(CASE WHEN status = {completed} AND failure IS NOT NULL THEN 1 END), \
           count(CASE WHEN status = {cancelled} THEN 1 END), \
           CAST(coalesce(sum(CASE WHEN status = {completed} AND started_at IS NOT NULL \
             THEN started_at - begin_after END), 0) AS BIGINT), \
           count(CASE WHEN status = {completed} AND started_at IS NOT NULL THEN 1 END) \
         FROM jobs WHERE status IN ({completed}, {cancelled}) AND completed_at >= ?1 \
         GROUP BY queue, bucket ORDER BY queue, bucket",
        completed = lit(JobStatus::Completed),
        cancelled = lit(JobStatus::Cancelled),
    )
});

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[async_trait]
impl<B: SqlBackend> ActivityStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn activity_states(&self) -> Result<Vec<StateCount>> {
        let mut conn = self.reads();
        let rows = conn
            .fetch_all("jobs", STATES.text(conn.dialect()), &[])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StateCount {
                    queue: r.text(0)?,
                    state: r.text(1)?,
                    count: count(r.int(2)?),
                })
            })
            .collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn activity_finished(&self, window: ActivityWindow) -> Result<Vec<FinishedBucket>> {
        let mut conn = self.reads();
        let args = [
            Arg::Int(ms(window.since)),
            Arg::Int(window.bucket_ms.max(1)),
        ];
        let rows = conn
            .fetch_all("jobs", FINISHED.text(conn.dialect()), &args)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FinishedBucket {
                    queue: r.text(0)?,
                    bucket: u32::try_from(r.int(1)?).unwrap_or(u32::MAX),
                    succeeded: count(r.int(2)?),
                    failed: count(r.int(3)?),
                    cancelled: count(r.int(4)?),
                    wait_ms_sum: r.int(5)?,
                    waits: count(r.int(6)?),
                })
            })
            .collect()
    }
}
