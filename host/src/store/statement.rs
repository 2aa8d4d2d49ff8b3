//! Statements written once for both backends. Most of the store's SQL
//! differs between SQLite and PostgreSQL only in spelling: placeholders
//! (`?1` / `$1`), casts (`$1::json`), row locks (`FOR UPDATE`), how a JSON
//! or an output column is stored. A statement written here spells those
//! through a [`Dialect`] (`store/dialect.rs`), binds neutral [`Arg`]s and reads neutral
//! [`SqlRow`]s; each backend gives one [`SqlConn`] (its transaction type,
//! in its `tx.rs`) that runs such statements. The statement traits of the
//! multi-step operations ([`FailureTx`](super::failures::FailureTx), …)
//! are implemented once over it.
//!
//! Statements whose plan matters for speed (claims, finishes, puts) stay
//! tuned per backend, as River keeps one query file per driver.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::puts::PutTx;
use super::settle::SettleTx;
use super::sql::corrupt;
use super::{Error, Result};

pub(crate) use super::dialect::{Dialect, POSTGRES, SQLITE, Sql, like_pattern};

/// A parameter, bound the way each backend stores it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// An id (SQLite: a 16-byte blob; PostgreSQL: `uuid`).
    Id(Uuid),
    /// An id or NULL.
    OptId(Option<Uuid>),
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// A boolean (SQLite: an integer).
    Bool(bool),
    /// A text.
    Text(&'a str),
    /// A text or NULL.
    OptText(Option<&'a str>),
    /// A JSON value as text (the statement casts it with
    /// [`Dialect::json`]).
    Json(&'a str),
    /// A guest's output tail: NULL when empty (SQLite: text; PostgreSQL:
    /// `bytea`, which can hold NUL).
    Output(&'a str),
    /// Bytes (a blob, `bytea`).
    Bytes(&'a [u8]),
    /// A list of names (SQLite: a JSON array, read with `json_each`;
    /// PostgreSQL: `text[]`).
    Texts(&'a [String]),
    /// A list of ids (SQLite: a JSON array of ids in hex, the form
    /// `lower(hex(id))` gives; PostgreSQL: `uuid[]`).
    Ids(&'a [Uuid]),
}

/// A parameter a statement built at run time owns (see [`Binds`]).
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    /// An id.
    Id(Uuid),
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
    /// NULL where an id goes.
    NullId,
    /// NULL where an integer goes.
    NullInt,
    /// NULL where a text goes.
    NullText,
}

/// A statement built at run time (filters, multi-row inserts), with its
/// parameters: [`Binds::push`] appends a placeholder and returns it.
#[derive(Debug, Default)]
pub(crate) struct Binds {
    binds: Vec<Bind>,
    /// Placeholders written `?` (SQLite numbers them in the text's order)
    /// rather than `?N`: see [`Binds::in_text_order`].
    unnumbered: bool,
}

impl Binds {
    /// Parameters whose placeholders the caller writes into the text once
    /// each, in the order it pushes them (a multi-row `VALUES` list). On
    /// SQLite they are written `?`: to bind a numbered `?N`, SQLite looks
    /// its name up in a list of every numbered placeholder of the
    /// statement, so binding thousands of them costs quadratic time (the
    /// runs' insert of a finish took 12% of a loaded server's time,
    /// `perf`); an unnumbered one has no name to look up.
    pub fn in_text_order(dialect: &Dialect) -> Self {
        Binds {
            binds: Vec::new(),
            unnumbered: !dialect.numbers_placeholders(),
        }
    }

    /// Adds a parameter; returns its placeholder (`?N`, or `?` when built
    /// [`in_text_order`](Binds::in_text_order) for SQLite).
    pub fn push(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        if self.unnumbered {
            "?".to_owned()
        } else {
            format!("?{}", self.binds.len())
        }
    }

    /// The parameters, to bind.
    pub fn args(&self) -> Vec<Arg<'_>> {
        self.binds
            .iter()
            .map(|b| match b {
                Bind::Id(id) => Arg::Id(*id),
                Bind::Int(v) => Arg::Int(*v),
                Bind::Text(t) => Arg::Text(t),
                Bind::NullId => Arg::OptId(None),
                Bind::NullInt => Arg::OptInt(None),
                Bind::NullText => Arg::OptText(None),
            })
            .collect()
    }
}

/// A value read back, whatever the backend's type for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// NULL.
    Null,
    /// An integer (or a boolean, as SQLite stores it).
    Int(i64),
    /// A text.
    Text(String),
    /// A blob (SQLite's ids, PostgreSQL's `bytea`).
    Bytes(Vec<u8>),
    /// A PostgreSQL `uuid`.
    Uuid(Uuid),
    /// A PostgreSQL `json` value.
    Json(Value),
    /// A PostgreSQL boolean.
    Bool(bool),
    /// A PostgreSQL `text[]`.
    Texts(Vec<String>),
    /// A PostgreSQL `uuid[]`.
    Uuids(Vec<Uuid>),
}

/// A row read back as [`Cell`]s, with typed getters that name the table
/// when a value is not what it should be.
#[derive(Debug, Clone)]
pub(crate) struct SqlRow {
    /// The table the row comes from (for [`Error::Corrupt`]).
    pub table: &'static str,
    /// The values, in column order.
    pub cells: Vec<Cell>,
}

impl SqlRow {
    fn cell(&self, i: usize) -> Result<&Cell> {
        self.cells
            .get(i)
            .ok_or_else(|| corrupt(self.table, format!("no column {i}")))
    }

    fn wrong(&self, i: usize, want: &str) -> Error {
        corrupt(
            self.table,
            format!("column {i}: {want} expected, found {:?}", self.cells.get(i)),
        )
    }

    /// An id, or NULL.
    pub fn opt_id(&self, i: usize) -> Result<Option<Uuid>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Uuid(u) => Ok(Some(*u)),
            Cell::Bytes(b) => Uuid::from_slice(b)
                .map(Some)
                .map_err(|e| corrupt(self.table, format!("column {i}: {e}"))),
            _ => Err(self.wrong(i, "an id")),
        }
    }

    /// An id.
    pub fn id(&self, i: usize) -> Result<Uuid> {
        self.opt_id(i)?.ok_or_else(|| self.wrong(i, "an id"))
    }

    /// An integer, or NULL.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Bool(b) => Ok(Some(i64::from(*b))),
            _ => Err(self.wrong(i, "an integer")),
        }
    }

    /// An integer.
    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?.ok_or_else(|| self.wrong(i, "an integer"))
    }

    /// A text, or NULL.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Text(t) => Ok(Some(t.clone())),
            _ => Err(self.wrong(i, "a text")),
        }
    }

    /// A text.
    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| self.wrong(i, "a text"))
    }

    /// Bytes.
    pub fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        match self.cell(i)? {
            Cell::Bytes(b) => Ok(b.clone()),
            _ => Err(self.wrong(i, "bytes")),
        }
    }

    /// A boolean (an integer in SQLite).
    pub fn bool(&self, i: usize) -> Result<bool> {
        Ok(self.int(i)? != 0)
    }

    /// A guest's output tail (text in SQLite, `bytea` in PostgreSQL), or
    /// NULL.
    pub fn opt_output(&self, i: usize) -> Result<Option<String>> {
        match self.cell(i)? {
            Cell::Bytes(b) => String::from_utf8(b.clone())
                .map(Some)
                .map_err(|e| corrupt(self.table, format!("column {i}: {e}"))),
            _ => self.opt_text(i),
        }
    }

    /// A list of names (a JSON array in SQLite, `text[]` in PostgreSQL),
    /// or NULL.
    pub fn opt_texts(&self, i: usize) -> Result<Option<Vec<String>>> {
        match self.cell(i)? {
            Cell::Texts(t) => Ok(Some(t.clone())),
            _ => self.opt_json(i),
        }
    }

    /// A list of ids (see [`Arg::Ids`]).
    pub fn ids(&self, i: usize) -> Result<Vec<Uuid>> {
        match self.cell(i)? {
            Cell::Uuids(ids) => Ok(ids.clone()),
            _ => self
                .json::<Vec<String>>(i)?
                .iter()
                .map(|id| {
                    Uuid::parse_str(id).map_err(|e| corrupt(self.table, format!("column {i}: {e}")))
                })
                .collect(),
        }
    }

    /// A JSON column (text in SQLite, `json` in PostgreSQL) as a domain
    /// type, or NULL.
    pub fn opt_json<T: DeserializeOwned>(&self, i: usize) -> Result<Option<T>> {
        let parsed = match self.cell(i)? {
            Cell::Null => return Ok(None),
            Cell::Text(t) => serde_json::from_str(t),
            Cell::Json(v) => serde_json::from_value(v.clone()),
            _ => return Err(self.wrong(i, "JSON")),
        };
        parsed
            .map(Some)
            .map_err(|e| corrupt(self.table, format!("column {i}: {e}")))
    }

    /// A JSON column as a domain type.
    pub fn json<T: DeserializeOwned>(&self, i: usize) -> Result<T> {
        self.opt_json(i)?.ok_or_else(|| self.wrong(i, "JSON"))
    }
}

/// A connection inside a transaction that runs statements written once:
/// each backend's transaction type implements it (in its `tx.rs`).
#[async_trait]
pub(crate) trait SqlConn: Send {
    /// How this backend spells SQL.
    fn dialect(&self) -> &'static Dialect;
    /// Runs a statement; returns the rows it changed.
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64>;
    /// Runs a query; returns its rows, read as coming from `table`.
    async fn fetch_all(
        &mut self,
        table: &'static str,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<SqlRow>>;

    /// Runs a query sent unprepared: planned at each run from the tables
    /// as they are, never from a plan the connection kept (PostgreSQL
    /// keeps one per prepared statement, and one kept from a new
    /// installation's few first jobs reads all of `jobs` once the table
    /// has grown, until autovacuum first analyzes it; see
    /// `postgres/plans.rs`). For statements that run rarely, where
    /// preparing and planning each time costs little.
    async fn fetch_all_planned_each_run(
        &mut self,
        table: &'static str,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<SqlRow>>;

    /// Runs a query; returns its first row.
    async fn fetch_optional(
        &mut self,
        table: &'static str,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<SqlRow>> {
        Ok(self.fetch_all(table, sql, args).await?.into_iter().next())
    }

    /// Announces, on commit, that jobs were put in `queues`, where the
    /// backend announces (see [`Store::listen`](super::Store::listen));
    /// SQLite has no announcements: other processes poll.
    async fn announce_puts(&mut self, _queues: &[String]) -> Result<()> {
        Ok(())
    }

    /// Announces, on commit, that a dispatcher's agents changed (or that
    /// it was resumed), which wakes it.
    async fn announce_agents(&mut self, _dispatcher: Uuid) -> Result<()> {
        Ok(())
    }

    /// Announces, on commit, that these jobs completed (PostgreSQL sends
    /// them with the next await cascade of settling).
    fn announce_completed(&mut self, _ids: &[Uuid]) {}

    /// Marks a job as one a client waits for, where the backend announces
    /// completions (see [`JobStore::job_watch`](super::JobStore::job_watch)).
    async fn mark_watched(&mut self, _id: Uuid) -> Result<()> {
        Ok(())
    }
}

/// How many times a transaction the database aborted to break a deadlock
/// (or for a serialization failure) is run again.
const ATTEMPTS: usize = 5;

/// Runs `attempt` again (up to [`ATTEMPTS`] times in all) while it fails
/// with a deadlock or a serialization failure (PostgreSQL's `40P01`,
/// `40001`): the database aborts one of two transactions that wait for
/// each other, and the second run sees what the other committed. SQLite
/// never reports them (its one writer waits for the lock instead).
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(Error::Database(sqlx::Error::Database(e)))
                if tries < ATTEMPTS && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
            {
                tracing::debug!(error = %e, tries, "transaction aborted by the database; retrying");
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Implements [`SqlConn`] for a backend's connection type, written once:
/// `$conn` is the sqlx executor it runs on, named from `self` as `$this`;
/// `$dialect` its spelling; the `bind` and `read` functions in scope where
/// it is invoked (the backend's `tx.rs`) bind arguments and read rows; the
/// items in braces add what the backend has more (its announcements).
macro_rules! sql_conn {
    ($type:ty, $dialect:expr, |$this:ident| $conn:expr, { $($extra:item)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::statement::SqlConn for $type {
            fn dialect(&self) -> &'static $crate::store::statement::Dialect {
                $dialect
            }

            async fn execute(
                &mut self,
                sql: &str,
                args: &[$crate::store::statement::Arg<'_>],
            ) -> $crate::store::Result<u64> {
                let $this = self;
                let done = bind(sqlx::query(sql), args).execute($conn).await?;
                Ok(done.rows_affected())
            }

            async fn fetch_all(
                &mut self,
                table: &'static str,
                sql: &str,
                args: &[$crate::store::statement::Arg<'_>],
            ) -> $crate::store::Result<Vec<$crate::store::statement::SqlRow>> {
                self.fetch_rows(table, sql, args, true).await
            }

            async fn fetch_all_planned_each_run(
                &mut self,
                table: &'static str,
                sql: &str,
                args: &[$crate::store::statement::Arg<'_>],
            ) -> $crate::store::Result<Vec<$crate::store::statement::SqlRow>> {
                self.fetch_rows(table, sql, args, false).await
            }

            $($extra)*
        }

        impl $type {
            /// Runs a query, prepared and kept by the connection when
            /// `kept` (sqlx's `persistent`), else sent unprepared.
            async fn fetch_rows(
                &mut self,
                table: &'static str,
                sql: &str,
                args: &[$crate::store::statement::Arg<'_>],
                kept: bool,
            ) -> $crate::store::Result<Vec<$crate::store::statement::SqlRow>> {
                let $this = self;
                let query = bind(sqlx::query(sql), args).persistent(kept);
                let rows = query.fetch_all($conn).await?;
                rows.iter().map(|row| read(table, row)).collect()
            }
        }
    };
}
pub(crate) use sql_conn;

/// An open write transaction of a backend. [`SqlTx::conn`] lends the
/// connection its statements run on (the backend's transaction type, which
/// also runs the settling statements); [`SqlTx::commit`] ends it. Dropped
/// without a commit, it rolls back.
#[async_trait]
pub(crate) trait SqlTx: Send + Sized {
    /// The connection inside the transaction.
    type Conn<'c>: SqlConn + SettleTx + PutTx
    where
        Self: 'c;
    /// Lends the connection inside the transaction.
    fn conn(&mut self) -> Self::Conn<'_>;
    /// Commits.
    async fn commit(self) -> Result<()>;
}

/// A backend whose operations run as statements written once: it gives
/// the connections they run on, outside a transaction and inside one.
/// Entity traits written once (e.g. [`ScheduleStore`](super::ScheduleStore))
/// are implemented for every `SqlBackend`.
#[async_trait]
pub(crate) trait SqlBackend: Send + Sync + std::fmt::Debug + 'static {
    /// A connection of the backend's pools, for reads.
    type Conn<'a>: SqlConn
    where
        Self: 'a;
    /// The connection writes outside a transaction go through (SQLite:
    /// its one writer; PostgreSQL: the pool).
    type Writes<'a>: SqlConn
    where
        Self: 'a;
    /// A write transaction.
    type Tx<'a>: SqlTx
    where
        Self: 'a;
    /// For statements that read committed state.
    fn reads(&self) -> Self::Conn<'_>;
    /// For statements that write, each committed on its own.
    fn writes(&self) -> Self::Writes<'_>;
    /// Opens a write transaction (SQLite: on the writer, `BEGIN
    /// IMMEDIATE`; PostgreSQL: `READ COMMITTED` on the pool).
    async fn transaction(&self) -> Result<Self::Tx<'_>>;
    /// Opens a write transaction whose first statement writes. SQLite
    /// takes the write lock at the start of that statement, waiting for it
    /// as `BEGIN IMMEDIATE` would, so there a plain `BEGIN` does: it spares
    /// the round trip sqlx spends checking a `BEGIN` of its own. Elsewhere
    /// the same as [`Self::transaction`].
    async fn transaction_writing_first(&self) -> Result<Self::Tx<'_>> {
        self.transaction().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rendered_per_dialect() {
        let sql = "WHERE id = ?1 AND (?2 IS NULL OR x = ?12) AND y = '?'";
        assert_eq!(SQLITE.render(sql), sql);
        assert_eq!(
            POSTGRES.render(sql),
            "WHERE id = $1 AND ($2 IS NULL OR x = $12) AND y = '?'"
        );
        static S: Sql = Sql::new(|d| format!("SELECT ?1{}", d.json));
        assert_eq!(S.text(&SQLITE), "SELECT ?1");
        assert_eq!(S.text(&POSTGRES), "SELECT $1::json");
    }

    #[test]
    fn binds_in_text_order_are_unnumbered_only_on_sqlite() {
        for (dialect, text) in [(&SQLITE, "(?, ?)"), (&POSTGRES, "($1, $2)")] {
            let mut binds = Binds::in_text_order(dialect);
            let cells = [binds.push(Bind::Int(1)), binds.push(Bind::Int(2))];
            let sql = format!("({})", cells.join(", "));
            assert_eq!(dialect.render(&sql), text);
            assert_eq!(binds.args().len(), 2);
        }
        let mut numbered = Binds::default();
        assert_eq!(numbered.push(Bind::Int(1)), "?1");
    }

    #[test]
    fn cells_read_as_the_domain_types_whatever_the_backend() {
        let id = Uuid::now_v7();
        let row = SqlRow {
            table: "jobs",
            cells: vec![
                Cell::Bytes(id.as_bytes().to_vec()),
                Cell::Uuid(id),
                Cell::Text("[1]".into()),
                Cell::Json(serde_json::json!([1])),
                Cell::Null,
                Cell::Bool(true),
            ],
        };
        assert_eq!(row.id(0).unwrap(), id);
        assert_eq!(row.id(1).unwrap(), id);
        assert_eq!(row.json::<Vec<i32>>(2).unwrap(), vec![1]);
        assert_eq!(row.json::<Vec<i32>>(3).unwrap(), vec![1]);
        assert_eq!(row.opt_text(4).unwrap(), None);
        assert_eq!(row.int(5).unwrap(), 1);
        assert!(matches!(row.int(2), Err(Error::Corrupt { .. })));
        assert!(matches!(row.id(4), Err(Error::Corrupt { .. })));
    }
}
