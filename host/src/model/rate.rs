//! Rate limits (issue 18 §4): at most `limit` starts per fixed window of
//! `period_ms`, on a queue or on each key of a partitioned quota.
//!
//! Fixed windows, not sliding ones: the window holding a time `t` is
//! `[t - t mod period, t - t mod period + period)` (aligned to the epoch,
//! so every process computes the same one), and a window is one counter
//! the claim reads and bumps under the lock it already holds. That keeps
//! the limit exact across processes at the cost of one row per queue or
//! key, where a sliding window would keep every start of the last period.
//! The price: up to twice `limit` may start around a window's boundary
//! (the end of one window and the start of the next). A claim counts as a
//! start (a claimed job starts at once).

use serde::{Deserialize, Serialize};

use super::Timestamp;
use crate::clock;

/// The largest `limit` of a rate.
pub const RATE_LIMIT_MAX: u32 = 1_000_000;

/// The longest period of a rate: a week, in milliseconds.
pub const RATE_PERIOD_MAX_MS: u64 = 7 * 24 * 3_600_000;

/// At most `limit` starts per fixed window of `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// The most starts in one window.
    pub limit: u32,
    /// The window's length, in milliseconds.
    pub period_ms: u64,
}

impl Rate {
    /// Checks the bounds: `limit` 1 to [`RATE_LIMIT_MAX`], `period_ms` 1 to
    /// [`RATE_PERIOD_MAX_MS`].
    pub fn check(self) -> Result<Self, String> {
        if self.limit == 0 || self.limit > RATE_LIMIT_MAX {
            return Err(format!(
                "rate `limit` must be 1 to {RATE_LIMIT_MAX}, got {}",
                self.limit
            ));
        }
        if self.period_ms == 0 || self.period_ms > RATE_PERIOD_MAX_MS {
            return Err(format!(
                "rate `period_ms` must be 1 to {RATE_PERIOD_MAX_MS} (a week), got {}",
                self.period_ms
            ));
        }
        Ok(self)
    }

    /// The end (milliseconds since the epoch) of the window holding `now`.
    pub fn window_end(self, now_ms: i64) -> i64 {
        let period = self.period_ms as i64;
        now_ms - now_ms.rem_euclid(period) + period
    }

    /// How many more may start in the window holding `now`, given the
    /// stored window (`until`: its end, `starts`: counted in it).
    pub fn allowance(self, now_ms: i64, until: i64, starts: i64) -> u32 {
        if until != self.window_end(now_ms) {
            return self.limit;
        }
        u32::try_from(i64::from(self.limit) - starts.max(0)).unwrap_or(0)
    }

    /// The status of the window holding `now`, given the stored one and
    /// the jobs that wait for the rate when it is used up (`pending`).
    pub fn status(self, now: Timestamp, until: i64, starts: i64, pending: u64) -> RateStatus {
        let now_ms = clock::to_millis(now);
        let end = self.window_end(now_ms);
        let starts = if until == end {
            starts.max(0) as u64
        } else {
            0
        };
        RateStatus {
            limit: self.limit,
            period_ms: self.period_ms,
            window_start: clock::from_millis(end - self.period_ms as i64),
            window_end: clock::from_millis(end),
            starts,
            waiting: if starts >= u64::from(self.limit) {
                pending
            } else {
                0
            },
        }
    }
}

/// A rate and its current window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RateStatus {
    /// The most starts in one window.
    pub limit: u32,
    /// The window's length, in milliseconds.
    pub period_ms: u64,
    /// When the current window began.
    #[schema(value_type = String, format = DateTime)]
    pub window_start: Timestamp,
    /// When it ends (the next window opens).
    #[schema(value_type = String, format = DateTime)]
    pub window_end: Timestamp,
    /// Jobs started in the current window.
    pub starts: u64,
    /// Pending jobs held back by it: those of the queue (or key) while the
    /// window is used up, else 0.
    pub waiting: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_aligned() {
        let rate = Rate {
            limit: 3,
            period_ms: 1_000,
        };
        assert_eq!(rate.window_end(0), 1_000);
        assert_eq!(rate.window_end(999), 1_000);
        assert_eq!(rate.window_end(1_000), 2_000);
        assert_eq!(rate.allowance(1_500, 2_000, 2), 1);
        assert_eq!(rate.allowance(1_500, 2_000, 5), 0);
        assert_eq!(rate.allowance(2_000, 2_000, 3), 3, "a new window");
        let status = rate.status(clock::from_millis(1_500), 2_000, 3, 7);
        assert_eq!((status.starts, status.waiting), (3, 7));
        assert_eq!(status.window_start, clock::from_millis(1_000));
        assert!(
            Rate {
                limit: 0,
                period_ms: 1
            }
            .check()
            .is_err()
        );
        assert!(
            Rate {
                limit: 1,
                period_ms: 0
            }
            .check()
            .is_err()
        );
    }
}
