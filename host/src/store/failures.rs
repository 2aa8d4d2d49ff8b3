//! Parameters and reports of the store's failure handling: retries of
//! failed runs, dead dispatchers' rescue, and jobs handed back at shutdown
//! (issue 7). Each backend implements them in its own `failures.rs`; the
//! decisions themselves are the retry policy's ([`RetryPolicy`]).

use std::time::Duration;

use crate::model::{
    AfterInterruption, CapturedOutput, DispatcherId, Failure, FailureKind, JobId, RetryPolicy,
    Timestamp,
};

/// Looks for dead dispatchers and handles their jobs.
#[derive(Debug, Clone)]
pub struct DispatcherRescueParams {
    /// The live dispatcher doing it (never rescues itself).
    pub rescuer: DispatcherId,
    /// A dispatcher whose last ping is older than this is dead.
    pub death_interval: Duration,
    /// Now.
    pub now: Timestamp,
}

/// Hands back every job a dispatcher holds: its own at shutdown, or a
/// dead one's; or one job it no longer holds in memory (its self-check).
#[derive(Debug, Clone)]
pub struct HandBackParams {
    /// The dispatcher whose jobs go back.
    pub dispatcher: DispatcherId,
    /// Only this job, if it is still the dispatcher's (`None`: all).
    pub job: Option<JobId>,
    /// Why its active jobs were interrupted (the `interrupted` failure's
    /// message).
    pub reason: String,
    /// Now.
    pub now: Timestamp,
}

/// What handing back a dispatcher's jobs did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandBackReport {
    /// The dispatcher whose jobs went back.
    pub dispatcher: Option<DispatcherId>,
    /// Claimed but not started: back to their queue, no attempt counted
    /// (`Release`).
    pub released: Vec<JobId>,
    /// Interrupted while running, retried by their policy: back to their
    /// place at the front of their queue (`Retry`).
    pub retried: Vec<JobId>,
    /// Interrupted once too often for their policy: completed with an
    /// `aborted` failure (`Abort`).
    pub aborted: Vec<JobId>,
    /// Every job that completed: the aborted ones and the jobs that
    /// awaited them.
    pub completed: Vec<JobId>,
    /// The queues that got jobs back.
    pub queues: Vec<String>,
}

impl HandBackReport {
    /// True when no job moved.
    pub fn is_empty(&self) -> bool {
        self.released.is_empty() && self.retried.is_empty() && self.aborted.is_empty()
    }
}

/// A run failed: try the job again if its retry policy says so.
#[derive(Debug, Clone)]
pub struct JobRetryParams {
    /// The job.
    pub id: JobId,
    /// The dispatcher that ran it: nothing is written unless the job is
    /// still `active` and this dispatcher's.
    pub dispatcher: DispatcherId,
    /// How the run failed.
    pub failure: Failure,
    /// What the guest wrote.
    pub output: CapturedOutput,
    /// Now.
    pub now: Timestamp,
}

/// What [`Store::job_retry`](super::Store::job_retry) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryVerdict {
    /// Back to its queue, due at `at`; the failure is in its history.
    Retried {
        /// When it is due again.
        at: Timestamp,
        /// Its failed runs so far, this one included.
        failures: u32,
    },
    /// Its policy does not retry it: nothing written; record the failure
    /// as the job's outcome (a finish).
    Final,
    /// No longer this dispatcher's run: nothing written, the outcome is
    /// dropped.
    Reassigned,
}

/// The policy that applies to a job: its own, else its queue's, else the
/// default.
pub fn effective_policy(job: Option<RetryPolicy>, queue: Option<RetryPolicy>) -> RetryPolicy {
    job.or(queue).unwrap_or_default()
}

/// The failure recorded for an interrupted run.
pub fn interrupted(reason: &str) -> Failure {
    Failure::new(FailureKind::Interrupted, reason)
}

/// What becomes of an interrupted job under `policy`, interrupted
/// `interruptions` times (this one included), and the failure it
/// completes with if it is aborted.
pub fn interruption_verdict(
    policy: &RetryPolicy,
    interruptions: u32,
) -> (AfterInterruption, Failure) {
    let verdict = policy.after_interruption(interruptions);
    let aborted = Failure::new(
        FailureKind::Aborted,
        format!(
            "interrupted {interruptions} time(s); its retry policy ({}) retries {} \
             interruption(s)",
            policy.preset.as_str(),
            policy
                .max_interruptions
                .map_or_else(|| "all".to_owned(), |n| n.to_string())
        ),
    );
    (verdict, aborted)
}
