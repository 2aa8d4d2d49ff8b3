//! What each queue did over a recent window, for the overview of the
//! dashboard and anyone asking `GET /v1/activity`: its jobs by state now,
//! and its finished jobs per time bucket (succeeded, failed, cancelled)
//! with their wait from the time they could begin to their start. The
//! first from the maintained counters, the second grouped reads of an
//! index; written once for both backends.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tracing::instrument;

use super::Result;
use super::counts;
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
    /// start, per queue and bucket (only the pairs that have some). Two
    /// reads on the connection (index-only, migration 0026).
    async fn activity_finished(&self, window: ActivityWindow) -> Result<Vec<FinishedBucket>>;
}

// `status IN (completed, cancelled)` spelled as the partial index
// `jobs_finished` is, which since 0026 holds every column read here: both
// backends read only the window's index entries, not the table. Whether a
// completed job failed is not in it (a failure is large): the failed ones
// are counted apart ([`FAILED`]) and taken from the completed.
static FINISHED: Sql = Sql::new(|_| {
    format!(
        "SELECT queue, (completed_at - ?1) / ?2 AS bucket, status, count(*), \
           CAST(coalesce(sum(started_at - begin_after), 0) AS BIGINT), count(started_at) \
         FROM jobs WHERE status IN ({completed}, {cancelled}) AND completed_at >= ?1 \
         GROUP BY queue, bucket, status",
        completed = lit(JobStatus::Completed),
        cancelled = lit(JobStatus::Cancelled),
    )
});

// The completed jobs that failed, per queue and bucket: spelled as the
// partial index `jobs_failed` (0026), which holds only them.
static FAILED: Sql = Sql::new(|_| {
    format!(
        "SELECT queue, (completed_at - ?1) / ?2 AS bucket, count(*) \
         FROM jobs WHERE status = {completed} AND failure IS NOT NULL AND completed_at >= ?1 \
         GROUP BY queue, bucket",
        completed = lit(JobStatus::Completed),
    )
});

/// The state a status shows as: `completed` splits into `succeeded` and
/// `failed`.
fn state_name(status: &str, succeeded: bool) -> String {
    if status == JobStatus::Completed.to_string() {
        if succeeded { "succeeded" } else { "failed" }.to_owned()
    } else {
        status.to_owned()
    }
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[async_trait]
impl<B: SqlBackend> ActivityStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn activity_states(&self) -> Result<Vec<StateCount>> {
        // The maintained counters (`store/counts.rs`), whatever the
        // number of finished jobs kept.
        let counters = counts::read(&mut self.reads()).await?;
        // Ordered by queue and state, the states of a status merged.
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for c in counters {
            let state = state_name(&c.status, !c.failed);
            *counts.entry((c.queue, state)).or_default() += c.count;
        }
        Ok(counts
            .into_iter()
            .map(|((queue, state), count)| StateCount {
                queue,
                state,
                count,
            })
            .collect())
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
        let failed = conn
            .fetch_all("jobs", FAILED.text(conn.dialect()), &args)
            .await?;
        let completed = JobStatus::Completed.to_string();
        // Ordered by queue and bucket.
        let mut buckets: BTreeMap<(String, u32), FinishedBucket> = BTreeMap::new();
        let bucket_of = |r: &super::statement::SqlRow| -> Result<(String, u32)> {
            Ok((r.text(0)?, u32::try_from(r.int(1)?).unwrap_or(u32::MAX)))
        };
        for r in &rows {
            let (queue, bucket) = bucket_of(r)?;
            let b = buckets
                .entry((queue.clone(), bucket))
                .or_insert_with(|| FinishedBucket {
                    queue,
                    bucket,
                    ..FinishedBucket::default()
                });
            let n = count(r.int(3)?);
            if r.text(2)? == completed {
                // Succeeded until the failed ones are taken out below.
                b.succeeded += n;
                // The wait counts completed jobs only.
                b.wait_ms_sum += r.int(4)?;
                b.waits += count(r.int(5)?);
            } else {
                b.cancelled += n;
            }
        }
        for r in &failed {
            // Both reads see the same window; a job completing between
            // them is in the second only, and counted at most once.
            if let Some(b) = buckets.get_mut(&bucket_of(r)?) {
                let n = count(r.int(2)?).min(b.succeeded);
                b.succeeded -= n;
                b.failed += n;
            }
        }
        Ok(buckets.into_values().collect())
    }
}
