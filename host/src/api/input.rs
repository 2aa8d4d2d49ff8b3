//! Input formats shared by the API's request bodies and query strings.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};

use crate::model::Timestamp;

/// Parses a time: RFC 3339 (`2026-11-25T16:30:00Z`, `...+01:00`), or
/// without a zone (`2026-11-25T16:30:00`, `2026-11-25 16:30`), which is
/// taken as UTC.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    Err(format!(
        "`{text}` is not a time: use RFC 3339 (`2026-11-25T16:30:00Z`) or a UTC time without zone (`2026-11-25T16:30:00`)"
    ))
}

/// Parses a duration: seconds as a number (`90`, `0.5`) or text with units
/// (`90s`, `1h 30m`, `250ms`).
pub fn parse_duration(value: &serde_json::Value) -> Result<Duration, String> {
    match value {
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("`{n}` is not a non-negative number of seconds")),
        serde_json::Value::String(s) => parse_duration_text(s),
        other => Err(format!(
            "`{other}` is not a duration (seconds, or text like `90s`)"
        )),
    }
}

/// Parses a duration written as text: `90s`, `1h 30m`, `250ms`, or bare
/// seconds (`90`).
pub fn parse_duration_text(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<f64>() {
        return parse_duration(&serde_json::json!(seconds));
    }
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); use e.g. `90s`, `1h 30m`, `250ms`"))
}

/// For `Option<Option<T>>` fields with `#[serde(default, deserialize_with
/// = "nullable")]`: absent is `None` (leave as is), `null` is `Some(None)`
/// (clear), a value is `Some(Some(value))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A time in a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeInput(pub Timestamp);

impl<'de> Deserialize<'de> for TimeInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_time(&text)
            .map(TimeInput)
            .map_err(serde::de::Error::custom)
    }
}

/// A duration in a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationInput(pub Duration);

impl DurationInput {
    /// It in whole milliseconds, as a [`crate::model::JobSpec`] counts
    /// `begin_by` (saturating).
    pub fn millis(&self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl<'de> Deserialize<'de> for DurationInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        parse_duration(&value)
            .map(DurationInput)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_without_zone_is_utc() {
        let zoned = parse_time("2006-08-10T15:56:00Z").unwrap();
        assert_eq!(parse_time("2006-08-10T15:56:00").unwrap(), zoned);
        assert_eq!(parse_time("2006-08-10 15:56").unwrap(), zoned);
        // 11:30 EST is 16:30 UTC.
        assert_eq!(
            parse_time("2006-08-10T11:30:00-05:00").unwrap(),
            parse_time("2006-08-10T16:30:00Z").unwrap()
        );
        assert!(parse_time("tomorrow").is_err());
    }

    #[test]
    fn nullable_fields_tell_absent_from_null() {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "nullable")]
            at: Option<Option<TimeInput>>,
        }
        let absent: Body = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.at, None);
        let null: Body = serde_json::from_str(r#"{"at": null}"#).unwrap();
        assert_eq!(null.at, Some(None));
        let set: Body = serde_json::from_str(r#"{"at": "2006-08-10T15:56:00"}"#).unwrap();
        assert_eq!(
            set.at,
            Some(Some(TimeInput(parse_time("2006-08-10T15:56:00Z").unwrap())))
        );
    }

    #[test]
    fn durations_take_seconds_or_units() {
        assert_eq!(
            parse_duration(&serde_json::json!(90)).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration(&serde_json::json!("1h 30m")).unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_duration_text("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert!(parse_duration(&serde_json::json!(-1)).is_err());
        assert!(parse_duration(&serde_json::json!("soon")).is_err());
    }
}
