//! Modules: upload (validated and compiled once), show, list, delete.

use super::names::validate_module_name;
use super::{Result, Service};
use crate::model::{FUNCTION_EXPORT_PREFIX, ModuleDigest, ModuleInfo};
use crate::store::ModuleInsertParams;

impl Service {
    /// Validates and stores a component, optionally under a unique name
    /// (which moves to it from any other module). Uploading the same bytes
    /// again is harmless and returns the same module.
    pub async fn module_upload(&self, bytes: Vec<u8>, name: Option<String>) -> Result<ModuleInfo> {
        if let Some(name) = &name {
            validate_module_name(name)?;
        }
        let digest = ModuleDigest::of(&bytes);
        // Validation compiles the component too, so the first job that
        // runs it on this machine finds it ready.
        let prepared = self.runtime().prepare(&digest, &bytes).await?;
        let mut exports = prepared.info.exports.clone();
        exports.extend(
            prepared
                .info
                .functions
                .iter()
                .map(|f| format!("{FUNCTION_EXPORT_PREFIX}{f}")),
        );
        let info = self
            .store()
            .module_insert(ModuleInsertParams {
                digest,
                name,
                bytes,
                exports,
                now: self.clock().now(),
            })
            .await?;
        self.inner.lookups.forget_modules();
        Ok(info)
    }

    /// A module by digest or name.
    pub async fn module_get(&self, reference: &str) -> Result<ModuleInfo> {
        Ok(self.store().module_get(reference).await?)
    }

    /// Every module.
    pub async fn module_list(&self) -> Result<Vec<ModuleInfo>> {
        Ok(self.store().module_list().await?)
    }

    /// Deletes a module (by digest or name); refused while jobs use it.
    pub async fn module_delete(&self, reference: &str) -> Result<()> {
        let module = self.store().module_get(reference).await?;
        self.store().module_delete(&module.digest).await?;
        self.inner.lookups.forget_modules();
        Ok(())
    }
}
