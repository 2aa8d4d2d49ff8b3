//! Maintained job counts: how many jobs each queue holds in each status
//! (the completed split by whether they failed), kept exact by the
//! database itself on every change of `jobs` (migration 0027's triggers),
//! so that every count the store gives — the metrics' gauges, the
//! overview, `GET /v1/jobs/count` by queue and state, a queue's length —
//! costs the same whether the table holds a hundred finished jobs or ten
//! million. Written once for both backends: the view `job_counts_now`
//! reads the same on both.
//!
//! SQLite updates a counter row in place (its one writer serialises
//! transactions anyway). PostgreSQL appends deltas instead, so that
//! concurrent transactions never wait on a counter's row lock, and
//! [`fold`] moves them into the base now and then: every dispatcher's
//! ping (at least every poll interval while it works) runs it.

use std::collections::BTreeMap;

use super::Result;
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow};
use crate::model::{JobFilter, JobStatus, QueryState};

/// The jobs of one queue in one status, failed or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Counter {
    /// The queue.
    pub queue: String,
    /// The status, as stored.
    pub status: String,
    /// Whether these jobs hold a failure (`failure IS NOT NULL`).
    pub failed: bool,
    /// How many (more than zero).
    pub count: u64,
}

// The counters that are not zero (a counter stays, at zero, once its
// jobs are gone).
static READ: Sql = Sql::new(|_| {
    "SELECT queue, status, failed, count FROM job_counts_now WHERE count <> 0".to_owned()
});

// One queue's counters only.
static READ_QUEUE: Sql = Sql::new(|_| {
    "SELECT queue, status, failed, count FROM job_counts_now \
     WHERE queue = ?1 AND count <> 0"
        .to_owned()
});

// PostgreSQL: moves every committed delta into the base in one statement
// (its delete and upsert commit together, so a reader sees each delta in
// exactly one of them). Only one fold runs at a time; one finding another
// at work skips (the advisory lock is held to its commit). The base rows
// are upserted in key order, so folds never deadlock on them. SQLite has
// no deltas: nothing to fold.
static FOLD: Sql = Sql::new(|d| {
    if !d.locks_rows() {
        return String::new();
    }
    "WITH turn AS (SELECT pg_try_advisory_xact_lock(hashtextextended('wasync job counts fold', 0)) AS mine), \
     d AS (DELETE FROM job_count_deltas WHERE (SELECT mine FROM turn) \
       RETURNING queue, status, failed, delta), \
     s AS (SELECT queue, status, failed, sum(delta) AS delta FROM d \
       GROUP BY queue, status, failed) \
     INSERT INTO job_counts (queue, status, failed, count) \
     SELECT queue, status, failed, delta FROM s \
     ORDER BY queue COLLATE \"C\", status COLLATE \"C\", failed \
     ON CONFLICT (queue, status, failed) DO UPDATE \
       SET count = job_counts.count + excluded.count"
        .to_owned()
});

fn counters(rows: &[SqlRow]) -> Result<Vec<Counter>> {
    let mut counters = Vec::with_capacity(rows.len());
    for r in rows {
        let count = u64::try_from(r.int(3)?).unwrap_or(0);
        if count > 0 {
            counters.push(Counter {
                queue: r.text(0)?,
                status: r.text(1)?,
                failed: r.bool(2)?,
                count,
            });
        }
    }
    Ok(counters)
}

/// Every counter that is not zero, in no particular order.
pub(crate) async fn read<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Vec<Counter>> {
    let rows = conn
        .fetch_all("jobs", READ.text(conn.dialect()), &[])
        .await?;
    counters(&rows)
}

/// The counters of one queue that are not zero.
pub(crate) async fn read_queue<C: SqlConn + ?Sized>(
    conn: &mut C,
    queue: &str,
) -> Result<Vec<Counter>> {
    let args = [Arg::Text(queue)];
    let rows = conn
        .fetch_all("jobs", READ_QUEUE.text(conn.dialect()), &args)
        .await?;
    counters(&rows)
}

/// Folds the deltas appended since the last fold into the base counters
/// (PostgreSQL; nothing on SQLite). Safe to run from any process at any
/// time.
pub(crate) async fn fold<B: SqlBackend + ?Sized>(backend: &B) -> Result<()> {
    let mut conn = backend.writes();
    let sql = FOLD.text(conn.dialect());
    if !sql.is_empty() {
        conn.execute(sql, &[]).await?;
    }
    Ok(())
}

/// Whether a filter's jobs are a sum of counters: it names a queue (or
/// the queues a scoped token may read), or states, or both, and nothing
/// else.
pub(crate) fn countable(f: &JobFilter) -> bool {
    // Destructured whole, so that a filter gaining a field is decided
    // here.
    let JobFilter {
        states: _,
        queue: _,
        queues: _,
        module,
        function,
        agent,
        dispatcher,
        requested_start,
        start,
        end,
        created,
    } = f;
    module.is_none()
        && function.is_none()
        && agent.is_none()
        && dispatcher.is_none()
        && requested_start.since.is_none()
        && requested_start.before.is_none()
        && start.since.is_none()
        && start.before.is_none()
        && end.since.is_none()
        && end.before.is_none()
        && created.since.is_none()
        && created.before.is_none()
}

/// Whether a counter's jobs are in a state.
fn in_state(c: &Counter, state: QueryState) -> bool {
    let completed = || c.status == JobStatus::Completed.to_string();
    match state {
        QueryState::Status(status) => c.status == status.to_string(),
        QueryState::Succeeded => completed() && !c.failed,
        QueryState::Failed => completed() && c.failed,
    }
}

/// How many jobs of the counters a [`countable`] filter takes: each
/// counter at most once, however many of the states it is in.
pub(crate) fn filtered(counters: &[Counter], f: &JobFilter) -> u64 {
    counters
        .iter()
        .filter(|c| f.queue.as_ref().is_none_or(|q| *q == c.queue))
        .filter(|c| f.queues.as_ref().is_none_or(|qs| qs.contains(&c.queue)))
        .filter(|c| f.states.is_empty() || f.states.iter().any(|s| in_state(c, *s)))
        .map(|c| c.count)
        .sum()
}

/// The counters summed per (queue, status), ordered by both (byte
/// order), the failed and the others together.
pub(crate) fn by_status(counters: &[Counter]) -> BTreeMap<(String, String), u64> {
    let mut sums = BTreeMap::new();
    for c in counters {
        *sums.entry((c.queue.clone(), c.status.clone())).or_default() += c.count;
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(queue: &str, status: &str, failed: bool, count: u64) -> Counter {
        Counter {
            queue: queue.to_owned(),
            status: status.to_owned(),
            failed,
            count,
        }
    }

    #[test]
    fn a_filter_takes_each_counter_once() {
        let all = [
            counter("", "completed", false, 5),
            counter("", "completed", true, 2),
            counter("", "pending", false, 7),
            counter("b", "completed", true, 1),
        ];
        let states = |s: &[QueryState]| JobFilter {
            states: s.to_vec(),
            ..JobFilter::default()
        };
        let completed = QueryState::Status(JobStatus::Completed);
        assert_eq!(filtered(&all, &JobFilter::default()), 15);
        assert_eq!(filtered(&all, &states(&[completed, QueryState::Failed])), 8);
        assert_eq!(filtered(&all, &states(&[QueryState::Succeeded])), 5);
        let failed_b = JobFilter {
            queue: Some("b".to_owned()),
            ..states(&[QueryState::Failed])
        };
        assert_eq!(filtered(&all, &failed_b), 1);
        // A scoped token's queues: only theirs, none when the list is empty.
        let scoped = |queues: &[&str]| JobFilter {
            queues: Some(queues.iter().map(|q| (*q).to_owned()).collect()),
            ..JobFilter::default()
        };
        assert_eq!(filtered(&all, &scoped(&["b"])), 1);
        assert_eq!(filtered(&all, &scoped(&[])), 0);
        assert!(countable(&scoped(&["b"])));
        let by = by_status(&all);
        assert_eq!(by[&(String::new(), "completed".to_owned())], 7);
        assert!(countable(&states(&[completed])));
        assert!(!countable(&JobFilter {
            function: Some("f".to_owned()),
            ..JobFilter::default()
        }));
    }
}
