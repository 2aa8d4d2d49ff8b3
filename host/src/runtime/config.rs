//! The runtime's configuration: one struct, each default a documented
//! constant.

use std::path::PathBuf;
use std::time::Duration;

pub use super::http::HttpConfig;

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
/// The most jobs one run may put (`put`, `put-held`, callbacks, composites
/// and their parts) when nothing else is set: 10,000.
pub const PUT_CAP_DEFAULT: u64 = 10_000;
/// The most memory a job can be given: 4 GiB, all a 32-bit linear memory
/// can address.
pub const MAX_MEMORY_BYTES_DEFAULT: u64 = 4 << 30;
/// How often the epoch advances: a running guest yields to the async
/// executor and checks its deadline this often.
pub const EPOCH_TICK_DEFAULT: Duration = Duration::from_millis(1);
/// How much of each of stdout and stderr is kept: the last 64 KiB.
pub const OUTPUT_LIMIT_BYTES_DEFAULT: usize = 64 * 1024;
/// Core wasm instances one component may create by default. Components
/// built by `wasm-component-ld` have a handful, componentize-py 14 (38
/// with `--stub-wasi`), StarlingMonkey 4; each native extension of a
/// bigger Python app adds one.
pub const CORE_INSTANCES_PER_COMPONENT_DEFAULT: u32 = 64;
/// Linear memories one component may have by default (QuickJS with
/// `--stub-wasi` has 3).
pub const MEMORIES_PER_COMPONENT_DEFAULT: u32 = 4;
/// Tables one component may have by default.
pub const TABLES_PER_COMPONENT_DEFAULT: u32 = 16;
/// Bytes of instance state a component may need by default, for each of
/// its core module instances and for all of them together (`VMContext`s:
/// about 32 bytes per function, plus globals and tables): 4 MiB, for up
/// to about 130,000 functions.
pub const INSTANCE_BYTES_DEFAULT: usize = 4 << 20;
/// Elements one table may have by default (an interpreter's function
/// table holds one per compiled function).
pub const TABLE_ELEMENTS_DEFAULT: usize = 100_000;

/// The pooling allocator's per-component limits: a component over one is
/// refused at upload with the limit named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentLimits {
    /// Core wasm instances, nested ones included. Default
    /// [`CORE_INSTANCES_PER_COMPONENT_DEFAULT`].
    pub core_instances: u32,
    /// Linear memories. Default [`MEMORIES_PER_COMPONENT_DEFAULT`].
    pub memories: u32,
    /// Tables. Default [`TABLES_PER_COMPONENT_DEFAULT`].
    pub tables: u32,
    /// Elements per table. Default [`TABLE_ELEMENTS_DEFAULT`].
    pub table_elements: usize,
    /// Bytes of instance state, per core module instance and for the
    /// whole component. Default
    /// [`INSTANCE_BYTES_DEFAULT`].
    pub instance_bytes: usize,
}

impl Default for ComponentLimits {
    fn default() -> Self {
        ComponentLimits {
            core_instances: CORE_INSTANCES_PER_COMPONENT_DEFAULT,
            memories: MEMORIES_PER_COMPONENT_DEFAULT,
            tables: TABLES_PER_COMPONENT_DEFAULT,
            table_elements: TABLE_ELEMENTS_DEFAULT,
            instance_bytes: INSTANCE_BYTES_DEFAULT,
        }
    }
}

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
    /// The most jobs one run may put; a put over it answers the guest an
    /// error naming the cap. Default [`PUT_CAP_DEFAULT`].
    pub put_cap: u64,
    /// The hard cap of a job's memory limit; also the size of each slot of
    /// the memory pool. Default [`MAX_MEMORY_BYTES_DEFAULT`].
    pub max_memory_bytes: u64,
    /// The epoch tick. Default [`EPOCH_TICK_DEFAULT`].
    pub epoch_tick: Duration,
    /// How many bytes of each of stdout and stderr are kept (the tail).
    /// Default [`OUTPUT_LIMIT_BYTES_DEFAULT`].
    pub output_limit_bytes: usize,
    /// What one component may contain. Default [`ComponentLimits::default`].
    pub component_limits: ComponentLimits,
    /// Which origins jobs may send HTTP requests to, with the per-request
    /// limits. Default: none (every request is denied).
    pub http: HttpConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_concurrent_instances: MAX_CONCURRENT_INSTANCES_DEFAULT,
            default_memory_bytes: DEFAULT_MEMORY_BYTES_DEFAULT,
            default_timeout: DEFAULT_TIMEOUT_DEFAULT,
            default_fuel: DEFAULT_FUEL_DEFAULT,
            put_cap: PUT_CAP_DEFAULT,
            max_memory_bytes: MAX_MEMORY_BYTES_DEFAULT,
            epoch_tick: EPOCH_TICK_DEFAULT,
            output_limit_bytes: OUTPUT_LIMIT_BYTES_DEFAULT,
            component_limits: ComponentLimits::default(),
            http: HttpConfig::default(),
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
        let limits = &self.component_limits;
        if limits.core_instances == 0 || limits.memories == 0 || limits.tables == 0 {
            return Err(
                "the per-component limits of core instances, memories and tables must be at least 1"
                    .into(),
            );
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
