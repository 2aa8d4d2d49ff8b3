//! The parameters and reports of the store's operations on modules,
//! queues, jobs, claims, deadlines and quotas (see [`Store`](super::Store)).

use serde_json::Value;

use crate::model::{
    AgentFilter, CapturedOutput, DispatcherId, JobId, JobStatus, RunOutcome, RunRecord, Timestamp,
};

/// Lists jobs across queues, oldest first, a page at a time.
#[derive(Debug, Clone, Default)]
pub struct JobListParams {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only these statuses (empty: all).
    pub statuses: Vec<JobStatus>,
    /// Only jobs created after this one (the cursor of the previous page).
    pub after: Option<JobId>,
    /// The most to return.
    pub limit: u32,
}

/// Takes the job at `index` out of `queue` (pull).
#[derive(Debug, Clone)]
pub struct JobPullParams {
    /// The queue.
    pub queue: String,
    /// Position in queue order; negative counts from the end (-1: last).
    pub index: i64,
    /// Now.
    pub now: Timestamp,
}

/// Takes a given pending job out of its queue (remove).
#[derive(Debug, Clone)]
pub struct JobDetachParams {
    /// The job.
    pub id: JobId,
    /// If given, the job must be in this queue.
    pub queue: Option<String>,
    /// Now.
    pub now: Timestamp,
}

/// Puts a detached job (status `new`) back at the end of its queue.
#[derive(Debug, Clone)]
pub struct JobPutBackParams {
    /// The job.
    pub id: JobId,
    /// The queue to put it in (it must exist).
    pub queue: String,
    /// Now: it becomes due now, at the end of the queue.
    pub now: Timestamp,
}

/// Claims due jobs for one agent.
#[derive(Debug, Clone)]
pub struct JobClaimParams {
    /// The claiming dispatcher.
    pub dispatcher: DispatcherId,
    /// The queue.
    pub queue: String,
    /// The agent's name.
    pub agent: String,
    /// The agent's filter.
    pub filter: Option<AgentFilter>,
    /// When set, only jobs that also match this filter: the first pass of
    /// an agent with a `prefer` policy (the dispatcher then claims with
    /// `None` for its remaining slots).
    pub preferred: Option<AgentFilter>,
    /// The most jobs to claim.
    pub limit: u32,
    /// Now: only jobs with `begin_after <= now` are due, and only those
    /// whose deadline (`begin_after + begin_by`) is not past are claimed.
    pub now: Timestamp,
    /// Also start the jobs claimed ([`Transition::Claim`] then
    /// [`Transition::Start`], at `now`) where the claim is one statement,
    /// in a queue without quotas: they come back `active`, their attempt
    /// counted (one commit instead of two before a job runs). A queue with
    /// quotas is claimed apart, its quotas' slots counted under a lock, and
    /// its jobs come back `assigned`: the caller starts them with a time
    /// read after the claim, so that a start is never stamped before the
    /// end of the run whose slot it took (`now` is read before the claim
    /// waits for that lock).
    ///
    /// [`Transition::Claim`]: crate::model::Transition::Claim
    /// [`Transition::Start`]: crate::model::Transition::Start
    pub start: bool,
}

/// Changes a job that no dispatcher holds yet (status `pending` or `new`).
/// `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct JobUpdateParams {
    /// The job.
    pub id: JobId,
    /// New arguments (a JSON array or object).
    pub args: Option<Value>,
    /// A new due time and whether it is scheduled (see
    /// [`NewJob::scheduled`](crate::model::NewJob::scheduled)); the job
    /// also takes the next put position, as if put at that moment.
    pub begin_after: Option<(Timestamp, bool)>,
    /// A new `begin_by_ms` (`Some(None)` removes it).
    pub begin_by_ms: Option<Option<u64>>,
    /// New quota names (already checked against the job's queue).
    pub quota_names: Option<Vec<String>>,
    /// A new priority.
    pub priority: Option<i32>,
}

/// Starts claimed jobs.
#[derive(Debug, Clone)]
pub struct JobStartParams {
    /// The dispatcher that claimed them.
    pub dispatcher: DispatcherId,
    /// The jobs.
    pub ids: Vec<JobId>,
    /// Now.
    pub now: Timestamp,
}

/// A job [`ClaimStore::job_start_many`](super::ClaimStore::job_start_many) started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobStarted {
    /// The job.
    pub id: JobId,
    /// Its attempts, this one included (1 on a first run).
    pub attempts: u32,
    /// When this attempt started.
    pub started_at: Timestamp,
}

/// Records how one run ended.
#[derive(Debug, Clone)]
pub struct JobFinishParams {
    /// The job.
    pub id: JobId,
    /// The dispatcher that ran it: the write happens only if the job is
    /// still `active` and still this dispatcher's.
    pub dispatcher: DispatcherId,
    /// The outcome.
    pub outcome: RunOutcome,
    /// What the guest wrote.
    pub output: CapturedOutput,
    /// Now.
    pub now: Timestamp,
    /// The run's record (resource accounting), written in the same
    /// transaction: whoever sees the job complete finds its run, and the
    /// run costs no commit of its own.
    pub run: Option<RunRecord>,
}

/// What a batch of finishes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishReport {
    /// Jobs that reached `completed` (or `callbacks`), including jobs that
    /// were awaiting them, transitively.
    pub completed: Vec<JobId>,
    /// Jobs that now await another job that has not completed yet.
    pub awaiting: Vec<JobId>,
    /// Jobs whose outcome was dropped: they were no longer `active` for
    /// this dispatcher.
    pub reassigned: Vec<JobId>,
}
