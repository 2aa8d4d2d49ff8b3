//! The sandbox: wasmtime engine, component validation and cache, and one
//! isolated store per job.
//!
//! A [`Runtime`] owns one wasmtime engine (component model, async calls,
//! fuel, epoch interruption, pooling allocator) and the thread that ticks
//! its epoch. [`Runtime::prepare`] validates a component, compiles it (or
//! loads it from the disk cache) and keeps it ready to instantiate;
//! [`Runtime::run`] runs one job in a fresh store under its [`Limits`] and
//! always gives back a [`RunReport`]: every trap, exhaustion or
//! instantiation error becomes a [`RunOutcome::Failure`].
//!
//! The runtime knows nothing of the database: a job reaches the outside
//! world only through the [`JobContext`] it is given.
//!
//! Known limits: prepared components stay in memory for the life of the
//! runtime (no eviction) and files of the disk cache are never removed
//! (except damaged ones); a time limit is checked every epoch tick, so a
//! job may overrun it by about one tick.
//!
//! ```no_run
//! # async fn demo(bytes: Vec<u8>, context: std::sync::Arc<dyn wasync::runtime::JobContext>) {
//! use wasync::model::{ModuleDigest, RunOutcome};
//! use wasync::runtime::{JobCall, Limits, Runtime, RuntimeConfig};
//!
//! let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
//! let digest = ModuleDigest::of(&bytes);
//! let prepared = runtime.prepare(&digest, &bytes).await.unwrap();
//! let call = JobCall { function: "add".into(), args: serde_json::json!([1, 2]) };
//! let limits = Limits { fuel: Some(10_000_000), ..Limits::default() };
//! let report = runtime.run(&prepared, call, limits, context).await;
//! assert_eq!(report.outcome, RunOutcome::Value(serde_json::json!(3)));
//! # }
//! ```

mod cache;
mod config;
pub mod context;
mod describe;
mod engine;
mod http;
mod limits;
mod output;
mod run;
mod sandbox;
mod store;
mod validate;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

pub use self::config::{
    CORE_INSTANCES_PER_COMPONENT_DEFAULT, ComponentLimits, DEFAULT_FUEL_DEFAULT,
    DEFAULT_MEMORY_BYTES_DEFAULT, DEFAULT_TIMEOUT_DEFAULT, EPOCH_TICK_DEFAULT,
    INSTANCE_BYTES_DEFAULT, MAX_CONCURRENT_INSTANCES_DEFAULT, MAX_MEMORY_BYTES_DEFAULT,
    MEMORIES_PER_COMPONENT_DEFAULT, OUTPUT_LIMIT_BYTES_DEFAULT, PUT_CAP_DEFAULT, RuntimeConfig,
    TABLE_ELEMENTS_DEFAULT, TABLES_PER_COMPONENT_DEFAULT,
};
pub use self::context::{JobContext, JobInfo, PUT_MANY_MAX, PutAnswer};
pub use self::http::{
    HTTP_RESPONSE_MAX_DEFAULT, HTTP_TIMEOUT_DEFAULT, HttpAllow, HttpConfig, HttpUsage, Origin,
};
pub use self::limits::Limits;
pub use self::run::RESULT_MAX;
use self::store::StoreState;
pub use self::validate::{
    ENTRY_POINT, ENTRY_POINT_SIGNATURE, FUNCTIONS_SECTION, JOB_WIT_VERSION, SIGNATURES_SECTION,
    ValidationError, WrongImport,
};
use crate::model::{CapturedOutput, ModuleDigest, RunOutcome};

/// Why a runtime could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is inconsistent.
    #[error("runtime configuration: {0}")]
    Config(String),
    /// wasmtime refused the engine or linker setup.
    #[error("runtime engine: {0}")]
    Engine(String),
    /// The cache directory or the epoch thread could not be set up.
    #[error("runtime: {0}")]
    Io(#[from] std::io::Error),
}

/// The runtime layer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What is known about a prepared component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Its content digest.
    pub digest: ModuleDigest,
    /// Its size in bytes.
    pub size: u64,
    /// Its exports, one WIT-like line each, e.g. [`ENTRY_POINT_SIGNATURE`].
    pub exports: Vec<String>,
    /// Its job functions, from a [`FUNCTIONS_SECTION`] custom section if
    /// the SDK embedded one; else empty.
    pub functions: Vec<String>,
    /// How many positional arguments each job function takes, from a
    /// [`SIGNATURES_SECTION`] if the SDK embedded one; else empty.
    pub signatures: std::collections::BTreeMap<String, crate::model::Arity>,
}

/// How a component's compiled code was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compilation {
    /// Compiled by this process, in this long.
    Compiled(Duration),
    /// Loaded from the disk cache (compiled earlier on this machine), in
    /// this long.
    FromDisk(Duration),
}

/// A validated, compiled and pre-linked component, ready to instantiate.
pub struct Prepared {
    /// What it is.
    pub info: ComponentInfo,
    /// How its code was obtained.
    pub compilation: Compilation,
    pre: context::JobPre<StoreState>,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// One call of a job function.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCall {
    /// The job function.
    pub function: String,
    /// Its arguments: a JSON array (positional) or object (named).
    pub args: serde_json::Value,
}

/// How a run went.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// A value, "await that job", or a failure.
    pub outcome: RunOutcome,
    /// The tails of stdout and stderr.
    pub output: CapturedOutput,
    /// Fuel used, when known.
    pub fuel_consumed: Option<u64>,
    /// The outgoing HTTP requests the job made.
    pub http: HttpUsage,
    /// Wall-clock time from the call to the end, waiting for a free slot
    /// included.
    pub elapsed: Duration,
    /// The limits it ran under, every one set
    /// ([`Runtime::effective_limits`]).
    pub limits: Limits,
    /// The most linear memory and table bytes it held at once.
    pub peak_memory_bytes: u64,
    /// Bytes it wrote to stdout and stderr (kept or not) plus the bytes of
    /// the result it returned.
    pub output_bytes: u64,
}

/// Counters of the compiled-component cache, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Components compiled by this runtime.
    pub compiled: u64,
    /// Components loaded from the disk cache instead.
    pub loaded_from_disk: u64,
}

/// The sandbox runtime. Cheap to clone: clones share the engine, the
/// caches and the slot semaphore.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    config: RuntimeConfig,
    engine: Engine,
    linker: Linker<StoreState>,
    slots: Semaphore,
    disk: Option<cache::DiskCache>,
    prepared: Mutex<HashMap<ModuleDigest, Arc<OnceCell<Arc<Prepared>>>>>,
    compiled: AtomicU64,
    loaded_from_disk: AtomicU64,
    _ticker: engine::Ticker,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with its engine, instance pool and epoch thread.
    pub fn new(config: RuntimeConfig) -> Result<Runtime> {
        config.check().map_err(Error::Config)?;
        let engine = engine::new_engine(&config).map_err(|e| Error::Engine(format!("{e:#}")))?;
        let linker = store::job_linker(&engine).map_err(|e| Error::Engine(format!("{e:#}")))?;
        let disk = match &config.cache_dir {
            Some(dir) => Some(cache::DiskCache::open(dir, &engine)?),
            None => None,
        };
        let ticker = engine::Ticker::start(engine.clone(), config.epoch_tick)?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                slots: Semaphore::new(config.max_concurrent_instances as usize),
                config,
                engine,
                linker,
                disk,
                prepared: Mutex::default(),
                compiled: AtomicU64::new(0),
                loaded_from_disk: AtomicU64::new(0),
                _ticker: ticker,
            }),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Validates, compiles (or loads from the disk cache) and caches in
    /// memory; the work runs off the async threads. `digest` must be the
    /// digest of `bytes`.
    pub async fn prepare(
        &self,
        digest: &ModuleDigest,
        bytes: &[u8],
    ) -> Result<Arc<Prepared>, ValidationError> {
        let cell = {
            let mut prepared = self
                .inner
                .prepared
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            prepared.entry(digest.clone()).or_default().clone()
        };
        let prepared = cell
            .get_or_try_init(|| async {
                let runtime = self.clone();
                let digest = digest.clone();
                let bytes = bytes.to_vec();
                tokio::task::spawn_blocking(move || runtime.prepare_now(digest, &bytes))
                    .await
                    .map_err(|e| ValidationError::Invalid(format!("compilation crashed: {e}")))?
                    .map(Arc::new)
            })
            .await
            .cloned();
        if prepared.is_err() {
            // Keep no entry for a refused component.
            let mut entries = self
                .inner
                .prepared
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if entries.get(digest).is_some_and(|cell| !cell.initialized()) {
                entries.remove(digest);
            }
        }
        prepared
    }

    /// The in-memory cache entry, if this process already prepared it.
    pub fn cached(&self, digest: &ModuleDigest) -> Option<Arc<Prepared>> {
        let prepared = self
            .inner
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let found = prepared.get(digest).and_then(|cell| cell.get().cloned());
        if found.is_some() {
            crate::metrics::cache_hit_memory();
        }
        found
    }

    /// How often components were compiled or loaded from disk.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.inner.compiled.load(Ordering::Relaxed),
            loaded_from_disk: self.inner.loaded_from_disk.load(Ordering::Relaxed),
        }
    }

    /// The blocking part of [`Runtime::prepare`].
    fn prepare_now(&self, digest: ModuleDigest, bytes: &[u8]) -> Result<Prepared, ValidationError> {
        let inner = &*self.inner;
        let scan = validate::scan(bytes)?;
        if ModuleDigest::of(bytes) != digest {
            return Err(ValidationError::Invalid(format!(
                "the bytes do not have the digest {digest}"
            )));
        }
        let (component, compilation) = self.load_or_compile(&digest, bytes)?;
        validate::check_entry_point(&inner.engine, &component)?;
        let exports = describe::describe_exports(&inner.engine, &component);
        let instance_pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| validate::link_error(&inner.engine, &inner.linker, &component, e))?;
        let pre = context::JobPre::new(instance_pre).map_err(|e| {
            ValidationError::WrongEntryPointType {
                found: format!("{e:#}"),
            }
        })?;
        Ok(Prepared {
            info: ComponentInfo {
                digest,
                size: bytes.len() as u64,
                exports,
                functions: scan.functions,
                signatures: scan.signatures,
            },
            compilation,
            pre,
        })
    }

    fn load_or_compile(
        &self,
        digest: &ModuleDigest,
        bytes: &[u8],
    ) -> Result<(Component, Compilation), ValidationError> {
        let inner = &*self.inner;
        let started = Instant::now();
        let loaded = |disk: &cache::DiskCache| {
            let component = disk.load(&inner.engine, digest)?;
            inner.loaded_from_disk.fetch_add(1, Ordering::Relaxed);
            crate::metrics::cache_hit_disk();
            let elapsed = started.elapsed();
            tracing::info!(%digest, ?elapsed, "component loaded from the disk cache");
            Some((component, Compilation::FromDisk(elapsed)))
        };
        // Held until the compiled component is stored: another process
        // sharing the cache that misses it meanwhile waits, then loads it.
        let turn = match &inner.disk {
            Some(disk) => {
                if let Some(found) = loaded(disk) {
                    return Ok(found);
                }
                let turn = disk.compile_turn(digest);
                // Compiled by another process while this one waited.
                if let Some(found) = loaded(disk) {
                    return Ok(found);
                }
                Some(turn)
            }
            None => None,
        };
        let component = Component::from_binary(&inner.engine, bytes)
            .map_err(|e| validate::compile_error(&e, &inner.config.component_limits))?;
        inner.compiled.fetch_add(1, Ordering::Relaxed);
        crate::metrics::cache_miss();
        let elapsed = started.elapsed();
        tracing::info!(%digest, size = bytes.len(), ?elapsed, "component compiled");
        if let Some(disk) = &inner.disk {
            disk.store(digest, &component);
        }
        drop(turn);
        Ok((component, Compilation::Compiled(elapsed)))
    }
}
