//! The reference table of next call times (rows "stored --> new stored"
//! as a scheduler taking a due item sees them), the AND semantics, the
//! resolution rule, and the five-field strings.

use chrono::{TimeZone, Utc};

use super::*;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn spec(f: impl FnOnce(&mut CronSpec)) -> CronSpec {
    let mut spec = CronSpec::default();
    f(&mut spec);
    spec.validated(at(1970, 1, 1, 0, 3)).expect("a valid spec")
}

/// A UTC time as the reference rows print it (Python's `str(datetime)`).
fn py(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
}

/// The next call time as a scheduler asks for it: when the stored next call time is due (at or before the call time),
/// the next one is computed after the call time; returns "stored -->
/// new stored". The scheduler does the same when it takes a due item
/// (see `Timing::after_take`).
fn get_next_call_time(spec: &CronSpec, stored: &mut Timestamp, call: Timestamp) -> String {
    let previous = *stored;
    if *stored <= call {
        *stored = spec.next_after(call).expect("a next call time");
    }
    format!("{} --> {}", py(previous), py(*stored))
}

/// The doctest's `now`, 1970-01-01 00:03 (a Thursday), plus seconds.
fn now_plus(seconds: i64) -> Timestamp {
    at(1970, 1, 1, 0, 3) + TimeDelta::seconds(seconds)
}

/// Runs reference rows: (seconds after `now`, expected output).
fn doctest(spec: &CronSpec, rows: &[(i64, &str)]) {
    let mut stored = now_plus(0);
    for (seconds, expected) in rows {
        let got = get_next_call_time(spec, &mut stored, now_plus(*seconds));
        assert_eq!(got, *expected, "{spec:?} called at now + {seconds} s");
    }
}

#[test]
fn table_minutes() {
    doctest(
        &spec(|s| s.minute = vec![0, 10]),
        &[
            (0, "1970-01-01 00:03:00+00:00 --> 1970-01-01 00:10:00+00:00"),
            (1, "1970-01-01 00:10:00+00:00 --> 1970-01-01 00:10:00+00:00"),
            (
                2 * 60,
                "1970-01-01 00:10:00+00:00 --> 1970-01-01 00:10:00+00:00",
            ),
            (
                51 * 60,
                "1970-01-01 00:10:00+00:00 --> 1970-01-01 01:00:00+00:00",
            ),
            (
                55 * 60,
                "1970-01-01 01:00:00+00:00 --> 1970-01-01 01:00:00+00:00",
            ),
        ],
    );
}

#[test]
fn table_the_first_and_second_minute_of_every_hour() {
    // The README's first example: minute [0, 1], no stored time yet.
    let s = spec(|s| s.minute = vec![0, 1]);
    let now = at(2010, 10, 1, 0, 0);
    assert_eq!(s.next_after(now), Some(at(2010, 10, 1, 0, 1)));
    // The README prints what each call returns, and the stored next
    // call time after some of them.
    let mut stored = at(2010, 10, 1, 0, 1);
    for (seconds, returned, stored_after) in [
        (
            5,
            "2010-10-01 00:01:00+00:00",
            Some("2010-10-01 00:01:00+00:00"),
        ),
        (
            65,
            "2010-10-01 00:01:00+00:00",
            Some("2010-10-01 01:00:00+00:00"),
        ),
        (125, "2010-10-01 01:00:00+00:00", None),
        (3600, "2010-10-01 01:00:00+00:00", None),
    ] {
        let call = now + TimeDelta::seconds(seconds);
        let got = get_next_call_time(&s, &mut stored, call);
        let (got_returned, got_stored) = got.split_once(" --> ").unwrap();
        assert_eq!(got_returned, returned, "called at now + {seconds} s");
        if let Some(stored_after) = stored_after {
            assert_eq!(got_stored, stored_after, "called at now + {seconds} s");
        }
    }
}

#[test]
fn table_hours() {
    doctest(
        &spec(|s| s.hour = vec![2, 13]),
        &[
            (0, "1970-01-01 00:03:00+00:00 --> 1970-01-01 02:00:00+00:00"),
            (
                2 * 3600,
                "1970-01-01 02:00:00+00:00 --> 1970-01-01 13:00:00+00:00",
            ),
            (
                4 * 3600,
                "1970-01-01 13:00:00+00:00 --> 1970-01-01 13:00:00+00:00",
            ),
            (
                13 * 3600,
                "1970-01-01 13:00:00+00:00 --> 1970-01-02 02:00:00+00:00",
            ),
            (
                15 * 3600,
                "1970-01-02 02:00:00+00:00 --> 1970-01-02 02:00:00+00:00",
            ),
        ],
    );
}

/// Each matching month at 00:00 of its first day, never at the time of day
/// the scheduler happened to look (00:03 here).
#[test]
fn table_months() {
    const DAY: i64 = 24 * 3600;
    doctest(
        &spec(|s| s.month = vec![1, 2, 5, 12]),
        &[
            (0, "1970-01-01 00:03:00+00:00 --> 1970-02-01 00:00:00+00:00"),
            (
                90 * DAY,
                "1970-02-01 00:00:00+00:00 --> 1970-05-01 00:00:00+00:00",
            ),
            (
                120 * DAY,
                "1970-05-01 00:00:00+00:00 --> 1970-12-01 00:00:00+00:00",
            ),
            (
                130 * DAY,
                "1970-12-01 00:00:00+00:00 --> 1970-12-01 00:00:00+00:00",
            ),
            (
                360 * DAY,
                "1970-12-01 00:00:00+00:00 --> 1971-01-01 00:00:00+00:00",
            ),
        ],
    );
}

/// 1970-01-01 was a Thursday, weekday 3 with 0 = Monday. Each matching
/// day at 00:00, as for months (see `table_months`).
#[test]
fn table_days_of_week() {
    const DAY: i64 = 24 * 3600;
    assert_eq!(now_plus(0).weekday().num_days_from_monday(), 3);
    doctest(
        &spec(|s| s.day_of_week = vec![0, 2, 4, 5]),
        &[
            // weekday 4
            (0, "1970-01-01 00:03:00+00:00 --> 1970-01-02 00:00:00+00:00"),
            // weekday 5
            (
                DAY,
                "1970-01-02 00:00:00+00:00 --> 1970-01-03 00:00:00+00:00",
            ),
            // weekday 6 skipped, Monday (0) next
            (
                2 * DAY,
                "1970-01-03 00:00:00+00:00 --> 1970-01-05 00:00:00+00:00",
            ),
            (
                3 * DAY,
                "1970-01-05 00:00:00+00:00 --> 1970-01-05 00:00:00+00:00",
            ),
            // Tuesday (1) skipped, Wednesday (2) next
            (
                4 * DAY,
                "1970-01-05 00:00:00+00:00 --> 1970-01-07 00:00:00+00:00",
            ),
        ],
    );
}

/// Each matching day of the month at 00:00.
#[test]
fn table_days_of_month() {
    const DAY: i64 = 24 * 3600;
    doctest(
        &spec(|s| s.day_of_month = vec![2, 12, 21, 30]),
        &[
            (0, "1970-01-01 00:03:00+00:00 --> 1970-01-02 00:00:00+00:00"),
            (
                12 * DAY,
                "1970-01-02 00:00:00+00:00 --> 1970-01-21 00:00:00+00:00",
            ),
            (
                31 * DAY,
                "1970-01-21 00:00:00+00:00 --> 1970-02-02 00:00:00+00:00",
            ),
        ],
    );
}

#[test]
fn table_combined() {
    const DAY: i64 = 24 * 3600;
    doctest(
        &spec(|s| {
            s.minute = vec![10];
            s.day_of_month = vec![1, 10, 20, 30];
        }),
        &[
            (0, "1970-01-01 00:03:00+00:00 --> 1970-01-01 00:10:00+00:00"),
            (
                10 * 60,
                "1970-01-01 00:10:00+00:00 --> 1970-01-01 01:10:00+00:00",
            ),
            (
                10 * DAY,
                "1970-01-01 01:10:00+00:00 --> 1970-01-20 00:10:00+00:00",
            ),
            (
                20 * DAY,
                "1970-01-20 00:10:00+00:00 --> 1970-01-30 00:10:00+00:00",
            ),
        ],
    );
    doctest(
        &spec(|s| {
            s.minute = vec![10];
            s.hour = vec![4];
            s.day_of_month = vec![1, 12, 21, 30];
        }),
        &[
            (0, "1970-01-01 00:03:00+00:00 --> 1970-01-01 04:10:00+00:00"),
            (
                10 * 60,
                "1970-01-01 04:10:00+00:00 --> 1970-01-01 04:10:00+00:00",
            ),
            (
                4 * 3600,
                "1970-01-01 04:10:00+00:00 --> 1970-01-01 04:10:00+00:00",
            ),
            (
                5 * 3600,
                "1970-01-01 04:10:00+00:00 --> 1970-01-12 04:10:00+00:00",
            ),
        ],
    );
}

#[test]
fn all_given_fields_must_match() {
    // Day 13 that is a Friday (4): 1970-02-13 was one.
    let friday_13th = spec(|s| {
        s.day_of_month = vec![13];
        s.day_of_week = vec![4];
    });
    assert_eq!(
        friday_13th.next_after(at(1970, 1, 1, 0, 0)),
        Some(at(1970, 2, 13, 0, 0))
    );
    // 29 February, at 12:00, on a Sunday (6): 1976 (1976-02-29 was one).
    let rare = spec(|s| {
        s.hour = vec![12];
        s.day_of_month = vec![29];
        s.month = vec![2];
        s.day_of_week = vec![6];
    });
    assert_eq!(
        rare.next_after(at(1970, 1, 1, 0, 0)),
        Some(at(1976, 2, 29, 12, 0))
    );
}

#[test]
fn impossible_and_empty_specs_are_refused() {
    let now = at(2026, 1, 1, 0, 0);
    let never = CronSpec {
        day_of_month: vec![30],
        month: vec![2],
        ..Default::default()
    };
    let error = never.validated(now).unwrap_err().to_string();
    assert!(error.contains("matches no time"), "{error}");
    assert!(CronSpec::default().validated(now).is_err());
    let out_of_range = CronSpec {
        day_of_week: vec![7],
        ..Default::default()
    };
    let error = out_of_range.validated(now).unwrap_err().to_string();
    assert!(error.contains("day_of_week 7"), "{error}");
}

#[test]
fn validation_sorts_and_dedups() {
    let s = spec(|s| s.minute = vec![30, 5, 30]);
    assert_eq!(s.minute, vec![5, 30]);
}

#[test]
fn five_field_strings() {
    let daily = CronSpec::parse("10 4 * * *").unwrap();
    assert_eq!(daily.minute, vec![10]);
    assert_eq!(daily.hour, vec![4]);
    assert!(daily.day_of_month.is_empty() && daily.day_of_week.is_empty());
    assert_eq!(
        daily.next_after(at(2026, 3, 5, 4, 10)),
        Some(at(2026, 3, 6, 4, 10))
    );

    let every_minute = CronSpec::parse("* * * * *").unwrap();
    assert_eq!(every_minute.minute.len(), 60);
    assert_eq!(
        every_minute.next_after(at(2026, 3, 5, 4, 10) + TimeDelta::seconds(59)),
        Some(at(2026, 3, 5, 4, 11))
    );

    // Cron's Monday-to-Friday is 0-4 in the lists; Sunday is 0 or 7 in
    // cron.
    let weekdays = CronSpec::parse("*/15 9-17 * * MON-fri").unwrap();
    assert_eq!(weekdays.minute, vec![0, 15, 30, 45]);
    assert_eq!(weekdays.hour, (9..=17).collect::<Vec<u8>>());
    assert_eq!(weekdays.day_of_week, vec![0, 1, 2, 3, 4]);
    assert_eq!(CronSpec::parse("0 0 * * 0,7").unwrap().day_of_week, vec![6]);
    // 2026-03-07 is a Saturday: next is Monday 09:00.
    assert_eq!(
        weekdays.next_after(at(2026, 3, 6, 17, 45)),
        Some(at(2026, 3, 9, 9, 0))
    );

    let yearly = CronSpec::parse("@yearly").unwrap();
    assert_eq!(
        (
            yearly.minute.clone(),
            yearly.hour.clone(),
            yearly.day_of_month.clone()
        ),
        (vec![0], vec![0], vec![1])
    );
    assert_eq!(yearly.month, vec![1]);
    assert_eq!(
        CronSpec::parse("0 0 1 jan,JUL *").unwrap().month,
        vec![1, 7]
    );
    assert_eq!(
        CronSpec::parse("5/20 * * * *").unwrap().minute,
        vec![5, 25, 45]
    );

    // Day of month AND day of week (Vixie cron would OR them).
    let friday_13th = CronSpec::parse("0 0 13 * 5").unwrap();
    assert_eq!(
        friday_13th.next_after(at(2026, 1, 1, 0, 0)),
        Some(at(2026, 2, 13, 0, 0))
    );

    for bad in [
        "",
        "* * * *",
        "60 * * * *",
        "* * 0 * *",
        "*/0 * * * *",
        "5-1 * * * *",
    ] {
        assert!(CronSpec::parse(bad).is_err(), "`{bad}` is refused");
    }
}

#[test]
fn next_after_is_strict_and_ignores_seconds() {
    let s = spec(|s| s.minute = vec![0]);
    let on_the_hour = at(2026, 3, 5, 4, 0);
    assert_eq!(s.next_after(on_the_hour), Some(at(2026, 3, 5, 5, 0)));
    assert_eq!(
        s.next_after(on_the_hour - TimeDelta::milliseconds(1)),
        Some(on_the_hour)
    );
    // Across a year end and a leap day.
    let s = spec(|s| {
        s.day_of_month = vec![29];
        s.month = vec![2];
    });
    assert_eq!(
        s.next_after(at(2026, 1, 1, 0, 0)),
        Some(at(2028, 2, 29, 0, 0))
    );
}
