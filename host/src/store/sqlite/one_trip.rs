//! A write transaction sent to SQLite's thread as one command.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every
//! command — `BEGIN`, each statement, `COMMIT` — is a round trip to it:
//! the async task hands the command over, that thread wakes, runs it and
//! hands the answer back, waking the task. On an idle server the wake-ups
//! cost more than the statements (issue 16: a put that claims took ~0.6
//! ms, of which the disk's commit ~0.16 ms and its two statements ~0.07
//! ms). A transaction whose statements do not need each other's answers
//! goes as one command instead: `BEGIN; s1; s2; …; COMMIT`, which sqlx's
//! thread runs one statement after the other. sqlx binds the arguments of
//! such a command in order, each plain `?` the next argument after those
//! the statements before it used. A numbered `?N` would be the N-th of the
//! whole command, and sqlx stops binding a statement at the first slot
//! past the arguments it has (SQLite counts the unused numbers below the
//! highest as slots), so a statement written with numbered parameters is
//! sent with plain ones, each bound in the order of the text
//! ([`OneTrip::push_numbered`]). sqlx 0.8 marks a query of several
//! statements as SQLite's alone and deprecated (launchbadge/sqlx#3108);
//! should a later sqlx drop it, these transactions go back to one command
//! per statement (`store/puts.rs`), nothing else changes.
//!
//! sqlx does not know of a transaction opened this way, so this module
//! keeps for it the rule `store/fault.rs` keeps for sqlx's own: no
//! transaction outlives an error on a pooled connection. sqlx's thread
//! stops at the first statement that fails, so `COMMIT` never runs after
//! a failure; the trip then sends `ROLLBACK` (which may find none: SQLite
//! rolls back by itself when a commit meets a full disk). A connection
//! whose rollback fails otherwise, or whose trip is dropped half way (its
//! caller cancelled), is closed instead of kept for the next write
//! (`writer.rs`): closing ends whatever it had open.

use futures::TryStreamExt as _;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{Either, Encode, Sqlite, Type};

use super::writer::{Writer, WriterConn};

/// The most jobs a put or a finish sends as one command. A command is
/// prepared whole, so its text must take few forms: each of its
/// statements is written for its batch's size rounded up to a power of
/// two (`batch.rs`, the runs' insert in `store/runs.rs`): up to 64 jobs,
/// seven forms of each statement. A larger batch goes one statement
/// at a time, each a round trip: a finish of more than 16 jobs (the limit
/// before) took four round trips instead of two, and under 32 connections
/// of single puts nearly half the finishes were that large (`wasync bench
/// --mode single`, four rounds each way: 6,856 → 7,196 jobs/s with 64).
/// Whole batches of 1,000 were slower sent as one command when the runs'
/// insert was not padded (13.4–13.9k jobs/s against 16.5–16.7k); padded,
/// a limit of 1,024 did no better in batches than 64: the round trips
/// weigh little against 1,000 rows.
pub(super) const ROWS_MAX: usize = 64;
const _: () = assert!(ROWS_MAX <= super::batch::MAX_ROWS, "one chunk a statement");

/// Adds one argument to arguments built apart from a query (what
/// `Query::bind` does for a query's own).
pub(super) fn bind<'q, T>(args: &mut SqliteArguments<'q>, value: T) -> Result<(), sqlx::Error>
where
    T: 'q + Encode<'q, Sqlite> + Type<Sqlite>,
{
    sqlx::Arguments::add(args, value).map_err(sqlx::Error::Encode)
}

/// The statements of one write transaction, sent as one command by
/// [`OneTrip::run`].
pub(super) struct OneTrip<'q> {
    sql: String,
    args: SqliteArguments<'q>,
    statements: usize,
}

/// Why a trip failed: the error, and which statement met it (its index
/// in the order pushed; `None` for the `BEGIN`, the `COMMIT` or the
/// connection).
#[derive(Debug)]
pub(super) struct TripFailed {
    /// The statement that failed, if it was one of those pushed.
    pub statement: Option<usize>,
    /// What failed.
    pub error: sqlx::Error,
}

impl<'q> OneTrip<'q> {
    /// A transaction that begins with a write (a plain `BEGIN`: SQLite
    /// takes the write lock at the first statement, as `BEGIN IMMEDIATE`
    /// would at once).
    pub(super) fn writing_first() -> Self {
        OneTrip {
            sql: String::from("BEGIN;\n"),
            args: SqliteArguments::default(),
            statements: 0,
        }
    }

    /// How many arguments the statements pushed so far bind.
    #[cfg(test)]
    fn bound(&self) -> usize {
        sqlx::Arguments::len(&self.args)
    }

    /// Adds a statement written with plain `?` parameters; `bind_args`
    /// binds its arguments, in order, after those of the statements
    /// before it.
    pub(super) fn push(
        &mut self,
        sql: &str,
        bind_args: impl FnOnce(&mut SqliteArguments<'q>) -> Result<(), sqlx::Error>,
    ) -> Result<(), TripFailed> {
        debug_assert!(
            !has_numbered(sql),
            "numbered parameters go through push_numbered"
        );
        let statement = self.statements;
        bind_args(&mut self.args).map_err(|error| TripFailed {
            statement: Some(statement),
            error,
        })?;
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
        self.statements += 1;
        Ok(())
    }

    /// Adds a statement written with numbered parameters (`?N`): it is
    /// sent with plain ones, and `bind_param(args, n)` binds the value of
    /// `?n` at each place it appears, in the order of the text.
    pub(super) fn push_numbered(
        &mut self,
        sql: &str,
        mut bind_param: impl FnMut(&mut SqliteArguments<'q>, usize) -> Result<(), sqlx::Error>,
    ) -> Result<(), TripFailed> {
        let statement = self.statements;
        let mut rest = sql;
        while let Some(at) = rest.find('?') {
            self.sql.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = rest[..digits].parse().map_err(|_| TripFailed {
                statement: Some(statement),
                error: sqlx::Error::Protocol(format!("a plain `?` in a numbered statement: {sql}")),
            })?;
            bind_param(&mut self.args, n).map_err(|error| TripFailed {
                statement: Some(statement),
                error,
            })?;
            rest = &rest[digits..];
        }
        self.sql.push_str(rest);
        self.sql.push_str(";\n");
        self.statements += 1;
        Ok(())
    }

    /// Runs the transaction on the writer as one command and commits it;
    /// returns the rows each statement returned, in the order pushed.
    pub(super) async fn run(mut self, writer: &Writer) -> Result<Vec<Vec<SqliteRow>>, TripFailed> {
        self.sql.push_str("COMMIT");
        let (open, answers) = self.send(writer).await?;
        open.release();
        Ok(answers)
    }

    /// Runs the statements as one command and leaves their transaction
    /// open, for statements that depend on what these returned; returns
    /// the rows each returned. [`Opened::commit`] ends it.
    pub(super) async fn run_open(
        self,
        writer: &Writer,
    ) -> Result<(Opened, Vec<Vec<SqliteRow>>), TripFailed> {
        let (open, answers) = self.send(writer).await?;
        Ok((Opened(open), answers))
    }

    async fn send(self, writer: &Writer) -> Result<(Open, Vec<Vec<SqliteRow>>), TripFailed> {
        let conn = writer.acquire().await.map_err(|error| TripFailed {
            statement: None,
            error,
        })?;
        let mut open = Open(Some(conn));
        let conn = open.conn();
        // Each statement ends with its `Left`, rows or none; the first is
        // `BEGIN`'s (and the last `COMMIT`'s, if it commits).
        let mut ended = 0;
        let mut answers = Vec::with_capacity(self.statements);
        let mut rows = Vec::new();
        let query = sqlx::query_with(&self.sql, self.args);
        let mut stream = sqlx::Executor::fetch_many(&mut *conn, query);
        let failed = loop {
            match stream.try_next().await {
                Ok(Some(Either::Right(row))) => rows.push(row),
                Ok(Some(Either::Left(_))) => {
                    if (1..=self.statements).contains(&ended) {
                        answers.push(std::mem::take(&mut rows));
                    }
                    ended += 1;
                }
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        drop(stream);
        let Some(error) = failed else {
            return Ok((open, answers));
        };
        open.roll_back().await;
        let statement = (1..=self.statements).contains(&ended).then(|| ended - 1);
        Err(TripFailed { statement, error })
    }
}

/// A transaction a trip left open ([`OneTrip::run_open`]): its statements
/// ran; what depends on their rows runs on [`Opened::conn`], then
/// [`Opened::commit`] or [`Opened::roll_back`]. Dropped unended, its
/// connection is closed, which rolls it back.
pub(super) struct Opened(Open);

impl Opened {
    /// The connection the transaction is open on.
    pub(super) fn conn(&mut self) -> &mut SqliteConnection {
        self.0.conn()
    }

    /// Commits: one more command.
    pub(super) async fn commit(mut self) -> Result<(), sqlx::Error> {
        match sqlx::query("COMMIT").execute(self.0.conn()).await {
            Ok(_) => {
                self.0.release();
                Ok(())
            }
            Err(error) => {
                self.0.roll_back().await;
                Err(error)
            }
        }
    }

    /// Rolls back (after an error of a statement run on [`Self::conn`]).
    pub(super) async fn roll_back(self) {
        self.0.roll_back().await;
    }
}

/// Whether `sql` holds a numbered parameter (`?N`). The store's
/// statements hold no `?` but their parameters.
fn has_numbered(sql: &str) -> bool {
    sql.match_indices('?')
        .any(|(at, _)| sql[at + 1..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The writer's connection while a trip may have a transaction open on
/// it: closed if dropped, the next write's once released.
struct Open(Option<WriterConn>);

impl Open {
    fn conn(&mut self) -> &mut SqliteConnection {
        self.0.as_mut().expect("held until released")
    }

    /// The trip is settled (committed, or rolled back): the connection
    /// goes to the next write.
    fn release(mut self) {
        self.0.take();
    }

    /// Rolls back whatever the trip left open; the connection goes to the
    /// next write outside any transaction, or is closed if that cannot be
    /// made sure of.
    async fn roll_back(mut self) {
        match sqlx::query("ROLLBACK").execute(self.conn()).await {
            Ok(_) => self.release(),
            Err(error) => {
                // SQLite rolls back by itself when a commit meets a full
                // disk: nothing is left open then.
                let none_open = error
                    .as_database_error()
                    .is_some_and(|e| e.message().contains("no transaction is active"));
                if none_open {
                    self.release();
                } else {
                    tracing::warn!(%error, "could not roll back a failed write; closing its connection");
                }
            }
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.discard();
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::*;

    async fn writer() -> (tempfile::TempDir, Writer, SqliteConnectOptions) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("trip.db"))
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .expect("a database");
        sqlx::query("CREATE TABLE t (n INTEGER NOT NULL UNIQUE)")
            .execute(&pool)
            .await
            .expect("a table");
        (dir, Writer::new(pool), options)
    }

    /// Inserts `n` in a transaction the writer begins (sqlx's transaction
    /// manager): it begins only on a connection outside any transaction.
    async fn insert_in_a_transaction_of_sqlx(writer: &Writer, n: i64) {
        let mut tx = writer
            .begin(true)
            .await
            .expect("a connection outside any transaction");
        sqlx::query("INSERT INTO t (n) VALUES (?)")
            .bind(n)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    async fn numbers(writer: &Writer) -> Vec<i64> {
        sqlx::query("SELECT n FROM t ORDER BY n")
            .fetch_all(&mut *writer.acquire().await.expect("the writer"))
            .await
            .expect("read")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    #[test]
    fn a_numbered_statement_is_sent_with_plain_parameters_bound_in_text_order() {
        let mut trip = OneTrip::writing_first();
        let mut asked = Vec::new();
        trip.push_numbered("a = ?2 AND b = ?1 AND c = ?2", |args, n| {
            asked.push(n);
            bind(args, n as i64)
        })
        .unwrap();
        assert_eq!(asked, [2, 1, 2]);
        assert!(
            trip.sql.ends_with("a = ? AND b = ? AND c = ?;\n"),
            "{}",
            trip.sql
        );
        assert_eq!(trip.bound(), 3);
        assert!(has_numbered("x = ?12") && !has_numbered("x IN (?, ?)"));
    }

    #[tokio::test]
    async fn statements_run_in_one_transaction_each_with_its_own_arguments_and_rows() {
        let (_dir, writer, _) = writer().await;
        let mut trip = OneTrip::writing_first();
        trip.push(
            "INSERT INTO t (n) VALUES (?), (?), (?) RETURNING n",
            |args| {
                bind(args, 1)?;
                bind(args, 2)?;
                bind(args, 5)
            },
        )
        .unwrap();
        // `?1` is this statement's first argument, not the trip's (three
        // are bound before it: more than this statement binds).
        trip.push_numbered(
            "INSERT INTO t (n) VALUES (?1 * 10), (?2) RETURNING n",
            |args, n| bind(args, [3, 4][n - 1]),
        )
        .unwrap();
        trip.push("DELETE FROM t WHERE n = 999", |_| Ok(()))
            .unwrap();
        let answers = trip.run(&writer).await.expect("committed");
        let got: Vec<Vec<i64>> = answers
            .iter()
            .map(|rows| rows.iter().map(|row| row.get(0)).collect())
            .collect();
        assert_eq!(got, [vec![1, 2, 5], vec![30, 4], vec![]]);
        assert_eq!(numbers(&writer).await, [1, 2, 4, 5, 30]);
    }

    #[tokio::test]
    async fn a_failed_statement_rolls_back_the_whole_trip_and_names_itself() {
        let (_dir, writer, _) = writer().await;
        sqlx::query("INSERT INTO t (n) VALUES (7)")
            .execute(&mut *writer.acquire().await.unwrap())
            .await
            .unwrap();
        let mut trip = OneTrip::writing_first();
        trip.push("INSERT INTO t (n) VALUES (?)", |args| bind(args, 1))
            .unwrap();
        trip.push("INSERT INTO t (n) VALUES (?)", |args| bind(args, 7))
            .unwrap();
        let Err(failed) = trip.run(&writer).await else {
            panic!("7 is taken: the trip must fail");
        };
        assert_eq!(failed.statement, Some(1));
        assert!(
            failed.error.as_database_error().is_some(),
            "{}",
            failed.error
        );
        assert_eq!(
            numbers(&writer).await,
            [7],
            "the first insert is rolled back"
        );
        // The connection is the next write's, outside any transaction: a
        // transaction of sqlx's own begins and commits on it.
        insert_in_a_transaction_of_sqlx(&writer, 8).await;
        assert_eq!(numbers(&writer).await, [7, 8]);
    }

    #[tokio::test]
    async fn a_trip_left_open_runs_more_statements_then_commits_or_rolls_back() {
        let (_dir, writer, _) = writer().await;
        let mut trip = OneTrip::writing_first();
        trip.push("INSERT INTO t (n) VALUES (?) RETURNING n", |args| {
            bind(args, 1)
        })
        .unwrap();
        let (mut opened, answers) = trip.run_open(&writer).await.expect("ran");
        assert_eq!(answers.len(), 1);
        sqlx::query("INSERT INTO t (n) VALUES (2)")
            .execute(opened.conn())
            .await
            .unwrap();
        opened.commit().await.expect("committed");
        assert_eq!(numbers(&writer).await, [1, 2]);

        let mut trip = OneTrip::writing_first();
        trip.push("INSERT INTO t (n) VALUES (?)", |args| bind(args, 3))
            .unwrap();
        let (opened, _) = trip.run_open(&writer).await.expect("ran");
        opened.roll_back().await;
        assert_eq!(numbers(&writer).await, [1, 2], "rolled back");

        let mut trip = OneTrip::writing_first();
        trip.push("INSERT INTO t (n) VALUES (?)", |args| bind(args, 4))
            .unwrap();
        let (opened, _) = trip.run_open(&writer).await.expect("ran");
        drop(opened);
        insert_in_a_transaction_of_sqlx(&writer, 5).await;
        assert_eq!(
            numbers(&writer).await,
            [1, 2, 5],
            "dropped open: rolled back"
        );
    }

    #[tokio::test]
    async fn a_trip_dropped_half_way_commits_nothing_and_leaves_no_transaction_open() {
        let (_dir, writer, options) = writer().await;
        // Held by another connection, the write lock makes the trip wait in
        // its first statement; it is dropped there.
        let other = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let mut lock = other.begin().await.unwrap();
        sqlx::query("INSERT INTO t (n) VALUES (100)")
            .execute(&mut *lock)
            .await
            .unwrap();
        let mut trip = OneTrip::writing_first();
        trip.push("INSERT INTO t (n) VALUES (?)", |args| bind(args, 1))
            .unwrap();
        let run = trip.run(&writer);
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(100), run).await;
        assert!(timed_out.is_err(), "the trip waits for the write lock");
        lock.rollback().await.unwrap();
        insert_in_a_transaction_of_sqlx(&writer, 2).await;
        assert_eq!(
            numbers(&writer).await,
            [2],
            "the dropped trip committed nothing"
        );
    }
}
