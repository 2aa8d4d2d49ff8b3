//! The store's record of runs, for resource accounting: the limits
//! each run of a job ran under and what it consumed, in `job_runs`
//! (migration 0013), read back per job and summed per queue and per
//! dispatcher.
//!
//! The operations form a trait of their own, [`RunStore`], a supertrait of
//! [`Store`](super::Store), implemented once here for every
//! [`SqlBackend`] (the statements are the same on both backends).

use async_trait::async_trait;
use tracing::instrument;
use uuid::Uuid;

use super::statement::{Arg, Bind, Binds, Dialect, SqlBackend, SqlConn, SqlRow};
use super::{Error, Result};
use crate::clock;
use crate::model::{DispatcherId, JobId, RunLimits, RunRecord, RunUsage, Timestamp, UsageTotals};

/// The most runs one insert statement takes (12 parameters a run).
pub const RUNS_PER_STATEMENT: usize = 256;

/// The values of one run in a statement: the columns of [`RUN_COLUMNS`].
const RUN_CELLS: usize = 12;

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

/// Records and reads runs.
#[async_trait]
pub trait RunStore: Send + Sync + std::fmt::Debug {
    /// Records runs that ended. A run of a job no longer stored is
    /// skipped (it cannot be shown anywhere).
    async fn job_run_record_many(&self, runs: &[RunRecord]) -> Result<()>;
    /// A job's recorded runs, oldest first.
    async fn job_runs(&self, id: JobId) -> Result<Vec<RunRecord>>;
    /// The recorded runs of a queue's stored jobs, summed.
    async fn queue_usage(&self, queue: &str) -> Result<UsageTotals>;
    /// The recorded runs a dispatcher ended in a window, summed.
    async fn dispatcher_usage(&self, params: DispatcherUsageParams) -> Result<UsageTotals>;
}

/// Which runs [`RunStore::dispatcher_usage`] sums.
#[derive(Debug, Clone, Copy)]
pub struct DispatcherUsageParams {
    /// The dispatcher that ran them.
    pub dispatcher: DispatcherId,
    /// Runs that ended at or after this (`None`: since the beginning).
    pub since: Option<Timestamp>,
    /// Runs that ended before this.
    pub before: Timestamp,
}

#[async_trait]
impl<B: SqlBackend> RunStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_run_record_many(&self, runs: &[RunRecord]) -> Result<()> {
        insert(&mut self.writes(), runs).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_runs(&self, id: JobId) -> Result<Vec<RunRecord>> {
        let mut conn = self.reads();
        let sql = conn.dialect().render(&format!(
            "SELECT {RUN_COLUMNS} FROM job_runs WHERE job = ?1 ORDER BY attempt"
        ));
        let rows = conn
            .fetch_all("job_runs", &sql, &[super::statement::Arg::Id(id.0)])
            .await?;
        rows.iter()
            .map(|row| run_from_row(read_row(row)?))
            .collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn queue_usage(&self, queue: &str) -> Result<UsageTotals> {
        let mut conn = self.reads();
        totals(&mut conn, "queue = ?1", &[Arg::Text(queue)]).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_usage(&self, p: DispatcherUsageParams) -> Result<UsageTotals> {
        let mut conn = self.reads();
        let since = p.since.map_or(i64::MIN, clock::to_millis);
        let args = [
            Arg::Id(p.dispatcher.0),
            Arg::Int(since),
            Arg::Int(clock::to_millis(p.before)),
        ];
        totals(
            &mut conn,
            "dispatcher = ?1 AND ended_at >= ?2 AND ended_at < ?3",
            &args,
        )
        .await
    }
}

/// The runs matching `condition`, summed.
async fn totals<C: SqlConn + ?Sized>(
    conn: &mut C,
    condition: &str,
    args: &[Arg<'_>],
) -> Result<UsageTotals> {
    // Integer sums on both backends (PostgreSQL's sum of bigints is
    // numeric); past 2^63 the statement fails rather than wraps.
    let sql = conn.dialect().render(&format!(
        "SELECT count(*), CAST(sum(fuel_used) AS BIGINT), max(peak_memory), \
         CAST(sum(wall_ms) AS BIGINT), CAST(sum(output_bytes) AS BIGINT) \
         FROM job_runs WHERE {condition}"
    ));
    let Some(row) = conn.fetch_optional("job_runs", &sql, args).await? else {
        return Ok(UsageTotals::default());
    };
    let count = |i: usize| -> Result<u64> {
        Ok(row.opt_int(i)?.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    };
    Ok(UsageTotals {
        runs: count(0)?,
        fuel: count(1)?,
        peak_memory_bytes: count(2)?,
        wall_ms: count(3)?,
        output_bytes: count(4)?,
    })
}

fn read_row(row: &SqlRow) -> Result<RunRow> {
    Ok((
        row.id(0)?,
        row.int(1)?,
        row.text(2)?,
        row.id(3)?,
        row.int(4)?,
        row.int(5)?,
        row.int(6)?,
        row.int(7)?,
        row.int(8)?,
        row.int(9)?,
        row.int(10)?,
        row.int(11)?,
    ))
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

/// Inserts the records of runs on `conn` (a pool connection, or a
/// transaction's: a finish writes its runs with its outcomes). A run of a
/// job no longer stored is skipped.
pub(crate) async fn insert<C: SqlConn + ?Sized>(conn: &mut C, runs: &[RunRecord]) -> Result<()> {
    // One statement a chunk (on a pool connection, each commits by
    // itself).
    for (sql, binds) in insert_statements(conn.dialect(), runs) {
        conn.execute(&sql, &binds.args()).await?;
    }
    Ok(())
}

/// One row of a runs' insert: `run`'s values, or a padding row of NULLs
/// of the same types (PostgreSQL types each column of a `VALUES` list by
/// its rows).
fn values(binds: &mut Binds, run: Option<RunRow>) -> String {
    let row = match run {
        Some(r) => {
            let mut row = vec![
                Bind::Id(r.0),
                Bind::Int(r.1),
                Bind::Text(r.2),
                Bind::Id(r.3),
            ];
            row.extend([r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11].map(Bind::Int));
            row
        }
        None => {
            let mut row = vec![Bind::NullId, Bind::NullInt, Bind::NullText, Bind::NullId];
            row.extend((4..RUN_CELLS).map(|_| Bind::NullInt));
            row
        }
    };
    debug_assert_eq!(row.len(), RUN_CELLS);
    let cells: Vec<String> = row.into_iter().map(|bind| binds.push(bind)).collect();
    format!("({})", cells.join(", "))
}

/// The statements recording `runs`, one a chunk of [`RUNS_PER_STATEMENT`],
/// each with its parameters (in text order: see [`Binds::in_text_order`]).
///
/// A chunk's rows are padded with rows of `NULL` parameters up to a power
/// of two, which the statement's `WHERE EXISTS` leaves out (no job has a
/// `NULL` id): the text depends on the chunk's size rounded up, not on
/// its exact size, so that a database prepares it once for many sizes
/// (SQLite's one-trip finish sends it in one command with the finish's
/// write, and a command is prepared whole, `store/sqlite/one_trip.rs`).
pub(crate) fn insert_statements(dialect: &Dialect, runs: &[RunRecord]) -> Vec<(String, Binds)> {
    let mut statements = Vec::with_capacity(runs.len().div_ceil(RUNS_PER_STATEMENT));
    for chunk in runs.chunks(RUNS_PER_STATEMENT) {
        // The columns of a `VALUES` list are `column1`... on both
        // backends.
        let mut binds = Binds::in_text_order(dialect);
        let mut rows: Vec<String> = chunk
            .iter()
            .map(|run| values(&mut binds, Some(run_row(run))))
            .collect();
        while !rows.len().is_power_of_two() {
            rows.push(values(&mut binds, None));
        }
        let sql = format!(
            "INSERT INTO job_runs ({RUN_COLUMNS}) SELECT * FROM (VALUES {}) AS v \
             WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.id = v.column1)",
            rows.join(", ")
        );
        statements.push((dialect.render(&sql), binds));
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunRecord {
        RunRecord {
            job: JobId::new(),
            attempt: 1,
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
        }
    }

    #[test]
    fn a_statements_text_depends_on_its_size_rounded_up_to_a_power_of_two() {
        let text = |n: usize| {
            let runs: Vec<RunRecord> = (0..n).map(|_| run()).collect();
            let statements = insert_statements(&crate::store::statement::SQLITE, &runs);
            statements
                .into_iter()
                .map(|(sql, _)| sql)
                .collect::<Vec<_>>()
        };
        assert_eq!(text(5), text(8));
        assert_ne!(text(8), text(9));
        assert_eq!(text(9), text(16));
        let rows = |sql: &str| sql.matches("(?, ").count();
        assert_eq!(rows(&text(3)[0]), 4, "padded to a power of two");
        assert_eq!(rows(&text(RUNS_PER_STATEMENT)[0]), RUNS_PER_STATEMENT);
        let two = text(RUNS_PER_STATEMENT + 1);
        assert_eq!((two.len(), two[1].clone()), (2, text(1)[0].clone()));
        assert_eq!(
            RUN_COLUMNS.split(',').count(),
            RUN_CELLS,
            "one value a column"
        );
    }

    #[test]
    fn a_run_survives_its_row_and_huge_counts_saturate() {
        let run = RunRecord {
            attempt: 2,
            ..run()
        };
        assert_eq!(run_from_row(run_row(&run)).unwrap(), run);
        let mut huge = run.clone();
        huge.limits.fuel = u64::MAX;
        assert_eq!(run_row(&huge).4, i64::MAX);
        let mut bad = run_row(&run);
        bad.7 = -1;
        assert!(run_from_row(bad).is_err());
    }
}
