//! The writer: the one connection every write of this process goes
//! through, held between writes instead of going back to a pool.
//!
//! sqlx's pool pings a connection each time it is released, on a task it
//! spawns, and only then lets the next waiter have it. On SQLite a ping is
//! a round trip to the connection's thread, so between any two writes the
//! one writer connection sat idle while a task was scheduled, SQLite's
//! thread woke, answered, and the waiter woke (issue 16: under load the
//! connection was held ~0.92 ms a transaction, SQLite busy about half of
//! it). Here the connection stays out of the pool between writes, behind
//! a fair lock: the next write has it as soon as the last one is done.
//!
//! The pool still opens the connection, and opens a new one in place of
//! one that had to be closed. The rule `store/fault.rs` keeps for pooled
//! connections holds here at each acquire: a connection an error left
//! inside a transaction is closed and replaced, never used again.

use std::borrow::Cow;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnection, SqliteTransactionManager};
use sqlx::{Sqlite, SqlitePool, TransactionManager as _};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::ACQUIRE_TIMEOUT;
use crate::store::fault::still_in_transaction;

/// The writer's connection and the pool that opens it.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    /// At most one connection; opens the writer's and replaces it.
    pool: SqlitePool,
    /// The connection between writes (`None` before the first write and
    /// after one was closed); the lock orders the writes.
    held: Arc<Mutex<Option<PoolConnection<Sqlite>>>>,
}

impl Writer {
    /// The writer over `pool`, a pool of one connection.
    pub(super) fn new(pool: SqlitePool) -> Self {
        Writer {
            pool,
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// The connection, once the writes before this one are done (in the
    /// order asked, waiting at most [`ACQUIRE_TIMEOUT`] for them, and at
    /// most as long again for the pool when it opens a new connection).
    pub(super) async fn acquire(&self) -> Result<WriterConn, sqlx::Error> {
        let lock = Arc::clone(&self.held).lock_owned();
        let mut held = tokio::time::timeout(ACQUIRE_TIMEOUT, lock)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        if let Some(conn) = held.as_mut() {
            // A failed check means a connection no longer usable: closed
            // below all the same.
            if still_in_transaction::<Sqlite>(conn).await.unwrap_or(true) {
                close(held.take());
            }
        }
        if held.is_none() {
            *held = Some(self.pool.acquire().await?);
        }
        Ok(WriterConn(held))
    }

    /// A write transaction: `BEGIN IMMEDIATE`, or a plain `BEGIN` when
    /// `immediate` is false (for one whose first statement writes; sqlx
    /// sends it without the check it runs after a statement of ours).
    pub(super) async fn begin(&self, immediate: bool) -> Result<WriteTx, sqlx::Error> {
        let mut conn = self.acquire().await?;
        let statement = immediate.then_some(Cow::Borrowed("BEGIN IMMEDIATE"));
        SqliteTransactionManager::begin(&mut conn, statement).await?;
        Ok(WriteTx { conn, open: true })
    }

    /// Closes the connection (once a write under way is done) and the
    /// pool.
    pub(super) async fn close(&self) {
        let conn = self.held.lock().await.take();
        // Released to the pool, which closes it as the pool is closed.
        drop(conn);
        self.pool.close().await;
    }
}

/// Closes a connection that must not be used again.
fn close(conn: Option<PoolConnection<Sqlite>>) {
    if let Some(mut conn) = conn {
        conn.close_on_drop();
    }
}

/// The writer's connection, this write's until dropped.
#[derive(Debug)]
pub(super) struct WriterConn(OwnedMutexGuard<Option<PoolConnection<Sqlite>>>);

impl WriterConn {
    /// Closes the connection instead of keeping it for the next write:
    /// for one whose state is not known (a command given up half way).
    pub(super) fn discard(mut self) {
        close(self.0.take());
    }
}

impl Deref for WriterConn {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.0.as_ref().expect("held while acquired")
    }
}

impl DerefMut for WriterConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.0.as_mut().expect("held while acquired")
    }
}

/// A write transaction on the writer ([`Writer::begin`]). Dropped without
/// [`WriteTx::commit`], it rolls back, as sqlx's own transactions do: the
/// rollback is queued on the connection, and the next acquire waits for
/// it.
#[derive(Debug)]
pub(super) struct WriteTx {
    conn: WriterConn,
    open: bool,
}

impl WriteTx {
    /// Commits.
    pub(super) async fn commit(mut self) -> Result<(), sqlx::Error> {
        SqliteTransactionManager::commit(&mut self.conn).await?;
        self.open = false;
        Ok(())
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.open {
            SqliteTransactionManager::start_rollback(&mut self.conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::*;

    #[tokio::test]
    async fn the_connection_stays_out_of_the_pool_between_writes_until_closed() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("w.db"))
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let writer = Writer::new(pool.clone());
        for n in 0..3 {
            let mut tx = writer.begin(n % 2 == 0).await.unwrap();
            sqlx::query("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            // Held by the writer, not idle in the pool.
            assert_eq!((pool.size(), pool.num_idle()), (1, 0));
        }
        // Closing waits for no release that will never come.
        tokio::time::timeout(std::time::Duration::from_secs(10), writer.close())
            .await
            .expect("closed");
        assert!(pool.is_closed());
        assert!(writer.acquire().await.is_err(), "no write after close");
    }
}
