//! Cancel, written once for both backends: a job that has not completed
//! becomes `cancelled`. One no dispatcher holds yet (`pending`, or `new`)
//! gets [`Failure::cancelled`] and never runs; one a dispatcher holds
//! (`assigned`, `active`) gets [`Failure::cancelled_while_held`] and its
//! dispatcher stops the run (`dispatch/stops.rs`). It has its result, so
//! settling moves on what awaited it (its waiters complete with the
//! failure, its failure callbacks run).

use std::sync::LazyLock;

use async_trait::async_trait;
use tracing::instrument;

use super::settle::{self, SettleTx};
use super::sql::{JOB_COLUMNS, job_of, lit, ms};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlTx};
use super::{Error, JobStore, Result};
use crate::model::{Failure, Job, JobId, Timestamp, Transition};

/// Cancels a job that has not completed: pending or detached (it never
/// runs), claimed or running (its dispatcher stops the run).
#[derive(Debug, Clone)]
pub struct JobCancelParams {
    /// The job.
    pub id: JobId,
    /// Now: its completion time.
    pub now: Timestamp,
}

/// What [`CancelStore::job_cancel`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelReport {
    /// The job, now `cancelled`.
    pub job: Job,
    /// The jobs that were awaiting it, completed in cascade with its
    /// failure.
    pub cascaded: Vec<JobId>,
    /// Queues that got a due job: its callbacks that fired with the
    /// failure, and what they moved on.
    pub queues: Vec<String>,
}

/// Cancel.
#[async_trait]
pub trait CancelStore: Send + Sync + std::fmt::Debug {
    /// Cancels a `pending` or `new` job: it becomes `cancelled` with
    /// [`Failure::cancelled`](crate::model::Failure::cancelled) and never
    /// runs; the jobs awaiting it complete with that failure.
    /// [`Error::Conflict`](super::Error::Conflict) naming its status once
    /// a dispatcher holds it or it has finished; `NotFound` if unknown.
    async fn job_cancel(&self, params: JobCancelParams) -> Result<CancelReport>;
}

#[async_trait]
impl<B: SqlBackend + JobStore> CancelStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_cancel(&self, p: JobCancelParams) -> Result<CancelReport> {
        let mut tx = self.transaction().await?;
        let Some(report) = cancel(&mut tx.conn(), &p).await? else {
            drop(tx);
            return Err(not_cancellable(&self.job_get(p.id).await?));
        };
        tx.commit().await?;
        Ok(report)
    }
}

/// Cancels a job that has not completed (pending, detached, claimed or
/// running): the four transitions end in the same status, so one guarded
/// statement serves them all. A job a dispatcher holds gets the failure
/// that says its run stopped.
static CANCEL: Sql = Sql::new(|d| {
    let (queued, detached) = (Transition::Cancel, Transition::CancelDetached);
    let (claimed, running) = (Transition::CancelClaimed, Transition::CancelRunning);
    debug_assert!(
        [detached, claimed, running]
            .iter()
            .all(|t| t.to() == queued.to())
    );
    format!(
        "UPDATE jobs SET status = {to}, completed_at = ?3, \
         failure = CASE WHEN status IN ({claimed}, {running}) THEN ?4{json} ELSE ?2{json} END \
         WHERE id = ?1 AND status IN ({queued}, {detached}, {claimed}, {running}) \
         RETURNING {JOB_COLUMNS}",
        to = lit(queued.to()),
        queued = lit(queued.from()),
        detached = lit(detached.from()),
        claimed = lit(claimed.from()),
        running = lit(running.from()),
        json = d.json,
    )
});

/// The failure a cancelled job no dispatcher held gets, as stored.
static CANCELLED: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&Failure::cancelled()).expect("a failure serializes to JSON")
});

/// The failure a cancelled job a dispatcher held gets, as stored.
static CANCELLED_WHILE_HELD: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&Failure::cancelled_while_held()).expect("a failure serializes to JSON")
});

/// Cancels `p.id` inside the caller's transaction and settles what awaited
/// it. `None` (nothing written) when it has finished or it does not
/// exist: the caller reads it to say which
/// ([`not_cancellable`]).
async fn cancel<T: SqlConn + SettleTx + ?Sized>(
    tx: &mut T,
    p: &JobCancelParams,
) -> Result<Option<CancelReport>> {
    let sql = CANCEL.text(tx.dialect());
    let args = [
        Arg::Id(p.id.0),
        Arg::Json(&CANCELLED),
        Arg::Int(ms(p.now)),
        Arg::Json(&CANCELLED_WHILE_HELD),
    ];
    let Some(row) = tx.fetch_optional("jobs", sql, &args).await? else {
        return Ok(None);
    };
    let (_, job) = job_of(&row)?;
    tx.announce_completed(&[p.id.0]);
    let settled = settle::settle(tx, vec![p.id], p.now).await?;
    let mut cascaded = settled.completed;
    cascaded.sort();
    Ok(Some(CancelReport {
        job,
        cascaded,
        queues: settled.queues.into_iter().collect(),
    }))
}

/// The [`Error::Conflict`] of a cancel refused for `job`.
fn not_cancellable(job: &Job) -> Error {
    Error::Conflict(format!(
        "job {} is {}: only a job that has not completed can be cancelled",
        job.id, job.status
    ))
}
