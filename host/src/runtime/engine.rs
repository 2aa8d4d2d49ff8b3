//! The one wasmtime [`Engine`] of a runtime, and the thread that advances
//! its epoch.

use std::num::NonZeroUsize;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    WasmBacktraceDetails,
};

use super::RuntimeConfig;

/// Bytes at the start of each linear memory reset with `memset` instead of
/// being given back to the kernel when an instance ends, so that the next
/// job in the slot does not page-fault them in again. With `pagemap_scan`
/// (Linux ≥ 6.7) only the pages the job touched are reset.
pub(crate) const LINEAR_MEMORY_KEEP_RESIDENT: usize = 2 << 20;
/// The same for tables.
pub(crate) const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Frames kept in a failure's wasm backtrace (a Rust panic alone takes
/// a dozen).
pub(crate) const BACKTRACE_FRAMES_MAX: usize = 64;

/// An engine configured for the component model, async calls, fuel, epoch
/// interruption and the pooling allocator sized for `config`.
pub(crate) fn new_engine(config: &RuntimeConfig) -> wasmtime::Result<Engine> {
    let slots = config.max_concurrent_instances;
    let limits = &config.component_limits;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(limits.core_instances))
        .total_memories(slots.saturating_mul(limits.memories))
        .total_tables(slots.saturating_mul(limits.tables))
        .total_stacks(slots)
        .max_core_instances_per_component(limits.core_instances)
        .max_memories_per_component(limits.memories)
        .max_tables_per_component(limits.tables)
        .table_elements(limits.table_elements)
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .wasm_backtrace_max_frames(NonZeroUsize::new(BACKTRACE_FRAMES_MAX))
        .wasm_backtrace_details(WasmBacktraceDetails::Disable)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm)
}

/// The background thread that increments an engine's epoch every tick.
/// Dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Ticker {
    /// Starts ticking `engine` every `tick`.
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Ticker> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("wasync-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
