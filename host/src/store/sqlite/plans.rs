//! The query plans of the statements that run per job, checked: none may
//! read all of `jobs`. Without statistics SQLite sometimes prefers scanning
//! a table and probing a small batch; that cost grows with the table (and
//! with it every claim or finish), so a scan here is a bug.

use sqlx::Row as _;

use super::SqliteStore;
use super::{claim, finish, job, quota};
use crate::store::failures::records::HELD_JOBS;
use crate::store::statement::SQLITE;
use crate::store::{deadline, dispatchers, finishes, jobs, queue};

/// The plan of `sql`, one line per step.
async fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
    let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
        .fetch_all(&store.reader)
        .await
        .expect("explain");
    rows.iter()
        .map(|r| r.try_get::<String, _>(3).expect("detail"))
        .collect()
}

/// True when a plan step reads a whole table of jobs (by any alias).
fn scans_jobs(step: &str) -> bool {
    let Some(rest) = step.strip_prefix("SCAN ") else {
        return false;
    };
    let table = rest.split_whitespace().next().unwrap_or_default();
    ["jobs", "c", "w", "r", "j"].contains(&table)
}

#[tokio::test]
async fn no_statement_of_a_jobs_life_scans_the_jobs_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("plans.db"))
        .await
        .unwrap();
    let mut statements: Vec<(&str, String)> = vec![
        ("get", jobs::GET.text(&SQLITE).to_owned()),
        ("pull", jobs::PULL.text(&SQLITE).to_owned()),
        (
            "pull from the end",
            jobs::PULL_FROM_END.text(&SQLITE).to_owned(),
        ),
        ("detach", jobs::DETACH.text(&SQLITE).to_owned()),
        ("put back", jobs::PUT_BACK.text(&SQLITE).to_owned()),
        (
            "pending count",
            jobs::PENDING_COUNT.text(&SQLITE).to_owned(),
        ),
        ("queue jobs", queue::JOBS.text(&SQLITE).to_owned()),
        (
            "queue get",
            format!("{} WHERE q.name = ?", queue::SELECT.text(&SQLITE)),
        ),
        (
            "agent held jobs",
            dispatchers::HELD.text(&SQLITE).to_owned(),
        ),
        ("self-check", HELD_JOBS.text(&SQLITE).to_owned()),
        ("await walk", finishes::WALK.text(&SQLITE).to_owned()),
        ("update", jobs::UPDATE.text(&SQLITE).to_owned()),
        ("expire", deadline::EXPIRE.text(&SQLITE).to_owned()),
        ("next due", deadline::NEXT_DUE.text(&SQLITE).to_owned()),
        (
            "quota slots",
            crate::store::quota::IN_FLIGHT.text(&SQLITE).to_owned(),
        ),
    ];
    for shape in 0..claim::SHAPES {
        statements.push(("claim", claim::CLAIM[0][shape].clone()));
        statements.push(("claim_start", claim::CLAIM[1][shape].clone()));
        statements.push(("quota walk", quota::WALK[0][shape].clone()));
        statements.push(("quota walk after", quota::WALK[1][shape].clone()));
        statements.push(("quota heads", quota::HEADS[shape].clone()));
    }
    for rows in [1, 16, 256, super::batch::MAX_ROWS] {
        statements.push(("insert", job::INSERT.get(rows).to_owned()));
        statements.push(("start", claim::START.get(rows).to_owned()));
        statements.push(("finish", finish::FINISH.get(rows).to_owned()));
        statements.push(("await", finish::AWAIT.get(rows).to_owned()));
        statements.push(("cascade", finish::CASCADE.get(rows).to_owned()));
        statements.push(("claim by seq", quota::CLAIM_SEQS.get(rows).to_owned()));
    }
    let mut scanning = Vec::new();
    for (name, sql) in &statements {
        let steps = plan(&store, sql).await;
        if std::env::var_os("WASYNC_SHOW_PLANS").is_some() {
            eprintln!("== {name}\n{}", steps.join("\n"));
        }
        if steps.iter().any(|s| scans_jobs(s)) {
            scanning.push(format!("{name}: {steps:?}"));
        }
        // Each of these reads its first entries of one index, by queue.
        let index = match *name {
            "expire" | "next due" => Some("jobs_deadline"),
            "quota slots" => Some("jobs_quota_in_flight"),
            "self-check" => Some("jobs_in_flight"),
            "quota walk" => Some("jobs_pending_unslotted"),
            "quota heads" => Some("jobs_pending_slot"),
            "claim" => Some("jobs_pending"),
            _ => None,
        };
        if let Some(index) = index
            && !steps.iter().any(|s| s.contains(index))
        {
            scanning.push(format!("{name} does not use {index}: {steps:?}"));
        }
    }
    assert!(
        scanning.is_empty(),
        "plans that scan jobs:\n{}",
        scanning.join("\n")
    );
}

#[test]
fn scans_are_recognised() {
    assert!(scans_jobs("SCAN jobs"));
    assert!(scans_jobs("SCAN c USING COVERING INDEX jobs_pending"));
    assert!(!scans_jobs("SCAN b"));
    assert!(!scans_jobs("SCAN 256 CONSTANT ROWS"));
    assert!(!scans_jobs(
        "SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)"
    ));
}
