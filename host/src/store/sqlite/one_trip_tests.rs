//! The one-trip transaction's behaviour on a real SQLite file: arguments
//! bound per statement, failures rolled back, gates, trips dropped.

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

/// Inserts 2 in the transaction a trip left open after inserting 1, and
/// commits it: `t` then holds both.
async fn insert_two_and_commit(writer: &Writer, mut opened: Opened) {
    sqlx::query("INSERT INTO t (n) VALUES (2)")
        .execute(opened.conn())
        .await
        .unwrap();
    opened.commit().await.expect("committed");
    assert_eq!(numbers(writer).await, [1, 2]);
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
    let (opened, answers) = trip.run_open(&writer).await.expect("ran");
    assert_eq!(answers.len(), 1);
    insert_two_and_commit(&writer, opened).await;

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

/// A trip with a gate over `t`: inserts 1, then stops before `COMMIT`
/// if `t` holds `n`.
fn gated_at(n: i64) -> OneTrip<'static> {
    let mut trip = OneTrip::writing_first();
    trip.push("INSERT INTO t (n) VALUES (?) RETURNING n", |args| {
        bind(args, 1)
    })
    .unwrap();
    trip.push_gate("EXISTS (SELECT 1 FROM t WHERE n = ?)", |args| bind(args, n))
        .unwrap();
    trip
}

#[tokio::test]
async fn a_gate_that_does_not_hold_lets_the_command_commit() {
    let (_dir, writer, _) = writer().await;
    let Gated::Committed(answers) = gated_at(99).run_gated(&writer).await.expect("ran") else {
        panic!("t does not hold 99: the gate lets the trip through");
    };
    let got: Vec<Vec<i64>> = answers
        .iter()
        .map(|rows| rows.iter().map(|row| row.get(0)).collect())
        .collect();
    assert_eq!(got, [vec![1]], "the rows of the statements before the gate");
    insert_in_a_transaction_of_sqlx(&writer, 2).await;
    assert_eq!(
        numbers(&writer).await,
        [1, 2],
        "committed, nothing left open"
    );
}

#[tokio::test]
async fn a_gate_that_holds_stops_the_command_with_its_transaction_open() {
    let (_dir, writer, _) = writer().await;
    // The gate reads what the statement before it wrote.
    let Gated::Open(opened, answers) = gated_at(1).run_gated(&writer).await.expect("ran") else {
        panic!("t holds 1: the gate stops the trip");
    };
    assert_eq!(answers.len(), 1);
    insert_two_and_commit(&writer, opened).await;
}

#[tokio::test]
async fn a_statement_failing_before_the_gate_rolls_the_trip_back() {
    let (_dir, writer, _) = writer().await;
    insert_in_a_transaction_of_sqlx(&writer, 1).await;
    let Err(failed) = gated_at(1).run_gated(&writer).await else {
        panic!("1 is taken: the trip must fail");
    };
    assert_eq!(failed.statement, Some(0), "the insert, not the gate");
    insert_in_a_transaction_of_sqlx(&writer, 2).await;
    assert_eq!(numbers(&writer).await, [1, 2]);
}
