//! A dispatcher's statistics over a window, read from the jobs it
//! started, written once for both backends.

use async_trait::async_trait;
use tracing::instrument;

use super::Result;
use super::sql::{lit, ms};
use super::statement::{Arg, Sql, SqlBackend, SqlConn};
use crate::model::{DispatcherId, DispatcherStats, JobDuration, JobId, JobStatus, Timestamp};

/// Asks for a dispatcher's statistics over a window.
#[derive(Debug, Clone)]
pub struct DispatcherStatsParams {
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// Jobs started from this time (inclusive; `None`: any time).
    pub since: Option<Timestamp>,
    /// Jobs started before this time (exclusive).
    pub before: Timestamp,
    /// Now: an active job's duration runs to now.
    pub now: Timestamp,
}

/// Dispatcher statistics.
#[async_trait]
pub trait StatsStore: Send + Sync + std::fmt::Debug {
    /// One dispatcher's statistics over a window: how many jobs of each
    /// class, the shortest and the longest.
    async fn dispatcher_stats(&self, params: DispatcherStatsParams) -> Result<DispatcherStats>;
}

/// One row per class of job (`s`uccessful, `f`ailed, `a`ctive,
/// `u`nknown): its count and its shortest and longest job. The window
/// functions compute everything in one pass over the jobs started in the
/// window; `DISTINCT` keeps one row per class.
static STATS: Sql = Sql::new(|_| {
    format!(
        "WITH w AS ( \
           SELECT id, \
             CASE WHEN status IN ({callbacks}, {completed}) \
                    THEN CASE WHEN failure IS NULL THEN 's' ELSE 'f' END \
                  WHEN status = {active} THEN 'a' ELSE 'u' END AS class, \
             coalesce(completed_at, ?4) - started_at AS dur \
           FROM jobs WHERE dispatcher = ?1 AND started_at IS NOT NULL \
             AND started_at >= ?2 AND started_at < ?3) \
         SELECT DISTINCT class, \
           count(*) OVER (PARTITION BY class), \
           first_value(id) OVER (PARTITION BY class ORDER BY dur, id), \
           first_value(dur) OVER (PARTITION BY class ORDER BY dur, id), \
           first_value(id) OVER (PARTITION BY class ORDER BY dur DESC, id), \
           first_value(dur) OVER (PARTITION BY class ORDER BY dur DESC, id) \
         FROM w",
        callbacks = lit(JobStatus::Callbacks),
        completed = lit(JobStatus::Completed),
        active = lit(JobStatus::Active),
    )
});

#[async_trait]
impl<B: SqlBackend> StatsStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_stats(&self, p: DispatcherStatsParams) -> Result<DispatcherStats> {
        let mut conn = self.reads();
        let args = [
            Arg::Id(p.dispatcher.0),
            Arg::Int(p.since.map_or(i64::MIN, ms)),
            Arg::Int(ms(p.before)),
            Arg::Int(ms(p.now)),
        ];
        let rows = conn
            .fetch_all("jobs", STATS.text(conn.dialect()), &args)
            .await?;
        let mut stats = DispatcherStats::empty(p.dispatcher, p.since, p.before);
        for r in &rows {
            let count = r.int(1)? as u64;
            let shortest = JobDuration {
                id: JobId(r.id(2)?),
                ms: r.int(3)?,
            };
            let longest = JobDuration {
                id: JobId(r.id(4)?),
                ms: r.int(5)?,
            };
            stats.add_class(&r.text(0)?, count, shortest, longest);
        }
        Ok(stats)
    }
}
