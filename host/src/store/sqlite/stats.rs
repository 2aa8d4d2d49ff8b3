//! `jobs`: a dispatcher's statistics over a window, read from the jobs it started, through `jobs_started`.

use std::sync::LazyLock;

use super::SqliteStore;
use super::row::{lit, ms};
use crate::model::{DispatcherStats, JobStatus};
use crate::store::{DispatcherStatsParams, Result};

/// One row per class of job (`s`uccessful, `f`ailed, `a`ctive,
/// `u`nknown): its count and its shortest and longest job. The window
/// functions compute everything in one pass over the jobs started in the
/// window; `DISTINCT` keeps one row per class.
pub(super) static STATS: LazyLock<String> = LazyLock::new(|| {
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

/// One dispatcher's statistics over a window.
pub(super) async fn dispatcher_stats(
    db: &SqliteStore,
    p: DispatcherStatsParams,
) -> Result<DispatcherStats> {
    let rows = sqlx::query(&STATS)
        .bind(p.dispatcher.0)
        .bind(p.since.map_or(i64::MIN, ms))
        .bind(ms(p.before))
        .bind(ms(p.now))
        .fetch_all(&db.reader)
        .await?;
    let mut stats = DispatcherStats::empty(p.dispatcher, p.since, p.before);
    crate::store::manage::add_stats_rows(&mut stats, &rows)?;
    Ok(stats)
}
