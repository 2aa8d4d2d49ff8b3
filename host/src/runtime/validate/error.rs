//! What the uploader of a refused component is told: one variant per
//! reason, each message naming the problem (HTTP 422), so that a refusal
//! says what to change rather than only that the component is bad.

use super::{ENTRY_POINT_SIGNATURE, JOB_WIT_VERSION, SIGNATURES_SECTION};

/// Why a component was refused. Each message names the problem; it is
/// shown to the user who uploaded the component (HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly component: the bytes do not start with the `\\0asm` header")]
    NotWasm,
    /// A core module: it needs to be turned into a component.
    #[error(
        "a core WebAssembly module, not a component: build the job for `wasm32-wasip2` \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// No `run` export.
    #[error("the component does not export the job entry point `{ENTRY_POINT_SIGNATURE}`")]
    MissingEntryPoint,
    /// `run` exists but has another type.
    #[error(
        "the component's `run` export has the wrong type: expected `{ENTRY_POINT_SIGNATURE}`, found `{found}`"
    )]
    WrongEntryPointType {
        /// What the component exports as `run`.
        found: String,
    },
    /// Imports outside the `job` world, every one of them.
    #[error(
        "the component imports {}, which wasync does not provide: a job may import \
         wasync:job/{{context,types}}@0.3.x and WASI 0.2.x (cli, clocks, random, io, \
         filesystem, sockets, http; see docs/sandbox.md)",
        quoted_list(names)
    )]
    ForbiddenImports {
        /// The full import names, e.g. `acme:db/query@1.0.0`, in the
        /// component's order.
        names: Vec<String>,
    },
    /// Built against an older, incompatible version of the `job` world.
    #[error(
        "the component was built against {name}, an earlier version of the job contract \
         that this wasync no longer runs (the `job-request` record changed); rebuild it \
         against wasync:job@{JOB_WIT_VERSION}: update the wasync-guest crate (or the SDK's \
         WIT) and build again (see CHANGELOG.md)"
    )]
    OldJobVersion {
        /// The import naming the old version, e.g.
        /// `wasync:job/context@0.1.0`.
        name: String,
    },
    /// Imports with allowed names whose types differ from what wasync
    /// provides, every one of them.
    #[error(
        "the component imports {} with another type than wasync provides: {}",
        quoted_list(&imports.iter().map(|i| i.name.clone()).collect::<Vec<_>>()),
        imports.iter().map(|i| i.detail.as_str()).collect::<Vec<_>>().join("; ")
    )]
    WrongImportTypes {
        /// The imports, in the order the linker met them.
        imports: Vec<WrongImport>,
    },
    /// Over one of the server's per-component limits.
    #[error(
        "the component has {found} {what}; this server allows at most {limit} per component \
         (setting `{setting}`)"
    )]
    OverLimit {
        /// What is counted: `core instances`, `linear memories`, `tables`.
        what: &'static str,
        /// The component's figure.
        found: u64,
        /// The server's limit.
        limit: u64,
        /// The configuration key that raises it.
        setting: &'static str,
    },
    /// The [`SIGNATURES_SECTION`] cannot be read.
    #[error(
        "the component's `{SIGNATURES_SECTION}` section is not a JSON object of \
         {{\"function\": {{\"min\": M, \"max\": N}}}}: {0}"
    )]
    BadSignatures(String),
    /// Malformed, or refused by the compiler or the linker.
    #[error("invalid component: {0}")]
    Invalid(String),
}

/// One import of the right name and the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongImport {
    /// The import, e.g. `wasi:http/outgoing-handler@0.2.0`.
    pub name: String,
    /// What the linker says about it.
    pub detail: String,
}

fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}
