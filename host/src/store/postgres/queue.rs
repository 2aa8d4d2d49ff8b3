//! `queues`: the mapping of named queues, and a queue's jobs in order.

use std::sync::LazyLock;

use sqlx::Row as _;
use sqlx::postgres::PgRow;

use super::PgStore;
use super::row::{self, JOB_COLUMNS, lit, ms, retrying};
use crate::clock;
use crate::model::{DEFAULT_QUEUE, Job, JobStatus, QueueInfo, Timestamp};
pub(super) use crate::store::sql::queue_what as what;
use crate::store::{Error, QueueJobsParams, Result};

/// The queue order, as an `ORDER BY` list: due time, then scheduled jobs
/// before plain ones, then put order. `jobs_pending` has exactly this
/// order, so reading a queue's first jobs reads only them.
pub(super) const QUEUE_ORDER: &str = "begin_after, scheduled DESC, seq";

pub(super) static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT q.name, q.created_at, \
         (SELECT count(*) FROM jobs j WHERE j.status = {pending} AND j.queue = q.name) \
         FROM queues q",
        pending = lit(JobStatus::Pending)
    )
});

pub(super) static JOBS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE status = {pending} AND queue = $1 \
         ORDER BY {QUEUE_ORDER} LIMIT $2 OFFSET $3",
        pending = lit(JobStatus::Pending)
    )
});

static IN_USE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT status, count(*) FROM jobs WHERE queue = $1 AND status NOT IN ({completed}, {cancelled}) \
         GROUP BY status ORDER BY status",
        completed = lit(JobStatus::Completed),
        cancelled = lit(JobStatus::Cancelled),
    )
});

/// Deletes the queue (its agents go with it, `ON DELETE CASCADE`) and
/// announces, on commit, that the agents of each dispatcher that had one
/// there changed.
static DELETE: &str = "WITH holders AS (SELECT DISTINCT dispatcher FROM agents WHERE queue = $1), \
     deleted AS (DELETE FROM queues WHERE name = $1 RETURNING name), \
     sent AS (SELECT pg_notify($2, json_build_object('agents', h.dispatcher)::text) \
              FROM holders h, deleted) \
     SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM sent)";

fn info(row: &PgRow) -> Result<QueueInfo> {
    Ok(QueueInfo {
        name: row.try_get(0)?,
        created_at: clock::from_millis(row.try_get(1)?),
        length: row.try_get::<i64, _>(2)? as u64,
    })
}

/// Creates a queue.
pub(super) async fn create(db: &PgStore, name: &str, now: Timestamp) -> Result<QueueInfo> {
    let inserted = sqlx::query("INSERT INTO queues (name, created_at) VALUES ($1, $2)")
        .bind(name)
        .bind(ms(now))
        .execute(&db.pool)
        .await;
    match inserted {
        Ok(_) => Ok(QueueInfo {
            name: name.to_owned(),
            length: 0,
            created_at: now,
        }),
        Err(e) if row::is(&e, row::sqlstate::UNIQUE) => {
            Err(Error::Conflict(format!("{} already exists", what(name))))
        }
        Err(e) => Err(e.into()),
    }
}

/// A queue and its length.
pub(super) async fn get(db: &PgStore, name: &str) -> Result<QueueInfo> {
    let sql = format!("{} WHERE q.name = $1", *SELECT);
    let row = sqlx::query(&sql)
        .bind(name)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::not_found(what(name)))?;
    info(&row)
}

/// Every queue, by name.
pub(super) async fn list(db: &PgStore) -> Result<Vec<QueueInfo>> {
    let sql = format!(r#"{} ORDER BY q.name COLLATE "C""#, *SELECT);
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(info).collect()
}

/// Deletes a queue that holds no job short of `completed`; its agents go
/// with it.
///
/// `jobs.queue` has no foreign key (a completed job keeps the name of a
/// queue deleted since; a put checks the queue in its own statement), so
/// the delete first locks `jobs` against writes (`SHARE`: reads go on;
/// puts, claims and finishes wait until the delete commits). The check then
/// sees every put committed before it, and a put after it finds the queue
/// gone. The check reads every job of the queue: deleting a queue is rare.
pub(super) async fn delete(db: &PgStore, name: &str) -> Result<()> {
    if name == DEFAULT_QUEUE {
        return Err(Error::Conflict(
            "the default queue always exists; it cannot be deleted".to_owned(),
        ));
    }
    retrying(|| async {
        let mut tx = db.begin().await?;
        sqlx::query("LOCK TABLE jobs IN SHARE MODE")
            .execute(&mut *tx)
            .await?;
        let in_use = sqlx::query(&IN_USE).bind(name).fetch_all(&mut *tx).await?;
        if !in_use.is_empty() {
            let counts = in_use
                .iter()
                .map(|r| {
                    Ok(format!(
                        "{} {}",
                        r.try_get::<i64, _>(1)?,
                        r.try_get::<String, _>(0)?
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            return Err(Error::Conflict(format!(
                "{} holds jobs not yet completed ({}); it can be deleted once they complete",
                what(name),
                counts.join(", ")
            )));
        }
        let (deleted, _): (i64, i64) = sqlx::query_as(DELETE)
            .bind(name)
            .bind(&*db.channel)
            .fetch_one(&mut *tx)
            .await?;
        if deleted == 0 {
            return Err(Error::not_found(what(name)));
        }
        tx.commit().await?;
        Ok(())
    })
    .await
}

/// A queue's pending jobs in queue order.
pub(super) async fn jobs(db: &PgStore, p: QueueJobsParams) -> Result<Vec<Job>> {
    let rows = sqlx::query(&JOBS)
        .bind(&p.queue)
        .bind(i64::from(p.limit))
        .bind(i64::try_from(p.offset).unwrap_or(i64::MAX))
        .fetch_all(&db.pool)
        .await?;
    if rows.is_empty() {
        exists(db, &p.queue).await?;
    }
    row::jobs(&rows)
}

/// `Ok` if the queue exists, else [`Error::NotFound`].
pub(super) async fn exists(db: &PgStore, name: &str) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM queues WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| Error::not_found(what(name)))
}
