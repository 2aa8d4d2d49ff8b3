//! What each queue is doing: its jobs by state now, whether it is paused,
//! and its throughput, failures and wait over a recent window, in
//! buckets (`GET /v1/activity`, the dashboard's overview).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::{Error, Result, Service};
use crate::model::{Authority, Scope, Timestamp};
use crate::store::ActivityWindow;

/// The longest window asked for: a week.
pub const ACTIVITY_WINDOW_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most buckets a window is cut into.
pub const ACTIVITY_BUCKETS_MAX: u32 = 360;

/// The activity of the queues a caller may read.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Activity {
    /// The window's start.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// Its end: now.
    #[schema(value_type = String, format = DateTime)]
    pub until: Timestamp,
    /// The length of one bucket, in milliseconds.
    pub bucket_ms: i64,
    /// Every queue, by name.
    pub queues: Vec<QueueActivity>,
}

/// One queue's activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct QueueActivity {
    /// Its name (`""` is the default queue).
    pub name: String,
    /// Whether claiming from it is paused.
    pub paused: bool,
    /// Its jobs by state now (`pending`, `active`, `succeeded`, `failed`,
    /// `cancelled`, …; only states it has jobs in).
    pub states: BTreeMap<String, u64>,
    /// The jobs finished in each bucket of the window, oldest first.
    pub buckets: Vec<Bucket>,
    /// The window's totals.
    pub finished: Bucket,
    /// The mean wait of the jobs completed in the window, from the time
    /// they could begin to their latest start, in milliseconds (`None`:
    /// none completed).
    pub mean_wait_ms: Option<i64>,
}

/// Jobs finished in a span of time.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Bucket {
    /// Completed with a result.
    pub succeeded: u64,
    /// Completed with a failure.
    pub failed: u64,
    /// Cancelled.
    pub cancelled: u64,
}

impl Bucket {
    fn add(&mut self, other: Bucket) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
    }
}

impl Service {
    /// The activity of the queues `authority` may read over the `window`
    /// that ends now, cut into `buckets` buckets.
    pub async fn activity(
        &self,
        authority: &Authority,
        window: Duration,
        buckets: u32,
    ) -> Result<Activity> {
        if window.is_zero() || window > ACTIVITY_WINDOW_MAX {
            return Err(Error::Invalid(format!(
                "window must be more than 0 and at most {}",
                humantime::format_duration(ACTIVITY_WINDOW_MAX)
            )));
        }
        if buckets == 0 || buckets > ACTIVITY_BUCKETS_MAX {
            return Err(Error::Invalid(format!(
                "buckets must be from 1 to {ACTIVITY_BUCKETS_MAX}"
            )));
        }
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let bucket_ms = (window_ms / i64::from(buckets)).max(1);
        let until = self.clock().now();
        let since = until - chrono::Duration::milliseconds(bucket_ms * i64::from(buckets));
        let store = self.store();
        let queues = store.queue_list().await?;
        let states = store.activity_states().await?;
        let finished = store
            .activity_finished(ActivityWindow { since, bucket_ms })
            .await?;
        let pauses = store.pause_list().await?;

        let mut by_name: BTreeMap<String, (QueueActivity, i64, u64)> = queues
            .into_iter()
            .filter(|q| authority.allows(Scope::Read, &q.name))
            .map(|q| {
                let activity = QueueActivity {
                    paused: pauses.queues.iter().any(|(p, _)| *p == q.name),
                    buckets: vec![Bucket::default(); buckets as usize],
                    name: q.name.clone(),
                    ..QueueActivity::default()
                };
                (q.name, (activity, 0, 0))
            })
            .collect();
        for count in states {
            if let Some((queue, _, _)) = by_name.get_mut(&count.queue) {
                queue.states.insert(count.state, count.count);
            }
        }
        for row in finished {
            let Some((queue, wait_sum, waits)) = by_name.get_mut(&row.queue) else {
                continue;
            };
            let bucket = Bucket {
                succeeded: row.succeeded,
                failed: row.failed,
                cancelled: row.cancelled,
            };
            // A job completed "now" lands one past the last bucket.
            let index = (row.bucket as usize).min(queue.buckets.len() - 1);
            queue.buckets[index].add(bucket);
            queue.finished.add(bucket);
            *wait_sum += row.wait_ms_sum;
            *waits += row.waits;
        }
        let queues = by_name
            .into_values()
            .map(|(mut queue, wait_sum, waits)| {
                queue.mean_wait_ms = (waits > 0).then(|| wait_sum / waits as i64);
                queue
            })
            .collect();
        Ok(Activity {
            since,
            until,
            bucket_ms,
            queues,
        })
    }
}
