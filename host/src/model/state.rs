//! Job states and the transitions between them: the one place that says
//! which status may follow which.
//!
//! The graph (see also `docs/state_machine.md`):
//!
//! ```text
//!            put                claim              start
//!   new ───────────▶ pending ──────────▶ assigned ──────────▶ active
//!    ▲                 │ │                  │                   │ │
//!    └── pull/remove ──┘ │ expire           │ release           │ │ finish
//!                        │                  │   (retry, unstart: active ──▶ pending,
//!                        │                  │    abort: active ──▶ completed)
//!                        ▼                  ▼                   │ ▼
//!                    completed           pending                │ callbacks ──▶ completed
//!                                                               └────────────────────▲
//!
//!   new, pending ── cancel ──▶ cancelled   (terminal, never runs)
//! ```
//!
//! Every store backend writes a status only through a [`Transition`]: the
//! SQL binds `transition.from()` in its guard (`WHERE status = ?`) and
//! `transition.to()` in its `SET`, so a write that does not match the
//! expected current status changes nothing and is reported, never forced.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its life. Each variant's doc says who moves a job out.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Known but in no queue: pulled or removed from a queue (and may be
    /// put again), or a callback or composite part that is not due yet.
    /// Left by a `put` (→ pending).
    New,
    /// In a queue, waiting to be claimed. Left by a dispatcher's claim
    /// (→ assigned), by `pull`/`remove` (→ new), or by expiry when its
    /// `begin_by` passes before it starts (→ completed with a `timeout`
    /// failure).
    Pending,
    /// Claimed by an agent of a dispatcher, not yet started. Left when the
    /// dispatcher starts it (→ active), or released back to its queue
    /// (→ pending) when its dispatcher stops or dies.
    Assigned,
    /// Running, or waiting for the job it returned (`awaiting`). Left when
    /// its dispatcher records the outcome (→ callbacks or completed), or
    /// when the job it awaits completes (→ completed).
    Active,
    /// Has its result; its callbacks are still to run. Left when the last
    /// callback completes (→ completed).
    Callbacks,
    /// Done: the result (a value or a failure) is final. Terminal.
    Completed,
    /// Cancelled before any dispatcher claimed it: it never runs; its failure has kind `cancelled`.
    /// Terminal.
    Cancelled,
}

impl JobStatus {
    /// Every status, in life order.
    pub const ALL: [JobStatus; 7] = [
        JobStatus::New,
        JobStatus::Pending,
        JobStatus::Assigned,
        JobStatus::Active,
        JobStatus::Callbacks,
        JobStatus::Completed,
        JobStatus::Cancelled,
    ];

    /// The lowercase name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::New => "new",
            JobStatus::Pending => "pending",
            JobStatus::Assigned => "assigned",
            JobStatus::Active => "active",
            JobStatus::Callbacks => "callbacks",
            JobStatus::Completed => "completed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// True once the job's result is final.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Cancelled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`JobStatus::ALL`].
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown job status `{0}` (expected one of: new, pending, assigned, active, callbacks, completed, cancelled)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A permitted change of status, named after the operation that makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// `put` of a job that already exists but sits in no queue.
    Put,
    /// `pull` or `remove`: out of the queue, kept, may be put again.
    Detach,
    /// A dispatcher's agent takes the job.
    Claim,
    /// The dispatcher starts running a claimed job; counts an attempt.
    Start,
    /// The run ended (value, failure, or "await that job") and the job
    /// has callbacks still to run.
    FinishWithCallbacks,
    /// The run ended with a value or a failure and no callbacks are pending.
    Finish,
    /// The job awaited another one, which has now completed.
    ResolveAwait,
    /// A pending job's `begin_by` passed before it started.
    Expire,
    /// A claimed job goes back to its queue unstarted (its dispatcher
    /// stopped or died).
    Release,
    /// A job its dispatcher claimed and started ahead of a free slot (see
    /// `dispatch::agents`) goes back to its place in its queue without
    /// having run: its start is undone (the attempt not counted), so that
    /// a dispatcher with a free slot runs it sooner.
    Unstart,
    /// The last pending callback of a job completed.
    CallbacksDone,
    /// A callback whose job got its result and whose branch matches it, a
    /// composite's next part, or a composite's postprocess once its parts
    /// are done: it joins its queue, due at once.
    Fire,
    /// A callback whose branch does not match its job's outcome (a
    /// success-only callback of a failed job, or the reverse): it does not
    /// run and completes with that outcome, unchanged.
    PassThrough,
    /// [`Transition::PassThrough`] of a callback that has callbacks of its
    /// own still to run.
    PassThroughWithCallbacks,
    /// [`Transition::ResolveAwait`] of a job that has callbacks to run.
    ResolveAwaitWithCallbacks,
    /// [`Transition::Expire`] of a job that has callbacks to run.
    ExpireWithCallbacks,
    /// A run failed or was interrupted (its dispatcher died or stopped)
    /// and the job's retry policy tries it again: back to its queue.
    Retry,
    /// A run was interrupted and the job's retry policy gives up: the job
    /// completes with an `aborted` failure.
    Abort,
    /// [`Transition::Abort`] of a job that has callbacks to run.
    AbortWithCallbacks,
    /// A queued job is cancelled; it never runs.
    Cancel,
    /// A job in no queue (pulled or removed) is cancelled.
    CancelDetached,
    /// A claimed job is cancelled before its dispatcher starts it (the
    /// start finds it no longer `assigned` and lets it go).
    CancelClaimed,
    /// A running job is cancelled: its dispatcher stops the guest within
    /// a bounded time and writes nothing more.
    CancelRunning,
    /// A broadcast (held `new` while its copies run) gets its result, the
    /// map of its copies' outcomes, once the last copy has its outcome.
    Gather,
    /// [`Transition::Gather`] of a broadcast that has callbacks to run.
    GatherWithCallbacks,
    /// A broadcast's copy still in its queue whose dispatcher stopped or
    /// died: it never runs and completes with an `aborted` failure.
    Strand,
    /// [`Transition::Strand`] of a copy that has callbacks to run.
    StrandWithCallbacks,
}

impl Transition {
    /// The status a job must have for this transition to apply.
    pub fn from(self) -> JobStatus {
        match self {
            Transition::Put => JobStatus::New,
            Transition::Detach => JobStatus::Pending,
            Transition::Claim => JobStatus::Pending,
            Transition::Start => JobStatus::Assigned,
            Transition::FinishWithCallbacks | Transition::Finish => JobStatus::Active,
            Transition::ResolveAwait => JobStatus::Active,
            Transition::Expire => JobStatus::Pending,
            Transition::Release => JobStatus::Assigned,
            Transition::Unstart => JobStatus::Active,
            Transition::CallbacksDone => JobStatus::Callbacks,
            Transition::Fire | Transition::PassThrough | Transition::PassThroughWithCallbacks => {
                JobStatus::New
            }
            Transition::ResolveAwaitWithCallbacks => JobStatus::Active,
            Transition::ExpireWithCallbacks => JobStatus::Pending,
            Transition::Retry | Transition::Abort | Transition::AbortWithCallbacks => {
                JobStatus::Active
            }
            Transition::Cancel => JobStatus::Pending,
            Transition::CancelDetached => JobStatus::New,
            Transition::CancelClaimed => JobStatus::Assigned,
            Transition::CancelRunning => JobStatus::Active,
            Transition::Gather | Transition::GatherWithCallbacks => JobStatus::New,
            Transition::Strand | Transition::StrandWithCallbacks => JobStatus::Pending,
        }
    }

    /// The status the job has afterwards.
    pub fn to(self) -> JobStatus {
        match self {
            Transition::Put => JobStatus::Pending,
            Transition::Detach => JobStatus::New,
            Transition::Claim => JobStatus::Assigned,
            Transition::Start => JobStatus::Active,
            Transition::FinishWithCallbacks => JobStatus::Callbacks,
            Transition::Finish | Transition::ResolveAwait | Transition::Expire => {
                JobStatus::Completed
            }
            Transition::Release | Transition::Unstart => JobStatus::Pending,
            Transition::CallbacksDone
            | Transition::PassThrough
            | Transition::Abort
            | Transition::Gather
            | Transition::Strand => JobStatus::Completed,
            Transition::Retry => JobStatus::Pending,
            Transition::Cancel
            | Transition::CancelDetached
            | Transition::CancelClaimed
            | Transition::CancelRunning => JobStatus::Cancelled,
            Transition::Fire => JobStatus::Pending,
            Transition::PassThroughWithCallbacks
            | Transition::ResolveAwaitWithCallbacks
            | Transition::ExpireWithCallbacks
            | Transition::AbortWithCallbacks
            | Transition::GatherWithCallbacks
            | Transition::StrandWithCallbacks => JobStatus::Callbacks,
        }
    }

    /// The transition that gives a job its result: `self` when no callback
    /// of it is pending, its `…WithCallbacks` twin when one is. Only
    /// [`Transition::Finish`], [`Transition::ResolveAwait`],
    /// [`Transition::Expire`], [`Transition::PassThrough`],
    /// [`Transition::Abort`], [`Transition::Gather`] and
    /// [`Transition::Strand`] have a twin.
    pub fn with_callbacks(self) -> Transition {
        match self {
            Transition::Finish => Transition::FinishWithCallbacks,
            Transition::ResolveAwait => Transition::ResolveAwaitWithCallbacks,
            Transition::Expire => Transition::ExpireWithCallbacks,
            Transition::PassThrough => Transition::PassThroughWithCallbacks,
            Transition::Abort => Transition::AbortWithCallbacks,
            Transition::Gather => Transition::GatherWithCallbacks,
            Transition::Strand => Transition::StrandWithCallbacks,
            other => panic!("{other:?} has no with-callbacks twin"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>().unwrap(), status);
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert!("running".parse::<JobStatus>().is_err());
    }

    #[test]
    fn only_completed_and_cancelled_are_terminal() {
        let terminal: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, vec![JobStatus::Completed, JobStatus::Cancelled]);
    }

    #[test]
    fn transitions_follow_a_jobs_life() {
        assert_eq!(Transition::Claim.from(), JobStatus::Pending);
        assert_eq!(Transition::Claim.to(), JobStatus::Assigned);
        assert_eq!(Transition::Start.to(), JobStatus::Active);
        assert_eq!(Transition::Finish.to(), JobStatus::Completed);
        assert_eq!(Transition::FinishWithCallbacks.to(), JobStatus::Callbacks);
        // Nothing leaves `completed`.
        for t in [
            Transition::Put,
            Transition::Detach,
            Transition::Claim,
            Transition::Start,
            Transition::FinishWithCallbacks,
            Transition::Finish,
            Transition::ResolveAwait,
            Transition::Expire,
            Transition::Release,
            Transition::Unstart,
            Transition::CallbacksDone,
            Transition::Fire,
            Transition::PassThrough,
            Transition::PassThroughWithCallbacks,
            Transition::ResolveAwaitWithCallbacks,
            Transition::ExpireWithCallbacks,
            Transition::Retry,
            Transition::Abort,
            Transition::AbortWithCallbacks,
            Transition::Cancel,
            Transition::CancelDetached,
            Transition::CancelClaimed,
            Transition::CancelRunning,
            Transition::Gather,
            Transition::GatherWithCallbacks,
            Transition::Strand,
            Transition::StrandWithCallbacks,
        ] {
            assert_ne!(t.from(), JobStatus::Completed, "{t:?}");
            assert_ne!(t.from(), JobStatus::Cancelled, "{t:?}");
        }
        for t in [
            Transition::Finish,
            Transition::ResolveAwait,
            Transition::Expire,
            Transition::PassThrough,
            Transition::Abort,
            Transition::Gather,
            Transition::Strand,
        ] {
            assert_eq!(t.with_callbacks().from(), t.from(), "{t:?}");
            assert_eq!(t.with_callbacks().to(), JobStatus::Callbacks, "{t:?}");
        }
    }
}
