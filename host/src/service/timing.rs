//! A job's timing: when it is due (`begin_after`) and by when it must
//! have started (`begin_by`), resolved against the clock at put (or
//! change) time. Not to be confused with recurring schedules
//! (`service/schedules.rs`) or the scheduler (`crate::schedule`).

use chrono::TimeDelta;

use super::{Error, Result};
use crate::model::Timestamp;

/// The longest `begin_by`: 100 years.
pub const BEGIN_BY_MAX_MS: u64 = 100 * 366 * 24 * 3600 * 1000;

/// Checks a `begin_by`, in milliseconds.
pub(super) fn check_begin_by(ms: u64) -> Result<u64> {
    if ms > BEGIN_BY_MAX_MS {
        return Err(Error::Invalid(format!(
            "`begin_by` is {ms} ms; the limit is {BEGIN_BY_MAX_MS} ms (100 years)"
        )));
    }
    Ok(ms)
}

/// A job's timing as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct JobTiming {
    /// When it becomes due.
    pub begin_after: Timestamp,
    /// Whether that was a future time (a scheduled job).
    pub scheduled: bool,
    /// Milliseconds after `begin_after` by which it must start.
    pub begin_by_ms: Option<u64>,
    /// True when the deadline has already passed: the job fails with
    /// `timeout` without running.
    pub expired: bool,
}

impl JobTiming {
    /// The timing of a job asked to begin after `begin_after` (`None`:
    /// as soon as possible) and to have started `begin_by_ms` after that,
    /// at `now`.
    ///
    /// A future time holds the job and, once due, puts it
    /// before plain jobs put after that time. A time already past means "as
    /// soon as possible", at the end of the FIFO (the job is due `now`, not
    /// scheduled), but the deadline still counts from the time given: when
    /// that deadline has passed too, the job is expired at once; otherwise
    /// `begin_by_ms` is shortened so that `begin_after + begin_by_ms` is
    /// still the deadline.
    pub(super) fn at(
        begin_after: Option<Timestamp>,
        begin_by_ms: Option<u64>,
        now: Timestamp,
    ) -> JobTiming {
        let given = begin_after.unwrap_or(now);
        if given > now {
            return JobTiming {
                begin_after: given,
                scheduled: true,
                begin_by_ms,
                expired: false,
            };
        }
        let deadline = begin_by_ms.map(|by| given + TimeDelta::milliseconds(by as i64));
        match deadline {
            Some(deadline) if deadline < now => JobTiming {
                begin_after: given,
                scheduled: false,
                begin_by_ms,
                expired: true,
            },
            _ => JobTiming {
                begin_after: now,
                scheduled: false,
                begin_by_ms: deadline.map(|d| (d - now).num_milliseconds() as u64),
                expired: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_millis;

    const NOW: i64 = 1_000_000;

    fn at(after: Option<i64>, by: Option<u64>) -> JobTiming {
        JobTiming::at(after.map(from_millis), by, from_millis(NOW))
    }

    #[test]
    fn future_times_are_scheduled() {
        let s = at(Some(NOW + 500), Some(100));
        assert_eq!(
            s,
            JobTiming {
                begin_after: from_millis(NOW + 500),
                scheduled: true,
                begin_by_ms: Some(100),
                expired: false
            }
        );
    }

    #[test]
    fn past_times_are_due_now_and_keep_their_deadline() {
        let s = at(Some(NOW - 300), Some(1_000));
        assert_eq!(s.begin_after, from_millis(NOW));
        assert!(!s.scheduled && !s.expired);
        assert_eq!(s.begin_by_ms, Some(700), "the deadline is still NOW + 700");
        let plain = at(None, None);
        assert_eq!(
            (plain.begin_after, plain.begin_by_ms),
            (from_millis(NOW), None)
        );
        assert_eq!(at(None, Some(50)).begin_by_ms, Some(50));
    }

    #[test]
    fn a_deadline_already_past_expires_at_once() {
        let s = at(Some(NOW - 3_600_000), Some(60_000));
        assert!(s.expired);
        assert_eq!(s.begin_after, from_millis(NOW - 3_600_000));
        assert_eq!(s.begin_by_ms, Some(60_000));
        assert!(
            !at(Some(NOW - 100), Some(100)).expired,
            "exactly at the deadline"
        );
        assert!(check_begin_by(BEGIN_BY_MAX_MS + 1).is_err());
    }
}
