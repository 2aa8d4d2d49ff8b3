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
//! A transaction that may have more to do once it sees what its
//! statements wrote ends them with a gate ([`OneTrip::push_gate`]): a
//! statement that fails on purpose when there is, which stops the command
//! before its `COMMIT` with the transaction open; when there is not, the
//! command commits, and the transaction takes one round trip instead of
//! two (a finish of plain jobs, `finish.rs`).
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
    /// The index of the gate's statement, if one was pushed
    /// ([`OneTrip::push_gate`]).
    gate: Option<usize>,
}

/// What a gate's statement fails with, quoted in SQLite's message: a JSON
/// path no document has.
const GATE_STOP: &str = "wasync: the transaction goes on";

/// What a trip with a gate came to ([`OneTrip::run_gated`]).
pub(super) enum Gated {
    /// The gate let it through: committed, with the rows each statement
    /// before the gate returned.
    Committed(Vec<Vec<SqliteRow>>),
    /// The gate stopped it before `COMMIT`: the statements before the
    /// gate ran, and their transaction is open.
    Open(Opened, Vec<Vec<SqliteRow>>),
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
            gate: None,
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
        debug_assert!(self.gate.is_none(), "the gate is the last statement");
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
        debug_assert!(self.gate.is_none(), "the gate is the last statement");
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

    /// Adds the gate, the last statement before `COMMIT`: when
    /// `condition` (an SQL boolean, its plain `?` parameters bound by
    /// `bind_args`) holds, it fails on purpose, and sqlx's thread stops
    /// before `COMMIT`. SQLite undoes only the statement that failed, so
    /// the transaction stays open with everything before the gate done,
    /// for statements that depend on what those returned
    /// ([`OneTrip::run_gated`]). The condition reads what the statements
    /// before it wrote; when it does not hold, the command commits and
    /// the trip costs one round trip instead of two.
    pub(super) fn push_gate(
        &mut self,
        condition: &str,
        bind_args: impl FnOnce(&mut SqliteArguments<'q>) -> Result<(), sqlx::Error>,
    ) -> Result<(), TripFailed> {
        debug_assert!(self.gate.is_none(), "one gate a trip");
        let sql = format!(
            "SELECT json_extract('null', CASE WHEN {condition} THEN '{GATE_STOP}' ELSE '$' END)"
        );
        self.push(&sql, bind_args)?;
        self.gate = Some(self.statements - 1);
        Ok(())
    }

    /// Runs the transaction on the writer as one command and commits it;
    /// returns the rows each statement returned, in the order pushed.
    pub(super) async fn run(mut self, writer: &Writer) -> Result<Vec<Vec<SqliteRow>>, TripFailed> {
        self.sql.push_str("COMMIT");
        let (open, answers, _) = self.send(writer).await?;
        open.release();
        Ok(answers)
    }

    /// Runs the transaction on the writer as one command, committing it
    /// unless its gate ([`OneTrip::push_gate`]) stops it; returns the
    /// rows each statement before the gate returned.
    pub(super) async fn run_gated(mut self, writer: &Writer) -> Result<Gated, TripFailed> {
        debug_assert!(self.gate.is_some(), "a gated trip has its gate");
        self.sql.push_str("COMMIT");
        let (open, mut answers, stopped) = self.send(writer).await?;
        if stopped {
            return Ok(Gated::Open(Opened(open), answers));
        }
        // The gate's own row: it let the trip through.
        answers.pop();
        open.release();
        Ok(Gated::Committed(answers))
    }

    /// Runs the statements as one command and leaves their transaction
    /// open, for statements that depend on what these returned; returns
    /// the rows each returned. [`Opened::commit`] ends it.
    pub(super) async fn run_open(
        self,
        writer: &Writer,
    ) -> Result<(Opened, Vec<Vec<SqliteRow>>), TripFailed> {
        let (open, answers, _) = self.send(writer).await?;
        Ok((Opened(open), answers))
    }

    /// Runs the command; returns its connection, the rows of each
    /// statement that ended, and whether the gate stopped it (the
    /// transaction then open).
    async fn send(self, writer: &Writer) -> Result<(Open, Vec<Vec<SqliteRow>>, bool), TripFailed> {
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
            return Ok((open, answers, false));
        };
        let statement = (1..=self.statements).contains(&ended).then(|| ended - 1);
        let stopped_at_gate = statement.is_some()
            && statement == self.gate
            && error
                .as_database_error()
                .is_some_and(|e| e.message().contains(GATE_STOP));
        if stopped_at_gate {
            return Ok((open, answers, true));
        }
        open.roll_back().await;
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
#[path = "one_trip_tests.rs"]
mod tests;
