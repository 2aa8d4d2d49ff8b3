//! The store's record of runs (issue 13, resource accounting): the limits
//! each run of a job ran under and what it consumed, in `job_runs`
//! (migration 0013), read back per job and summed per queue.
//!
//! The operations form a trait of their own, [`RunStore`], a supertrait of
//! [`Store`](super::Store); each backend implements it in its `runs.rs`
//! with its own statements. Rows are read and written as [`RunRow`] tuples,
//! so turning them into [`RunRecord`]s is written once, here.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Error, Result};
use crate::clock;
use crate::model::{DispatcherId, JobId, QueueUsage, RunLimits, RunRecord, RunUsage};

/// The most runs one insert statement takes (12 parameters a run).
pub const RUNS_PER_STATEMENT: usize = 256;

/// The columns of `job_runs`, in [`RunRow`] order.
pub const RUN_COLUMNS: &str = "job, attempt, queue, dispatcher, fuel_limit, memory_limit, \
     time_limit_ms, fuel_used, peak_memory, wall_ms, output_bytes, ended_at";

/// One row of `job_runs`: the columns of [`RUN_COLUMNS`]. Counts are stored
/// saturated at `i64::MAX`, so that sums in SQL stay meaningful.
pub type RunRow = (
    Uuid,
    i64,
    String,
    Uuid,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
);

/// A queue's sums as read: the count of runs, then fuel, the largest peak
/// memory, wall time and output (floats: SQL sums of many large counts).
pub type UsageRow = (i64, Option<f64>, Option<i64>, Option<f64>, Option<f64>);

/// The statement inserting `runs` (at most [`RUNS_PER_STATEMENT`]):
/// `INSERT INTO job_runs (...) SELECT * FROM (VALUES ...` followed by
/// `tail`, the backend's alias of the values and its filter keeping the
/// runs of stored jobs only.
pub fn run_insert<'a, DB>(runs: &[RunRecord], tail: &str) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    Uuid: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut insert = sqlx::QueryBuilder::new(format!(
        "INSERT INTO job_runs ({RUN_COLUMNS}) SELECT * FROM ("
    ));
    insert.push_values(runs.iter().map(run_row), |mut b, row| {
        b.push_bind(row.0)
            .push_bind(row.1)
            .push_bind(row.2)
            .push_bind(row.3)
            .push_bind(row.4)
            .push_bind(row.5)
            .push_bind(row.6)
            .push_bind(row.7)
            .push_bind(row.8)
            .push_bind(row.9)
            .push_bind(row.10)
            .push_bind(row.11);
    });
    insert.push(tail);
    insert
}

/// Records and reads runs.
#[async_trait]
pub trait RunStore {
    /// Records runs that ended. A run of a job no longer stored is
    /// skipped (it cannot be shown anywhere).
    async fn job_run_record_many(&self, runs: &[RunRecord]) -> Result<()>;
    /// A job's recorded runs, oldest first.
    async fn job_runs(&self, id: JobId) -> Result<Vec<RunRecord>>;
    /// The recorded runs of a queue's stored jobs, summed.
    async fn queue_usage(&self, queue: &str) -> Result<QueueUsage>;
}

fn stored(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn corrupt(message: String) -> Error {
    Error::Corrupt {
        table: "job_runs",
        message,
    }
}

fn read(value: i64, column: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(format!("`{column}` is negative: {value}")))
}

/// The row a run is stored as.
pub fn run_row(run: &RunRecord) -> RunRow {
    (
        run.job.0,
        i64::from(run.attempt),
        run.queue.clone(),
        run.dispatcher.0,
        stored(run.limits.fuel),
        stored(run.limits.memory_bytes),
        stored(run.limits.timeout_ms),
        stored(run.usage.fuel),
        stored(run.usage.peak_memory_bytes),
        stored(run.usage.wall_ms),
        stored(run.usage.output_bytes),
        clock::to_millis(run.ended_at),
    )
}

/// The run a row holds.
pub fn run_from_row(row: RunRow) -> Result<RunRecord> {
    let (
        job,
        attempt,
        queue,
        dispatcher,
        fuel_limit,
        memory_limit,
        time_limit,
        fuel,
        peak,
        wall,
        output,
        ended,
    ) = row;
    Ok(RunRecord {
        job: JobId(job),
        attempt: u32::try_from(attempt).map_err(|_| corrupt(format!("bad attempt {attempt}")))?,
        queue,
        dispatcher: DispatcherId(dispatcher),
        limits: RunLimits {
            fuel: read(fuel_limit, "fuel_limit")?,
            memory_bytes: read(memory_limit, "memory_limit")?,
            timeout_ms: read(time_limit, "time_limit_ms")?,
        },
        usage: RunUsage {
            fuel: read(fuel, "fuel_used")?,
            peak_memory_bytes: read(peak, "peak_memory")?,
            wall_ms: read(wall, "wall_ms")?,
            output_bytes: read(output, "output_bytes")?,
        },
        ended_at: clock::from_millis(ended),
    })
}

/// A queue's sums from their row.
pub fn usage_from_row(row: UsageRow) -> QueueUsage {
    let (runs, fuel, peak, wall, output) = row;
    // `as` saturates a float to the integer range (and NaN to 0).
    let total = |v: Option<f64>| v.unwrap_or(0.0) as u64;
    QueueUsage {
        runs: u64::try_from(runs).unwrap_or(0),
        fuel: total(fuel),
        peak_memory_bytes: peak.and_then(|p| u64::try_from(p).ok()).unwrap_or(0),
        wall_ms: total(wall),
        output_bytes: total(output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_survives_its_row_and_huge_counts_saturate() {
        let run = RunRecord {
            job: JobId::new(),
            attempt: 2,
            queue: "q".into(),
            dispatcher: DispatcherId::new(),
            limits: RunLimits {
                fuel: 10,
                memory_bytes: 1 << 20,
                timeout_ms: 600_000,
            },
            usage: RunUsage {
                fuel: 7,
                peak_memory_bytes: 65536,
                wall_ms: 3,
                output_bytes: 12,
            },
            ended_at: clock::from_millis(1_700_000_000_123),
        };
        assert_eq!(run_from_row(run_row(&run)).unwrap(), run);
        let mut huge = run.clone();
        huge.limits.fuel = u64::MAX;
        assert_eq!(run_row(&huge).4, i64::MAX);
        let mut bad = run_row(&run);
        bad.7 = -1;
        assert!(run_from_row(bad).is_err());
        let sums = usage_from_row((3, Some(1e30), Some(10), None, Some(5.0)));
        assert_eq!(
            sums,
            QueueUsage {
                runs: 3,
                fuel: u64::MAX,
                peak_memory_bytes: 10,
                wall_ms: 0,
                output_bytes: 5
            }
        );
    }
}
