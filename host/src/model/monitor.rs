//! What operators read and select jobs by: job queries and their states
//! (also what removal by status takes), dispatcher statistics and status,
//! the recent polls.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{DispatcherId, Job, JobId, JobStatus, Timestamp};

/// A state a job query selects: a status, or one of the two kinds of
/// completed job (succeeded, failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueryState {
    /// Jobs with this status.
    Status(JobStatus),
    /// Completed with a value.
    Succeeded,
    /// Completed with a failure.
    Failed,
}

impl QueryState {
    /// The name used in queries and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryState::Status(status) => status.as_str(),
            QueryState::Succeeded => "succeeded",
            QueryState::Failed => "failed",
        }
    }
}

impl fmt::Display for QueryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for QueryState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for QueryState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A state name that is neither a status nor `succeeded` / `failed`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown job state `{0}` (expected one of: new, pending, assigned, active, callbacks, \
     completed, succeeded, failed, cancelled)"
)]
pub struct UnknownState(pub String);

impl FromStr for QueryState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "succeeded" => Ok(QueryState::Succeeded),
            "failed" => Ok(QueryState::Failed),
            other => other
                .parse()
                .map(QueryState::Status)
                .map_err(|_| UnknownState(other.to_owned())),
        }
    }
}

/// A half-open time range: `since <= t < before`; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// From this time (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Before this time (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Timestamp>,
}

impl TimeRange {
    /// True when neither end is set.
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.before.is_none()
    }
}

/// Which jobs a query selects (the filters of `count` and `jobs`). Every
/// filter set must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    /// Any of these states (empty: all).
    pub states: Vec<QueryState>,
    /// A glob (`*`, `?`) on the module's name or digest.
    pub module: Option<String>,
    /// A glob on the function.
    pub function: Option<String>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only jobs of these queues (`Some` of none: no job): the queues a
    /// scoped token may read, when its query names no queue.
    pub queues: Option<Vec<String>>,
    /// Only jobs claimed last by an agent of this name.
    pub agent: Option<String>,
    /// Only jobs claimed last by this dispatcher.
    pub dispatcher: Option<DispatcherId>,
    /// `begin_after` in this range.
    pub requested_start: TimeRange,
    /// `started_at` (the latest attempt's start) in this range.
    pub start: TimeRange,
    /// `completed_at` in this range.
    pub end: TimeRange,
    /// `created_at` (when the job was put) in this range.
    pub created: TimeRange,
}

/// A job's result as job info shows it: cut at 10,000 characters.
pub const RESULT_SUMMARY_MAX_CHARS: usize = 10_000;

/// The marker ending a cut result summary.
pub const TRUNCATED_MARK: &str = "[...TRUNCATED...]";

/// A value or failure as text, cut at [`RESULT_SUMMARY_MAX_CHARS`].
pub fn result_summary(job: &Job) -> Option<String> {
    let text = match (&job.result, &job.failure) {
        (Some(value), _) => value.to_string(),
        (None, Some(failure)) => match &failure.detail {
            Some(detail) => format!("{failure}\n{detail}"),
            None => failure.to_string(),
        },
        (None, None) => return None,
    };
    if text.chars().count() <= RESULT_SUMMARY_MAX_CHARS {
        return Some(text);
    }
    let mut cut: String = text.chars().take(RESULT_SUMMARY_MAX_CHARS).collect();
    cut.push_str(TRUNCATED_MARK);
    Some(cut)
}

/// One job and how long it ran, for the shortest and longest of
/// [`DispatcherStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobDuration {
    /// The job.
    pub id: JobId,
    /// Milliseconds from its (latest) start to its completion, or to now
    /// for an active job.
    pub ms: i64,
}

/// A dispatcher's statistics over a window, read from the jobs table: the jobs the dispatcher started in the window, by what
/// became of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispatcherStats {
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// The window's start (inclusive; `None`: since the beginning).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub statistics_start: Option<Timestamp>,
    /// The window's end (exclusive): the time asked, or now.
    #[schema(value_type = String, format = DateTime)]
    pub statistics_end: Timestamp,
    /// Jobs it started in the window.
    pub started: u64,
    /// Of those, completed (or in callbacks) with a value.
    pub successful: u64,
    /// Of those, completed (or in callbacks) with a failure.
    pub failed: u64,
    /// Of those, still running on this dispatcher.
    pub active: u64,
    /// Of those, neither finished nor running here any more: handed back
    /// to a queue or taken over by another dispatcher: their fate is
    /// unknown here.
    pub unknown: u64,
    /// The quickest successful job.
    pub shortest_successful: Option<JobDuration>,
    /// The slowest successful job.
    pub longest_successful: Option<JobDuration>,
    /// The quickest failed job.
    pub shortest_failed: Option<JobDuration>,
    /// The slowest failed job.
    pub longest_failed: Option<JobDuration>,
    /// The active job running for the shortest time.
    pub shortest_active: Option<JobDuration>,
    /// The active job running for the longest time.
    pub longest_active: Option<JobDuration>,
}

impl DispatcherStats {
    /// No jobs yet, for `dispatcher` over `since..before`.
    pub fn empty(dispatcher: DispatcherId, since: Option<Timestamp>, before: Timestamp) -> Self {
        DispatcherStats {
            dispatcher,
            statistics_start: since,
            statistics_end: before,
            started: 0,
            successful: 0,
            failed: 0,
            active: 0,
            unknown: 0,
            shortest_successful: None,
            longest_successful: None,
            shortest_failed: None,
            longest_failed: None,
            shortest_active: None,
            longest_active: None,
        }
    }

    /// Adds the jobs of one class, as the stores compute them: `s`
    /// (successful), `f` (failed), `a` (active) or `u` (unknown), with the
    /// count and the shortest and longest job of the class.
    pub fn add_class(
        &mut self,
        class: &str,
        count: u64,
        shortest: JobDuration,
        longest: JobDuration,
    ) {
        self.started += count;
        let (counter, short, long) = match class {
            "s" => (
                &mut self.successful,
                &mut self.shortest_successful,
                &mut self.longest_successful,
            ),
            "f" => (
                &mut self.failed,
                &mut self.shortest_failed,
                &mut self.longest_failed,
            ),
            "a" => (
                &mut self.active,
                &mut self.shortest_active,
                &mut self.longest_active,
            ),
            _ => {
                self.unknown += count;
                return;
            }
        };
        *counter += count;
        *short = Some(shortest);
        *long = Some(longest);
    }
}

/// A dispatcher's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DispatcherStatus {
    /// Activated, and has not polled since.
    Starting,
    /// Polling.
    Running,
    /// Deactivated (stopped cleanly, or declared dead).
    Stopped,
    /// Active, but its last poll is older than [`STUCK_POLLS`] poll
    /// intervals: its loop is not coming round.
    Stuck,
}

/// How many poll intervals may pass without a poll before a dispatcher is
/// called stuck. Not one: a poll takes time and timers drift, so
/// a dispatcher right on schedule would flicker to "stuck" just before each
/// poll: two intervals only catch loops that really stopped.
pub const STUCK_POLLS: i64 = 2;

impl DispatcherStatus {
    /// The status of a dispatcher activated at `activated_at`, last polled
    /// (pinged) at `last_poll`, deactivated at `deactivated_at`, polling
    /// every `poll_interval_ms`, as seen at `now`.
    pub fn at(
        activated_at: Timestamp,
        last_poll: Timestamp,
        deactivated_at: Option<Timestamp>,
        poll_interval_ms: u64,
        now: Timestamp,
    ) -> Self {
        if deactivated_at.is_some() {
            return DispatcherStatus::Stopped;
        }
        let interval = i64::try_from(poll_interval_ms).unwrap_or(i64::MAX / 4);
        let silence = (now - last_poll).num_milliseconds();
        if silence > interval.saturating_mul(STUCK_POLLS) {
            DispatcherStatus::Stuck
        } else if last_poll <= activated_at {
            DispatcherStatus::Starting
        } else {
            DispatcherStatus::Running
        }
    }
}

/// One poll that claimed something: what one agent of one dispatcher
/// took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PollRecord {
    /// Its id: increasing, unique across dispatchers.
    pub id: i64,
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// The queue.
    pub queue: String,
    /// The agent.
    pub agent: String,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub polled_at: Timestamp,
    /// The jobs claimed.
    pub jobs: Vec<JobId>,
}

/// How many poll records each dispatcher keeps.
pub const POLLS_KEPT_DEFAULT: u32 = 400;

/// The statuses whose jobs can be removed (finished jobs).
pub const REMOVABLE_STATES: [QueryState; 4] = [
    QueryState::Status(JobStatus::Completed),
    QueryState::Succeeded,
    QueryState::Failed,
    QueryState::Status(JobStatus::Cancelled),
];

/// Removed jobs, counted per state asked for.
pub type RemovalReport = BTreeMap<String, u64>;

/// The most job ids one deletion by id takes: a page of the dashboard's
/// batch actions, bounded so one statement stays small.
pub const DELETE_IDS_MAX: usize = 1000;

/// What a deletion of given jobs did: each id asked for is in exactly one
/// list (in the order asked).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeletionReport {
    /// Finished (completed or cancelled) jobs, deleted with their
    /// annotations and attempts.
    pub deleted: Vec<JobId>,
    /// Jobs not finished, left as they are (cancel them first).
    pub unfinished: Vec<JobId>,
    /// Ids of no job (never put, or deleted already).
    pub missing: Vec<JobId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_millis;
    use crate::model::{Failure, FailureKind};

    #[test]
    fn states_parse_statuses_and_outcomes() {
        assert_eq!("failed".parse::<QueryState>().unwrap(), QueryState::Failed);
        assert_eq!(
            "cancelled".parse::<QueryState>().unwrap(),
            QueryState::Status(JobStatus::Cancelled)
        );
        let error = "done".parse::<QueryState>().unwrap_err().to_string();
        assert!(
            error.contains("`done`") && error.contains("succeeded"),
            "{error}"
        );
    }

    #[test]
    fn dispatcher_status_follows_polls() {
        let t = from_millis;
        assert_eq!(
            DispatcherStatus::at(t(0), t(0), None, 1_000, t(500)),
            DispatcherStatus::Starting
        );
        assert_eq!(
            DispatcherStatus::at(t(0), t(1_000), None, 1_000, t(2_500)),
            DispatcherStatus::Running
        );
        assert_eq!(
            DispatcherStatus::at(t(0), t(1_000), None, 1_000, t(3_001)),
            DispatcherStatus::Stuck
        );
        assert_eq!(
            DispatcherStatus::at(t(0), t(1_000), Some(t(2_000)), 1_000, t(9_000)),
            DispatcherStatus::Stopped
        );
    }

    #[test]
    fn long_results_are_cut_with_a_mark() {
        let mut job: Job = serde_json::from_value(serde_json::json!({
            "id": JobId::new(), "queue": "", "status": "completed",
            "module": format!("sha256:{}", "0".repeat(64)), "function": "f", "args": [],
            "begin_after": "2026-01-01T00:00:00Z", "scheduled": false, "attempts": 1,
            "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        assert_eq!(result_summary(&job), None);
        job.result = Some(serde_json::Value::String("x".repeat(20_000)));
        let summary = result_summary(&job).unwrap();
        assert!(summary.ends_with(TRUNCATED_MARK));
        assert_eq!(
            summary.chars().count(),
            RESULT_SUMMARY_MAX_CHARS + TRUNCATED_MARK.len()
        );
        job.result = None;
        job.failure = Some(Failure::new(FailureKind::Trap, "boom").with_detail("at f"));
        assert_eq!(result_summary(&job).unwrap(), "trap: boom\nat f");
    }
}
