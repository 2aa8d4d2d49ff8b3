//! Pauses, written once for both backends: a paused queue or dispatcher
//! claims nothing until resumed. A
//! resume is announced where the backend announces, so every process's
//! dispatcher looks again at once.

use async_trait::async_trait;
use tracing::instrument;

use super::sql::{ms, queue_what};
use super::statement::{Arg, SqlBackend, SqlConn};
use super::{Error, Result};
use crate::clock;
use crate::model::{DispatcherId, Timestamp};

/// What is paused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pauses {
    /// Paused queues and since when, by name.
    pub queues: Vec<(String, Timestamp)>,
    /// Paused dispatchers and since when, by id.
    pub dispatchers: Vec<(DispatcherId, Timestamp)>,
}

/// Pauses of queues and dispatchers.
#[async_trait]
pub trait PauseStore: Send + Sync + std::fmt::Debug {
    /// Pauses a queue: no dispatcher claims from it until it is resumed.
    /// Pausing a paused queue keeps its first pause time. `NotFound` for
    /// an unknown queue.
    async fn queue_pause(&self, queue: &str, now: Timestamp) -> Result<()>;
    /// Resumes a queue (announcing work in it to every process). Resuming a
    /// queue that is not paused does nothing. `NotFound` for an unknown
    /// queue.
    async fn queue_resume(&self, queue: &str) -> Result<()>;
    /// Pauses a dispatcher: it claims nothing until resumed (its running
    /// jobs go on). `NotFound` for an unknown dispatcher.
    async fn dispatcher_pause(&self, id: DispatcherId, now: Timestamp) -> Result<()>;
    /// Resumes a dispatcher (announcing it as an agent change, which wakes
    /// it). `NotFound` for an unknown dispatcher.
    async fn dispatcher_resume(&self, id: DispatcherId) -> Result<()>;
    /// Everything paused.
    async fn pause_list(&self) -> Result<Pauses>;
}

#[async_trait]
impl<B: SqlBackend> PauseStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn queue_pause(&self, queue: &str, now: Timestamp) -> Result<()> {
        queue_pause(&mut self.writes(), queue, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_resume(&self, queue: &str) -> Result<()> {
        queue_resume(&mut self.writes(), queue).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_pause(&self, id: DispatcherId, now: Timestamp) -> Result<()> {
        dispatcher_pause(&mut self.writes(), id, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_resume(&self, id: DispatcherId) -> Result<()> {
        dispatcher_resume(&mut self.writes(), id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn pause_list(&self) -> Result<Pauses> {
        list(&mut self.reads()).await
    }
}

async fn found<C: SqlConn + ?Sized>(
    conn: &mut C,
    sql: &str,
    arg: Arg<'_>,
    what: impl FnOnce() -> String,
) -> Result<()> {
    let sql = conn.dialect().render(sql);
    match conn.fetch_optional("queues", &sql, &[arg]).await? {
        Some(_) => Ok(()),
        None => Err(Error::not_found(what())),
    }
}

/// [`Error::NotFound`] for an unknown queue.
pub(crate) async fn queue_exists<C: SqlConn + ?Sized>(conn: &mut C, queue: &str) -> Result<()> {
    let sql = "SELECT 1 FROM queues WHERE name = ?1";
    found(conn, sql, Arg::Text(queue), || queue_what(queue)).await
}

/// [`Error::NotFound`] for an unknown dispatcher.
async fn dispatcher_exists<C: SqlConn + ?Sized>(conn: &mut C, id: DispatcherId) -> Result<()> {
    let sql = "SELECT 1 FROM dispatchers WHERE id = ?1";
    found(conn, sql, Arg::Id(id.0), || format!("dispatcher {id}")).await
}

/// A foreign key failure (the queue or dispatcher went away between the
/// check and the write) as [`Error::NotFound`].
fn gone(error: Error, what: impl FnOnce() -> String) -> Error {
    match &error {
        Error::Database(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
            Error::not_found(what())
        }
        _ => error,
    }
}

/// Pauses a queue (see [`PauseStore::queue_pause`]).
async fn queue_pause<C: SqlConn + ?Sized>(conn: &mut C, queue: &str, now: Timestamp) -> Result<()> {
    queue_exists(conn, queue).await?;
    let sql = conn.dialect().render(
        "INSERT INTO queue_pauses (queue, paused_at) VALUES (?1, ?2) \
         ON CONFLICT (queue) DO NOTHING",
    );
    conn.execute(&sql, &[Arg::Text(queue), Arg::Int(ms(now))])
        .await
        .map_err(|e| gone(e, || queue_what(queue)))?;
    Ok(())
}

/// Resumes a queue, announcing work in it.
async fn queue_resume<C: SqlConn + ?Sized>(conn: &mut C, queue: &str) -> Result<()> {
    queue_exists(conn, queue).await?;
    let sql = conn
        .dialect()
        .render("DELETE FROM queue_pauses WHERE queue = ?1");
    if conn.execute(&sql, &[Arg::Text(queue)]).await? > 0 {
        conn.announce_puts(&[queue.to_owned()]).await?;
    }
    Ok(())
}

/// Pauses a dispatcher.
async fn dispatcher_pause<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: DispatcherId,
    now: Timestamp,
) -> Result<()> {
    dispatcher_exists(conn, id).await?;
    let sql = conn.dialect().render(
        "INSERT INTO dispatcher_pauses (dispatcher, paused_at) VALUES (?1, ?2) \
         ON CONFLICT (dispatcher) DO NOTHING",
    );
    conn.execute(&sql, &[Arg::Id(id.0), Arg::Int(ms(now))])
        .await
        .map_err(|e| gone(e, || format!("dispatcher {id}")))?;
    Ok(())
}

/// Resumes a dispatcher, announcing it as an agent change (which wakes
/// it).
async fn dispatcher_resume<C: SqlConn + ?Sized>(conn: &mut C, id: DispatcherId) -> Result<()> {
    dispatcher_exists(conn, id).await?;
    let sql = conn
        .dialect()
        .render("DELETE FROM dispatcher_pauses WHERE dispatcher = ?1");
    if conn.execute(&sql, &[Arg::Id(id.0)]).await? > 0 {
        conn.announce_agents(id.0).await?;
    }
    Ok(())
}

/// True when a claim of `queue` by `dispatcher` must take nothing: the
/// queue or the dispatcher is paused. The plain claim statement tests the
/// same in itself; this is read before a quota claim.
pub(crate) async fn paused<C: SqlConn + ?Sized>(
    conn: &mut C,
    queue: &str,
    dispatcher: DispatcherId,
) -> Result<bool> {
    let sql = conn.dialect().render(
        "SELECT EXISTS (SELECT 1 FROM queue_pauses WHERE queue = ?1) \
         OR EXISTS (SELECT 1 FROM dispatcher_pauses WHERE dispatcher = ?2)",
    );
    let args = [Arg::Text(queue), Arg::Id(dispatcher.0)];
    match conn.fetch_optional("queue_pauses", &sql, &args).await? {
        Some(row) => row.bool(0),
        None => Ok(false),
    }
}

/// Everything paused.
async fn list<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Pauses> {
    let sql = "SELECT queue, paused_at FROM queue_pauses ORDER BY queue";
    let queues = conn.fetch_all("queue_pauses", sql, &[]).await?;
    let sql = "SELECT dispatcher, paused_at FROM dispatcher_pauses ORDER BY dispatcher";
    let dispatchers = conn.fetch_all("dispatcher_pauses", sql, &[]).await?;
    Ok(Pauses {
        queues: queues
            .iter()
            .map(|r| Ok((r.text(0)?, clock::from_millis(r.int(1)?))))
            .collect::<Result<_>>()?,
        dispatchers: dispatchers
            .iter()
            .map(|r| Ok((DispatcherId(r.id(0)?), clock::from_millis(r.int(1)?))))
            .collect::<Result<_>>()?,
    })
}
