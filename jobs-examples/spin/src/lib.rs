//! `spin`: CPU burners that never call the host, for fuel and deadline
//! tests: `spin` loops forever, `count` loops `n` times.

#![deny(missing_docs)]

use std::hint::black_box;

use wasync_guest::job;

/// One step of xorshift64: cheap arithmetic the optimizer cannot fold.
#[inline(always)]
fn step(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Loops forever doing arithmetic, never calling the host: only fuel or
/// an epoch deadline stops it.
#[job]
pub fn spin() -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    loop {
        x = black_box(step(x));
    }
}

/// Loops `n` times and returns a checksum of the work (for fuel
/// measurements: fuel used grows linearly with `n`).
#[job]
pub fn count(n: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    let mut sum = 0u64;
    for _ in 0..n {
        x = step(x);
        sum = sum.wrapping_add(black_box(x));
    }
    sum
}

wasync_guest::export_jobs!(spin, count);

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wasync_guest::testing;

    use super::{count, jobs, step};

    #[test]
    fn count_is_a_deterministic_checksum() {
        let out = testing::run(jobs(), "count", json!([1000])).unwrap();
        assert_eq!(out.value_as::<u64>(), Some(count(1000)));
        assert_eq!(count(0), 0);
        assert_eq!(count(1), step(0x9E37_79B9_7F4A_7C15));
        assert_ne!(count(1000), count(1001));
    }

    #[test]
    fn spin_is_registered() {
        assert!(jobs().names().any(|n| n == "spin"));
    }
}
