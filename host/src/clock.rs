//! Time, injectable: every service gets an `Arc<dyn Clock>` and every SQL
//! statement takes `now` as a parameter, so tests can move time at will.

use std::sync::Mutex;

use chrono::{DurationRound, TimeDelta, Utc};

use crate::model::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, truncated to whole milliseconds (what the store keeps).
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        truncate_to_millis(Utc::now())
    }
}

/// A clock that stands still until told to move: for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(truncate_to_millis(start)),
        }
    }

    /// Sets the time.
    pub fn set(&self, to: Timestamp) {
        *self.now.lock().unwrap() = truncate_to_millis(to);
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.now.lock().unwrap();
        *now += TimeDelta::from_std(by).expect("duration in range");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap()
    }
}

/// The system clock shifted by an offset read from a file: how tests move a
/// *running process's* time (the `WASYNC_CLOCK_FILE` environment variable of
/// `wasync serve`, `worker` and `scheduler`). The file holds a whole number
/// of milliseconds to add to the system time (`0` if the file is absent or
/// empty); time keeps flowing, and a test jumps it forward by writing a
/// larger offset. The file is re-read at most every 10 ms.
#[derive(Debug)]
pub struct OffsetFileClock {
    path: std::path::PathBuf,
    cached: Mutex<(std::time::Instant, i64)>,
}

impl OffsetFileClock {
    /// A clock reading its offset from `path`.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        let clock = OffsetFileClock {
            path: path.into(),
            cached: Mutex::new((std::time::Instant::now(), 0)),
        };
        let offset = clock.read_offset();
        *clock.cached.lock().unwrap() = (std::time::Instant::now(), offset);
        clock
    }

    fn read_offset(&self) -> i64 {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Writes `offset` ms to `path` (atomically), for tests.
    pub fn write_offset(path: &std::path::Path, offset_ms: i64) -> std::io::Result<()> {
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, offset_ms.to_string())?;
        std::fs::rename(temp, path)
    }
}

impl Clock for OffsetFileClock {
    fn now(&self) -> Timestamp {
        let mut cached = self.cached.lock().unwrap();
        if cached.0.elapsed() >= std::time::Duration::from_millis(10) {
            *cached = (std::time::Instant::now(), self.read_offset());
        }
        truncate_to_millis(Utc::now() + TimeDelta::milliseconds(cached.1))
    }
}

/// The clock a process should use: [`OffsetFileClock`] when
/// `WASYNC_CLOCK_FILE` names a file (tests), else the [`SystemClock`].
pub fn from_env() -> std::sync::Arc<dyn Clock> {
    match std::env::var_os("WASYNC_CLOCK_FILE") {
        Some(path) if !path.is_empty() => std::sync::Arc::new(OffsetFileClock::new(path)),
        _ => std::sync::Arc::new(SystemClock),
    }
}

/// `t` without its sub-millisecond part.
pub fn truncate_to_millis(t: Timestamp) -> Timestamp {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// Milliseconds since the Unix epoch.
pub fn to_millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// The time `ms` milliseconds after the Unix epoch.
pub fn from_millis(ms: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = from_millis(1_000_000);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(std::time::Duration::from_millis(1500));
        assert_eq!(to_millis(clock.now()), 1_001_500);
    }

    #[test]
    fn an_offset_file_moves_a_running_clock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let clock = OffsetFileClock::new(&path);
        let before = clock.now();
        assert!(
            (SystemClock.now() - before).num_seconds().abs() < 5,
            "no file: no offset"
        );
        OffsetFileClock::write_offset(&path, 3_600_000).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while (clock.now() - before).num_minutes() < 59 {
            assert!(
                std::time::Instant::now() < deadline,
                "the new offset is picked up"
            );
            std::thread::yield_now();
        }
    }

    #[test]
    fn system_clock_has_millisecond_precision() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
