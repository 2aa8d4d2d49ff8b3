//! `quotas`: named caps per queue, written once for both backends (the
//! claim of a queue that has any stays tuned per backend, in its
//! `quota.rs`). A quota's slots are the queue's jobs `assigned` or
//! `active` that name it.

use async_trait::async_trait;
use tracing::instrument;

use super::quota_claim::stored_rate;
use super::sql::{lit, ms, queue_what, to_u32};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow, SqlTx, retrying};
use super::{Error, Result};
use crate::clock;
use crate::model::{
    JobId, JobStatus, Quota, QuotaKey, Rate, Timestamp, quota_slot, split_quota_slot,
};

/// Creates a quota.
#[derive(Debug, Clone)]
pub struct QuotaCreateParams {
    /// Its queue (it must exist).
    pub queue: String,
    /// Its name.
    pub name: String,
    /// Its size (at least 1).
    pub size: u32,
    /// True: the size applies to each key separately.
    pub partitioned: bool,
    /// A rate applied to each key (partitioned quotas only).
    pub rate: Option<Rate>,
    /// Now.
    pub now: Timestamp,
}

/// Quotas: named limits on how many jobs of a queue run at once.
#[async_trait]
pub trait QuotaStore: Send + Sync + std::fmt::Debug {
    /// Creates a quota. [`Error::Conflict`] if the queue has one by that
    /// name; [`Error::NotFound`] for an unknown queue.
    async fn quota_create(&self, params: QuotaCreateParams) -> Result<Quota>;
    /// A quota, with the jobs holding it now.
    async fn quota_get(&self, queue: &str, name: &str) -> Result<Quota>;
    /// A queue's quotas, by name. [`Error::NotFound`] for an unknown queue.
    async fn quota_list(&self, queue: &str) -> Result<Vec<Quota>>;
    /// Changes a quota's size. Jobs already holding it are not touched: a
    /// smaller size only holds back later claims.
    async fn quota_set_size(&self, queue: &str, name: &str, size: u32) -> Result<Quota>;
    /// Removes a quota; jobs that name it no longer count against anything.
    async fn quota_delete(&self, queue: &str, name: &str) -> Result<()>;
}

const COLUMNS: &str = "queue, name, size, created_at, partitioned, rate_limit, rate_period_ms";

/// The queue's jobs holding quota slots, with each quota name they carry
/// (`value`), by job id (through `jobs_quota_in_flight`).
pub(crate) static IN_FLIGHT: Sql = Sql::new(|d| {
    let names = if d.locks_rows() {
        "CROSS JOIN LATERAL unnest(j.quota_names) AS n(value)"
    } else {
        ", json_each(j.quota_names) AS n"
    };
    format!(
        "SELECT j.id, n.value FROM jobs AS j {names} \
         WHERE j.queue = ?1 AND j.status IN ({assigned}, {active}) \
           AND j.quota_names IS NOT NULL \
         ORDER BY j.id",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// "quota `name` of queue `q`", for messages.
fn what(queue: &str, name: &str) -> String {
    format!("quota `{name}` of {}", queue_what(queue))
}

/// `(job, quota name)` for every slot taken in the queue, by job id.
pub(crate) async fn in_flight<C: SqlConn + ?Sized>(
    conn: &mut C,
    queue: &str,
) -> Result<Vec<(JobId, String)>> {
    let rows = conn
        .fetch_all("jobs", IN_FLIGHT.text(conn.dialect()), &[Arg::Text(queue)])
        .await?;
    rows.iter()
        .map(|r| Ok((JobId(r.id(0)?), r.text(1)?)))
        .collect()
}

fn quota(row: &SqlRow, slots: &[(JobId, String)]) -> Result<Quota> {
    let name = row.text(1)?;
    let size = to_u32("quotas", "size", row.int(2)?)?;
    let partitioned = row.bool(4)?;
    // A partitioned quota's slots are its keys' entries.
    let holds = |entry: &str| match split_quota_slot(entry) {
        Some((quota, _)) => partitioned && quota == name,
        None => !partitioned && entry == name,
    };
    let active: Vec<JobId> = slots
        .iter()
        .filter(|(_, n)| holds(n))
        .map(|(id, _)| *id)
        .collect();
    Ok(Quota {
        queue: row.text(0)?,
        filled: !partitioned && active.len() >= size as usize,
        name,
        size,
        created_at: clock::from_millis(row.int(3)?),
        active,
        partitioned,
        keys: Vec::new(),
        rate: stored_rate(row.opt_int(5)?, row.opt_int(6)?),
    })
}

/// The keys of a partitioned quota with jobs pending or running, by key
/// (from `quota_slots`, whose rows the job triggers keep).
async fn keys<C: SqlConn + ?Sized>(conn: &mut C, quota: &mut Quota) -> Result<()> {
    if !quota.partitioned {
        return Ok(());
    }
    let prefix = quota_slot(&quota.name, "");
    let sql = conn.dialect().render(&format!(
        "SELECT slot, pending, held, rate_until, rate_starts FROM quota_slots \
         WHERE queue = ?1 AND substr(slot, 1, CAST(?3 AS INTEGER)) = ?2 AND (pending > 0 OR held > 0) \
         ORDER BY slot{}",
        conn.dialect().binary_order
    ));
    let chars = prefix.chars().count() as i64;
    let rows = conn
        .fetch_all(
            "quota_slots",
            &sql,
            &[Arg::Text(&quota.queue), Arg::Text(&prefix), Arg::Int(chars)],
        )
        .await?;
    for r in rows {
        let slot = r.text(0)?;
        let Some((_, key)) = split_quota_slot(&slot) else {
            continue;
        };
        let running = u64::try_from(r.int(2)?).unwrap_or(0);
        quota.keys.push(QuotaKey {
            key: key.to_owned(),
            running,
            pending: u64::try_from(r.int(1)?).unwrap_or(0),
            filled: running >= u64::from(quota.size),
            rate: None,
            window: (r.int(3)?, r.int(4)?),
        });
    }
    Ok(())
}

/// A quota and the jobs holding it.
async fn get<C: SqlConn + ?Sized>(conn: &mut C, queue: &str, name: &str) -> Result<Quota> {
    let sql = conn.dialect().render(&format!(
        "SELECT {COLUMNS} FROM quotas WHERE queue = ?1 AND name = ?2"
    ));
    let row = conn
        .fetch_optional("quotas", &sql, &[Arg::Text(queue), Arg::Text(name)])
        .await?
        .ok_or_else(|| Error::not_found(what(queue, name)))?;
    let slots = in_flight(conn, queue).await?;
    let mut quota = quota(&row, &slots)?;
    keys(conn, &mut quota).await?;
    Ok(quota)
}

/// Creates a quota in an existing queue, inside the caller's transaction.
/// Where the backend's one-statement claim could miss a quota created while
/// it runs (PostgreSQL), the create first keeps writes to `jobs` out
/// ([`Dialect::lock_jobs_table`](super::statement::Dialect)): it waits for
/// the claims in progress, and the claims after it see the new quota.
async fn create<C: SqlConn + ?Sized>(tx: &mut C, p: &QuotaCreateParams) -> Result<()> {
    let d = tx.dialect();
    if let Some(lock) = d.lock_jobs_table {
        tx.execute(lock, &[]).await?;
    }
    let sql = d.render(
        "INSERT INTO quotas (queue, name, size, created_at, partitioned, rate_limit, rate_period_ms) \
         VALUES ((SELECT name FROM queues WHERE name = ?1), ?2, ?3, ?4, ?5, ?6, ?7)",
    );
    let args = [
        Arg::Text(&p.queue),
        Arg::Text(&p.name),
        Arg::Int(i64::from(p.size)),
        Arg::Int(ms(p.now)),
        Arg::Bool(p.partitioned),
        Arg::OptInt(p.rate.map(|r| i64::from(r.limit))),
        Arg::OptInt(p.rate.map(|r| r.period_ms as i64)),
    ];
    match tx.execute(&sql, &args).await {
        Ok(_) => Ok(()),
        Err(Error::Database(sqlx::Error::Database(e))) => Err(match e.kind() {
            sqlx::error::ErrorKind::NotNullViolation
            | sqlx::error::ErrorKind::ForeignKeyViolation => Error::not_found(queue_what(&p.queue)),
            sqlx::error::ErrorKind::UniqueViolation => {
                Error::Conflict(format!("{} already exists", what(&p.queue, &p.name)))
            }
            _ => Error::Database(sqlx::Error::Database(e)),
        }),
        Err(e) => Err(e),
    }
}

/// Removes a quota inside the caller's transaction. A partitioned quota
/// whose keys still have jobs pending or running is kept
/// ([`Error::Conflict`]): those jobs are found only through their keys'
/// rows, which go with it.
async fn delete<C: SqlConn + ?Sized>(tx: &mut C, queue: &str, name: &str) -> Result<()> {
    let d = tx.dialect();
    let prefix = quota_slot(name, "");
    let range = [
        Arg::Text(queue),
        Arg::Text(&prefix),
        Arg::Int(prefix.chars().count() as i64),
    ];
    let busy = d.render(
        "SELECT count(*) FROM quota_slots \
         WHERE queue = ?1 AND substr(slot, 1, CAST(?3 AS INTEGER)) = ?2 AND (pending > 0 OR held > 0)",
    );
    let busy = tx
        .fetch_optional("quota_slots", &busy, &range)
        .await?
        .map_or(Ok(0), |r| r.int(0))?;
    if busy > 0 {
        return Err(Error::Conflict(format!(
            "{} has {busy} keys with jobs pending or running: cancel or finish them first",
            what(queue, name)
        )));
    }
    let sql = d.render("DELETE FROM quotas WHERE queue = ?1 AND name = ?2");
    if tx
        .execute(&sql, &[Arg::Text(queue), Arg::Text(name)])
        .await?
        == 0
    {
        return Err(Error::not_found(what(queue, name)));
    }
    let sql = d.render(
        "DELETE FROM quota_slots WHERE queue = ?1 AND substr(slot, 1, CAST(?3 AS INTEGER)) = ?2",
    );
    tx.execute(&sql, &range).await?;
    Ok(())
}

#[async_trait]
impl<B: SqlBackend> QuotaStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn quota_create(&self, p: QuotaCreateParams) -> Result<Quota> {
        retrying(|| async {
            let mut tx = self.transaction().await?;
            create(&mut tx.conn(), &p).await?;
            tx.commit().await
        })
        .await?;
        get(&mut self.reads(), &p.queue, &p.name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_get(&self, queue: &str, name: &str) -> Result<Quota> {
        get(&mut self.reads(), queue, name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_list(&self, queue: &str) -> Result<Vec<Quota>> {
        let mut conn = self.reads();
        super::queue::exists(&mut conn, queue).await?;
        let d = conn.dialect();
        let sql = d.render(&format!(
            "SELECT {COLUMNS} FROM quotas WHERE queue = ?1 ORDER BY name{}",
            d.binary_order
        ));
        let rows = conn.fetch_all("quotas", &sql, &[Arg::Text(queue)]).await?;
        let slots = in_flight(&mut conn, queue).await?;
        let mut quotas = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut quota = quota(r, &slots)?;
            keys(&mut conn, &mut quota).await?;
            quotas.push(quota);
        }
        Ok(quotas)
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_set_size(&self, queue: &str, name: &str, size: u32) -> Result<Quota> {
        let mut conn = self.writes();
        let sql = conn
            .dialect()
            .render("UPDATE quotas SET size = ?3 WHERE queue = ?1 AND name = ?2");
        let args = [Arg::Text(queue), Arg::Text(name), Arg::Int(i64::from(size))];
        if conn.execute(&sql, &args).await? == 0 {
            return Err(Error::not_found(what(queue, name)));
        }
        get(&mut self.reads(), queue, name).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn quota_delete(&self, queue: &str, name: &str) -> Result<()> {
        retrying(|| async {
            let mut tx = self.transaction().await?;
            delete(&mut tx.conn(), queue, name).await?;
            tx.commit().await
        })
        .await
    }
}
