//! The transaction the store's multi-step operations run in. The logic
//! of those operations is written once in `store/` (`settle.rs`,
//! `failures.rs`, …), generic over statement traits; this backend
//! implements each trait on [`PgTx`] beside its statements (`SettleTx` in
//! `callbacks.rs`, `FailureTx` in `failures.rs`).

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Executor, PgConnection, Postgres, Row as _, Transaction, TypeInfo as _, ValueRef as _};
use uuid::Uuid;

use super::{PgStore, notify, row, watch};
use crate::store::Result;
use crate::store::sql::corrupt;
use crate::store::statement::{self, Arg, Cell, SqlBackend, SqlRow, SqlTx, sql_conn};

/// Statements inside one PostgreSQL transaction. Every job it sees get its
/// result is announced (`completed`), with the next cascade.
pub(crate) struct PgTx<'a> {
    pub(super) conn: &'a mut PgConnection,
    pub(super) db: &'a PgStore,
    pub(super) announce: Vec<Uuid>,
}

impl<'a> PgTx<'a> {
    /// Settles inside `tx`; `announce`: jobs completed by the caller, to
    /// announce with the first cascade.
    pub(super) fn new(
        tx: &'a mut Transaction<'static, Postgres>,
        db: &'a PgStore,
        announce: Vec<Uuid>,
    ) -> Self {
        Self::on_connection(tx, db, announce)
    }

    /// Settles on `conn`, a connection inside the caller's transaction.
    pub(super) fn on_connection(
        conn: &'a mut PgConnection,
        db: &'a PgStore,
        announce: Vec<Uuid>,
    ) -> Self {
        PgTx { conn, db, announce }
    }
}

/// An open transaction on the pool: what [`SqlBackend::transaction`]
/// gives.
pub(crate) struct PgTransaction<'a> {
    tx: Transaction<'static, Postgres>,
    db: &'a PgStore,
}

#[async_trait]
impl<'a> SqlTx for PgTransaction<'a> {
    type Conn<'c>
        = PgTx<'c>
    where
        Self: 'c;

    fn conn(&mut self) -> PgTx<'_> {
        PgTx::new(&mut self.tx, self.db, Vec::new())
    }

    async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }
}

/// Statements outside a transaction, each committed on its own, on the
/// store's pool.
pub(crate) struct PgPoolConn<'a>(pub(super) &'a PgStore);

/// Reads, writes and transactions on the one pool.
#[async_trait]
impl SqlBackend for PgStore {
    type Conn<'a> = PgPoolConn<'a>;
    type Writes<'a> = PgPoolConn<'a>;
    type Tx<'a> = PgTransaction<'a>;

    fn reads(&self) -> PgPoolConn<'_> {
        PgPoolConn(self)
    }

    fn writes(&self) -> PgPoolConn<'_> {
        PgPoolConn(self)
    }

    async fn transaction(&self) -> Result<PgTransaction<'_>> {
        Ok(PgTransaction {
            tx: self.begin().await?,
            db: self,
        })
    }
}

sql_conn!(PgTx<'_>, &statement::POSTGRES, |this| &mut *this.conn, {
    async fn announce_puts(&mut self, queues: &[String]) -> Result<()> {
        announce_puts(&mut *self.conn, self.db, queues).await
    }

    async fn announce_agents(&mut self, dispatcher: Uuid) -> Result<()> {
        announce_agents(&mut *self.conn, self.db, dispatcher).await
    }

    fn announce_completed(&mut self, ids: &[Uuid]) {
        self.announce.extend_from_slice(ids);
    }

    async fn mark_watched(&mut self, id: Uuid) -> Result<()> {
        watch::mark_any_row(&mut *self.conn, self.db, id).await
    }
});

sql_conn!(PgPoolConn<'_>, &statement::POSTGRES, |this| &this.0.pool, {
    async fn announce_puts(&mut self, queues: &[String]) -> Result<()> {
        announce_puts(&self.0.pool, self.0, queues).await
    }

    async fn announce_agents(&mut self, dispatcher: Uuid) -> Result<()> {
        announce_agents(&self.0.pool, self.0, dispatcher).await
    }

    async fn mark_watched(&mut self, id: Uuid) -> Result<()> {
        watch::mark(self.0, id).await
    }
});

/// Announces puts in `queues` to every listener (on commit, inside a
/// transaction).
async fn announce_puts<'e>(
    conn: impl Executor<'e, Database = Postgres>,
    db: &PgStore,
    queues: &[String],
) -> Result<()> {
    if queues.is_empty() {
        return Ok(());
    }
    let payloads = notify::put_payloads(queues.iter().map(String::as_str));
    sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
        .bind(&*db.channel)
        .bind(payloads)
        .execute(conn)
        .await?;
    Ok(())
}

/// Announces that a dispatcher's agents changed (on commit, inside a
/// transaction).
async fn announce_agents<'e>(
    conn: impl Executor<'e, Database = Postgres>,
    db: &PgStore,
    dispatcher: Uuid,
) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, json_build_object('agents', $2::uuid)::text)")
        .bind(&*db.channel)
        .bind(dispatcher)
        .execute(conn)
        .await?;
    Ok(())
}

/// Binds neutral arguments as PostgreSQL stores them: ids as `uuid`, JSON
/// as text (cast by the statement), output as `bytea`.
fn bind<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    args: &[Arg<'q>],
) -> Query<'q, Postgres, PgArguments> {
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
            Arg::Texts(t) => query.bind(t),
            Arg::Ids(ids) => query.bind(ids),
            Arg::Output(t) => query.bind(row::output(t)),
        };
    }
    query
}

/// Reads a row by its columns' types.
fn read(table: &'static str, row: &PgRow) -> Result<SqlRow> {
    let mut cells = Vec::with_capacity(row.len());
    for i in 0..row.len() {
        let raw = row.try_get_raw(i)?;
        let cell = if raw.is_null() {
            Cell::Null
        } else {
            match raw.type_info().name() {
                "INT8" => Cell::Int(row.try_get(i)?),
                "INT4" => Cell::Int(row.try_get::<i32, _>(i)?.into()),
                "INT2" => Cell::Int(row.try_get::<i16, _>(i)?.into()),
                "TEXT" | "VARCHAR" | "NAME" => Cell::Text(row.try_get(i)?),
                "UUID" => Cell::Uuid(row.try_get(i)?),
                "JSON" | "JSONB" => Cell::Json(row.try_get(i)?),
                "BYTEA" => Cell::Bytes(row.try_get(i)?),
                "BOOL" => Cell::Bool(row.try_get(i)?),
                "TEXT[]" => Cell::Texts(row.try_get(i)?),
                "UUID[]" => Cell::Uuids(row.try_get(i)?),
                other => return Err(corrupt(table, format!("column {i}: a {other} value"))),
            }
        };
        cells.push(cell);
    }
    Ok(SqlRow { table, cells })
}
