//! Quotas: named caps, per queue, on how many of their jobs run at once
//! across every dispatcher.
//!
//! A job names quotas of its queue (`quota_names`); a dispatcher claims it
//! only while every quota it names that still exists holds fewer than
//! `size` jobs `assigned` or `active`. A quota is a cap, not a priority:
//! a job held back by a full quota is skipped, and later jobs without
//! that quota are claimed meanwhile. Removing a quota makes its name
//! ignored by the jobs that still carry it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{JobId, Rate, RateStatus, Timestamp};

/// The size a quota gets when none is given.
pub const QUOTA_SIZE_DEFAULT: u32 = 1;

/// The largest quota size.
pub const QUOTA_SIZE_MAX: u32 = 10_000;

/// The most quota names one job may carry.
pub const QUOTA_NAMES_MAX: usize = 16;

/// The longest quota name, in bytes.
pub const QUOTA_NAME_MAX_LEN: usize = 128;

/// A quota as stored, with the jobs holding it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quota {
    /// The queue it belongs to (`""`: the default queue).
    pub queue: String,
    /// Its name, unique in its queue.
    pub name: String,
    /// The most of its jobs that may be `assigned` or `active` at once.
    pub size: u32,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The jobs of its queue that name it and are `assigned` or `active`
    /// now, oldest first. A shrunk quota may hold more than `size`.
    pub active: Vec<JobId>,
    /// True when `active` holds `size` jobs or more: none of its other
    /// jobs is claimed until one of these completes. A partitioned quota
    /// is never filled as a whole: see `keys`.
    pub filled: bool,
    /// True when its size applies to each key separately (a job names it
    /// with a key in `quota_keys`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partitioned: bool,
    /// A partitioned quota's keys that have jobs pending or running, by
    /// key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<QuotaKey>,
    /// A partitioned quota's rate, applied to each key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
}

impl Quota {
    /// This quota with each key's rate window as of `now` (see
    /// [`QuotaKey::rate`]).
    pub fn at(mut self, now: Timestamp) -> Self {
        if let Some(rate) = self.rate {
            for key in &mut self.keys {
                let (until, starts) = key.window;
                key.rate = Some(rate.status(now, until, starts, key.pending));
            }
        }
        self
    }
}

/// One key of a partitioned quota: its own slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaKey {
    /// The key (e.g. a tenant).
    pub key: String,
    /// Its jobs `assigned` or `active` now.
    pub running: u64,
    /// Its jobs pending (due or not).
    pub pending: u64,
    /// True when `running` is `size` or more: its pending jobs wait.
    pub filled: bool,
    /// The key's rate window now, when the quota has a rate (set by
    /// [`Quota::at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateStatus>,
    /// The window as stored: its end (ms) and the starts counted in it.
    #[serde(skip)]
    pub window: (i64, i64),
}

/// What separates a partitioned quota's name from a key in the entry a
/// job stores for it (`quota U+001F key`, the first of its stored quota
/// names): names and keys have no control characters, so it is never
/// part of either.
pub const QUOTA_KEY_SEPARATOR: char = '\u{1f}';

/// The stored entry for a job's key in a partitioned quota.
pub fn quota_slot(quota: &str, key: &str) -> String {
    format!("{quota}{QUOTA_KEY_SEPARATOR}{key}")
}

/// A stored entry's quota name and key, if it is a key's entry.
pub fn split_quota_slot(entry: &str) -> Option<(&str, &str)> {
    entry.split_once(QUOTA_KEY_SEPARATOR)
}

/// A job's stored quota entries as the plain quota names and the keys by
/// partitioned quota (the inverse of [`stored_quota_names`]).
pub fn split_stored_quota_names(entries: Vec<String>) -> (Vec<String>, BTreeMap<String, String>) {
    let mut names = Vec::with_capacity(entries.len());
    let mut keys = BTreeMap::new();
    for entry in entries {
        match split_quota_slot(&entry) {
            Some((quota, key)) => {
                keys.insert(quota.to_owned(), key.to_owned());
            }
            None => names.push(entry),
        }
    }
    (names, keys)
}

/// The quota entries a job stores: its key's entry first (the claim's
/// index reads the first entry), then its plain quota names.
pub fn stored_quota_names(names: &[String], keys: &BTreeMap<String, String>) -> Vec<String> {
    keys.iter()
        .map(|(quota, key)| quota_slot(quota, key))
        .chain(names.iter().cloned())
        .collect()
}

/// Checks a job's keys in partitioned quotas: at most one quota (the
/// claim indexes one key per job), each key 1 to [`QUOTA_NAME_MAX_LEN`]
/// bytes without control characters.
pub fn check_quota_keys(keys: &BTreeMap<String, String>) -> Result<(), String> {
    if keys.len() > 1 {
        return Err(format!(
            "a job may name at most one partitioned quota in `quota_keys`, got {}",
            keys.len()
        ));
    }
    for (quota, key) in keys {
        check_quota_name(quota)?;
        if key.is_empty() || key.len() > QUOTA_NAME_MAX_LEN || key.chars().any(char::is_control) {
            return Err(format!(
                "invalid key {key:?} for quota `{quota}`: use 1 to {QUOTA_NAME_MAX_LEN} bytes without control characters"
            ));
        }
    }
    Ok(())
}

/// Checks one quota name: 1 to [`QUOTA_NAME_MAX_LEN`] bytes, no control
/// characters. Spaces are allowed.
pub fn check_quota_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > QUOTA_NAME_MAX_LEN || name.chars().any(char::is_control) {
        return Err(format!(
            "invalid quota name {name:?}: use 1 to {QUOTA_NAME_MAX_LEN} bytes without control characters"
        ));
    }
    Ok(())
}

/// A job's quota names as given: each checked, duplicates dropped (the
/// first one kept), at most [`QUOTA_NAMES_MAX`].
pub fn normalize_quota_names(names: Vec<String>) -> Result<Vec<String>, String> {
    let mut unique: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        check_quota_name(&name)?;
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    if unique.len() > QUOTA_NAMES_MAX {
        return Err(format!(
            "a job may name at most {QUOTA_NAMES_MAX} quotas, got {}",
            unique.len()
        ));
    }
    Ok(unique)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_first_and_read_back() {
        let keys = BTreeMap::from([("tenants".to_owned(), "acme".to_owned())]);
        let stored = stored_quota_names(&["serial".to_owned()], &keys);
        assert_eq!(stored, ["tenants\u{1f}acme", "serial"]);
        assert_eq!(
            split_stored_quota_names(stored),
            (vec!["serial".to_owned()], keys)
        );
        let two = BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert!(check_quota_keys(&two).unwrap_err().contains("at most one"));
        let bad = BTreeMap::from([("a".into(), "x\ny".into())]);
        assert!(check_quota_keys(&bad).unwrap_err().contains("invalid key"));
    }

    #[test]
    fn names_are_checked_and_deduplicated() {
        assert_eq!(
            normalize_quota_names(vec![
                "content catalog".into(),
                "b".into(),
                "content catalog".into()
            ])
            .unwrap(),
            ["content catalog", "b"]
        );
        assert!(normalize_quota_names(vec![String::new()]).is_err());
        assert!(normalize_quota_names(vec!["a\nb".into()]).is_err());
        assert!(normalize_quota_names(vec!["x".repeat(129)]).is_err());
        let many: Vec<String> = (0..17).map(|i| i.to_string()).collect();
        assert!(
            normalize_quota_names(many)
                .unwrap_err()
                .contains("at most 16")
        );
    }
}
