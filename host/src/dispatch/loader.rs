//! Components for the dispatcher: from this process's runtime cache, else
//! from the store (bytes) through the runtime's disk cache, compiling only
//! when no machine-local compiled copy exists. Concurrent loads of one
//! module share one load. A read the database fails (a server restarting)
//! is tried again until it succeeds: the job waits, it does not fail for
//! the database's sake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::model::{Failure, FailureKind, ModuleDigest};
use crate::runtime::{Prepared, Runtime};
use crate::service::StoreHealth;
use crate::store::ModuleStore;

/// Loads components by digest.
#[derive(Debug)]
pub struct ComponentLoader {
    runtime: Runtime,
    store: Arc<dyn ModuleStore>,
    health: Arc<StoreHealth>,
    loading: Mutex<HashMap<ModuleDigest, Arc<OnceCell<Arc<Prepared>>>>>,
}

impl ComponentLoader {
    /// A loader over `runtime`'s caches and `store`'s modules, waiting out
    /// the faults `health` follows.
    pub fn new(runtime: Runtime, store: Arc<dyn ModuleStore>, health: Arc<StoreHealth>) -> Self {
        ComponentLoader {
            runtime,
            store,
            health,
            loading: Mutex::new(HashMap::new()),
        }
    }

    /// The ready-to-run component, or the failure to give the job when it
    /// cannot be had (module deleted, invalid on this machine).
    pub async fn load(&self, digest: &ModuleDigest) -> Result<Arc<Prepared>, Failure> {
        if let Some(prepared) = self.runtime.cached(digest) {
            return Ok(prepared);
        }
        let cell = self
            .loading
            .lock()
            .unwrap()
            .entry(digest.clone())
            .or_default()
            .clone();
        let result = cell
            .get_or_try_init(|| async {
                let bytes = self
                    .health
                    .through_faults(|| self.store.module_bytes(digest))
                    .await
                    .map_err(|error| {
                        Failure::new(
                            FailureKind::HostError,
                            format!("could not load module {digest}: {error}"),
                        )
                    })?;
                self.runtime.prepare(digest, &bytes).await.map_err(|error| {
                    Failure::new(
                        FailureKind::HostError,
                        format!("module {digest} cannot run here: {error}"),
                    )
                })
            })
            .await
            .cloned();
        // Once the runtime caches it (or the load failed) the cell is not
        // needed; a failed load may be retried by the next job.
        self.loading.lock().unwrap().remove(digest);
        result
    }
}
