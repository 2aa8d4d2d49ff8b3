//! Cron timing as lists of fields: five lists of values, `minute`,
//! `hour`, `day_of_month`, `month` and `day_of_week` (**0 = Monday**, as
//! Python's `weekday()` counts). An empty list means "any"; **every given
//! list must match** (AND). Times are UTC.
//!
//! Which fields are given also sets the resolution: the fields *finer* than
//! the finest given one are zero, not "any":
//!
//! | given (finest)            | fires at                                  |
//! |---------------------------|-------------------------------------------|
//! | `minute`                  | second 0 of each matching minute          |
//! | `hour`                    | minute 0 of each matching hour            |
//! | `day_of_month` / `day_of_week` | 00:00 of each matching day           |
//! | `month` only              | day 1, 00:00, of each matching month      |
//!
//! A spec with no field at all is refused (it would fire every second).
//!
//! Every occurrence is computed from the spec alone, never from the time
//! the scheduler happened to look: a `month`-only or `day_of_week`-only
//! spec fires at 00:00, and does not drift by the scheduler's latency.
//!
//! # The standard five-field string
//!
//! [`CronSpec::parse`] also takes `minute hour day-of-month month
//! day-of-week` (`10 4 * * *`, `*/15 * * * 1-5`, `0 0 1 JAN,JUL *`,
//! `@daily`): numbers, `*`, ranges `a-b`, steps `*/n` and `a-b/n`, lists
//! `a,b`, three-letter month and day names. Day of week is cron's (0 or 7 =
//! Sunday) and is converted to 0 = Monday. A `*` minute means every
//! minute (all 60 listed); any other `*` is "any". **When both day of month
//! and day of week are restricted, both must match; Vixie cron
//! would fire when either matches (OR).**

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// How far ahead [`CronSpec::next_after`] looks. Any spec that matches at
/// all matches within it (the rarest, 29 February on a given weekday,
/// comes back within 40 years).
pub const CRON_HORIZON_YEARS: i32 = 100;

/// A cron spec that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadCron(pub String);

/// Cron timing: each list empty ("any") or the values that match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CronSpec {
    /// Minutes, 0–59.
    #[serde(default)]
    pub minute: Vec<u8>,
    /// Hours, 0–23.
    #[serde(default)]
    pub hour: Vec<u8>,
    /// Days of the month, 1–31.
    #[serde(default)]
    pub day_of_month: Vec<u8>,
    /// Months, 1–12.
    #[serde(default)]
    pub month: Vec<u8>,
    /// Days of the week, 0–6, **0 = Monday**.
    #[serde(default)]
    pub day_of_week: Vec<u8>,
}

/// The fields of a spec: name, lowest and highest value.
const FIELDS: [(&str, u8, u8); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day_of_month", 1, 31),
    ("month", 1, 12),
    ("day_of_week", 0, 6),
];

impl CronSpec {
    fn lists(&self) -> [&Vec<u8>; 5] {
        [
            &self.minute,
            &self.hour,
            &self.day_of_month,
            &self.month,
            &self.day_of_week,
        ]
    }

    fn lists_mut(&mut self) -> [&mut Vec<u8>; 5] {
        [
            &mut self.minute,
            &mut self.hour,
            &mut self.day_of_month,
            &mut self.month,
            &mut self.day_of_week,
        ]
    }

    /// Checks every value's range, that some field is given, and that the
    /// spec matches some time within [`CRON_HORIZON_YEARS`] of `now`;
    /// returns the spec with each list sorted and without duplicates.
    pub fn validated(mut self, now: Timestamp) -> Result<CronSpec, BadCron> {
        for ((name, low, high), list) in FIELDS.iter().zip(self.lists_mut()) {
            if let Some(bad) = list.iter().find(|v| !(*low..=*high).contains(*v)) {
                return Err(BadCron(format!(
                    "cron {name} {bad} is out of range: use {low} to {high}"
                )));
            }
            list.sort_unstable();
            list.dedup();
        }
        if self.lists().iter().all(|l| l.is_empty()) {
            return Err(BadCron(
                "a cron spec needs at least one of minute, hour, day_of_month, month, day_of_week"
                    .into(),
            ));
        }
        if self.next_after(now).is_none() {
            return Err(BadCron(format!(
                "this cron spec matches no time in the next {CRON_HORIZON_YEARS} years \
                 (all given fields must match at once)"
            )));
        }
        Ok(self)
    }

    /// The first time strictly after `t` that the spec matches, within
    /// [`CRON_HORIZON_YEARS`]; `None` if there is none. Whole minutes, UTC.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let masks = Masks::of(self);
        let start = t.naive_utc();
        let mut c = start
            .date()
            .and_hms_opt(start.hour(), start.minute(), 0)
            .expect("a valid time")
            + TimeDelta::minutes(1);
        let last_year = start.year() + CRON_HORIZON_YEARS;
        while c.year() <= last_year {
            if !masks.month(c.month()) {
                c = first_of_next_month(c.date())?;
            } else if !masks.day(c.day(), c.weekday().num_days_from_monday()) {
                c = c.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
            } else if !masks.hour(c.hour()) {
                c = c.date().and_hms_opt(c.hour(), 0, 0)? + TimeDelta::hours(1);
            } else if !masks.minute(c.minute()) {
                c += TimeDelta::minutes(1);
            } else {
                return Some(c.and_utc());
            }
        }
        None
    }

    /// Parses the standard five-field cron string (see the module docs).
    pub fn parse(expression: &str) -> Result<CronSpec, BadCron> {
        let text = expression.trim();
        let expanded = match text.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *".to_owned(),
            "@daily" | "@midnight" => "0 0 * * *".to_owned(),
            "@weekly" => "0 0 * * 0".to_owned(),
            "@monthly" => "0 0 1 * *".to_owned(),
            "@yearly" | "@annually" => "0 0 1 1 *".to_owned(),
            _ => text.to_owned(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(BadCron(format!(
                "`{expression}` is not a cron expression: give five fields, \
                 `minute hour day-of-month month day-of-week` (e.g. `10 4 * * *`)"
            )));
        }
        let bad = |message: String| BadCron(format!("cron `{expression}`: {message}"));
        let minute = match fields[0] {
            // cron's `*` minute is every minute; an empty list would mean
            // "minute 0" once a coarser field is given.
            "*" => (0..60).collect(),
            field => parse_field(field, 0, 59, &[]).map_err(bad)?,
        };
        let hour = parse_field(fields[1], 0, 23, &[]).map_err(bad)?;
        let day_of_month = parse_field(fields[2], 1, 31, &[]).map_err(bad)?;
        let month = parse_field(fields[3], 1, 12, &MONTHS).map_err(bad)?;
        // cron counts Sunday as 0 (and 7); the lists count Monday as 0.
        let mut day_of_week: Vec<u8> = parse_field(fields[4], 0, 7, &DAYS)
            .map_err(bad)?
            .into_iter()
            .map(|d| (d + 6) % 7)
            .collect();
        day_of_week.sort_unstable();
        day_of_week.dedup();
        Ok(CronSpec {
            minute,
            hour,
            day_of_month,
            month,
            day_of_week,
        })
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
/// Cron's day names, Sunday = 0.
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field of a cron string: `*` (any: an empty list), or a comma list
/// of `n`, `a-b`, `*/s`, `a-b/s`, `a/s` (`a` to the highest value).
/// `names[i]` spells the value `low + i`.
fn parse_field(field: &str, low: u8, high: u8, names: &[&str]) -> Result<Vec<u8>, String> {
    if field == "*" {
        return Ok(Vec::new());
    }
    let value = |text: &str| -> Result<u8, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(low + i as u8);
        }
        match text.parse::<u8>() {
            Ok(v) if (low..=high).contains(&v) => Ok(v),
            _ => Err(format!("`{text}` is not a value from {low} to {high}")),
        }
    };
    let mut values = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => match step.parse::<u8>() {
                Ok(s) if s > 0 => (range, s),
                _ => return Err(format!("`{step}` is not a step (a whole number from 1)")),
            },
            None => (part, 1),
        };
        let (from, to) = if range == "*" {
            (low, high)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else if part.contains('/') {
            (value(range)?, high)
        } else {
            let v = value(range)?;
            (v, v)
        };
        if from > to {
            return Err(format!("the range `{range}` runs backwards"));
        }
        values.extend((from..=to).step_by(step as usize));
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

fn first_of_next_month(d: NaiveDate) -> Option<NaiveDateTime> {
    let (year, month) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)
}

/// A spec as bit sets, with its resolution applied: a field finer than
/// the finest given one is fixed at its lowest value.
struct Masks {
    minute: u64,
    hour: u32,
    day_of_month: u32,
    month: u16,
    day_of_week: u8,
}

impl Masks {
    fn of(spec: &CronSpec) -> Masks {
        fn bits<T: From<u8> + std::ops::Shl<u8, Output = T> + std::ops::BitOr<Output = T>>(
            list: &[u8],
            lowest_only: bool,
            any: T,
            lowest: u8,
        ) -> T {
            if !list.is_empty() {
                list.iter()
                    .fold(T::from(0), |acc, v| acc | (T::from(1) << *v))
            } else if lowest_only {
                T::from(1) << lowest
            } else {
                any
            }
        }
        let minute_given = !spec.minute.is_empty();
        let hour_given = !spec.hour.is_empty();
        let day_given = !spec.day_of_month.is_empty() || !spec.day_of_week.is_empty();
        Masks {
            // minute: zero unless given
            minute: bits(&spec.minute, true, u64::MAX, 0),
            // hour: any if a minute is given, else zero
            hour: bits(&spec.hour, !minute_given, u32::MAX, 0),
            // day of month: any if a finer field is given, else the 1st
            day_of_month: bits(
                &spec.day_of_month,
                !(minute_given || hour_given || day_given),
                u32::MAX,
                1,
            ),
            month: bits(&spec.month, false, u16::MAX, 1),
            day_of_week: bits(&spec.day_of_week, false, u8::MAX, 0),
        }
    }

    fn minute(&self, m: u32) -> bool {
        self.minute & (1 << m) != 0
    }

    fn hour(&self, h: u32) -> bool {
        self.hour & (1 << h) != 0
    }

    fn day(&self, day_of_month: u32, day_of_week: u32) -> bool {
        self.day_of_month & (1 << day_of_month) != 0 && self.day_of_week & (1 << day_of_week) != 0
    }

    fn month(&self, m: u32) -> bool {
        self.month & (1 << m) != 0
    }
}

#[cfg(test)]
mod tests;
