//! Retry policies and the history of failed attempts.
//!
//! A policy starts from a preset (`common-four-times`, `forever`,
//! `never`) and says two things:
//!
//! - what happens to a job *interrupted* by its dispatcher's death or
//!   shutdown: tried again (back at its place at the front of its queue)
//!   up to `max_interruptions` times (`None`: forever), then completed
//!   with an `aborted` failure;
//! - what happens to a job whose *run failed* (a guest error, a panic, a
//!   trap, a limit): tried again, later, by the backoff, until
//!   `max_attempts` failed runs. A guest error marked permanent is never
//!   retried.
//!
//! A job's policy is its own (given at put) or, when it has none, its
//! queue's default, or else [`RetryPolicy::default`]
//! (`common-four-times`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DispatcherId, Failure, FailureKind, Timestamp};

/// The preset a policy starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetryPreset {
    /// Interruptions retried up to 9 times, failed runs not retried. The
    /// default.
    CommonFourTimes,
    /// Interruptions retried forever, so
    /// the job is never lost (callbacks use it); failed runs not retried.
    Forever,
    /// Nothing is retried; an interrupted job is
    /// aborted at once.
    Never,
}

impl RetryPreset {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryPreset::CommonFourTimes => "common-four-times",
            RetryPreset::Forever => "forever",
            RetryPreset::Never => "never",
        }
    }

    fn parse(name: &str) -> Result<Self, String> {
        [
            RetryPreset::CommonFourTimes,
            RetryPreset::Forever,
            RetryPreset::Never,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
        .ok_or_else(|| {
            format!("unknown retry policy `{name}` (expected common-four-times, forever or never)")
        })
    }

    /// The policy this preset names.
    pub fn policy(self) -> RetryPolicy {
        let max_interruptions = match self {
            RetryPreset::CommonFourTimes => Some(COMMON_INTERRUPTIONS),
            RetryPreset::Forever => None,
            RetryPreset::Never => Some(0),
        };
        RetryPolicy {
            preset: self,
            max_interruptions,
            max_attempts: 1,
            backoff: Backoff::default(),
        }
    }
}

/// How many interruptions `common-four-times` retries.
pub const COMMON_INTERRUPTIONS: u32 = 9;

/// The most failed runs a policy may allow (a guard against typos).
pub const MAX_ATTEMPTS_LIMIT: u32 = 1000;

/// How long to wait before trying a failed job again: `initial` after the
/// first failure, `increment` more after each further one, at most `max`
/// (by default 5 s, +5 s, at most 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// Delay after the first failure, ms. Default 5,000.
    pub initial_ms: u64,
    /// Added per further failure, ms. Default 5,000.
    pub increment_ms: u64,
    /// The longest delay, ms. Default 60,000.
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: 5_000,
            increment_ms: 5_000,
            max_ms: 60_000,
        }
    }
}

impl Backoff {
    /// The delay after the `failures`-th failed run (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let extra = self
            .increment_ms
            .saturating_mul(u64::from(failures.saturating_sub(1)));
        Duration::from_millis(self.initial_ms.saturating_add(extra).min(self.max_ms))
    }
}

/// A retry policy (see the module doc). In JSON either a preset's name
/// (`"never"`) or an object: `{"preset": "common-four-times",
/// "max_interruptions": 9 | null, "max_attempts": 3, "backoff":
/// {"initial_ms": …, "increment_ms": …, "max_ms": …}}`, every field
/// optional (absent: the preset's; `null` interruptions: forever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RetryPolicy {
    /// The preset the other fields started from.
    pub preset: RetryPreset,
    /// How many interruptions are retried; `None`: all.
    pub max_interruptions: Option<u32>,
    /// How many runs may fail before the job completes with the last
    /// failure (1: a failed run is final).
    pub max_attempts: u32,
    /// The delay before each retry of a failed run.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPreset::CommonFourTimes.policy()
    }
}

impl fmt::Display for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let interruptions = match self.max_interruptions {
            Some(n) => n.to_string(),
            None => "forever".into(),
        };
        write!(
            f,
            "{} (interruptions retried: {interruptions}; max attempts: {}; backoff {}ms +{}ms ≤ {}ms)",
            self.preset.as_str(),
            self.max_attempts,
            self.backoff.initial_ms,
            self.backoff.increment_ms,
            self.backoff.max_ms
        )
    }
}

/// What becomes of an interrupted job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterInterruption {
    /// Back to its place at the front of its queue.
    Retry,
    /// Completed with an `aborted` failure.
    Abort,
}

impl RetryPolicy {
    /// Parses a policy from its JSON form (see the type's doc), naming
    /// what is wrong.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let object = match value {
            Value::String(name) => return Ok(RetryPreset::parse(name)?.policy()),
            Value::Object(object) => object,
            other => {
                return Err(format!(
                    "a retry policy is a name (common-four-times, forever, never) or an object, \
                     not `{other}`"
                ));
            }
        };
        for key in object.keys() {
            if !["preset", "max_interruptions", "max_attempts", "backoff"].contains(&key.as_str()) {
                return Err(format!(
                    "unknown retry policy field `{key}` (expected preset, max_interruptions, \
                     max_attempts, backoff)"
                ));
            }
        }
        let mut policy = match object.get("preset") {
            None => RetryPolicy::default(),
            Some(Value::String(name)) => RetryPreset::parse(name)?.policy(),
            Some(other) => return Err(format!("retry `preset` must be a name, not `{other}`")),
        };
        match object.get("max_interruptions") {
            None => {}
            Some(Value::Null) => policy.max_interruptions = None,
            Some(v) => {
                policy.max_interruptions = Some(
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| {
                            format!(
                                "retry `max_interruptions` must be a whole number or null \
                                 (forever), not `{v}`"
                            )
                        })?,
                )
            }
        }
        if let Some(v) = object.get("max_attempts") {
            policy.max_attempts = v
                .as_u64()
                .filter(|n| (1..=u64::from(MAX_ATTEMPTS_LIMIT)).contains(n))
                .ok_or_else(|| {
                    format!(
                        "retry `max_attempts` must be a whole number from 1 to \
                         {MAX_ATTEMPTS_LIMIT}, not `{v}`"
                    )
                })? as u32;
        }
        if let Some(v) = object.get("backoff") {
            let mut backoff = serde_json::to_value(policy.backoff).expect("serializes");
            let Value::Object(given) = v else {
                return Err(format!("retry `backoff` must be an object, not `{v}`"));
            };
            for (key, value) in given {
                backoff[key] = value.clone();
            }
            policy.backoff =
                serde_json::from_value(backoff).map_err(|e| format!("retry `backoff`: {e}"))?;
        }
        Ok(policy)
    }

    /// What becomes of a job interrupted for the `interruptions`-th time
    /// (this one included).
    pub fn after_interruption(&self, interruptions: u32) -> AfterInterruption {
        match self.max_interruptions {
            Some(max) if interruptions > max => AfterInterruption::Abort,
            _ => AfterInterruption::Retry,
        }
    }

    /// The delay before trying again a job whose run failed with `failure`
    /// for the `failures`-th time (this one included); `None`: the failure
    /// is final.
    pub fn after_failure(&self, failure: &Failure, failures: u32) -> Option<Duration> {
        let retryable = !failure.permanent
            && !matches!(
                failure.kind,
                FailureKind::Interrupted | FailureKind::Aborted | FailureKind::Cancelled
            );
        (retryable && failures < self.max_attempts).then(|| self.backoff.delay(failures))
    }
}

impl<'de> Deserialize<'de> for RetryPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        RetryPolicy::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// One failed attempt of a job, kept for good: interruptions included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// Which start of the job it was (1-based; the job's `attempts` then).
    pub attempt: u32,
    /// The dispatcher that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatcher: Option<DispatcherId>,
    /// Why it failed.
    pub failure: Failure,
    /// When the failure was recorded.
    #[schema(value_type = String, format = DateTime)]
    pub failed_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn presets_retry_interruptions_9_times_forever_or_never() {
        let common = RetryPolicy::default();
        assert_eq!(common.preset, RetryPreset::CommonFourTimes);
        assert_eq!(common.after_interruption(9), AfterInterruption::Retry);
        assert_eq!(common.after_interruption(10), AfterInterruption::Abort);
        let guest = Failure::new(FailureKind::GuestError, "no");
        assert_eq!(common.after_failure(&guest, 1), None, "guest errors final");
        let forever = RetryPreset::Forever.policy();
        assert_eq!(forever.after_interruption(1_000), AfterInterruption::Retry);
        let never = RetryPreset::Never.policy();
        assert_eq!(never.after_interruption(1), AfterInterruption::Abort);
    }

    #[test]
    fn backoff_grows_by_its_increment_up_to_its_maximum() {
        let b = Backoff::default();
        assert_eq!(b.delay(1), Duration::from_secs(5));
        assert_eq!(b.delay(2), Duration::from_secs(10));
        assert_eq!(b.delay(12), Duration::from_secs(60));
        assert_eq!(b.delay(100), Duration::from_secs(60));
    }

    #[test]
    fn max_attempts_bounds_failed_runs_and_permanent_errors_are_final() {
        let policy = RetryPolicy::from_json(&json!({"max_attempts": 3})).unwrap();
        let guest = Failure::new(FailureKind::GuestError, "no");
        assert_eq!(
            policy.after_failure(&guest, 1),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            policy.after_failure(&guest, 2),
            Some(Duration::from_secs(10))
        );
        assert_eq!(policy.after_failure(&guest, 3), None);
        let mut permanent = guest.clone();
        permanent.permanent = true;
        assert_eq!(policy.after_failure(&permanent, 1), None);
    }

    #[test]
    fn json_forms_round_trip_and_bad_ones_are_named() {
        let policy: RetryPolicy = serde_json::from_value(json!({
            "preset": "never", "max_attempts": 2, "backoff": {"initial_ms": 100}
        }))
        .unwrap();
        assert_eq!(policy.max_interruptions, Some(0));
        assert_eq!(policy.backoff.initial_ms, 100);
        assert_eq!(policy.backoff.increment_ms, 5_000);
        let back: RetryPolicy =
            serde_json::from_value(serde_json::to_value(&policy).unwrap()).unwrap();
        assert_eq!(back, policy);
        let forever: RetryPolicy =
            serde_json::from_value(json!({"max_interruptions": null})).unwrap();
        assert_eq!(forever.max_interruptions, None);
        for (bad, says) in [
            (json!("sometimes"), "unknown retry policy `sometimes`"),
            (json!({"max_attempts": 0}), "max_attempts"),
            (json!({"tries": 3}), "unknown retry policy field `tries`"),
            (json!({"backoff": {"initial": 1}}), "backoff"),
            (json!(3), "a retry policy is a name"),
        ] {
            let error = RetryPolicy::from_json(&bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
