//! The transaction the store's multi-step operations run in. The logic
//! of those operations is written once in `store/` (`settle.rs`,
//! `failures.rs`, …), generic over statement traits; this backend
//! implements each trait on [`SqliteTx`] beside its statements
//! (`SettleTx` in `callbacks.rs`, `FailureTx` in `failures.rs`).

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row as _, Sqlite, SqlitePool, Transaction, TypeInfo as _, ValueRef as _};

use crate::store::Result;
use crate::store::sql::corrupt;
use crate::store::statement::{self, Arg, Cell, SqlBackend, SqlRow, SqlTx, sql_conn};

/// Statements inside one SQLite write transaction (`BEGIN IMMEDIATE`:
/// SQLite has one writer at a time, so the statements of one operation
/// never interleave with another process's).
pub(crate) struct SqliteTx<'a>(pub(super) &'a mut Transaction<'static, Sqlite>);

/// An open write transaction on the writer: what
/// [`SqlBackend::transaction`] gives.
pub(crate) struct SqliteTransaction(Transaction<'static, Sqlite>);

#[async_trait]
impl SqlTx for SqliteTransaction {
    type Conn<'c> = SqliteTx<'c>;

    fn conn(&mut self) -> SqliteTx<'_> {
        SqliteTx(&mut self.0)
    }

    async fn commit(self) -> Result<()> {
        Ok(self.0.commit().await?)
    }
}

/// Statements outside a transaction, each committed on its own, on one of
/// the store's pools (the reader for reads, the writer for writes).
pub(crate) struct SqlitePoolConn<'a>(pub(super) &'a SqlitePool);

/// Reads on the reader pool, writes on the one-connection writer pool,
/// transactions on the writer with `BEGIN IMMEDIATE` (a plain `BEGIN` for
/// one whose first statement writes).
#[async_trait]
impl SqlBackend for super::SqliteStore {
    type Conn<'a> = SqlitePoolConn<'a>;
    type Tx<'a> = SqliteTransaction;

    fn reads(&self) -> SqlitePoolConn<'_> {
        SqlitePoolConn(&self.reader)
    }

    fn writes(&self) -> SqlitePoolConn<'_> {
        SqlitePoolConn(&self.writer)
    }

    async fn transaction(&self) -> Result<SqliteTransaction> {
        Ok(SqliteTransaction(self.begin().await?))
    }

    async fn transaction_writing_first(&self) -> Result<SqliteTransaction> {
        Ok(SqliteTransaction(self.begin_writing_first().await?))
    }
}

sql_conn!(SqliteTx<'_>, &statement::SQLITE, |this| &mut **this.0, {});
sql_conn!(SqlitePoolConn<'_>, &statement::SQLITE, |this| this.0, {});

/// Binds neutral arguments as SQLite stores them: ids as blobs, JSON and
/// output as text.
fn bind<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    args: &[Arg<'q>],
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for arg in args {
        query = match *arg {
            Arg::Id(id) => query.bind(id),
            Arg::OptId(id) => query.bind(id),
            Arg::Int(v) => query.bind(v),
            Arg::OptInt(v) => query.bind(v),
            Arg::Bool(v) => query.bind(v),
            Arg::Text(t) | Arg::Json(t) => query.bind(t),
            Arg::OptText(t) => query.bind(t),
            Arg::Bytes(b) => query.bind(b),
            Arg::Texts(t) => query.bind(serde_json::Value::from(t).to_string()),
            Arg::Ids(ids) => {
                let hex: Vec<String> = ids.iter().map(|id| id.simple().to_string()).collect();
                query.bind(serde_json::Value::from(hex).to_string())
            }
            Arg::Output(t) => query.bind((!t.is_empty()).then_some(t)),
        };
    }
    query
}

/// Reads a row by the type each value has (SQLite types values, not
/// columns).
fn read(table: &'static str, row: &SqliteRow) -> Result<SqlRow> {
    let mut cells = Vec::with_capacity(row.len());
    for i in 0..row.len() {
        let raw = row.try_get_raw(i)?;
        let cell = if raw.is_null() {
            Cell::Null
        } else {
            match raw.type_info().name() {
                "INTEGER" | "BOOLEAN" => Cell::Int(row.try_get(i)?),
                "TEXT" => Cell::Text(row.try_get(i)?),
                "BLOB" => Cell::Bytes(row.try_get(i)?),
                other => return Err(corrupt(table, format!("column {i}: a {other} value"))),
            }
        };
        cells.push(cell);
    }
    Ok(SqlRow { table, cells })
}
