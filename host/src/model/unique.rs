//! Unique jobs: a put that carries a uniqueness key inserts nothing while
//! a job of its queue with the same key is in one of the states the key
//! applies to; it answers with that job instead, marked as a duplicate.
//!
//! The database decides, not a read-then-write: a job's key is stored
//! (with its period's bucket; a derived key hashed) in `jobs.unique_key`
//! and the states it blocks in as a bit set in `jobs.unique_states`; one
//! partial unique index over `(queue, unique_key)` holds exactly the rows
//! whose status is one of their own states (`store/unique.rs` writes that
//! predicate once).
//! A job leaving its states therefore stops blocking with no write of its
//! own: whatever transition moves it, the index no longer holds it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{JobStatus, Timestamp};

/// The states a key applies to when a put names none: every state before
/// the job's result is final.
pub const UNIQUE_STATES_DEFAULT: [JobStatus; 5] = [
    JobStatus::New,
    JobStatus::Pending,
    JobStatus::Assigned,
    JobStatus::Active,
    JobStatus::Callbacks,
];

/// The states every key applies to: a job moves back into `pending` from
/// `assigned` (release) and `active` (retry), so a key that stopped
/// blocking there could meet its duplicate on the way back.
pub const UNIQUE_STATES_REQUIRED: [JobStatus; 3] =
    [JobStatus::Pending, JobStatus::Assigned, JobStatus::Active];

/// The longest explicit key, in bytes.
pub const UNIQUE_KEY_MAX_LEN: usize = 1024;

/// Uniqueness as a put asks for it.
///
/// Defaults: `key` absent derives the key from the job's module (as the
/// put names it), function and arguments; `states` absent or empty is
/// [`UNIQUE_STATES_DEFAULT`]; `period_ms` absent: no period (the key
/// blocks for as long as a job holding it is in its states).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UniqueSpec {
    /// The key, scoped to the job's queue; absent: derived from module,
    /// function and arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The states in which a job holding the key blocks another put with
    /// it; they must include `pending`, `assigned` and `active`, and
    /// `completed` or `cancelled` only with `new` and `callbacks`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<JobStatus>,
    /// A period in milliseconds: the key holds within one period (time
    /// divided into periods of this length from the Unix epoch), so a put
    /// in the next period is not a duplicate of one in this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<u64>,
}

/// A job's uniqueness as stored: the key with its period's bucket, and
/// the states it applies to as a bit set ([`state_bit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    /// An explicit key as itself after a prefix naming the period's bucket
    /// (`k:KEY`, `kPERIOD.BUCKET:KEY`); a derived one as `sha256` of the
    /// module, function, arguments and bucket, in hex.
    pub key: String,
    /// The states it applies to, one bit each.
    pub states: i64,
    /// When the key was derived (the put gave none): the period it was
    /// resolved with (`0`: none), so that a change of the job's arguments
    /// derives it again ([`derived_key`]); `None` for an explicit key,
    /// which a change of arguments leaves as it is.
    pub derived_period_ms: Option<u64>,
}

/// A `UniqueSpec` that cannot be honoured; the message names why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadUnique(pub String);

/// The bit of `status` in a [`UniqueKey::states`] set: its place in
/// [`JobStatus::ALL`].
pub fn state_bit(status: JobStatus) -> i64 {
    let index = JobStatus::ALL
        .iter()
        .position(|s| *s == status)
        .expect("every status is in ALL");
    1 << index
}

/// `value` with every object's members in key order, so that the same
/// arguments give the same key however their JSON was written.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The number of the period of `period_ms` that `at` falls in.
fn bucket(period_ms: u64, at: Timestamp) -> i64 {
    let length = i64::try_from(period_ms).unwrap_or(i64::MAX).max(1);
    at.timestamp_millis().div_euclid(length)
}

/// The stored form of a key named by `named`: `sha256` of it and the
/// bucket of `period_ms` (if any) that `at` falls in, in hex.
fn hashed(named: Value, period_ms: Option<u64>, at: Timestamp) -> String {
    let bucket = match period_ms {
        Some(period) => json!([period, bucket(period, at)]),
        None => Value::Null,
    };
    let text = json!([named, bucket]).to_string();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The stored form of an explicit key: the key itself after a prefix
/// naming its period and bucket (`k:` without a period, `k<period>.<bucket>:`
/// with one), so that `jobs_unique` keeps the keys' own order. Keys that
/// follow time or a sequence (ids, dates, counters) then land on the last
/// leaves of the index, as every other index of a put does, instead of on
/// a leaf of their own each, which a hash's order gives every key (issue
/// 18 §2: the page writes of a unique batch, see `store/unique.rs`). A key
/// with a NUL character, which PostgreSQL's text cannot hold, is stored
/// hashed (`x` and the hash), still one stored form per key: the forms
/// start differently (`k`, `x`, a derived key's hex digit), so no two keys
/// share one.
fn explicit(key: &str, period_ms: Option<u64>, at: Timestamp) -> String {
    if key.contains('\0') {
        return format!("x{}", hashed(json!(["key", key]), period_ms, at));
    }
    match period_ms {
        Some(period) => format!("k{period}.{}:{key}", bucket(period, at)),
        None => format!("k:{key}"),
    }
}

/// The key a job derives from its module (as its put named it),
/// function and `args`, with the period it was put with (`0`: none) and
/// the time it was put at (its `created_at`): the same key its put
/// derived, for the arguments it has now. A change of a pending job's
/// arguments stores this key in place of the old one.
pub fn derived_key(
    module: &str,
    function: &str,
    args: &Value,
    period_ms: u64,
    put_at: Timestamp,
) -> String {
    let named = json!(["derived", module, function, canonical(args)]);
    hashed(named, (period_ms > 0).then_some(period_ms), put_at)
}

impl UniqueSpec {
    /// The stored key of a job of `module`'s `function` with `args`, put at
    /// `now`; or why this spec cannot be honoured.
    pub fn resolve(
        &self,
        module: &str,
        function: &str,
        args: &Value,
        now: Timestamp,
    ) -> Result<UniqueKey, BadUnique> {
        let states = self.states_set()?;
        let explicit_key = match &self.key {
            Some(key) if key.is_empty() => {
                return Err(BadUnique("`unique.key` is empty".into()));
            }
            Some(key) if key.len() > UNIQUE_KEY_MAX_LEN => {
                return Err(BadUnique(format!(
                    "`unique.key` is {} bytes; the limit is {UNIQUE_KEY_MAX_LEN}",
                    key.len()
                )));
            }
            _ => self.key.as_deref(),
        };
        if self.period_ms == Some(0) {
            return Err(BadUnique("`unique.period_ms` must be at least 1".into()));
        }
        let key = match explicit_key {
            Some(key) => explicit(key, self.period_ms, now),
            None => hashed(
                json!(["derived", module, function, canonical(args)]),
                self.period_ms,
                now,
            ),
        };
        Ok(UniqueKey {
            key,
            states,
            derived_period_ms: self.key.is_none().then_some(self.period_ms.unwrap_or(0)),
        })
    }

    /// The states as a bit set, checked.
    fn states_set(&self) -> Result<i64, BadUnique> {
        let states: &[JobStatus] = if self.states.is_empty() {
            &UNIQUE_STATES_DEFAULT
        } else {
            &self.states
        };
        let has = |s: JobStatus| states.contains(&s);
        if let Some(missing) = UNIQUE_STATES_REQUIRED.into_iter().find(|s| !has(*s)) {
            return Err(BadUnique(format!(
                "`unique.states` must include pending, assigned and active (a job moves \
                 back to pending from the other two); `{missing}` is missing"
            )));
        }
        let terminal = has(JobStatus::Completed) || has(JobStatus::Cancelled);
        if terminal && !(has(JobStatus::New) && has(JobStatus::Callbacks)) {
            return Err(BadUnique(
                "`unique.states` with `completed` or `cancelled` must include every state \
                 before them too (`new` and `callbacks`)"
                    .into(),
            ));
        }
        Ok(states.iter().fold(0, |set, s| set | state_bit(*s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> Timestamp {
        chrono::Utc.timestamp_millis_opt(ms).unwrap()
    }

    #[test]
    fn derived_keys_follow_module_function_and_args() {
        let spec = UniqueSpec::default();
        let key = |m: &str, f: &str, a: Value| spec.resolve(m, f, &a, at(0)).unwrap().key;
        let base = key("m", "f", json!([1]));
        assert_eq!(base, key("m", "f", json!([1])));
        assert_eq!(base.len(), 64);
        assert_ne!(base, key("m", "f", json!([2])));
        assert_ne!(base, key("m", "g", json!([1])));
        assert_ne!(base, key("n", "f", json!([1])));
        // Object keys are compared as a map, whatever their order.
        assert_eq!(
            key("m", "f", json!({"a": 1, "b": 2})),
            key(
                "m",
                "f",
                serde_json::from_str(r#"{"b": 2, "a": 1}"#).unwrap()
            )
        );
        let explicit = UniqueSpec {
            key: Some("k".into()),
            ..UniqueSpec::default()
        };
        assert_eq!(
            explicit.resolve("m", "f", &json!([1]), at(0)).unwrap().key,
            explicit.resolve("x", "y", &json!([]), at(0)).unwrap().key,
            "an explicit key ignores what the job runs"
        );
    }

    #[test]
    fn a_derived_key_is_derived_again_for_new_arguments() {
        let put_at = at(5_500);
        for period_ms in [None, Some(1000)] {
            let spec = UniqueSpec {
                period_ms,
                ..UniqueSpec::default()
            };
            let put = spec.resolve("m", "f", &json!([1]), put_at).unwrap();
            let period = put.derived_period_ms.expect("derived");
            assert_eq!(period, period_ms.unwrap_or(0));
            assert_eq!(put.key, derived_key("m", "f", &json!([1]), period, put_at));
            let again = spec.resolve("m", "f", &json!([2]), put_at).unwrap().key;
            assert_eq!(again, derived_key("m", "f", &json!([2]), period, put_at));
        }
        let explicit = UniqueSpec {
            key: Some("k".into()),
            ..UniqueSpec::default()
        };
        let put = explicit.resolve("m", "f", &json!([1]), put_at).unwrap();
        assert_eq!(
            put.derived_period_ms, None,
            "an explicit key is not derived"
        );
    }

    #[test]
    fn an_explicit_key_is_stored_as_itself_in_its_order() {
        let key = |k: &str, period_ms| {
            let spec = UniqueSpec {
                key: Some(k.into()),
                period_ms,
                ..UniqueSpec::default()
            };
            spec.resolve("m", "f", &Value::Null, at(5_500)).unwrap().key
        };
        assert_eq!(key("order-17", None), "k:order-17");
        assert_eq!(key("order-17", Some(1000)), "k1000.5:order-17");
        assert!(key("order-17", None) < key("order-18", None));
        // The period and bucket end at the first `:`: a key that looks
        // like a prefix stays another key.
        assert_ne!(key("1000.5:a", None), key("a", Some(1000)));
        // PostgreSQL's text holds no NUL: such a key is stored hashed.
        let nul = key("a\0b", None);
        assert!(nul.starts_with('x') && nul.len() == 65, "{nul}");
        assert_ne!(nul, key("a\0c", None));
        let derived = UniqueSpec::default()
            .resolve("m", "f", &Value::Null, at(0))
            .unwrap()
            .key;
        assert!(derived.len() == 64 && !derived.starts_with(['k', 'x']));
    }

    #[test]
    fn a_period_splits_time_into_buckets() {
        let spec = UniqueSpec {
            key: Some("k".into()),
            period_ms: Some(1000),
            ..UniqueSpec::default()
        };
        let key = |ms| spec.resolve("m", "f", &Value::Null, at(ms)).unwrap().key;
        assert_eq!(key(1000), key(1999));
        assert_ne!(key(1999), key(2000));
    }

    #[test]
    fn states_default_to_every_state_before_completed_and_are_checked() {
        let default = UniqueSpec::default()
            .resolve("m", "f", &Value::Null, at(0))
            .unwrap();
        assert_eq!(default.states, 0b11111);
        assert_eq!(state_bit(JobStatus::Completed), 0b100000);
        let with = |states: &[JobStatus]| UniqueSpec {
            states: states.to_vec(),
            ..UniqueSpec::default()
        };
        use JobStatus::*;
        assert!(
            with(&[Pending, Assigned, Active])
                .resolve("m", "f", &Value::Null, at(0))
                .is_ok()
        );
        let error = with(&[Pending, Active])
            .resolve("m", "f", &Value::Null, at(0))
            .unwrap_err();
        assert!(error.0.contains("`assigned` is missing"), "{error}");
        assert!(
            with(&[Pending, Assigned, Active, Completed])
                .resolve("m", "f", &Value::Null, at(0))
                .is_err()
        );
        let all = with(&JobStatus::ALL)
            .resolve("m", "f", &Value::Null, at(0))
            .unwrap();
        assert_eq!(all.states, 0b1111111);
    }
}
