//! The domain: jobs, their states, failures, modules, queues, dispatchers,
//! agents, quotas and schedules. Plain data shared by every layer; no I/O.

mod agent;
mod catalog;
pub mod cron;
mod failure;
mod ids;
mod job;
mod job_name;
mod job_spec;
mod links;
mod monitor;
mod quota;
mod rate;
mod retry;
mod schedule;
pub mod state;
mod token;
mod unique;
mod usage;

pub use agent::{AGENT_SIZE_DEFAULT, Agent, AgentFilter, AgentSpec, MAIN_AGENT_NAME};
pub use catalog::{
    ARGUMENTS_EXPORT_PREFIX, Arity, DEFAULT_QUEUE, DispatcherInfo, FUNCTION_EXPORT_PREFIX,
    ModuleInfo, Process, QueueInfo,
};
pub use failure::{Failure, FailureKind};
pub use ids::{BadDigest, DispatcherId, JobId, ModuleDigest};
pub use job::{CapturedOutput, Job, JobLimits, NewJob, RunOutcome};
pub use job_name::JobName;
pub use job_spec::{CallbackSpec, JobSpec};
pub use links::{
    BROADCAST_FUNCTION, BroadcastArgs, CallbackOn, CompositeArgs, CompositeKind,
    HOST_FUNCTION_PREFIX, JobLink, LinkedJob, UnknownCallbackOn, broadcast_result, outcome_json,
    with_outcome, with_outcomes,
};
pub use monitor::{
    DELETE_IDS_MAX, DeletionReport, DispatcherStats, DispatcherStatus, JobDuration, JobFilter,
    POLLS_KEPT_DEFAULT, PollRecord, QueryState, REMOVABLE_STATES, RemovalReport, STUCK_POLLS,
    TimeRange, UnknownState, result_summary,
};
pub use quota::{
    QUOTA_KEY_SEPARATOR, QUOTA_NAME_MAX_LEN, QUOTA_NAMES_MAX, QUOTA_SIZE_DEFAULT, QUOTA_SIZE_MAX,
    Quota, QuotaKey, check_quota_keys, check_quota_name, normalize_quota_names, quota_slot,
    split_quota_slot, split_stored_quota_names, stored_quota_names,
};
pub use rate::{RATE_LIMIT_MAX, RATE_PERIOD_MAX_MS, Rate, RateStatus};
pub use retry::{
    AfterInterruption, Attempt, Backoff, COMMON_INTERRUPTIONS, MAX_ATTEMPTS_LIMIT, RetryPolicy,
    RetryPreset,
};
pub use schedule::{
    AfterTake, CATCH_UP_ALL_MAX, CatchUp, NewSchedule, RETRY_DELAY_DEFAULT_MS, Schedule,
    ScheduleId, ScheduleRun, Timing,
};
pub use state::{JobStatus, Transition};
pub use token::{
    Authority, Scope, TOKEN_NAME_MAX_LEN, TOKEN_QUEUES_MAX, Token, TokenId, UnknownScope,
    glob_matches,
};
pub use unique::{
    BadUnique, UNIQUE_KEY_MAX_LEN, UNIQUE_STATES_DEFAULT, UNIQUE_STATES_REQUIRED, UniqueKey,
    UniqueSpec, derived_key, state_bit,
};
pub use usage::{RunLimits, RunRecord, RunUsage, UsageTotals};

/// A point in time, UTC, with millisecond precision when stored.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
