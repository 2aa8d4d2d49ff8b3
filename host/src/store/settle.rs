//! Settling: what happens, in the same transaction, once jobs get their
//! result. The one path every completion takes (a finish, an await
//! resolved, an expiry, a callback passing an outcome through, the last
//! callback of a job completing), written once for every backend: the
//! backends give the statements ([`SettleTx`]), this module the logic.
//!
//! For the jobs that just got a result, round after round until nothing
//! more happens:
//!
//! 1. the jobs awaiting them complete with the same result (the await
//!    cascade; a job that has callbacks goes to `callbacks` instead);
//! 2. their callbacks still `new` fire ([`Transition::Fire`], the outcome
//!    added to their arguments) or, when their branch does not match the
//!    outcome, pass it through ([`Transition::PassThrough`]): they complete
//!    with it without running;
//! 3. those now `completed` that are callbacks let their job complete
//!    once no other callback of it is pending ([`Transition::CallbacksDone`]);
//! 4. those now `completed` that are parts of a composite move it on: the
//!    next part of a `serial`, or, once no part is left, the postprocess
//!    with every part's outcome; those that are copies of a broadcast
//!    complete it once its last copy is done (`broadcast.rs`).
//!
//! Every job completed along the way is settled in the next round. A part
//! moves its composite on only once it is `completed`, after its own
//! callbacks: a callback of a part may still add parts.
//!
//! [`Transition::Fire`]: crate::model::Transition::Fire
//! [`Transition::PassThrough`]: crate::model::Transition::PassThrough
//! [`Transition::CallbacksDone`]: crate::model::Transition::CallbacksDone

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use serde_json::Value;

use super::settle_sql;
use super::statement::SqlConn;
use super::{Error, Result};
use crate::model::{
    CallbackOn, CompositeArgs, CompositeKind, Failure, JobId, JobStatus, Timestamp, outcome_json,
    with_outcome, with_outcomes,
};

/// A job's outcome as read back: the value or the failure.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    /// The value (JSON), if it succeeded.
    pub result: Option<Value>,
    /// The failure, if it failed.
    pub failure: Option<Failure>,
}

impl Outcome {
    fn json(&self) -> Value {
        outcome_json(self.result.as_ref(), self.failure.as_ref())
    }
}

/// A callback still `new` whose job has its result.
#[derive(Debug, Clone)]
pub(crate) struct WaitingCallback {
    /// The callback.
    pub id: JobId,
    /// Its branch.
    pub on: CallbackOn,
    /// Its arguments as put.
    pub args: Value,
    /// Its job's outcome.
    pub outcome: Outcome,
}

/// Where a job that just got its result hangs, if anywhere.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    /// Its status now.
    pub status: JobStatus,
    /// The job it is a callback of.
    pub callback_of: Option<JobId>,
    /// The composite it is a part of.
    pub part_of: Option<JobId>,
}

/// A started composite (`active`), as its next move needs it.
#[derive(Debug, Clone)]
pub(crate) struct CompositeState {
    /// The composite.
    pub id: JobId,
    /// Its host function (`@serial`, `@parallel`).
    pub function: String,
    /// Its arguments ([`CompositeArgs`]).
    pub args: Value,
    /// Whether a part is in its queue or running (pending to callbacks).
    pub running: bool,
    /// Its first part still `new`, in part order.
    pub next_new: Option<JobId>,
}

/// A part of a composite, in part order.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// The part.
    pub id: JobId,
    /// Its status.
    pub status: JobStatus,
    /// Its outcome, once it has one.
    pub outcome: Outcome,
}

/// The statements settling needs, run inside the caller's transaction.
/// Those whose plan matters per backend (the await cascade, the batch
/// writes, the insert) are the backend's; the others are written once
/// (`settle_sql.rs`).
#[async_trait]
pub(crate) trait SettleTx: SqlConn {
    /// Completes every active job awaiting one of `ids` (which have their
    /// result), transitively; returns them. Given no ids, it runs a
    /// statement only where it carries the transaction's announcements.
    async fn resolve_awaits(&mut self, ids: &[JobId], now: Timestamp) -> Result<Vec<JobId>>;
    /// `new` → `pending` (due now) with these arguments; returns the
    /// queues that got a job.
    async fn fire(&mut self, jobs: &[(JobId, Value)], now: Timestamp) -> Result<Vec<String>>;
    /// `new` → `completed` (or `callbacks`) with these outcomes; returns
    /// the jobs changed.
    async fn pass_through(
        &mut self,
        jobs: &[(JobId, Outcome)],
        now: Timestamp,
    ) -> Result<Vec<JobId>>;
    /// Inserts jobs with their links, each with the status, failure and
    /// completion time given.
    async fn insert(&mut self, rows: &[InsertRow<'_>]) -> Result<()>;

    /// The callbacks still `new` of `ids`, with their job's outcome.
    async fn waiting_callbacks(&mut self, ids: &[JobId]) -> Result<Vec<WaitingCallback>> {
        settle_sql::waiting_callbacks(self, ids).await
    }
    /// The links of those of `ids` that are callbacks or parts.
    async fn links(&mut self, ids: &[JobId]) -> Result<Vec<Link>> {
        settle_sql::links(self, ids).await
    }
    /// `callbacks` → `completed` for those of `ids` with no callback left
    /// that is not `completed`; returns them.
    async fn callbacks_done(&mut self, ids: &[JobId], _now: Timestamp) -> Result<Vec<JobId>> {
        settle_sql::callbacks_done(self, ids).await
    }
    /// The started (`active`) composites among `ids`.
    async fn composites(&mut self, ids: &[JobId]) -> Result<Vec<CompositeState>> {
        settle_sql::composites(self, ids).await
    }
    /// A composite's parts, in part order.
    async fn parts(&mut self, composite: JobId) -> Result<Vec<Part>> {
        settle_sql::parts(self, composite).await
    }
    /// A job's status and arguments.
    async fn status_and_args(&mut self, id: JobId) -> Result<Option<(JobStatus, Value)>> {
        settle_sql::status_and_args(self, id).await
    }
    /// A job's status, function and arguments, locked until the
    /// transaction ends where the backend has row locks (PostgreSQL: `FOR
    /// UPDATE`, so that a finish, a callback added or a part added to the
    /// same job take turns).
    async fn lock(&mut self, id: JobId) -> Result<Option<(JobStatus, String, Value)>> {
        settle_sql::lock(self, id).await
    }
    /// The index the next part of a composite gets.
    async fn next_part_index(&mut self, composite: JobId) -> Result<i64> {
        settle_sql::next_part_index(self, composite).await
    }
    /// Replaces a job's arguments (no change of status).
    async fn set_args(&mut self, id: JobId, args: &Value) -> Result<()> {
        settle_sql::set_args(self, id, args).await
    }
}

/// A linked job as inserted.
#[derive(Debug, Clone)]
pub(crate) struct InsertRow<'a> {
    /// The job and its link.
    pub linked: &'a crate::model::LinkedJob,
    /// Its status: `pending`, `new`, or (expired at put) `completed` or
    /// `callbacks`.
    pub status: JobStatus,
    /// Its failure (expired at put).
    pub failure: Option<Failure>,
    /// When it completed (expired at put).
    pub completed_at: Option<Timestamp>,
}

/// What settling did beyond the jobs it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    /// Jobs that got their result (awaits resolved, callbacks passed
    /// through) or completed (callbacks done), in the order settled.
    pub completed: Vec<JobId>,
    /// Queues that got a due job (fired callbacks, parts, postprocesses).
    pub queues: BTreeSet<String>,
}

/// What the statement that gave some seeds their result already read of
/// them, so that settling need not read it again: a finish is the hot
/// path, and each statement is a round trip (issue 16).
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    /// Seeds whose links are known: each one's [`Link`] if it is a
    /// callback or a part (links never change after a put).
    pub links: HashMap<JobId, Option<Link>>,
    /// Seeds known to have no callback still `new`: completed with no
    /// callback pending, by a statement of this transaction, where no
    /// other writer runs meanwhile (a callback added since would otherwise
    /// be missed: only a read of its own sees it).
    pub without_callbacks: HashSet<JobId>,
    /// Seeds known to have no awaiter, by the same statement, where no
    /// other writer runs meanwhile.
    pub without_awaiters: HashSet<JobId>,
}

/// Settles `ids`, jobs that just got their result (`callbacks` or
/// `completed`); see the module doc. Their awaiters are resolved here too.
pub(crate) async fn settle<T: SettleTx + ?Sized>(
    tx: &mut T,
    ids: Vec<JobId>,
    now: Timestamp,
) -> Result<Settled> {
    settle_known(tx, ids, Known::default(), now).await
}

/// [`settle`], reading of the seeds only what `known` does not say.
pub(crate) async fn settle_known<T: SettleTx + ?Sized>(
    tx: &mut T,
    ids: Vec<JobId>,
    mut known: Known,
    now: Timestamp,
) -> Result<Settled> {
    let mut settled = Settled::default();
    // Every write below is guarded by the status it changes, so a job is
    // settled at most once and the rounds end; `seen` only keeps the
    // report free of repeats. (A seed may itself complete here: a job just
    // awaited that awaited another.)
    let mut seen: HashSet<JobId> = HashSet::new();
    let mut round = ids;
    while !round.is_empty() {
        // Called even with no job left to look at: where the backend
        // announces completions, the cascade carries them.
        let awaited = unknown(&round, &known.without_awaiters);
        let mut next = tx.resolve_awaits(&awaited, now).await?;

        let mut fire = Vec::new();
        let mut pass = Vec::new();
        let unread = unknown(&round, &known.without_callbacks);
        for callback in tx.waiting_callbacks(&unread).await? {
            let failed = callback.outcome.failure.is_some();
            if callback.on.runs_for(failed) {
                let args = with_outcome(callback.args, callback.outcome.json());
                fire.push((callback.id, args));
            } else {
                pass.push((callback.id, callback.outcome));
            }
        }
        settled.queues.extend(tx.fire(&fire, now).await?);
        next.extend(tx.pass_through(&pass, now).await?);

        let mut links = Vec::new();
        let mut unread = Vec::new();
        for id in &round {
            match known.links.get(id) {
                Some(link) => links.extend(*link),
                None => unread.push(*id),
            }
        }
        links.extend(tx.links(&unread).await?);
        // What was known held for the seeds only.
        known = Known::default();
        // A cancelled callback or part is as done as a completed one: it
        // will never run, and its parent or composite must not wait for it.
        let completed =
            |link: &&Link| matches!(link.status, JobStatus::Completed | JobStatus::Cancelled);
        let parents: Vec<JobId> =
            dedup(links.iter().filter(completed).filter_map(|l| l.callback_of));
        next.extend(tx.callbacks_done(&parents, now).await?);
        let composites: Vec<JobId> =
            dedup(links.iter().filter(completed).filter_map(|l| l.part_of));
        settled.queues.extend(move_on(tx, &composites, now).await?);
        next.extend(super::broadcast::gather(tx, &composites, now).await?);

        next.retain(|id| seen.insert(*id));
        settled.completed.extend(next.iter().copied());
        round = next;
    }
    Ok(settled)
}

/// The jobs of `round` that `known` does not name.
fn unknown(round: &[JobId], known: &HashSet<JobId>) -> Vec<JobId> {
    round
        .iter()
        .filter(|id| !known.contains(id))
        .copied()
        .collect()
}

fn dedup(ids: impl Iterator<Item = JobId>) -> Vec<JobId> {
    ids.collect::<BTreeSet<_>>().into_iter().collect()
}

/// Moves started composites on: puts the parts whose turn it is, or the
/// postprocess once no part is left. Returns the queues that got a job.
/// Idempotent: every write is guarded by the job being `new`.
pub(crate) async fn move_on<T: SettleTx + ?Sized>(
    tx: &mut T,
    composites: &[JobId],
    now: Timestamp,
) -> Result<Vec<String>> {
    if composites.is_empty() {
        return Ok(Vec::new());
    }
    let mut fire = Vec::new();
    for state in tx.composites(composites).await? {
        let Some(kind) = CompositeKind::of_function(&state.function) else {
            continue;
        };
        match (kind, state.next_new) {
            (CompositeKind::Serial, Some(next)) if !state.running => {
                let (_, args) = tx
                    .status_and_args(next)
                    .await?
                    .ok_or_else(|| Error::not_found(format!("job {next}")))?;
                fire.push((next, args));
            }
            (CompositeKind::Parallel, Some(_)) => {
                for part in tx.parts(state.id).await? {
                    if part.status == JobStatus::New {
                        let (_, args) = tx
                            .status_and_args(part.id)
                            .await?
                            .ok_or_else(|| Error::not_found(format!("job {}", part.id)))?;
                        fire.push((part.id, args));
                    }
                }
            }
            (_, None) if !state.running => {
                let composite: CompositeArgs =
                    serde_json::from_value(state.args.clone()).map_err(|e| Error::Corrupt {
                        table: "jobs",
                        message: format!("composite {}: {e}", state.id),
                    })?;
                let postprocess = composite.postprocess;
                match tx.status_and_args(postprocess).await? {
                    Some((JobStatus::New, args)) => {
                        let outcomes = tx
                            .parts(state.id)
                            .await?
                            .iter()
                            .map(|part| part.outcome.json())
                            .collect();
                        fire.push((postprocess, with_outcomes(args, outcomes)));
                    }
                    Some(_) => {}
                    None => return Err(Error::not_found(format!("job {postprocess}"))),
                }
            }
            _ => {}
        }
    }
    tx.fire(&fire, now).await
}

/// Adds a callback to a job that already has its result: fires it (or
/// passes the outcome through) at once, and settles what follows.
pub(crate) async fn settle_late_callback<T: SettleTx + ?Sized>(
    tx: &mut T,
    parent: JobId,
    now: Timestamp,
) -> Result<Settled> {
    // The parent's awaiters, callbacks done and composite were settled
    // when it got its result; settling it again only finds its new
    // callback (every other write is guarded and changes nothing).
    settle(tx, vec![parent], now).await
}
