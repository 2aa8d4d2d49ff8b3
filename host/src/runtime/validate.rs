//! Checking an uploaded component before it is accepted: is it a
//! component, does it export the job entry point with the right type, and
//! does it import only what the `job` world allows.
//!
//! The cheap checks (header, top-level imports and exports) read the bytes
//! with `wasmparser` before anything is compiled; the type of `run` is
//! checked on the compiled component with wasmtime's own types, so what is
//! accepted is exactly what the runtime can call.

use wasmparser::{ComponentTypeRef, Encoding, Parser, Payload};
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker, Val};
use wasmtime::{Engine, StoreContextMut};

use super::{ComponentLimits, describe};
use crate::model::Arity;

/// The name of the job entry point a component must export.
pub const ENTRY_POINT: &str = "run";
/// Its WIT signature, as the `job` world declares it.
pub const ENTRY_POINT_SIGNATURE: &str =
    "run: func(function: string, args: string) -> result<outcome, job-error>";
/// The version of the `wasync:job` package (`wit/job.wit`) this host
/// implements; components may import any `0.3.x`.
pub const JOB_WIT_VERSION: &str = "0.3.0";
/// The `wasync:job` versions earlier hosts ran: refused with
/// [`ValidationError::OldJobVersion`].
const OLD_JOB_TRACKS: &[&str] = &["0.1.", "0.2."];

/// The custom section in which a guest SDK may list the job functions of a
/// component: a JSON array of strings, or names separated by newlines or
/// NUL bytes (what `#[link_section]` statics concatenate to).
pub const FUNCTIONS_SECTION: &str = "wasync-functions";

/// The custom section in which a guest SDK may declare how many positional
/// arguments each job function takes: a JSON object
/// `{"name": {"min": M, "max": N}, ...}` (`max` left out: no upper bound).
/// Several objects in a row (sections concatenated by the linker) are
/// merged; a function it does not name is not checked. The Rust SDK's
/// `export_jobs!` writes it (see docs/languages.md).
pub const SIGNATURES_SECTION: &str = "wasync-signatures";

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

/// Refuses an import that is not part of the `job` world.
#[cfg(test)]
fn check_import(name: &str) -> Result<(), ValidationError> {
    if import_allowed(name) {
        Ok(())
    } else {
        Err(ValidationError::ForbiddenImports {
            names: vec![name.into()],
        })
    }
}

/// The interfaces of each WASI 0.2 package that wasmtime-wasi and
/// wasmtime-wasi-http implement (all of them but `wasi:http`'s
/// `incoming-handler`, which a job exports rather than imports).
const WASI_0_2: &[(&str, &[&str])] = &[
    (
        "wasi:cli",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    ("wasi:clocks", &["wall-clock", "monotonic-clock"]),
    ("wasi:random", &["random", "insecure", "insecure-seed"]),
    ("wasi:io", &["error", "poll", "streams"]),
    ("wasi:filesystem", &["types", "preopens"]),
    (
        "wasi:sockets",
        &[
            "network",
            "instance-network",
            "tcp",
            "tcp-create-socket",
            "udp",
            "udp-create-socket",
            "ip-name-lookup",
        ],
    ),
    ("wasi:http", &["types", "outgoing-handler"]),
];

fn import_allowed(name: &str) -> bool {
    let Some((path, version)) = name.split_once('@') else {
        return false;
    };
    let Some((package, interface)) = path.split_once('/') else {
        return false;
    };
    let (allowed, track): (&[&str], &str) = if package == "wasync:job" {
        (&["context", "types"], "0.3.")
    } else if let Some((_, interfaces)) = WASI_0_2.iter().find(|(p, _)| *p == package) {
        (interfaces, "0.2.")
    } else {
        return false;
    };
    // A released patch version of the track: pre-releases do not link.
    let patch_ok = version
        .strip_prefix(track)
        .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()));
    allowed.contains(&interface) && patch_ok
}

/// The compiler's refusal of a component: over a per-component limit of
/// the pooling allocator (named, with the component's figure), or invalid.
pub(crate) fn compile_error(error: &wasmtime::Error, limits: &ComponentLimits) -> ValidationError {
    let message = format!("{error:#}");
    // wasmtime: "The component transitively contains 38 core module
    // instances, which exceeds the configured maximum of 20 in the pooling
    // allocator" (likewise "Wasm linear memories", "tables").
    let counted = [
        (
            "core module instances",
            "core instances",
            limits.core_instances,
            "max_core_instances_per_component",
        ),
        (
            "Wasm linear memories",
            "linear memories",
            limits.memories,
            "max_memories_per_component",
        ),
        (
            "tables, which exceeds",
            "tables",
            limits.tables,
            "max_tables_per_component",
        ),
    ];
    // wasmtime: "instance allocation for this module requires 1280332
    // bytes which exceeds the configured maximum of 1048576 bytes" (or
    // "for this component requires ...").
    if let Some(at) = message.find("instance allocation for this ") {
        let found = message[at..]
            .split_once("requires ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        if let Some(found) = found {
            return ValidationError::OverLimit {
                what: "bytes of instance state (about 32 per function)",
                found,
                limit: limits.instance_bytes as u64,
                setting: "max_instance_bytes",
            };
        }
    }
    for (marker, what, limit, setting) in counted {
        let Some(at) = message.find(marker) else {
            continue;
        };
        let found = message[..at]
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok());
        if let Some(found) = found {
            return ValidationError::OverLimit {
                what,
                found,
                limit: limit.into(),
                setting,
            };
        }
    }
    ValidationError::Invalid(message)
}

/// An import of `wasync:job` at a version earlier hosts ran.
fn is_old_job_import(name: &str) -> bool {
    name.split_once('@').is_some_and(|(path, version)| {
        path.starts_with("wasync:job/") && OLD_JOB_TRACKS.iter().any(|t| version.starts_with(t))
    })
}

/// The linker's refusal of a component whose imports all have allowed
/// names: some have another type. The linker names only the first; each
/// one found is replaced by untyped stubs in a copy of the linker and the
/// check repeated, so the refusal lists them all.
pub(crate) fn link_error<T: 'static>(
    engine: &Engine,
    linker: &Linker<T>,
    component: &Component,
    first: wasmtime::Error,
) -> ValidationError {
    let mut linker = linker.clone();
    linker.allow_shadowing(true);
    let ty = component.component_type();
    let mut imports: Vec<WrongImport> = Vec::new();
    let mut error = first;
    loop {
        let detail = format!("{error:#}");
        // wasmtime: "component imports instance `NAME`, but a matching
        // implementation was not found in the linker: ..."
        let name = detail.split('`').nth(1).unwrap_or_default().to_owned();
        let repeated = imports.iter().any(|i| i.name == name);
        if name.is_empty() || repeated {
            if imports.is_empty() {
                return ValidationError::Invalid(format!("cannot link the component: {detail}"));
            }
            break;
        }
        imports.push(WrongImport {
            name: name.clone(),
            detail,
        });
        if stub_import(engine, &mut linker, &ty, &name).is_err() {
            break;
        }
        match linker.instantiate_pre(component) {
            Ok(_) => break,
            Err(next) => error = next,
        }
    }
    ValidationError::WrongImportTypes { imports }
}

/// Shadows the functions of import `name` with untyped ones that fit any
/// type, so the linker's check goes on to the next import.
fn stub_import<T: 'static>(
    engine: &Engine,
    linker: &mut Linker<T>,
    ty: &wasmtime::component::types::Component,
    name: &str,
) -> wasmtime::Result<()> {
    let stub = |_: StoreContextMut<'_, T>, _: ComponentFunc, _: &[Val], _: &mut [Val]| {
        wasmtime::bail!("a stub of a refused import is never called")
    };
    let Some(import) = ty.get_import(engine, name) else {
        wasmtime::bail!("no import `{name}`");
    };
    match import.ty {
        ComponentItem::ComponentInstance(instance) => {
            let mut definitions = linker.instance(name)?;
            for (export, item) in instance.exports(engine) {
                if let ComponentItem::ComponentFunc(_) = item.ty {
                    definitions.func_new(export, stub)?;
                }
            }
            Ok(())
        }
        ComponentItem::ComponentFunc(_) => linker.root().func_new(name, stub),
        _ => wasmtime::bail!("cannot stub `{name}`"),
    }
}

fn parse_functions(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let trimmed = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if trimmed.starts_with('[')
        && let Ok(names) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return names;
    }
    text.split(['\n', '\0'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The arities a [`SIGNATURES_SECTION`] declares: JSON objects, one after
/// another (NUL padding and whitespace between them ignored). A `min`
/// above `max` is refused: no argument list could fit.
fn parse_signatures(data: &[u8]) -> Result<Vec<(String, Arity)>, ValidationError> {
    let bad = |message: String| ValidationError::BadSignatures(message);
    let text = std::str::from_utf8(data).map_err(|e| bad(e.to_string()))?;
    let text = text.replace('\0', " ");
    let mut declared = Vec::new();
    let objects = serde_json::Deserializer::from_str(&text)
        .into_iter::<std::collections::BTreeMap<String, Arity>>();
    for object in objects {
        for (function, arity) in object.map_err(|e| bad(e.to_string()))? {
            if arity.max.is_some_and(|max| arity.min > max) {
                return Err(bad(format!(
                    "`{function}` declares min {} above max {}",
                    arity.min,
                    arity.max.unwrap_or_default()
                )));
            }
            declared.push((function, arity));
        }
    }
    Ok(declared)
}

/// Checks the type of `run` on the compiled component.
pub(crate) fn check_entry_point(
    engine: &Engine,
    component: &Component,
) -> Result<(), ValidationError> {
    let ty = component.component_type();
    let Some(run) = ty.get_export(engine, ENTRY_POINT) else {
        return Err(ValidationError::MissingEntryPoint);
    };
    match &run.ty {
        ComponentItem::ComponentFunc(func) if is_entry_point(func) => Ok(()),
        item => Err(ValidationError::WrongEntryPointType {
            found: describe::describe_item(ENTRY_POINT, item),
        }),
    }
}

pub(super) fn is_entry_point(func: &ComponentFunc) -> bool {
    let params: Vec<Type> = func.params().map(|(_, ty)| ty).collect();
    let results: Vec<Type> = func.results().collect();
    if func.async_() || params != [Type::String, Type::String] || results.len() != 1 {
        return false;
    }
    let Type::Result(result) = &results[0] else {
        return false;
    };
    let ok_is_outcome = matches!(result.ok(), Some(Type::Variant(v)) if {
        let cases: Vec<_> = v.cases().map(|c| (c.name.to_owned(), c.ty)).collect();
        cases == [("value".to_owned(), Some(Type::String)), ("await-job".to_owned(), Some(Type::String))]
    });
    let err_is_job_error = matches!(result.err(), Some(Type::Record(r)) if {
        let fields: Vec<_> = r.fields().map(|f| (f.name.to_owned(), f.ty)).collect();
        fields.len() == 4
            && fields[0] == ("kind".to_owned(), Type::String)
            && fields[1] == ("message".to_owned(), Type::String)
            && fields[2].0 == "detail"
            && matches!(&fields[2].1, Type::Option(o) if o.ty() == Type::String)
            && fields[3] == ("permanent".to_owned(), Type::Bool)
    });
    ok_is_outcome && err_is_job_error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_of_the_job_world_are_allowed() {
        for name in [
            "wasync:job/context@0.3.0",
            "wasync:job/types@0.3.3",
            "wasi:cli/environment@0.2.0",
            "wasi:cli/terminal-stderr@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.3",
            "wasi:random/insecure-seed@0.2.0",
            "wasi:io/streams@0.2.10",
            "wasi:filesystem/types@0.2.9",
            "wasi:filesystem/preopens@0.2.0",
            "wasi:sockets/tcp@0.2.0",
            "wasi:sockets/ip-name-lookup@0.2.12",
            "wasi:http/outgoing-handler@0.2.10",
            "wasi:http/types@0.2.6",
        ] {
            assert_eq!(check_import(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn other_imports_are_refused_by_name() {
        for name in [
            "wasi:http/incoming-handler@0.2.0",
            "wasi:sockets/tcp@0.3.0",
            "wasi:keyvalue/store@0.2.0",
            "wasi:cli/environment@0.3.0",
            "wasi:io/streams@0.2.0-rc-2023-11-10",
            "wasync:job/context@1.0.0",
            "wasync:job/other@0.3.0",
            "wasync:job/context@0.4.0",
            "wasi:cli/environment",
            "my-func",
        ] {
            let err = check_import(name).unwrap_err();
            assert_eq!(
                err,
                ValidationError::ForbiddenImports {
                    names: vec![name.into()]
                }
            );
            assert!(err.to_string().contains(name));
        }
    }

    #[test]
    fn a_component_of_the_old_job_world_is_refused_naming_the_version() {
        assert!(is_old_job_import("wasync:job/context@0.1.0"));
        assert!(is_old_job_import("wasync:job/types@0.1.7"));
        assert!(is_old_job_import("wasync:job/context@0.2.0"));
        assert!(!is_old_job_import("wasync:job/context@0.3.0"));
        assert!(!is_old_job_import("acme:job/context@0.1.0"));
        let component = wat::parse_str(
            r#"(component (import "wasync:job/context@0.1.0" (instance)) (import "acme:x/y@1.0.0" (instance)))"#,
        )
        .unwrap();
        let err = scan(&component).unwrap_err();
        assert_eq!(
            err,
            ValidationError::OldJobVersion {
                name: "wasync:job/context@0.1.0".into()
            }
        );
        let message = err.to_string();
        assert!(message.contains("wasync:job/context@0.1.0") && message.contains("0.3.0"));
        assert!(message.contains("rebuild"), "{message}");
    }

    #[test]
    fn pool_limit_errors_name_the_setting_and_the_figure() {
        let limits = ComponentLimits::default();
        for (wasmtime_says, what, setting) in [
            (
                "The component transitively contains 38 core module instances, which exceeds the configured maximum of 20 in the pooling allocator",
                "core instances",
                "max_core_instances_per_component",
            ),
            (
                "The component transitively contains 3 Wasm linear memories, which exceeds the configured maximum of 2 in the pooling allocator",
                "linear memories",
                "max_memories_per_component",
            ),
            (
                "The component transitively contains 17 tables, which exceeds the configured maximum of 16 in the pooling allocator",
                "tables",
                "max_tables_per_component",
            ),
        ] {
            let err = compile_error(&wasmtime::Error::msg(wasmtime_says), &limits);
            let ValidationError::OverLimit {
                what: w,
                setting: s,
                found,
                ..
            } = &err
            else {
                panic!("{err:?}");
            };
            assert_eq!((*w, *s), (what, setting));
            assert!(wasmtime_says.contains(&format!(" {found} ")));
        }
        let size = compile_error(
            &wasmtime::Error::msg(
                "module instance size does not fit in pooling allocator requirements: instance \
                 allocation for this module requires 1280332 bytes which exceeds the configured \
                 maximum of 1048576 bytes",
            ),
            &limits,
        );
        assert!(
            matches!(
                &size,
                ValidationError::OverLimit {
                    found: 1280332,
                    setting: "max_instance_bytes",
                    ..
                }
            ),
            "{size:?}"
        );
        let other = compile_error(&wasmtime::Error::msg("bad magic"), &limits);
        assert_eq!(other, ValidationError::Invalid("bad magic".into()));
    }

    #[test]
    fn the_functions_section_takes_json_or_separated_names() {
        assert_eq!(parse_functions(br#"["a","b"]"#), ["a", "b"]);
        assert_eq!(
            parse_functions(b"add\necho\n\0hello\0"),
            ["add", "echo", "hello"]
        );
        assert!(parse_functions(b"").is_empty());
    }

    #[test]
    fn the_signatures_section_declares_arities() {
        let arity = |min, max| Arity { min, max };
        assert_eq!(
            parse_signatures(br#"{"add":{"min":2,"max":2},"increase":{"min":1,"max":3}}"#).unwrap(),
            [
                ("add".to_owned(), arity(2, Some(2))),
                ("increase".to_owned(), arity(1, Some(3)))
            ]
        );
        // Concatenated sections, NUL padding, no upper bound.
        assert_eq!(
            parse_signatures(b"{\"a\":{\"min\":0}}\0\0{}\n{\"b\":{\"min\":1,\"max\":1}}").unwrap(),
            [
                ("a".to_owned(), arity(0, None)),
                ("b".to_owned(), arity(1, Some(1)))
            ]
        );
        assert!(parse_signatures(b"").unwrap().is_empty());
        for bad in [
            &br#"{"add":{"min":3,"max":2}}"#[..],
            br#"{"add":{"min":-1}}"#,
            br#"{"add":{"max":2}}"#,
            br#"{"add":{"min":1,"arity":2}}"#,
            br#"["add"]"#,
            br#"{"add":"#,
            b"\xff",
        ] {
            let err = parse_signatures(bad).unwrap_err();
            assert!(
                err.to_string().contains(SIGNATURES_SECTION),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
    }

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
