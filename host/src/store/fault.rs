//! When the database itself fails: which errors of sqlx, SQLite and
//! PostgreSQL mean "the storage is full" or "the database cannot be
//! reached" (a [`Fault`]: a condition of the machine, not of the request,
//! that passes once space returns or the server is back), and the rule that
//! no transaction outlives an error on a pooled connection.
//!
//! This is the one place that knows the backends' error codes: every
//! `sqlx::Error` becomes a [`Error`] through the `From` below, so a full
//! disk reaches the layers above as [`Error::Fault`] whatever statement
//! met it. What to do about a fault (answer 507 or 503, retry an outcome
//! until it is written, report the store degraded) is decided once, above
//! the backends (`service::health`, `dispatch`).

use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::{Connection as _, Database, TransactionManager};

use super::Error;

/// What kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The database's storage is full: no write fits until space is freed
    /// (SQLite's `SQLITE_FULL`, PostgreSQL's `disk_full`).
    StorageFull,
    /// The database cannot be reached or cannot take writes now: the
    /// server is down, restarting or refusing connections, the connection
    /// dropped, the file cannot be written or stays locked.
    Unavailable,
}

impl FaultKind {
    /// The stable code the API answers with.
    pub fn code(self) -> &'static str {
        match self {
            FaultKind::StorageFull => "storage_full",
            FaultKind::Unavailable => "database_unavailable",
        }
    }

    /// What it means for the queue, in words.
    pub fn meaning(self) -> &'static str {
        match self {
            FaultKind::StorageFull => {
                "the database's storage is full: nothing can be written until space is freed"
            }
            FaultKind::Unavailable => "the database cannot be reached or cannot take writes",
        }
    }
}

/// A store operation failed because of the database, not the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({detail})", kind.meaning())]
pub struct Fault {
    /// Which.
    pub kind: FaultKind,
    /// The database's own words (`database or disk is full`, `connection
    /// refused`, ...).
    pub detail: String,
}

impl Fault {
    /// A fault of `kind` described by `detail`.
    pub fn new(kind: FaultKind, detail: impl Into<String>) -> Self {
        Fault {
            kind,
            detail: detail.into(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match classify(&error) {
            Some(kind) => Error::Fault(Fault::new(kind, error.to_string())),
            None => Error::Database(error),
        }
    }
}

/// SQLite's primary result codes (the low byte of an extended code) that
/// are faults: <https://www.sqlite.org/rescode.html>.
mod sqlite_code {
    /// `SQLITE_READONLY`: the file cannot be written (permissions, a
    /// read-only mount).
    pub const READONLY: i64 = 8;
    /// `SQLITE_BUSY`: another process kept the write lock past the busy
    /// timeout.
    pub const BUSY: i64 = 5;
    /// `SQLITE_IOERR`: the operating system failed a read, write or sync.
    pub const IOERR: i64 = 10;
    /// `SQLITE_FULL`: the disk is full.
    pub const FULL: i64 = 13;
    /// `SQLITE_CANTOPEN`: the file (or its WAL) cannot be opened.
    pub const CANTOPEN: i64 = 14;
}

/// The fault an error is, if it is one.
pub fn classify(error: &sqlx::Error) -> Option<FaultKind> {
    match error {
        sqlx::Error::Database(e) => {
            let code = e.code()?;
            if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                sqlite_fault(code.parse().ok()?)
            } else {
                postgres_fault(&code)
            }
        }
        sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => {
            Some(FaultKind::StorageFull)
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => Some(FaultKind::Unavailable),
        _ => None,
    }
}

fn sqlite_fault(extended: i64) -> Option<FaultKind> {
    match extended & 0xff {
        sqlite_code::FULL => Some(FaultKind::StorageFull),
        sqlite_code::IOERR | sqlite_code::CANTOPEN | sqlite_code::READONLY | sqlite_code::BUSY => {
            Some(FaultKind::Unavailable)
        }
        _ => None,
    }
}

/// PostgreSQL's SQLSTATEs that are faults:
/// <https://www.postgresql.org/docs/current/errcodes-appendix.html>.
fn postgres_fault(sqlstate: &str) -> Option<FaultKind> {
    match sqlstate {
        // disk_full
        "53100" => Some(FaultKind::StorageFull),
        // admin_shutdown, crash_shutdown, cannot_connect_now (a restart),
        // too_many_connections, out_of_memory, read_only_sql_transaction
        // (a standby after a failover)
        "57P01" | "57P02" | "57P03" | "53300" | "53200" | "25006" => Some(FaultKind::Unavailable),
        // connection_exception and its subclasses; system_error (an I/O
        // error on the server)
        _ if sqlstate.starts_with("08") || sqlstate.starts_with("58") => {
            Some(FaultKind::Unavailable)
        }
        _ => None,
    }
}

/// The pools' `before_acquire` check: a connection still inside a
/// transaction is closed instead of handed out.
///
/// A transaction dropped on an error queues its `ROLLBACK`; a connection
/// still counted inside a transaction is pinged first, which waits for
/// that queued rollback (a connection runs its commands in order). If
/// the rollback failed — SQLite rolls a transaction back by itself when a
/// commit meets a full disk, so the `ROLLBACK` finds none and sqlx's count
/// of open transactions stays at one — every later `BEGIN` on the
/// connection would fail with "attempted to call begin_with at non-zero
/// transaction depth", forever. Closing the connection ends whatever it
/// still had open, and the pool opens a fresh one.
pub(crate) fn no_open_transaction<DB: Database>(
    conn: &mut DB::Connection,
    _meta: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move { Ok(!still_in_transaction::<DB>(conn).await?) })
}

/// Whether `conn` is still inside a transaction once any rollback a
/// dropped transaction queued has run: such a connection must be closed,
/// not used again (see [`no_open_transaction`], which SQLite's writer
/// also asks between its writes, `store/sqlite/writer.rs`).
pub(crate) async fn still_in_transaction<DB: Database>(
    conn: &mut DB::Connection,
) -> Result<bool, sqlx::Error> {
    if transaction_depth::<DB>(conn) > 0 {
        conn.ping().await?;
    }
    let depth = transaction_depth::<DB>(conn);
    if depth > 0 {
        // Always after an error the caller met (and the store's health
        // reports), so not worth more than a debug line each time.
        tracing::debug!(
            depth,
            "a connection was left inside a transaction after an error; closing it"
        );
    }
    Ok(depth > 0)
}

/// How many transactions sqlx counts open on `conn`.
fn transaction_depth<DB: Database>(conn: &DB::Connection) -> usize {
    <DB::TransactionManager as TransactionManager>::get_transaction_depth(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes() {
        assert_eq!(sqlite_fault(13), Some(FaultKind::StorageFull));
        // SQLITE_IOERR_WRITE, SQLITE_IOERR_FSYNC
        assert_eq!(sqlite_fault(778), Some(FaultKind::Unavailable));
        assert_eq!(sqlite_fault(1034), Some(FaultKind::Unavailable));
        // SQLITE_CONSTRAINT_UNIQUE is the request's fault, not the database's
        assert_eq!(sqlite_fault(2067), None);
    }

    #[test]
    fn postgres_codes() {
        assert_eq!(postgres_fault("53100"), Some(FaultKind::StorageFull));
        for code in ["57P01", "57P03", "08006", "08001", "58030", "25006"] {
            assert_eq!(postgres_fault(code), Some(FaultKind::Unavailable), "{code}");
        }
        for code in ["23505", "40001", "42P01", "55P03"] {
            assert_eq!(postgres_fault(code), None, "{code}");
        }
    }

    #[test]
    fn transport_errors_are_unavailable_and_named() {
        let refused = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        let error = Error::from(refused);
        match &error {
            Error::Fault(fault) => assert_eq!(fault.kind, FaultKind::Unavailable),
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().contains("connection refused"), "{error}");
        let full = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(classify(&full), Some(FaultKind::StorageFull));
        assert_eq!(classify(&sqlx::Error::RowNotFound), None);
        assert_eq!(
            classify(&sqlx::Error::PoolTimedOut),
            Some(FaultKind::Unavailable)
        );
    }
}
