//! `queues`: the mapping of named queues, a queue's jobs in order, and its
//! default retry policy. Written once for both backends.

use async_trait::async_trait;
use tracing::instrument;

use super::quota_claim::stored_rate;
use super::sql::{JOB_COLUMNS, jobs_of, lit, ms, queue_what as what};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow, SqlTx, retrying};
use super::{Error, Result, counts, failures};
use crate::clock;
use crate::model::{DEFAULT_QUEUE, Job, JobStatus, QueueInfo, Rate, RetryPolicy, Timestamp};

/// Lists a queue's jobs in queue order.
#[derive(Debug, Clone)]
pub struct QueueJobsParams {
    /// The queue.
    pub queue: String,
    /// How many to skip.
    pub offset: u64,
    /// The most to return.
    pub limit: u32,
}

/// Queues, their jobs in queue order, and their default retry policy.
#[async_trait]
pub trait QueueStore: Send + Sync + std::fmt::Debug {
    /// Creates a queue. [`Error::Conflict`] if it exists.
    async fn queue_create(&self, name: &str, now: Timestamp) -> Result<QueueInfo>;
    /// A queue.
    async fn queue_get(&self, name: &str) -> Result<QueueInfo>;
    /// All queues, by name.
    async fn queue_list(&self) -> Result<Vec<QueueInfo>>;
    /// Deletes a queue, and its agents. [`Error::Conflict`] for the default
    /// queue and for a queue that holds any job not yet completed
    /// (including a detached `new` job last in it). Completed jobs keep
    /// the queue's name.
    async fn queue_delete(&self, name: &str) -> Result<()>;
    /// The queue's pending jobs in queue order: by `begin_after` (so jobs
    /// due come first); on a tie a scheduled job first; then in put order
    /// (a job put back counts as put at that moment, so it goes to the end
    /// of the jobs due with it). [`Error::NotFound`] for an unknown queue.
    async fn queue_jobs(&self, params: QueueJobsParams) -> Result<Vec<Job>>;
    /// A queue's default retry policy (`None`: the built-in default).
    async fn queue_retry_get(&self, queue: &str) -> Result<Option<RetryPolicy>>;
    /// Sets (or, with `None`, clears) a queue's default retry policy.
    async fn queue_retry_set(&self, queue: &str, policy: Option<RetryPolicy>) -> Result<()>;
    /// Sets (or, with `None`, clears) a queue's fan-out and pending caps;
    /// returns the queue. [`Error::NotFound`] for an unknown queue.
    async fn queue_caps_set(&self, params: QueueCapsSetParams) -> Result<QueueInfo>;
    /// Sets (or, with `None`, clears) a queue's rate; returns the queue. A
    /// new rate keeps the current window's count. [`Error::NotFound`] for
    /// an unknown queue.
    async fn queue_rate_set(&self, queue: &str, rate: Option<Rate>) -> Result<QueueInfo>;
}

/// The queue order, as an `ORDER BY` list: higher priority first, then due
/// time, then scheduled jobs before plain ones, then put order.
/// `jobs_pending` has exactly this order, so reading a queue's first jobs
/// reads only them. (A claim takes due jobs only: a not-yet-due job of a
/// higher priority is stepped over, not waited for.)
pub(crate) const QUEUE_ORDER: &str = "priority DESC, begin_after, scheduled DESC, seq";

/// A claimed job's place in [`QUEUE_ORDER`], for sorting in memory the
/// jobs one claim took (`seq` is its queue position).
pub(crate) fn queue_order_key(
    seq: i64,
    job: &Job,
) -> (std::cmp::Reverse<i32>, Timestamp, bool, i64) {
    (
        std::cmp::Reverse(job.priority),
        job.begin_after,
        !job.scheduled,
        seq,
    )
}

/// Claimed rows as a claim answers them: in queue order.
pub(crate) fn in_queue_order(mut claimed: Vec<(i64, Job)>) -> Vec<Job> {
    claimed.sort_by_key(|(seq, job)| queue_order_key(*seq, job));
    claimed.into_iter().map(|(_, job)| job).collect()
}

/// The queue order reversed (for negative indexes): `jobs_pending` read
/// backwards.
pub(crate) const QUEUE_ORDER_REVERSED: &str =
    "priority ASC, begin_after DESC, scheduled ASC, seq DESC";

/// Queues with their length (`WHERE` and `ORDER BY` appended), read from
/// the maintained counters (`store/counts.rs`): the same cost however
/// many jobs the queue holds.
pub(crate) static SELECT: Sql = Sql::new(|_| {
    format!(
        "SELECT q.name, q.created_at, \
         (SELECT CAST(coalesce(sum(c.count), 0) AS BIGINT) FROM job_counts_now c \
            WHERE c.status = {pending} AND c.queue = q.name), \
         q.put_cap, q.pending_cap, q.rate_limit, q.rate_period_ms, q.rate_until, q.rate_starts \
         FROM queues q",
        pending = lit(JobStatus::Pending)
    )
});

/// A page of a queue's pending jobs in queue order.
pub(crate) static JOBS: Sql = Sql::new(|_| {
    format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE status = {pending} AND queue = ?1 \
         ORDER BY {QUEUE_ORDER} LIMIT ?2 OFFSET ?3",
        pending = lit(JobStatus::Pending)
    )
});

fn info(row: &SqlRow) -> Result<QueueInfo> {
    Ok(QueueInfo {
        name: row.text(0)?,
        created_at: clock::from_millis(row.int(1)?),
        length: row.int(2)? as u64,
        put_cap: cap(row, 3)?,
        pending_cap: cap(row, 4)?,
        rate: None,
        rate_stored: stored_rate(row.opt_int(5)?, row.opt_int(6)?)
            .map(|rate| Ok::<_, Error>((rate, row.int(7)?, row.int(8)?)))
            .transpose()?,
    })
}

/// A cap column: `NULL` or a count.
fn cap(row: &SqlRow, i: usize) -> Result<Option<u64>> {
    Ok(row.opt_int(i)?.map(|v| u64::try_from(v).unwrap_or(0)))
}

/// `Ok` if the queue exists, else [`Error::NotFound`].
pub(crate) async fn exists<C: SqlConn + ?Sized>(conn: &mut C, name: &str) -> Result<()> {
    let sql = conn
        .dialect()
        .render("SELECT 1 FROM queues WHERE name = ?1");
    match conn
        .fetch_optional("queues", &sql, &[Arg::Text(name)])
        .await?
    {
        Some(_) => Ok(()),
        None => Err(Error::not_found(what(name))),
    }
}

/// Deletes a queue that holds no job short of `completed`, inside the
/// caller's transaction; its agents go with it (`ON DELETE CASCADE`), and
/// the dispatchers that had one there hear that their agents changed.
///
/// `jobs.queue` has no foreign key (a completed job keeps the name of a
/// queue deleted since; a put checks the queue in its own statement), so
/// the delete first keeps writes to `jobs` out where the backend needs it
/// ([`Dialect::lock_jobs_table`](super::statement::Dialect)): the check
/// then sees every put committed before it, and a put after it finds the
/// queue gone. The check reads every job of the queue: deleting a queue
/// is rare.
async fn delete<C: SqlConn + ?Sized>(tx: &mut C, name: &str) -> Result<()> {
    let d = tx.dialect();
    if let Some(lock) = d.lock_jobs_table {
        tx.execute(lock, &[]).await?;
    }
    let arg = [Arg::Text(name)];
    // Its jobs not yet completed, by status, from the maintained counters
    // (after the lock above, they hold every put committed before it).
    let finished = [JobStatus::Completed, JobStatus::Cancelled].map(|s| s.to_string());
    let counters = counts::read_queue(&mut *tx, name).await?;
    let in_use: Vec<(String, u64)> = counts::by_status(&counters)
        .into_iter()
        .filter(|((_, status), _)| !finished.contains(status))
        .map(|((_, status), n)| (status, n))
        .collect();
    if !in_use.is_empty() {
        let held = in_use
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect::<Vec<_>>();
        return Err(Error::Conflict(format!(
            "{} holds jobs not yet completed ({}); it can be deleted once they complete",
            what(name),
            held.join(", ")
        )));
    }
    let sql = d.render("SELECT DISTINCT dispatcher FROM agents WHERE queue = ?1");
    let holders = tx.fetch_all("agents", &sql, &arg).await?;
    let sql = d.render("DELETE FROM queues WHERE name = ?1");
    if tx.execute(&sql, &arg).await? == 0 {
        return Err(Error::not_found(what(name)));
    }
    for holder in &holders {
        tx.announce_agents(holder.id(0)?).await?;
    }
    Ok(())
}

#[async_trait]
impl<B: SqlBackend> QueueStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn queue_create(&self, name: &str, now: Timestamp) -> Result<QueueInfo> {
        let mut conn = self.writes();
        let sql = conn
            .dialect()
            .render("INSERT INTO queues (name, created_at) VALUES (?1, ?2)");
        match conn
            .execute(&sql, &[Arg::Text(name), Arg::Int(ms(now))])
            .await
        {
            Ok(_) => Ok(QueueInfo {
                name: name.to_owned(),
                length: 0,
                created_at: now,
                put_cap: None,
                pending_cap: None,
                rate: None,
                rate_stored: None,
            }),
            Err(Error::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(Error::Conflict(format!("{} already exists", what(name))))
            }
            Err(e) => Err(e),
        }
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_get(&self, name: &str) -> Result<QueueInfo> {
        let mut conn = self.reads();
        let d = conn.dialect();
        let sql = d.render(&format!("{} WHERE q.name = ?1", SELECT.text(d)));
        let row = conn
            .fetch_optional("queues", &sql, &[Arg::Text(name)])
            .await?;
        info(&row.ok_or_else(|| Error::not_found(what(name)))?)
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_list(&self) -> Result<Vec<QueueInfo>> {
        let mut conn = self.reads();
        let d = conn.dialect();
        let sql = format!("{} ORDER BY q.name{}", SELECT.text(d), d.binary_order);
        let rows = conn.fetch_all("queues", &sql, &[]).await?;
        rows.iter().map(info).collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_delete(&self, name: &str) -> Result<()> {
        if name == DEFAULT_QUEUE {
            return Err(Error::Conflict(
                "the default queue always exists; it cannot be deleted".to_owned(),
            ));
        }
        retrying(|| async {
            let mut tx = self.transaction().await?;
            delete(&mut tx.conn(), name).await?;
            tx.commit().await
        })
        .await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_jobs(&self, p: QueueJobsParams) -> Result<Vec<Job>> {
        let mut conn = self.reads();
        let args = [
            Arg::Text(&p.queue),
            Arg::Int(i64::from(p.limit)),
            Arg::Int(i64::try_from(p.offset).unwrap_or(i64::MAX)),
        ];
        let rows = conn
            .fetch_all("jobs", JOBS.text(conn.dialect()), &args)
            .await?;
        if rows.is_empty() {
            exists(&mut conn, &p.queue).await?;
        }
        jobs_of(&rows)
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_retry_get(&self, queue: &str) -> Result<Option<RetryPolicy>> {
        failures::queue_retry_get(&mut self.reads(), queue).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_retry_set(&self, queue: &str, policy: Option<RetryPolicy>) -> Result<()> {
        failures::queue_retry_set(&mut self.writes(), queue, policy).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_caps_set(&self, p: QueueCapsSetParams) -> Result<QueueInfo> {
        let mut conn = self.writes();
        let sql = conn
            .dialect()
            .render("UPDATE queues SET put_cap = ?2, pending_cap = ?3 WHERE name = ?1");
        let stored = |cap: Option<u64>| cap.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        let args = [
            Arg::Text(&p.queue),
            Arg::OptInt(stored(p.put_cap)),
            Arg::OptInt(stored(p.pending_cap)),
        ];
        if conn.execute(&sql, &args).await? == 0 {
            return Err(Error::not_found(what(&p.queue)));
        }
        self.queue_get(&p.queue).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_rate_set(&self, queue: &str, rate: Option<Rate>) -> Result<QueueInfo> {
        retrying(|| async {
            let mut tx = self.transaction().await?;
            rate_set(&mut tx.conn(), queue, rate).await?;
            tx.commit().await
        })
        .await?;
        self.queue_get(queue).await
    }
}

/// Sets a queue's rate inside the caller's transaction. Where the
/// backend's one-statement claim could miss a rate set while it runs
/// (PostgreSQL), writes to `jobs` are kept out first, as a quota's
/// creation does.
async fn rate_set<C: SqlConn + ?Sized>(tx: &mut C, queue: &str, rate: Option<Rate>) -> Result<()> {
    let d = tx.dialect();
    if let Some(lock) = d.lock_jobs_table {
        tx.execute(lock, &[]).await?;
    }
    let sql = d.render("UPDATE queues SET rate_limit = ?2, rate_period_ms = ?3 WHERE name = ?1");
    let args = [
        Arg::Text(queue),
        Arg::OptInt(rate.map(|r| i64::from(r.limit))),
        Arg::OptInt(rate.map(|r| r.period_ms as i64)),
    ];
    if tx.execute(&sql, &args).await? == 0 {
        return Err(Error::not_found(what(queue)));
    }
    Ok(())
}

/// A queue's caps, as [`QueueStore::queue_caps_set`] sets them.
#[derive(Debug, Clone)]
pub struct QueueCapsSetParams {
    /// The queue.
    pub queue: String,
    /// Its fan-out cap (see [`QueueInfo::put_cap`]); `None`: the server's.
    pub put_cap: Option<u64>,
    /// Its pending cap (see [`QueueInfo::pending_cap`]); `None`: none.
    pub pending_cap: Option<u64>,
}
