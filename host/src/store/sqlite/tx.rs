//! The transaction the store's multi-step operations run in. The logic
//! of those operations is written once in `store/` (`settle.rs`,
//! `failures.rs`, …), generic over statement traits; this backend
//! implements each trait on [`SqliteTx`] beside its statements
//! (`SettleTx` in `callbacks.rs`, `FailureTx` in `failures.rs`).

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{Row as _, Sqlite, SqlitePool, TypeInfo as _, ValueRef as _};

use super::one_trip;
use super::writer::{WriteTx, Writer};
use crate::store::Result;
use crate::store::sql::corrupt;
use crate::store::statement::{self, Arg, Cell, SqlBackend, SqlRow, SqlTx, sql_conn};

/// Statements inside one SQLite write transaction (SQLite has one writer
/// at a time, so the statements of one operation never interleave with
/// another process's): the writer's connection, inside a transaction
/// the writer began (`writer.rs`) or one a trip opened (`one_trip.rs`).
pub(crate) struct SqliteTx<'a>(pub(super) &'a mut SqliteConnection);

/// An open write transaction on the writer: what
/// [`SqlBackend::transaction`] gives.
pub(crate) struct SqliteTransaction(WriteTx);

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

/// Reads outside a transaction, on the reader pool.
pub(crate) struct SqlitePoolConn<'a>(pub(super) &'a SqlitePool);

/// Writes outside a transaction, each committed on its own, on the
/// writer.
pub(crate) struct SqliteWriterConn<'a>(pub(super) &'a Writer);

/// Reads on the reader pool, writes on the writer's one connection,
/// transactions on the writer with `BEGIN IMMEDIATE` (a plain `BEGIN` for
/// one whose first statement writes).
#[async_trait]
impl SqlBackend for super::SqliteStore {
    type Conn<'a> = SqlitePoolConn<'a>;
    type Writes<'a> = SqliteWriterConn<'a>;
    type Tx<'a> = SqliteTransaction;

    fn reads(&self) -> SqlitePoolConn<'_> {
        SqlitePoolConn(&self.reader)
    }

    fn writes(&self) -> SqliteWriterConn<'_> {
        SqliteWriterConn(&self.writer)
    }

    async fn transaction(&self) -> Result<SqliteTransaction> {
        Ok(SqliteTransaction(self.begin().await?))
    }

    async fn transaction_writing_first(&self) -> Result<SqliteTransaction> {
        Ok(SqliteTransaction(self.begin_writing_first().await?))
    }
}

sql_conn!(SqliteTx<'_>, &statement::SQLITE, |this| &mut *this.0, {});
sql_conn!(SqlitePoolConn<'_>, &statement::SQLITE, |this| this.0, {});
sql_conn!(
    SqliteWriterConn<'_>,
    &statement::SQLITE,
    |this| &mut *this.0.acquire().await?,
    {}
);

/// Binds neutral arguments as SQLite stores them (see [`add_args`]).
fn bind<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    args: &[Arg<'q>],
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    let sql = sqlx::Execute::sql(&query);
    let mut values = SqliteArguments::default();
    // Ids, integers, texts and blobs: SQLite's own types, which always
    // encode.
    add_args(&mut values, args).expect("SQLite encodes every neutral argument");
    sqlx::query_with(sql, values)
}

/// Adds neutral arguments as SQLite stores them: ids as blobs, JSON and
/// output as text.
pub(super) fn add_args<'q>(
    values: &mut SqliteArguments<'q>,
    args: &[Arg<'q>],
) -> Result<(), sqlx::Error> {
    for arg in args {
        match *arg {
            Arg::Id(id) => one_trip::bind(values, id)?,
            Arg::OptId(id) => one_trip::bind(values, id)?,
            Arg::Int(v) => one_trip::bind(values, v)?,
            Arg::OptInt(v) => one_trip::bind(values, v)?,
            Arg::Bool(v) => one_trip::bind(values, v)?,
            Arg::Text(t) | Arg::Json(t) => one_trip::bind(values, t)?,
            Arg::OptText(t) => one_trip::bind(values, t)?,
            Arg::Bytes(b) => one_trip::bind(values, b)?,
            Arg::Texts(t) => one_trip::bind(values, serde_json::Value::from(t).to_string())?,
            Arg::Ids(ids) => {
                let hex: Vec<String> = ids.iter().map(|id| id.simple().to_string()).collect();
                one_trip::bind(values, serde_json::Value::from(hex).to_string())?
            }
            Arg::Output(t) => one_trip::bind(values, (!t.is_empty()).then_some(t))?,
        }
    }
    Ok(())
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
