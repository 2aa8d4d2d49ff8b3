//! Identifiers: jobs, dispatchers and module digests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// A job's id: a UUID v7, so that ids sort by creation time.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        JobId(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(JobId)
    }
}

/// A dispatcher's id: one per `wasync` process that does work, kept in the
/// data directory so that a restarted process keeps its identity.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct DispatcherId(pub Uuid);

impl DispatcherId {
    /// A new random id.
    pub fn new() -> Self {
        DispatcherId(Uuid::new_v4())
    }
}

impl Default for DispatcherId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DispatcherId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for DispatcherId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(DispatcherId)
    }
}

/// The content digest of a module: `sha256:` and 64 lowercase hex digits.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct ModuleDigest(String);

/// Text that is not a `sha256:<64 hex>` digest.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not a module digest (expected `sha256:` and 64 lowercase hex digits)")]
pub struct BadDigest(pub String);

impl ModuleDigest {
    /// The prefix of every digest.
    pub const PREFIX: &'static str = "sha256:";

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ModuleDigest(format!(
            "{}{}",
            Self::PREFIX,
            hex::encode(Sha256::digest(bytes))
        ))
    }

    /// The full text, `sha256:...`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits alone (for file names).
    pub fn hex(&self) -> &str {
        &self.0[Self::PREFIX.len()..]
    }

    /// True when `text` has the shape of a digest (so it is not a name).
    pub fn looks_like_digest(text: &str) -> bool {
        text.parse::<ModuleDigest>().is_ok()
    }
}

impl fmt::Display for ModuleDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ModuleDigest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| BadDigest(s.to_owned()))?;
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(ModuleDigest(s.to_owned()))
        } else {
            Err(BadDigest(s.to_owned()))
        }
    }
}

impl TryFrom<String> for ModuleDigest {
    type Error = BadDigest;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ModuleDigest> for String {
    fn from(d: ModuleDigest) -> String {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_bytes_is_sha256() {
        let d = ModuleDigest::of(b"abc");
        assert_eq!(
            d.as_str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.hex().len(), 64);
        assert_eq!(d.as_str().parse::<ModuleDigest>().unwrap(), d);
    }

    #[test]
    fn names_are_not_digests() {
        assert!(!ModuleDigest::looks_like_digest("hello"));
        assert!(!ModuleDigest::looks_like_digest("sha256:abc"));
        assert!(!ModuleDigest::looks_like_digest(&format!(
            "sha256:{}",
            "A".repeat(64)
        )));
    }

    #[test]
    fn job_ids_sort_by_creation() {
        let a = JobId::new();
        let b = JobId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<JobId>().unwrap(), a);
    }
}
