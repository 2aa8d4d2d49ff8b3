//! Quotas: named caps, per queue, on how many of their jobs run at once
//! across every dispatcher.
//!
//! A job names quotas of its queue (`quota_names`); a dispatcher claims it
//! only while every quota it names that still exists holds fewer than
//! `size` jobs `assigned` or `active`. A quota is a cap, not a priority:
//! a job held back by a full quota is skipped, and later jobs without
//! that quota are claimed meanwhile. Removing a quota makes its name
//! ignored by the jobs that still carry it.

use serde::{Deserialize, Serialize};

use super::{JobId, Timestamp};

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
    /// jobs is claimed until one of these completes.
    pub filled: bool,
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
