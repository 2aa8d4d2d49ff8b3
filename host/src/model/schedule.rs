//! Schedules: items that put a job again and again, every so long
//! (`Delay`) or at cron times (`Cron`). A schedule holds the job request
//! to put and its timing; the scheduler (`crate::schedule`) turns each due
//! occurrence into an ordinary job linked to the schedule.
//!
//! Each schedule has a `next_call_time`: the occurrence it puts next. A
//! scheduler *takes* a due schedule (`next_call_time <= now`) by setting
//! its `retry_time` to `now + retry_delay` — a lock: no other scheduler
//! takes it before that time — puts the job, then *advances* it to its
//! next occurrence ([`Timing::after_take`]) and clears the lock. A
//! scheduler that dies in between leaves the lock to expire: the schedule
//! is taken again after `retry_time`, and the job for an occurrence is put
//! at most once all the same (jobs are unique per schedule and occurrence).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::cron::CronSpec;
use super::{JobSpec, Timestamp};

/// How long a take locks a schedule by default: 300 s. For a Delay item
/// whose delay is shorter than twice that, the default is half the delay
/// (the lock must be shorter than the delay).
pub const RETRY_DELAY_DEFAULT_MS: u64 = 300_000;

/// The most occurrences one take puts with [`CatchUp::All`]; older missed
/// occurrences beyond these are skipped.
pub const CATCH_UP_ALL_MAX: usize = 1000;

super::ids::uuid_id!(
    /// A schedule's id.
    ScheduleId, new = now_v7 "A new, time-ordered id."
);

/// What links a job to the schedule that put it: the schedule and the
/// occurrence (the `next_call_time` taken). The store keeps one job per
/// (schedule, occurrence) at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleRun {
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The occurrence it was put for.
    #[schema(value_type = String, format = DateTime)]
    pub occurrence: Timestamp,
}

/// When a schedule puts its job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Timing {
    /// Every `delay_ms`. The first occurrence is `delay_ms` after the
    /// schedule is created (unless given); the next ones stay on that
    /// grid, `next_call_time + k × delay_ms`, whenever the scheduler
    /// happens to take them: a late take does not make later calls drift.
    Delay {
        /// Milliseconds between occurrences.
        delay_ms: u64,
    },
    /// At cron times (see [`CronSpec`]), UTC.
    Cron {
        /// The lists of values.
        #[serde(flatten)]
        spec: CronSpec,
        /// The five-field string it was given as, if it was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
    },
}

/// What a scheduler does about occurrences missed while no scheduler ran
/// (or while it could not put the job).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// The default: however many occurrences were missed,
    /// put one job (for the oldest missed occurrence), then continue from
    /// the first occurrence still to come.
    #[default]
    Once,
    /// Put one job per missed occurrence (at most [`CATCH_UP_ALL_MAX`], the
    /// most recent), then continue from the first one still to come.
    All,
}

impl CatchUp {
    /// Its name: `once` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Once => "once",
            CatchUp::All => "all",
        }
    }
}

impl FromStr for CatchUp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "once" => Ok(CatchUp::Once),
            "all" => Ok(CatchUp::All),
            other => Err(format!(
                "`{other}` is not a catch-up mode: use `once` or `all`"
            )),
        }
    }
}

/// What a take of a schedule leads to: the occurrences to put, and the
/// next call time to store once they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterTake {
    /// The occurrences to put a job for, oldest first.
    pub occurrences: Vec<Timestamp>,
    /// Missed occurrences not put ([`CatchUp::All`] beyond its bound).
    pub skipped: u64,
    /// The next call time: the first occurrence after now. `None` when a
    /// cron spec matches nothing more within its horizon.
    pub next: Option<Timestamp>,
}

impl Timing {
    /// The first occurrence of a schedule created at `now`.
    pub fn first_call(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Timing::Delay { delay_ms } => Some(now + millis(*delay_ms)),
            Timing::Cron { spec, .. } => spec.next_after(now),
        }
    }

    /// The first occurrence strictly after `t`; for a Delay item, on the
    /// grid through `anchor` (an occurrence of the item).
    pub fn slot_after(&self, anchor: Timestamp, t: Timestamp) -> Option<Timestamp> {
        match self {
            Timing::Delay { delay_ms } => {
                if t < anchor {
                    return Some(anchor);
                }
                let delay = (*delay_ms).max(1) as i64;
                let steps = (t - anchor).num_milliseconds() / delay + 1;
                Some(anchor + chrono::TimeDelta::milliseconds(steps.saturating_mul(delay)))
            }
            Timing::Cron { spec, .. } => spec.next_after(t),
        }
    }

    /// What to put when occurrence `taken` (the `next_call_time` a
    /// scheduler took) is taken at `now` (`taken <= now`), and the next
    /// call time after.
    pub fn after_take(&self, taken: Timestamp, now: Timestamp, catch_up: CatchUp) -> AfterTake {
        let next = self.slot_after(taken, now.max(taken));
        let (occurrences, skipped) = match catch_up {
            CatchUp::Once => (vec![taken], 0),
            CatchUp::All => self.missed(taken, now),
        };
        AfterTake {
            occurrences,
            skipped,
            next,
        }
    }

    /// The occurrences from `taken` to `now` (inclusive), at most the last
    /// [`CATCH_UP_ALL_MAX`], and how many older ones were left out.
    fn missed(&self, taken: Timestamp, now: Timestamp) -> (Vec<Timestamp>, u64) {
        let mut kept = std::collections::VecDeque::new();
        let mut skipped = 0u64;
        let mut occurrence = Some(taken);
        if let Timing::Delay { delay_ms } = self {
            // Arithmetic, not a walk: a long downtime of a short delay
            // skips straight to the kept ones.
            let delay = (*delay_ms).max(1) as i64;
            let count = (now - taken).num_milliseconds().max(0) / delay + 1;
            let skip = (count - CATCH_UP_ALL_MAX as i64).max(0);
            skipped = skip as u64;
            occurrence = Some(taken + chrono::TimeDelta::milliseconds(skip.saturating_mul(delay)));
        }
        while let Some(t) = occurrence.filter(|t| *t <= now) {
            if kept.len() == CATCH_UP_ALL_MAX {
                kept.pop_front();
                skipped += 1;
            }
            kept.push_back(t);
            occurrence = self.slot_after(taken, t);
        }
        (kept.into(), skipped)
    }

    /// The default lock duration for this timing (see
    /// [`RETRY_DELAY_DEFAULT_MS`]).
    pub fn default_retry_delay_ms(&self) -> u64 {
        match self {
            Timing::Delay { delay_ms } => RETRY_DELAY_DEFAULT_MS.min(delay_ms / 2).max(1),
            Timing::Cron { .. } => RETRY_DELAY_DEFAULT_MS,
        }
    }
}

fn millis(ms: u64) -> chrono::TimeDelta {
    chrono::TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A schedule to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    /// Its id.
    pub id: ScheduleId,
    /// Its unique name.
    pub name: String,
    /// The job it puts (see [`Schedule::job`]).
    pub job: JobSpec,
    /// When.
    pub timing: Timing,
    /// Missed occurrences.
    pub catch_up: CatchUp,
    /// Whether it puts anything.
    pub active: bool,
    /// How long a take locks it, in ms.
    pub retry_delay_ms: u64,
    /// Its first occurrence.
    pub next_call_time: Option<Timestamp>,
    /// Now.
    pub created_at: Timestamp,
}

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    /// Its id.
    pub id: ScheduleId,
    /// Its unique name.
    pub name: String,
    /// The job it puts at each occurrence, kept as given (the module by
    /// name is resolved at each put, so a newer upload under the name is
    /// used from then on): module, function, arguments, queue, `limits`,
    /// `begin_by` (counted from each put), `priority` and `quota_keys`.
    pub job: JobSpec,
    /// When it puts it.
    pub timing: Timing,
    /// What it does about missed occurrences.
    pub catch_up: CatchUp,
    /// Whether it puts anything (paused when false). wasync's default is
    /// true.
    pub active: bool,
    /// How long a take locks it, in ms.
    pub retry_delay_ms: u64,
    /// The occurrence it puts next. `None` when a cron spec matches no
    /// more time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_call_time: Option<Timestamp>,
    /// While a scheduler holds it: the time its lock expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retry_time: Option<Timestamp>,
    /// The scheduler that took it last (`host:pid:id`); kept after the
    /// lock is released, while `retry_time` is set it holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// The last occurrence put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_call_time: Option<Timestamp>,
    /// Why the last attempt to put its job failed, until one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Bumped by every write: updates compare it.
    pub version: u64,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When its definition last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone, Utc};

    use super::*;

    fn t(seconds: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2010, 10, 1, 0, 0, 0).unwrap() + TimeDelta::seconds(seconds)
    }

    const EVERY_10S: Timing = Timing::Delay { delay_ms: 10_000 };

    #[test]
    fn delay_first_call_is_one_delay_after_creation() {
        assert_eq!(EVERY_10S.first_call(t(0)), Some(t(10)));
    }

    /// A take 2.5 s late does not move later calls: the grid holds.
    #[test]
    fn delay_items_do_not_drift() {
        let after =
            EVERY_10S.after_take(t(10), t(10) + TimeDelta::milliseconds(2500), CatchUp::Once);
        assert_eq!(after.occurrences, vec![t(10)]);
        assert_eq!(after.next, Some(t(20)));
        // Taken exactly on time.
        assert_eq!(
            EVERY_10S.after_take(t(20), t(20), CatchUp::Once).next,
            Some(t(30))
        );
    }

    #[test]
    fn catch_up_once_puts_one_job_then_continues_from_the_next_slot() {
        // Down from 10 s to 75 s: six occurrences missed (10..=60, 70).
        let after = EVERY_10S.after_take(t(10), t(75), CatchUp::Once);
        assert_eq!(after.occurrences, vec![t(10)]);
        assert_eq!(after.skipped, 0);
        assert_eq!(after.next, Some(t(80)));
    }

    #[test]
    fn catch_up_all_puts_every_missed_occurrence() {
        let after = EVERY_10S.after_take(t(10), t(75), CatchUp::All);
        assert_eq!(
            after.occurrences,
            (1..=7).map(|i| t(10 * i)).collect::<Vec<_>>()
        );
        assert_eq!(after.next, Some(t(80)));

        let cron = Timing::Cron {
            spec: CronSpec::parse("*/15 * * * *").unwrap(),
            expression: None,
        };
        let after = cron.after_take(t(0), t(3600), CatchUp::All);
        assert_eq!(after.occurrences.len(), 5, "00:00, :15, :30, :45, 01:00");
        assert_eq!(after.occurrences[4], t(3600));
        assert_eq!(after.next, Some(t(3600 + 900)));
        let once = cron.after_take(t(0), t(3600), CatchUp::Once);
        assert_eq!((once.occurrences, once.next), (vec![t(0)], Some(t(4500))));
    }

    #[test]
    fn catch_up_all_is_bounded() {
        let every_second = Timing::Delay { delay_ms: 1000 };
        let after = every_second.after_take(t(0), t(5000), CatchUp::All);
        assert_eq!(after.occurrences.len(), CATCH_UP_ALL_MAX);
        assert_eq!(after.skipped, 5001 - CATCH_UP_ALL_MAX as u64);
        assert_eq!(after.occurrences.last(), Some(&t(5000)));
        assert_eq!(after.occurrences[0], t(5001 - CATCH_UP_ALL_MAX as i64));
        assert_eq!(after.next, Some(t(5001)));

        let every_minute = Timing::Cron {
            spec: CronSpec::parse("* * * * *").unwrap(),
            expression: None,
        };
        let after = every_minute.after_take(t(0), t(2000 * 60), CatchUp::All);
        assert_eq!(after.occurrences.len(), CATCH_UP_ALL_MAX);
        assert_eq!(after.skipped, 2001 - CATCH_UP_ALL_MAX as u64);
        assert_eq!(after.occurrences.last(), Some(&t(2000 * 60)));
    }

    #[test]
    fn cron_after_take_is_the_next_matching_time() {
        // Hours 2 and 13: taken (due 02:00) at 02:03 → next 13:00.
        let hours = Timing::Cron {
            spec: CronSpec {
                hour: vec![2, 13],
                ..Default::default()
            },
            expression: None,
        };
        let after = hours.after_take(t(2 * 3600), t(2 * 3600 + 180), CatchUp::Once);
        assert_eq!(after.next, Some(t(13 * 3600)));
    }

    #[test]
    fn default_retry_delay_is_shorter_than_the_delay() {
        assert_eq!(EVERY_10S.default_retry_delay_ms(), 5_000);
        let hourly = Timing::Delay {
            delay_ms: 3_600_000,
        };
        assert_eq!(hourly.default_retry_delay_ms(), RETRY_DELAY_DEFAULT_MS);
        let cron = Timing::Cron {
            spec: CronSpec::parse("@daily").unwrap(),
            expression: None,
        };
        assert_eq!(cron.default_retry_delay_ms(), RETRY_DELAY_DEFAULT_MS);
    }

    #[test]
    fn timing_json_is_tagged() {
        let json = serde_json::to_value(&EVERY_10S).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "delay", "delay_ms": 10000})
        );
        let cron = Timing::Cron {
            spec: CronSpec::parse("10 4 * * *").unwrap(),
            expression: Some("10 4 * * *".into()),
        };
        let json = serde_json::to_value(&cron).unwrap();
        assert_eq!(json["kind"], "cron");
        assert_eq!(json["hour"], serde_json::json!([4]));
        assert_eq!(json["expression"], "10 4 * * *");
        assert_eq!(serde_json::from_value::<Timing>(json).unwrap(), cron);
    }
}
