//! Pauses, written once for both backends: a paused queue or dispatcher
//! claims nothing until resumed. A
//! resume is announced where the backend announces, so every process's
//! dispatcher looks again at once.

use super::manage::Pauses;
use super::sql::{ms, queue_what};
use super::statement::{Arg, SqlConn};
use super::{Error, Result};
use crate::clock;
use crate::model::{DispatcherId, Timestamp};

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

/// Pauses a queue (see [`ManageStore::queue_pause`](super::ManageStore::queue_pause)).
pub(crate) async fn queue_pause<C: SqlConn + ?Sized>(
    conn: &mut C,
    queue: &str,
    now: Timestamp,
) -> Result<()> {
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
pub(crate) async fn queue_resume<C: SqlConn + ?Sized>(conn: &mut C, queue: &str) -> Result<()> {
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
pub(crate) async fn dispatcher_pause<C: SqlConn + ?Sized>(
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
pub(crate) async fn dispatcher_resume<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: DispatcherId,
) -> Result<()> {
    dispatcher_exists(conn, id).await?;
    let sql = conn
        .dialect()
        .render("DELETE FROM dispatcher_pauses WHERE dispatcher = ?1");
    if conn.execute(&sql, &[Arg::Id(id.0)]).await? > 0 {
        conn.announce_agents(id.0).await?;
    }
    Ok(())
}

/// Everything paused.
pub(crate) async fn list<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Pauses> {
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
