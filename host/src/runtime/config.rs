//! The runtime's configuration: one struct, each default a documented
//! constant.

use std::path::PathBuf;
use std::time::Duration;

/// How many jobs may run at once in one runtime by default (the size of
/// the instance pool).
pub const MAX_CONCURRENT_INSTANCES_DEFAULT: u32 = 128;
/// A job's memory limit when it asks for none: 256 MiB.
pub const DEFAULT_MEMORY_BYTES_DEFAULT: u64 = 256 << 20;
/// A job's wall-clock limit when neither it nor its agent sets one: 10
/// minutes. Every run has a time limit: a guest looping or sleeping forever
/// is stopped.
pub const DEFAULT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10 * 60);
/// A job's fuel budget when neither it nor its agent sets one: 10^12
/// units (roughly wasm instructions; several minutes of computing).
pub const DEFAULT_FUEL_DEFAULT: u64 = 1_000_000_000_000;
/// The most memory a job can be given: 4 GiB, all a 32-bit linear memory
/// can address.
pub const MAX_MEMORY_BYTES_DEFAULT: u64 = 4 << 30;
/// How often the epoch advances: a running guest yields to the async
/// executor and checks its deadline this often.
pub const EPOCH_TICK_DEFAULT: Duration = Duration::from_millis(1);
/// How much of each of stdout and stderr is kept: the last 64 KiB.
pub const OUTPUT_LIMIT_BYTES_DEFAULT: usize = 64 * 1024;

/// How a [`Runtime`](super::Runtime) is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where compiled components are kept across processes. `None` (the
    /// default): in memory only.
    pub cache_dir: Option<PathBuf>,
    /// How many jobs may run at once; more wait for a free slot. Default
    /// [`MAX_CONCURRENT_INSTANCES_DEFAULT`].
    pub max_concurrent_instances: u32,
    /// A job's memory limit when it asks for none (linear memories and
    /// tables together). Default [`DEFAULT_MEMORY_BYTES_DEFAULT`].
    pub default_memory_bytes: u64,
    /// A job's wall-clock limit when it asks for none. Default
    /// [`DEFAULT_TIMEOUT_DEFAULT`].
    pub default_timeout: Duration,
    /// A job's fuel budget when it asks for none. Default
    /// [`DEFAULT_FUEL_DEFAULT`].
    pub default_fuel: u64,
    /// The hard cap of a job's memory limit; also the size of each slot of
    /// the memory pool. Default [`MAX_MEMORY_BYTES_DEFAULT`].
    pub max_memory_bytes: u64,
    /// The epoch tick. Default [`EPOCH_TICK_DEFAULT`].
    pub epoch_tick: Duration,
    /// How many bytes of each of stdout and stderr are kept (the tail).
    /// Default [`OUTPUT_LIMIT_BYTES_DEFAULT`].
    pub output_limit_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_concurrent_instances: MAX_CONCURRENT_INSTANCES_DEFAULT,
            default_memory_bytes: DEFAULT_MEMORY_BYTES_DEFAULT,
            default_timeout: DEFAULT_TIMEOUT_DEFAULT,
            default_fuel: DEFAULT_FUEL_DEFAULT,
            max_memory_bytes: MAX_MEMORY_BYTES_DEFAULT,
            epoch_tick: EPOCH_TICK_DEFAULT,
            output_limit_bytes: OUTPUT_LIMIT_BYTES_DEFAULT,
        }
    }
}

impl RuntimeConfig {
    /// Checks the values make sense together.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_concurrent_instances == 0 {
            return Err("max_concurrent_instances must be at least 1".into());
        }
        if self.max_memory_bytes > MAX_MEMORY_BYTES_DEFAULT {
            return Err(format!(
                "max_memory_bytes {} is above the 32-bit linear memory maximum {MAX_MEMORY_BYTES_DEFAULT}",
                self.max_memory_bytes
            ));
        }
        if self.default_memory_bytes > self.max_memory_bytes {
            return Err(format!(
                "default_memory_bytes {} is above max_memory_bytes {}",
                self.default_memory_bytes, self.max_memory_bytes
            ));
        }
        if self.default_timeout.is_zero() {
            return Err("default_timeout must be positive".into());
        }
        if self.default_fuel == 0 {
            return Err("default_fuel must be positive".into());
        }
        if self.epoch_tick.is_zero() {
            return Err("epoch_tick must not be zero".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_consistent_and_bad_values_are_refused() {
        assert_eq!(RuntimeConfig::default().check(), Ok(()));
        let bad = RuntimeConfig {
            default_memory_bytes: 2 << 30,
            max_memory_bytes: 1 << 30,
            ..RuntimeConfig::default()
        };
        assert!(bad.check().unwrap_err().contains("default_memory_bytes"));
        let bad = RuntimeConfig {
            max_concurrent_instances: 0,
            ..RuntimeConfig::default()
        };
        assert!(bad.check().is_err());
    }
}
