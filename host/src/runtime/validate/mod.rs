//! Checking an uploaded component before it is accepted: is it a
//! component, does it export the job entry point with the right type, and
//! does it import only what the `job` world allows.
//!
//! The cheap checks (header, top-level imports and exports) read the bytes
//! with `wasmparser` before anything is compiled ([`scan`], here); the type
//! of `run` is checked on the compiled component with wasmtime's own types,
//! so what is accepted is exactly what the runtime can call.
//!
//! One file per side of the contract:
//! - `error`: [`ValidationError`], what the uploader is told;
//! - `imports`: the imports a job may have (the `wasync:job` and WASI
//!   versions this host links) and why the linker refused the others;
//! - `exports`: the `run` entry point and the job functions and arities a
//!   guest SDK declares in custom sections;
//! - `pool`: the compiler's refusals over the pooling allocator's
//!   per-component limits.

mod error;
mod exports;
mod imports;
mod pool;

use wasmparser::{ComponentTypeRef, Encoding, Parser, Payload};

use self::exports::{parse_functions, parse_signatures};
use self::imports::{import_allowed, is_old_job_import};
use crate::model::Arity;

pub use self::error::{ValidationError, WrongImport};
pub(crate) use self::exports::check_entry_point;
pub(in crate::runtime) use self::exports::is_entry_point;
pub use self::exports::{
    ENTRY_POINT, ENTRY_POINT_SIGNATURE, FUNCTIONS_SECTION, SIGNATURES_SECTION,
};
pub use self::imports::JOB_WIT_VERSION;
pub(crate) use self::imports::link_error;
pub(crate) use self::pool::compile_error;

/// What the cheap scan of the bytes found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Job function names from the [`FUNCTIONS_SECTION`] custom sections.
    pub functions: Vec<String>,
    /// What [`SIGNATURES_SECTION`] declares, by function name.
    pub signatures: std::collections::BTreeMap<String, Arity>,
}

/// The checks that need no compilation: header, imports, the presence of
/// `run`; also collects the function list of the custom section.
pub(crate) fn scan(bytes: &[u8]) -> Result<Scan, ValidationError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(ValidationError::NotWasm);
    }
    if Parser::is_core_wasm(bytes) {
        return Err(ValidationError::CoreModule);
    }
    if !Parser::is_component(bytes) {
        return Err(ValidationError::Invalid(
            "unknown WebAssembly binary version".into(),
        ));
    }
    let mut scan = Scan::default();
    let mut has_run = false;
    let mut refused = Vec::new();
    let mut old_job = None;
    // Nested modules and components are parsed inline; only depth 1 is the
    // component's own interface.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ValidationError::Invalid(e.to_string()))?;
        match payload {
            Payload::Version { encoding, .. } => {
                depth += 1;
                if depth == 1 && encoding != Encoding::Component {
                    return Err(ValidationError::CoreModule);
                }
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| ValidationError::Invalid(e.to_string()))?;
                    // Imported types (a world's `use`) grant nothing.
                    let name = import.name.name;
                    if is_old_job_import(name) {
                        old_job.get_or_insert_with(|| name.to_owned());
                    } else if !matches!(import.ty, ComponentTypeRef::Type(_))
                        && !import_allowed(name)
                    {
                        refused.push(name.to_owned());
                    }
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|e| ValidationError::Invalid(e.to_string()))?;
                    has_run |= export.name.name == ENTRY_POINT;
                }
            }
            Payload::CustomSection(section) if section.name() == FUNCTIONS_SECTION => {
                scan.functions.extend(parse_functions(section.data()));
            }
            Payload::CustomSection(section) if section.name() == SIGNATURES_SECTION => {
                scan.signatures.extend(parse_signatures(section.data())?);
            }
            _ => {}
        }
    }
    if let Some(name) = old_job {
        return Err(ValidationError::OldJobVersion { name });
    }
    if !refused.is_empty() {
        return Err(ValidationError::ForbiddenImports { names: refused });
    }
    if !has_run {
        return Err(ValidationError::MissingEntryPoint);
    }
    scan.functions.sort();
    scan.functions.dedup();
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert_eq!(scan(b"hello").unwrap_err(), ValidationError::NotWasm);
        assert_eq!(scan(&[]).unwrap_err(), ValidationError::NotWasm);
        let core = wat::parse_str("(module)").unwrap();
        assert_eq!(scan(&core).unwrap_err(), ValidationError::CoreModule);
        let component = wat::parse_str("(component)").unwrap();
        assert_eq!(
            scan(&component).unwrap_err(),
            ValidationError::MissingEntryPoint
        );
        let truncated = &component[..component.len() - 1];
        assert!(scan(truncated).is_err());
    }
}
