//! Identifiers: jobs, dispatchers and module digests, and the one
//! definition of every id newtype over a UUID ([`uuid_id`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Defines an id newtype over a [`Uuid`](uuid::Uuid), written once for every id of
/// the model: ordered, hashed, serialised as the bare UUID, shown and
/// parsed in its hyphenated form. With `new = make "doc"` it also gets
/// `new()` (documented `doc`) and `Default`, both `Uuid::make()`.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident $(, new = $make:ident $new_doc:literal)?) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        $(
            impl $name {
                #[doc = $new_doc]
                pub fn new() -> Self {
                    $name(uuid::Uuid::$make())
                }
            }

            impl Default for $name {
                fn default() -> Self {
                    Self::new()
                }
            }
        )?

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map($name)
            }
        }
    };
}
pub(crate) use uuid_id;

uuid_id!(
    /// A job's id: a UUID v7, so that ids sort by creation time.
    JobId, new = now_v7 "A new, time-ordered id."
);

uuid_id!(
    /// A dispatcher's id: one per `wasync` process that does work, kept in
    /// the data directory so that a restarted process keeps its identity.
    DispatcherId, new = new_v4 "A new random id."
);

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
