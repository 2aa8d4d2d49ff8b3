//! `quotas`: named caps per queue, written once for both backends (the
//! claim of a queue that has any stays tuned per backend, in its
//! `quota.rs`). A quota's slots are the queue's jobs `assigned` or
//! `active` that name it.

use async_trait::async_trait;
use tracing::instrument;

use super::sql::{lit, ms, queue_what, to_u32};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow, SqlTx, retrying};
use super::{Error, Result};
use crate::clock;
use crate::model::{JobId, JobStatus, Quota, Timestamp};

/// Creates a quota.
#[derive(Debug, Clone)]
pub struct QuotaCreateParams {
    /// Its queue (it must exist).
    pub queue: String,
    /// Its name.
    pub name: String,
    /// Its size (at least 1).
    pub size: u32,
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

const COLUMNS: &str = "queue, name, size, created_at";

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
async fn in_flight<C: SqlConn + ?Sized>(conn: &mut C, queue: &str) -> Result<Vec<(JobId, String)>> {
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
    let active: Vec<JobId> = slots
        .iter()
        .filter(|(_, n)| *n == name)
        .map(|(id, _)| *id)
        .collect();
    Ok(Quota {
        queue: row.text(0)?,
        filled: active.len() >= size as usize,
        name,
        size,
        created_at: clock::from_millis(row.int(3)?),
        active,
    })
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
    quota(&row, &slots)
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
        "INSERT INTO quotas (queue, name, size, created_at) \
         VALUES ((SELECT name FROM queues WHERE name = ?1), ?2, ?3, ?4)",
    );
    let args = [
        Arg::Text(&p.queue),
        Arg::Text(&p.name),
        Arg::Int(i64::from(p.size)),
        Arg::Int(ms(p.now)),
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
        rows.iter().map(|r| quota(r, &slots)).collect()
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
        let mut conn = self.writes();
        let sql = conn
            .dialect()
            .render("DELETE FROM quotas WHERE queue = ?1 AND name = ?2");
        if conn
            .execute(&sql, &[Arg::Text(queue), Arg::Text(name)])
            .await?
            == 0
        {
            return Err(Error::not_found(what(queue, name)));
        }
        Ok(())
    }
}
