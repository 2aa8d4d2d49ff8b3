//! Job queries of the management tools, written once for both backends:
//! filtered pages and counts, removal of finished jobs by state, and
//! retention. Our globs (`*`, `?`) are matched with the backend's
//! operator ([`Dialect::glob`](super::statement::Dialect)).

use async_trait::async_trait;
use tracing::instrument;

use super::Result;
use super::counts;
use super::sql::{JOB_COLUMNS, jobs_of, lit, ms};
use super::statement::{Arg, Bind, Binds, Dialect, SqlBackend, SqlConn, SqlTx};
use crate::model::{
    DeletionReport, Job, JobFilter, JobId, JobStatus, QueryState, RemovalReport, TimeRange,
    Timestamp,
};

/// How a job query orders its jobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobOrder {
    /// Oldest first (by id: ids are time-ordered), paged with `after`.
    #[default]
    Created,
    /// Latest completed first (jobs not completed last).
    LatestCompleted,
    /// Newest first (by id), paged with `after`: only jobs created before
    /// it.
    Newest,
}

/// A page of a job query.
#[derive(Debug, Clone, Default)]
pub struct JobQueryParams {
    /// Which jobs.
    pub filter: JobFilter,
    /// In which order.
    pub order: JobOrder,
    /// The job the page follows in its order ([`JobOrder::Created`]:
    /// jobs created after it; [`JobOrder::Newest`]: before it).
    pub after: Option<JobId>,
    /// The most to return.
    pub limit: u32,
}

/// Removes finished jobs by state.
#[derive(Debug, Clone)]
pub struct JobRemoveParams {
    /// The states to remove, each one of
    /// [`REMOVABLE_STATES`](crate::model::REMOVABLE_STATES).
    pub states: Vec<QueryState>,
    /// Only jobs of this queue.
    pub queue: Option<String>,
}

/// Retention: removes the oldest finished (completed or cancelled) jobs.
#[derive(Debug, Clone)]
pub struct JobRetainParams {
    /// Remove jobs completed before this time.
    pub completed_before: Option<Timestamp>,
    /// Keep at most this many finished jobs (the latest completed).
    pub keep_latest: Option<u64>,
    /// The most jobs to remove in one call (the caller calls again while
    /// it removes this many).
    pub limit: u32,
}

/// Jobs by filter, a page at a time, and how many.
#[async_trait]
pub trait JobQueryStore: Send + Sync + std::fmt::Debug {
    /// Jobs matching a filter, a page at a time.
    async fn job_query(&self, params: JobQueryParams) -> Result<Vec<Job>>;
    /// How many jobs match a filter.
    async fn job_count(&self, filter: &JobFilter) -> Result<u64>;
}

/// Removal of finished jobs: by state, and by retention.
#[async_trait]
pub trait RetentionStore: Send + Sync + std::fmt::Debug {
    /// Deletes finished jobs in the states asked for (with their
    /// annotations) and counts them per state. A job in two of the states
    /// asked (`completed` and `failed`) is counted under the first.
    async fn job_remove_finished(&self, params: JobRemoveParams) -> Result<RemovalReport>;
    /// Deletes the finished (completed or cancelled) jobs among `ids`,
    /// with their annotations, in one transaction; says which ids were
    /// deleted, which jobs are not finished (left alone) and which ids
    /// name no job.
    async fn job_delete_finished(&self, ids: &[JobId]) -> Result<DeletionReport>;
    /// Deletes up to `limit` finished jobs that retention no longer keeps:
    /// completed before `completed_before`, or beyond the latest
    /// `keep_latest`. Returns how many.
    async fn job_retain(&self, params: JobRetainParams) -> Result<u64>;
}

#[async_trait]
impl<B: SqlBackend> JobQueryStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_query(&self, p: JobQueryParams) -> Result<Vec<Job>> {
        query(&mut self.reads(), &p).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_count(&self, filter: &JobFilter) -> Result<u64> {
        count(&mut self.reads(), filter).await
    }
}

#[async_trait]
impl<B: SqlBackend> RetentionStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_remove_finished(&self, p: JobRemoveParams) -> Result<RemovalReport> {
        let mut tx = self.transaction().await?;
        let report = remove_finished(&mut tx.conn(), &p).await?;
        tx.commit().await?;
        Ok(report)
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_delete_finished(&self, ids: &[JobId]) -> Result<DeletionReport> {
        let mut tx = self.transaction().await?;
        let report = delete_finished(&mut tx.conn(), ids).await?;
        tx.commit().await?;
        Ok(report)
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_retain(&self, p: JobRetainParams) -> Result<u64> {
        retain(&mut self.writes(), &p).await
    }
}

/// The SQL condition selecting a [`QueryState`] (statuses as literals).
fn state_condition(state: QueryState) -> String {
    let completed = lit(JobStatus::Completed);
    match state {
        QueryState::Status(status) => format!("status = {}", lit(status)),
        QueryState::Succeeded => format!("(status = {completed} AND failure IS NULL)"),
        QueryState::Failed => format!("(status = {completed} AND failure IS NOT NULL)"),
    }
}

/// The statuses retention and removal may delete.
fn finished() -> String {
    format!(
        "status IN ({}, {})",
        lit(JobStatus::Completed),
        lit(JobStatus::Cancelled)
    )
}

fn push_range(sql: &mut String, binds: &mut Binds, column: &str, range: &TimeRange) {
    if let Some(since) = range.since {
        let p = binds.push(Bind::Int(ms(since)));
        sql.push_str(&format!(" AND {column} >= {p}"));
    }
    if let Some(before) = range.before {
        let p = binds.push(Bind::Int(ms(before)));
        sql.push_str(&format!(" AND {column} < {p}"));
    }
}

/// Appends ` AND …` for every filter set.
fn push_filter(d: &Dialect, sql: &mut String, binds: &mut Binds, f: &JobFilter) {
    if !f.states.is_empty() {
        let states: Vec<String> = f.states.iter().map(|s| state_condition(*s)).collect();
        sql.push_str(&format!(" AND ({})", states.join(" OR ")));
    }
    if let Some(module) = &f.module {
        let p = binds.push(Bind::Text((d.glob_pattern)(module)));
        sql.push_str(&format!(
            " AND (module_name {op} {p} OR module {op} {p})",
            op = d.glob
        ));
    }
    if let Some(function) = &f.function {
        let p = binds.push(Bind::Text((d.glob_pattern)(function)));
        sql.push_str(&format!(" AND function {} {p}", d.glob));
    }
    if let Some(queue) = &f.queue {
        let p = binds.push(Bind::Text(queue.clone()));
        sql.push_str(&format!(" AND queue = {p}"));
    }
    if let Some(queues) = &f.queues {
        let list: Vec<String> = queues
            .iter()
            .map(|q| binds.push(Bind::Text(q.clone())))
            .collect();
        match list.is_empty() {
            true => sql.push_str(" AND 1 = 0"),
            false => sql.push_str(&format!(" AND queue IN ({})", list.join(", "))),
        }
    }
    if let Some(agent) = &f.agent {
        let p = binds.push(Bind::Text(agent.clone()));
        sql.push_str(&format!(" AND agent = {p}"));
    }
    if let Some(dispatcher) = f.dispatcher {
        let p = binds.push(Bind::Id(dispatcher.0));
        sql.push_str(&format!(" AND dispatcher = {p}"));
    }
    push_range(sql, binds, "begin_after", &f.requested_start);
    push_range(sql, binds, "started_at", &f.start);
    push_range(sql, binds, "completed_at", &f.end);
    // A range on the `jobs_created` index (migration 0026).
    push_range(sql, binds, "created_at", &f.created);
}

/// Jobs matching a filter, a page at a time (see
/// [`JobQueryStore::job_query`]).
async fn query<C: SqlConn + ?Sized>(conn: &mut C, p: &JobQueryParams) -> Result<Vec<Job>> {
    let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
    let mut binds = Binds::default();
    push_filter(conn.dialect(), &mut sql, &mut binds, &p.filter);
    match p.order {
        JobOrder::Created => {
            if let Some(after) = p.after {
                let b = binds.push(Bind::Id(after.0));
                sql.push_str(&format!(" AND id > {b}"));
            }
            sql.push_str(" ORDER BY id");
        }
        JobOrder::LatestCompleted => {
            let order = conn.dialect().latest_completed_first;
            sql.push_str(&format!(" ORDER BY {order}, seq DESC"));
        }
        JobOrder::Newest => {
            if let Some(after) = p.after {
                let b = binds.push(Bind::Id(after.0));
                sql.push_str(&format!(" AND id < {b}"));
            }
            sql.push_str(" ORDER BY id DESC");
        }
    }
    let b = binds.push(Bind::Int(i64::from(p.limit)));
    sql.push_str(&format!(" LIMIT {b}"));
    let sql = conn.dialect().render(&sql);
    let rows = conn.fetch_all("jobs", &sql, &binds.args()).await?;
    jobs_of(&rows)
}

/// How many jobs match a filter: from the maintained counters
/// (`store/counts.rs`) when it asks only for a queue or states, whatever
/// the number of jobs kept; otherwise counted over the jobs.
async fn count<C: SqlConn + ?Sized>(conn: &mut C, filter: &JobFilter) -> Result<u64> {
    if counts::countable(filter) {
        let counters = match &filter.queue {
            Some(queue) => counts::read_queue(conn, queue).await?,
            None => counts::read(conn).await?,
        };
        return Ok(counts::filtered(&counters, filter));
    }
    let mut sql = "SELECT count(*) FROM jobs WHERE 1 = 1".to_owned();
    let mut binds = Binds::default();
    push_filter(conn.dialect(), &mut sql, &mut binds, filter);
    let sql = conn.dialect().render(&sql);
    let row = conn.fetch_optional("jobs", &sql, &binds.args()).await?;
    Ok(row.map(|r| r.int(0)).transpose()?.unwrap_or(0) as u64)
}

/// Deletes finished jobs in the states asked for, counting them per state,
/// inside the caller's transaction.
async fn remove_finished<C: SqlConn + ?Sized>(
    conn: &mut C,
    p: &JobRemoveParams,
) -> Result<RemovalReport> {
    let mut report = RemovalReport::new();
    for state in &p.states {
        let mut sql = format!(
            "DELETE FROM jobs WHERE {} AND {}",
            finished(),
            state_condition(*state)
        );
        let args: Vec<Arg<'_>> = match &p.queue {
            Some(queue) => {
                sql.push_str(" AND queue = ?1");
                vec![Arg::Text(queue)]
            }
            None => Vec::new(),
        };
        let sql = conn.dialect().render(&sql);
        let removed = conn.execute(&sql, &args).await?;
        *report.entry(state.to_string()).or_default() += removed;
    }
    Ok(report)
}

/// Deletes the finished jobs among `ids` and sorts every id into the
/// report, inside the caller's transaction: the ids still there after the
/// delete are the unfinished jobs.
async fn delete_finished<C: SqlConn + ?Sized>(
    conn: &mut C,
    ids: &[JobId],
) -> Result<DeletionReport> {
    let list: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let d = conn.dialect();
    let targets = (d.in_ids)("id", "?1");
    let deleted = d.render(&format!(
        "DELETE FROM jobs WHERE {targets} AND {} RETURNING id",
        finished()
    ));
    let left = d.render(&format!("SELECT id FROM jobs WHERE {targets}"));
    let read = |rows: Vec<super::statement::SqlRow>| -> Result<Vec<uuid::Uuid>> {
        rows.iter().map(|r| r.id(0)).collect()
    };
    let deleted = read(conn.fetch_all("jobs", &deleted, &[Arg::Ids(&list)]).await?)?;
    let left = read(conn.fetch_all("jobs", &left, &[Arg::Ids(&list)]).await?)?;
    let mut report = DeletionReport::default();
    for id in ids {
        if report.deleted.contains(id)
            || report.unfinished.contains(id)
            || report.missing.contains(id)
        {
            continue; // an id asked twice is reported once
        }
        let into = if deleted.contains(&id.0) {
            &mut report.deleted
        } else if left.contains(&id.0) {
            &mut report.unfinished
        } else {
            &mut report.missing
        };
        into.push(*id);
    }
    Ok(report)
}

/// Deletes up to `limit` finished jobs retention no longer keeps; returns
/// how many.
async fn retain<C: SqlConn + ?Sized>(conn: &mut C, p: &JobRetainParams) -> Result<u64> {
    let key = conn.dialect().job_key;
    let mut removed = 0;
    if let Some(before) = p.completed_before {
        let sql = conn.dialect().render(&format!(
            "DELETE FROM jobs WHERE {key} IN (SELECT {key} FROM jobs \
               WHERE {} AND completed_at < ?1 ORDER BY completed_at LIMIT ?2)",
            finished()
        ));
        let args = [Arg::Int(ms(before)), Arg::Int(i64::from(p.limit))];
        removed += conn.execute(&sql, &args).await?;
    }
    if let Some(keep) = p.keep_latest
        && removed < u64::from(p.limit)
    {
        let sql = conn.dialect().render(&format!(
            "DELETE FROM jobs WHERE {key} IN (SELECT {key} FROM jobs WHERE {} \
               ORDER BY completed_at DESC, seq DESC LIMIT ?1 OFFSET ?2)",
            finished()
        ));
        let args = [
            Arg::Int(i64::from(p.limit) - removed as i64),
            Arg::Int(i64::try_from(keep).unwrap_or(i64::MAX)),
        ];
        removed += conn.execute(&sql, &args).await?;
    }
    Ok(removed)
}
