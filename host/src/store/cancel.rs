//! Cancel, written once for both backends: a job no dispatcher holds yet
//! (`pending`, or `new`) becomes `cancelled` with
//! [`Failure::cancelled`] and never runs; it has its result, so settling
//! moves on what awaited it (its waiters complete with the failure, its
//! failure callbacks run).

use std::sync::LazyLock;

use super::manage::{CancelReport, JobCancelParams};
use super::settle::{self, SettleTx};
use super::sql::{JOB_COLUMNS, job_of, lit, ms};
use super::statement::{Arg, Sql, SqlConn};
use super::{Error, Result};
use crate::model::{Failure, Job, Transition};

/// Cancels a pending or detached job: both transitions end in the same
/// status, so one guarded statement serves both.
static CANCEL: Sql = Sql::new(|d| {
    let (queued, detached) = (Transition::Cancel, Transition::CancelDetached);
    debug_assert_eq!(queued.to(), detached.to());
    format!(
        "UPDATE jobs SET status = {to}, failure = ?2{json}, completed_at = ?3 \
         WHERE id = ?1 AND status IN ({queued}, {detached}) RETURNING {JOB_COLUMNS}",
        to = lit(queued.to()),
        queued = lit(queued.from()),
        detached = lit(detached.from()),
        json = d.json,
    )
});

/// The failure every cancelled job gets, as stored.
static CANCELLED: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&Failure::cancelled()).expect("a failure serializes to JSON")
});

/// Cancels `p.id` inside the caller's transaction and settles what awaited
/// it. `None` (nothing written) when a dispatcher holds it, it has
/// finished, or it does not exist: the caller reads it to say which
/// ([`not_cancellable`]).
pub(crate) async fn cancel<T: SqlConn + SettleTx + ?Sized>(
    tx: &mut T,
    p: &JobCancelParams,
) -> Result<Option<CancelReport>> {
    let sql = CANCEL.text(tx.dialect());
    let args = [Arg::Id(p.id.0), Arg::Json(&CANCELLED), Arg::Int(ms(p.now))];
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
pub(crate) fn not_cancellable(job: &Job) -> Error {
    Error::Conflict(format!(
        "job {} is {}: only a job no dispatcher holds yet (pending, or new) can be cancelled",
        job.id, job.status
    ))
}
