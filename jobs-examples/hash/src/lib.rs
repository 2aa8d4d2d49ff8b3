//! `hash`: a CPU-bound job doing real work, for benchmarks. The same
//! [`sha256_rounds`] runs in the component and natively (the host calls
//! it directly to compare).

#![deny(missing_docs)]

use sha2::{Digest, Sha256};
use wasync_guest::job;

/// Generates `bytes` of deterministic pseudo-random data (xorshift64),
/// then hashes it `rounds` times with SHA-256, each round hashing the
/// previous digest followed by the data, and returns the last digest in
/// hex. `rounds == 0` gives the digest of the data alone.
#[job]
pub fn sha256_rounds(bytes: u64, rounds: u32) -> String {
    let data = pseudo_random(usize::try_from(bytes).unwrap_or(usize::MAX));
    let mut digest = Sha256::digest(&data);
    for _ in 0..rounds {
        let mut hasher = Sha256::new();
        hasher.update(digest);
        hasher.update(&data);
        digest = hasher.finalize();
    }
    hex::encode(digest)
}

/// `len` bytes of xorshift64 output from a fixed seed.
pub fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    data
}

wasync_guest::export_jobs!(sha256_rounds);

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sha2::{Digest, Sha256};
    use wasync_guest::testing;

    use super::{jobs, pseudo_random, sha256_rounds};

    #[test]
    fn zero_bytes_zero_rounds_is_the_empty_digest() {
        assert_eq!(
            sha256_rounds(0, 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn rounds_chain_digest_and_data() {
        let data = pseudo_random(100);
        assert_eq!(data.len(), 100);
        assert_ne!(data[..8], data[8..16]);
        let first = Sha256::digest(&data);
        let mut second = Sha256::new();
        second.update(first);
        second.update(&data);
        assert_eq!(sha256_rounds(100, 1), hex::encode(second.finalize()));
        assert_ne!(sha256_rounds(100, 2), sha256_rounds(100, 1));
        assert_eq!(sha256_rounds(100, 2), sha256_rounds(100, 2));
    }

    #[test]
    fn the_job_matches_the_plain_function() {
        let out = testing::run(jobs(), "sha256_rounds", json!({"bytes": 4096, "rounds": 3}));
        assert_eq!(out.unwrap().value(), Some(json!(sha256_rounds(4096, 3))));
    }
}
