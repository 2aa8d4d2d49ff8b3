//! `jobs`: the batch writes of a finish, the statements behind
//! `store/finishes.rs` (the steps are there, once for both backends): one
//! `UPDATE … FROM (VALUES …)` completing the values and failures, one
//! recording the awaits, and the await cascade of settling, one recursive
//! `UPDATE` completing every active job that awaits a completed one,
//! transitively, with that job's result. All run in one `BEGIN IMMEDIATE`
//! transaction per batch. Batches above [`batch::MAX_ROWS`] take one
//! statement per chunk of that size.

use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::Row as _;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use uuid::Uuid;

use super::SqliteStore;
use super::batch::{self, Statements};
use super::one_trip::{self, Gated, OneTrip, bind};
use super::row::{lit, ms};
use super::tx::{SqliteTx, add_args};
use crate::model::{FailureKind, JobId, JobStatus, Timestamp, Transition};
use crate::store::finishes::{self, Await, Done, FinishTx, Written};
use crate::store::sql::settled_status;
use crate::store::{FinishReport, JobFinishParams, Result};
use crate::store::{runs, statement};

/// The guard every finish write shares, `b` being the batch.
///
/// `jobs.id IN (SELECT b.id FROM b)` repeats the join condition on
/// purpose: without it SQLite (no statistics) may choose to scan all of
/// `jobs` and probe the batch, a cost that grows with the table; with it,
/// it looks the batch's jobs up by id.
fn guard() -> String {
    format!(
        "jobs.id = b.id AND jobs.id IN (SELECT b.id FROM b) AND jobs.status = {active} \
         AND jobs.dispatcher = b.dispatcher AND jobs.awaiting IS NULL",
        active = lit(JobStatus::Active)
    )
}

const FINISH_COLUMNS: usize = 7;

fn finish_sql(rows: usize) -> String {
    let t = Transition::Finish;
    debug_assert_eq!(t.from(), JobStatus::Active);
    format!(
        "WITH b (id, dispatcher, now, result, failure, stdout, stderr) AS (VALUES {values}) \
         UPDATE jobs SET status = {to}, result = b.result, failure = b.failure, \
         completed_at = b.now, stdout = b.stdout, stderr = b.stderr \
         FROM b WHERE {guard} RETURNING {written}, {awaited}",
        values = batch::values(rows, FINISH_COLUMNS),
        to = settled_status(t, "jobs"),
        guard = guard(),
        written = finishes::WRITTEN,
        awaited = finishes::awaited(),
    )
}

pub(super) static FINISH: Statements = Statements::new(finish_sql);

const AWAIT_COLUMNS: usize = 5;

/// Not a change of status: the job stays `active`, parked on `awaiting`.
fn await_sql(rows: usize) -> String {
    format!(
        "WITH b (id, dispatcher, target, stdout, stderr) AS (VALUES {values}) \
         UPDATE jobs SET awaiting = b.target, stdout = b.stdout, stderr = b.stderr \
         FROM b WHERE {guard} RETURNING jobs.id",
        values = batch::values(rows, AWAIT_COLUMNS),
        guard = guard(),
    )
}

pub(super) static AWAIT: Statements = Statements::new(await_sql);

/// Every active job awaiting one of the seeds that is completed, and every
/// active job awaiting those, and so on, completes with the result or
/// failure of the completed job at the root of its chain.
///
/// Written as `WHERE id IN (SELECT … FROM chain)` rather than `UPDATE …
/// FROM chain`: with the latter SQLite may scan all of `jobs` and probe the
/// (small) chain, a cost that grows with the table.
fn cascade_sql(rows: usize) -> String {
    let t = Transition::ResolveAwait;
    format!(
        "WITH RECURSIVE chain (id, root) AS ( \
           SELECT w.id, w.awaiting FROM jobs AS w JOIN jobs AS r ON r.id = w.awaiting \
           WHERE w.status = {from} AND w.awaiting IN ({seeds}) \
             AND r.status IN ({with_result}) \
           UNION \
           SELECT w.id, chain.root FROM chain JOIN jobs AS w ON w.awaiting = chain.id \
           WHERE w.status = {from}) \
         UPDATE jobs SET status = {status}, \
           result = (SELECT r.result FROM chain JOIN jobs AS r ON r.id = chain.root \
                     WHERE chain.id = jobs.id), \
           failure = (SELECT r.failure FROM chain JOIN jobs AS r ON r.id = chain.root \
                      WHERE chain.id = jobs.id), \
           completed_at = ? \
         WHERE jobs.id IN (SELECT chain.id FROM chain) AND jobs.status = {from} \
         RETURNING jobs.id",
        seeds = batch::placeholders(rows),
        from = lit(t.from()),
        status = settled_status(t, "jobs"),
        with_result = finishes::with_result(),
    )
}

pub(super) static CASCADE: Statements = Statements::new(cascade_sql);

/// The gate of a finish sent in one trip: whether its write left
/// something to settle (`rows` job ids).
static LEFT_TO_SETTLE: Statements =
    Statements::new(|rows| finishes::left_to_settle(&batch::placeholders(rows)));

/// Records how runs ended, in one transaction (see `store/finishes.rs`).
pub(super) async fn finish_many(
    db: &SqliteStore,
    params: &[JobFinishParams],
) -> Result<FinishReport> {
    if params.is_empty() {
        return Ok(FinishReport::default());
    }
    let awaits = params.iter().any(|p| finishes::awaited_by_run(p).is_some());
    if !awaits && params.len() <= one_trip::ROWS_MAX {
        return finish_in_one_trip(db, params).await;
    }
    // Awaits read the awaited jobs first, under the write lock; a
    // transaction that begins with a write opens with a plain `BEGIN`.
    let mut tx = if awaits {
        db.begin().await?
    } else {
        db.begin_writing_first().await?
    };
    let report = finishes::finish(&mut SqliteTx(&mut tx), params).await?;
    tx.commit().await?;
    Ok(report)
}

/// A small batch (at most [`one_trip::ROWS_MAX`] jobs, so one chunk) no
/// run of which awaits a job: `BEGIN`, its batch write and its runs'
/// records go to the writer's thread as one command (`one_trip.rs`).
/// When no run failed, the command ends with a gate and `COMMIT`: the
/// gate stops it when the write left something to settle
/// ([`finishes::left_to_settle`]); otherwise it commits, and a finish of
/// plain jobs is one round trip. What depends on the rows the write
/// returns (failures kept, settling) runs in the transaction the command
/// left open, then `COMMIT`: two round trips.
async fn finish_in_one_trip(db: &SqliteStore, params: &[JobFinishParams]) -> Result<FinishReport> {
    let sorted = finishes::sort_without_awaits(params);
    let runs = finishes::runs_of(params);
    let run_statements = runs::insert_statements(&statement::SQLITE, &runs);
    let mut trip = OneTrip::writing_first();
    let done = &sorted.done[..];
    trip.push(FINISH.get(batch::bucket(done.len())), |args| {
        bind_done(args, done)
    })
    .map_err(|failed| failed.error)?;
    for (sql, binds) in &run_statements {
        trip.push(sql, |args| add_args(args, &binds.args()))
            .map_err(|failed| failed.error)?;
    }
    // A failure is kept in its job's history by a statement that needs
    // the write's rows: such a batch does not try to commit at once.
    let gated = done.iter().all(|d| d.failure.is_none());
    if gated {
        let ids: Vec<JobId> = done.iter().map(|d| d.params.id).collect();
        let rows = batch::bucket(ids.len());
        trip.push_gate(LEFT_TO_SETTLE.get(rows), |args| {
            batch::padded(&ids, rows).try_for_each(|id| bind(args, id.0))
        })
        .map_err(|failed| failed.error)?;
    }
    let (mut opened, answers) = if gated {
        match trip.run_gated(&db.writer).await {
            Ok(Gated::Committed(answers)) => {
                let written = written_rows(&answers)?;
                return Ok(finishes::report_written(params, &written));
            }
            Ok(Gated::Open(opened, answers)) => (opened, answers),
            Err(failed) => return Err(failed.error.into()),
        }
    } else {
        trip.run_open(&db.writer)
            .await
            .map_err(|failed| failed.error)?
    };
    let after = async {
        let written = written_rows(&answers)?;
        finishes::after_write(&mut SqliteTx(opened.conn()), params, sorted, written).await
    };
    match after.await {
        Ok(report) => {
            opened.commit().await?;
            Ok(report)
        }
        Err(error) => {
            opened.roll_back().await;
            Err(error)
        }
    }
}

/// The batch writes, one statement per chunk of [`batch::MAX_ROWS`].
#[async_trait]
impl FinishTx for SqliteTx<'_> {
    async fn write_done(&mut self, done: &[Done<'_>]) -> Result<Vec<Written>> {
        let mut written = Vec::new();
        for chunk in done.chunks(batch::MAX_ROWS) {
            written.extend(write_done(self.0, chunk).await?);
        }
        Ok(written)
    }

    fn writes_alone(&self) -> bool {
        true
    }

    async fn write_awaits(&mut self, awaits: &[Await<'_>]) -> Result<Vec<JobId>> {
        let mut written = Vec::new();
        for chunk in awaits.chunks(batch::MAX_ROWS) {
            written.extend(write_awaits(self.0, chunk).await?);
        }
        Ok(written)
    }

    async fn record_failures(&mut self, failed: &[(JobId, FailureKind)]) -> Result<()> {
        let ids: Vec<JobId> = failed.iter().map(|(id, _)| *id).collect();
        super::failures::record_finished_failures(self.0, &ids).await
    }
}

/// Completes every active job awaiting one of `seeds` (jobs that just got
/// their result), transitively, and returns them. The await step of
/// `store::settle`, the one path every completion takes.
pub(super) async fn cascade(
    tx: &mut SqliteConnection,
    seeds: &[JobId],
    now: Timestamp,
) -> Result<HashSet<JobId>> {
    let mut cascaded = HashSet::new();
    for chunk in seeds.chunks(batch::MAX_ROWS) {
        let rows = batch::bucket(chunk.len());
        let mut query = sqlx::query_scalar::<_, Uuid>(CASCADE.get(rows));
        for id in batch::padded(chunk, rows) {
            query = query.bind(id.0);
        }
        let ids = query.bind(ms(now)).fetch_all(&mut *tx).await?;
        cascaded.extend(ids.into_iter().map(JobId));
    }
    Ok(cascaded)
}

/// Empty output is no output.
fn text(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

async fn write_done(tx: &mut SqliteConnection, chunk: &[Done<'_>]) -> Result<Vec<Written>> {
    let mut args = SqliteArguments::default();
    bind_done(&mut args, chunk)?;
    let sql = FINISH.get(batch::bucket(chunk.len()));
    let rows = sqlx::query_with(sql, args).fetch_all(&mut *tx).await?;
    rows.iter().map(written_of).collect()
}

/// Binds one chunk's outcomes for [`FINISH`] at its bucket's size (the
/// rows past the chunk NULL).
fn bind_done<'q>(args: &mut SqliteArguments<'q>, chunk: &[Done<'q>]) -> sqlx::Result<()> {
    for d in chunk {
        let failure = d
            .failure
            .as_ref()
            .map(|f| serde_json::to_string(f).map_err(|e| sqlx::Error::Encode(e.into())))
            .transpose()?;
        bind(args, d.params.id.0)?;
        bind(args, d.params.dispatcher.0)?;
        bind(args, ms(d.params.now))?;
        bind(args, d.result.map(Value::to_string))?;
        bind(args, failure)?;
        bind(args, text(&d.params.output.stdout))?;
        bind(args, text(&d.params.output.stderr))?;
    }
    let rows = batch::bucket(chunk.len());
    for _ in chunk.len() * FINISH_COLUMNS..rows * FINISH_COLUMNS {
        bind(args, None::<i64>)?;
    }
    Ok(())
}

/// What a trip's batch write completed: its rows are the first
/// statement's.
fn written_rows(answers: &[Vec<SqliteRow>]) -> Result<Vec<Written>> {
    let rows = answers.first().map_or(&[][..], Vec::as_slice);
    rows.iter().map(written_of).collect()
}

/// A row of [`finishes::WRITTEN`], then [`finishes::awaited`].
fn written_of(row: &SqliteRow) -> Result<Written> {
    let status: String = row.try_get(1)?;
    finishes::written(
        row.try_get(0)?,
        &status,
        row.try_get(2)?,
        row.try_get(3)?,
        Some(row.try_get(4)?),
    )
}

async fn write_awaits(tx: &mut SqliteConnection, chunk: &[Await<'_>]) -> Result<Vec<JobId>> {
    let rows = batch::bucket(chunk.len());
    let mut query = sqlx::query_scalar::<_, Uuid>(AWAIT.get(rows));
    for a in chunk {
        query = query
            .bind(a.params.id.0)
            .bind(a.params.dispatcher.0)
            .bind(a.target.0)
            .bind(text(&a.params.output.stdout))
            .bind(text(&a.params.output.stderr));
    }
    for _ in chunk.len() * AWAIT_COLUMNS..rows * AWAIT_COLUMNS {
        query = query.bind(None::<i64>);
    }
    let ids = query.fetch_all(&mut *tx).await?;
    Ok(ids.into_iter().map(JobId).collect())
}
