//! Statements written once for both backends. Most of the store's SQL
//! differs between SQLite and PostgreSQL only in spelling: placeholders
//! (`?1` / `$1`), casts (`$1::json`), row locks (`FOR UPDATE`), how a JSON
//! or an output column is stored. A statement written here spells those
//! through a [`Dialect`], binds neutral [`Arg`]s and reads neutral
//! [`SqlRow`]s; each backend gives one [`SqlConn`] (its transaction type,
//! in its `tx.rs`) that runs such statements. The statement traits of the
//! multi-step operations ([`FailureTx`](super::failures::FailureTx), …)
//! are implemented once over it.
//!
//! Statements whose plan matters for speed (claims, finishes, puts) stay
//! tuned per backend, as River keeps one query file per driver.

use std::sync::OnceLock;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::settle::SettleTx;
use super::sql::corrupt;
use super::{Error, Result};

/// How a backend spells what differs in SQL text.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Its place in [`Sql`]'s cache.
    index: usize,
    /// Placeholders as `$N` (PostgreSQL) rather than `?N` (SQLite).
    dollar: bool,
    /// Locks the `jobs` rows a `SELECT` reads until the transaction ends
    /// (PostgreSQL: ` FOR UPDATE OF jobs`; SQLite needs none, its one
    /// writer serialises transactions).
    pub lock_jobs: &'static str,
    /// Locks the rows a `SELECT` reads, skipping those another
    /// transaction holds (PostgreSQL: ` FOR UPDATE SKIP LOCKED`).
    pub skip_locked: &'static str,
    /// The cast a text parameter bound for a JSON column needs
    /// (PostgreSQL: `::json`).
    pub json: &'static str,
    /// The cast a parameter that may be a NULL id needs to be typed
    /// (PostgreSQL: `::uuid`).
    pub uuid: &'static str,
    /// The hidden column that orders rows inserted in one transaction
    /// (`rowid`, `ctid`).
    pub row_order: &'static str,
    /// The column a statement deleting chosen jobs picks them by (SQLite:
    /// `seq`, its integer row key; PostgreSQL: `id`).
    pub job_key: &'static str,
    /// The operator matching our globs (`*`, `?`): `GLOB` or `LIKE`.
    pub glob: &'static str,
    /// A glob as the pattern [`Dialect::glob`] takes.
    pub glob_pattern: fn(&str) -> String,
    /// Latest completed first, jobs not completed last.
    pub latest_completed_first: &'static str,
    /// True as the schema compares it (SQLite's partial indexes say `1`).
    pub truth: &'static str,
    /// The larger of two values (`max`, `GREATEST`).
    pub greatest: &'static str,
    /// Null-safe equality (`IS`, `IS NOT DISTINCT FROM`).
    pub same: &'static str,
    /// Orders names byte by byte, as SQLite does by default (PostgreSQL:
    /// ` COLLATE "C"`).
    pub binary_order: &'static str,
    /// A statement that keeps writes to `jobs` out until the transaction
    /// ends, so that a check of the jobs referring to a queue or module
    /// sees every put committed before it, and a put after it finds the
    /// thing gone (PostgreSQL: `LOCK TABLE jobs IN SHARE MODE`; SQLite
    /// needs none, its one writer serialises transactions).
    pub lock_jobs_table: Option<&'static str>,
    /// A statement that makes transactions claiming the same module name
    /// (`?1`) take turns (PostgreSQL: a transaction-level advisory lock;
    /// SQLite needs none).
    pub lock_module_name: Option<&'static str>,
    /// Locks the rows a `SELECT` reads until the transaction ends
    /// (PostgreSQL: ` FOR UPDATE`; SQLite's one writer needs none).
    pub lock_rows: &'static str,
    /// `column` is one of the ids of the list parameter `param` (bound as
    /// [`Dialect::id_list`] writes it).
    pub in_ids: fn(column: &str, param: &str) -> String,
    /// A list of ids as one text parameter (SQLite: a JSON array of hex
    /// ids; PostgreSQL: an array literal, cast to `uuid[]`).
    pub id_list: fn(&[Uuid]) -> String,
    /// The next queue position (`seq`) for a job put at the end.
    pub next_seq: &'static str,
    /// The cast a text parameter that may be NULL needs to be typed
    /// (PostgreSQL: `::text`).
    pub text: &'static str,
    /// A job's quota names from a parameter holding them as a JSON array
    /// (SQLite stores the JSON; PostgreSQL a `text[]`).
    pub quota_names: fn(param: &str) -> String,
}

/// Our globs as SQLite GLOB patterns (`[` is literal).
fn sqlite_glob(pattern: &str) -> String {
    pattern.replace('[', "[[]")
}

/// Our globs as `LIKE` patterns (`%` and `_` are literal).
pub(crate) fn like_pattern(pattern: &str) -> String {
    let mut like = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' => like.push('%'),
            '?' => like.push('_'),
            '%' | '_' | '\\' => {
                like.push('\\');
                like.push(c);
            }
            c => like.push(c),
        }
    }
    like
}

/// SQLite's spelling.
pub(crate) static SQLITE: Dialect = Dialect {
    index: 0,
    dollar: false,
    lock_jobs: "",
    skip_locked: "",
    json: "",
    uuid: "",
    row_order: "rowid",
    job_key: "seq",
    glob: "GLOB",
    glob_pattern: sqlite_glob,
    latest_completed_first: "completed_at IS NULL, completed_at DESC",
    truth: "1",
    greatest: "max",
    same: "IS",
    binary_order: "",
    lock_jobs_table: None,
    lock_module_name: None,
    lock_rows: "",
    in_ids: |column, param| format!("{column} IN (SELECT unhex(value) FROM json_each({param}))"),
    id_list: |ids| {
        serde_json::Value::from(
            ids.iter()
                .map(|id| id.simple().to_string())
                .collect::<Vec<_>>(),
        )
        .to_string()
    },
    next_seq: "(SELECT max(seq) + 1 FROM jobs)",
    text: "",
    quota_names: |param| param.to_owned(),
};

/// PostgreSQL's spelling.
pub(crate) static POSTGRES: Dialect = Dialect {
    index: 1,
    dollar: true,
    lock_jobs: " FOR UPDATE OF jobs",
    skip_locked: " FOR UPDATE SKIP LOCKED",
    json: "::json",
    uuid: "::uuid",
    row_order: "ctid",
    job_key: "id",
    glob: "LIKE",
    glob_pattern: like_pattern,
    latest_completed_first: "completed_at DESC NULLS LAST",
    truth: "true",
    greatest: "GREATEST",
    same: "IS NOT DISTINCT FROM",
    binary_order: " COLLATE \"C\"",
    lock_jobs_table: Some("LOCK TABLE jobs IN SHARE MODE"),
    lock_module_name: Some(
        "SELECT pg_advisory_xact_lock(hashtextextended('wasync module name ' || ?1, 0))",
    ),
    lock_rows: " FOR UPDATE",
    in_ids: |column, param| format!("{column} = ANY({param}::uuid[])"),
    id_list: |ids| {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        format!("{{{}}}", ids.join(","))
    },
    next_seq: "nextval('jobs_seq_seq')",
    text: "::text",
    quota_names: |param| {
        format!("(SELECT array_agg(n) FROM json_array_elements_text({param}::json) AS n)")
    },
};

impl Dialect {
    /// Whether this backend locks rows (PostgreSQL): a statement tuned
    /// for it is written apart.
    pub fn locks_rows(&self) -> bool {
        !self.skip_locked.is_empty()
    }

    /// `text` with its `?N` placeholders in this dialect's spelling.
    pub fn render(&self, text: &str) -> String {
        if !self.dollar {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
                out.push('$');
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// A statement written once: its text built for a dialect on first use,
/// placeholders written `?N`, then kept.
pub(crate) struct Sql {
    build: fn(&Dialect) -> String,
    texts: [OnceLock<String>; 2],
}

impl Sql {
    /// A statement whose text `build` writes for a dialect.
    pub const fn new(build: fn(&Dialect) -> String) -> Self {
        Sql {
            build,
            texts: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The text for `dialect`.
    pub fn text(&self, dialect: &Dialect) -> &str {
        self.texts[dialect.index].get_or_init(|| dialect.render(&(self.build)(dialect)))
    }
}

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
}

/// A statement built at run time (filters), with its parameters:
/// [`Binds::push`] appends a placeholder and returns it.
#[derive(Debug, Default)]
pub(crate) struct Binds(Vec<Bind>);

impl Binds {
    /// Adds a parameter; returns its placeholder (`?N`).
    pub fn push(&mut self, bind: Bind) -> String {
        self.0.push(bind);
        format!("?{}", self.0.len())
    }

    /// The parameters, to bind.
    pub fn args(&self) -> Vec<Arg<'_>> {
        self.0
            .iter()
            .map(|b| match b {
                Bind::Id(id) => Arg::Id(*id),
                Bind::Int(v) => Arg::Int(*v),
                Bind::Text(t) => Arg::Text(t),
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
                let $this = self;
                let rows = bind(sqlx::query(sql), args).fetch_all($conn).await?;
                rows.iter().map(|row| read(table, row)).collect()
            }

            $($extra)*
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
    type Conn<'c>: SqlConn + SettleTx
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
    /// A connection of the backend's pools.
    type Conn<'a>: SqlConn
    where
        Self: 'a;
    /// A write transaction.
    type Tx<'a>: SqlTx
    where
        Self: 'a;
    /// For statements that read committed state.
    fn reads(&self) -> Self::Conn<'_>;
    /// For statements that write, each committed on its own.
    fn writes(&self) -> Self::Conn<'_>;
    /// Opens a write transaction (SQLite: on the writer, `BEGIN
    /// IMMEDIATE`; PostgreSQL: `READ COMMITTED` on the pool).
    async fn transaction(&self) -> Result<Self::Tx<'_>>;
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
