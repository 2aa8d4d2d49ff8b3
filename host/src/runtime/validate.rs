//! Checking an uploaded component before it is accepted: is it a
//! component, does it export the job entry point with the right type, and
//! does it import only what the `job` world allows.
//!
//! The cheap checks (header, top-level imports and exports) read the bytes
//! with `wasmparser` before anything is compiled; the type of `run` is
//! checked on the compiled component with wasmtime's own types, so what is
//! accepted is exactly what the runtime can call.

use wasmparser::{ComponentTypeRef, Encoding, Parser, Payload};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};

/// The name of the job entry point a component must export.
pub const ENTRY_POINT: &str = "run";
/// Its WIT signature, as the `job` world declares it.
pub const ENTRY_POINT_SIGNATURE: &str =
    "run: func(function: string, args: string) -> result<outcome, job-error>";
/// The custom section in which a guest SDK may list the job functions of a
/// component: a JSON array of strings, or names separated by newlines or
/// NUL bytes (what `#[link_section]` statics concatenate to).
pub const FUNCTIONS_SECTION: &str = "wasync-functions";

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
    /// An import outside the `job` world.
    #[error(
        "the component imports `{name}`, which wasync does not provide: a job may import only \
         wasync:job/{{context,types}}@0.1.x and wasi:cli (environment, exit, stdin, stdout, \
         stderr, terminal-*), wasi:clocks, wasi:random and wasi:io @0.2.x"
    )]
    ForbiddenImport {
        /// The full import name, e.g. `wasi:sockets/tcp@0.2.0`.
        name: String,
    },
    /// Malformed, or refused by the compiler or the linker.
    #[error("invalid component: {0}")]
    Invalid(String),
}

/// What the cheap scan of the bytes found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Job function names from the [`FUNCTIONS_SECTION`] custom sections.
    pub functions: Vec<String>,
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
                    if !matches!(import.ty, ComponentTypeRef::Type(_)) {
                        check_import(import.name.name)?;
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
            _ => {}
        }
    }
    if !has_run {
        return Err(ValidationError::MissingEntryPoint);
    }
    scan.functions.sort();
    scan.functions.dedup();
    Ok(scan)
}

/// Refuses an import that is not part of the `job` world.
pub(crate) fn check_import(name: &str) -> Result<(), ValidationError> {
    if import_allowed(name) {
        Ok(())
    } else {
        Err(ValidationError::ForbiddenImport { name: name.into() })
    }
}

fn import_allowed(name: &str) -> bool {
    let Some((path, version)) = name.split_once('@') else {
        return false;
    };
    let Some((package, interface)) = path.split_once('/') else {
        return false;
    };
    let (allowed, track): (&[&str], &str) = match package {
        "wasync:job" => (&["context", "types"], "0.1."),
        "wasi:cli" => (
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
            "0.2.",
        ),
        "wasi:clocks" => (&["wall-clock", "monotonic-clock"], "0.2."),
        "wasi:random" => (&["random", "insecure", "insecure-seed"], "0.2."),
        "wasi:io" => (&["error", "poll", "streams"], "0.2."),
        _ => return false,
    };
    // A released patch version of the track: pre-releases do not link.
    let patch_ok = version
        .strip_prefix(track)
        .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()));
    allowed.contains(&interface) && patch_ok
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
            found: describe_item(ENTRY_POINT, item),
        }),
    }
}

/// The component's exports, one WIT-like line each.
pub(crate) fn describe_exports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, export)| match &export.ty {
            ComponentItem::ComponentFunc(func) if name == ENTRY_POINT && is_entry_point(func) => {
                ENTRY_POINT_SIGNATURE.to_owned()
            }
            item => describe_item(name, item),
        })
        .collect()
}

fn is_entry_point(func: &ComponentFunc) -> bool {
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

fn describe_item(name: &str, item: &ComponentItem) -> String {
    let what = match item {
        ComponentItem::ComponentFunc(func) => func_type(func),
        ComponentItem::CoreFunc(_) => "core func".into(),
        ComponentItem::Module(_) => "core module".into(),
        ComponentItem::Component(_) => "component".into(),
        ComponentItem::ComponentInstance(_) => "instance".into(),
        ComponentItem::Type(ty) => format!("type {}", type_name(ty)),
        ComponentItem::Resource(_) => "resource".into(),
    };
    format!("{name}: {what}")
}

fn func_type(func: &ComponentFunc) -> String {
    let params: Vec<String> = func
        .params()
        .map(|(name, ty)| format!("{name}: {}", type_name(&ty)))
        .collect();
    let results: Vec<String> = func.results().map(|ty| type_name(&ty)).collect();
    let prefix = if func.async_() { "async func" } else { "func" };
    match results.as_slice() {
        [] => format!("{prefix}({})", params.join(", ")),
        [one] => format!("{prefix}({}) -> {one}", params.join(", ")),
        many => format!("{prefix}({}) -> ({})", params.join(", "), many.join(", ")),
    }
}

/// A WIT-like rendering of an anonymous type (wasmtime's types carry no
/// names, so records and variants are written out).
fn type_name(ty: &Type) -> String {
    let opt = |t: Option<Type>| t.map_or("_".to_owned(), |t| type_name(&t));
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", type_name(&l.ty())),
        Type::Map(m) => format!("map<{}, {}>", type_name(&m.key()), type_name(&m.value())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", type_name(&l.ty()), l.len()),
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .map(|f| format!("{}: {}", f.name, type_name(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(t) => {
            let types: Vec<String> = t.types().map(|t| type_name(&t)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .map(|c| match c.ty {
                    Some(ty) => format!("{}({})", c.name, type_name(&ty)),
                    None => c.name.to_owned(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Option(o) => format!("option<{}>", type_name(&o.ty())),
        Type::Result(r) => match (r.ok(), r.err()) {
            (None, None) => "result".into(),
            (ok, err) => format!("result<{}, {}>", opt(ok), opt(err)),
        },
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(f) => format!("future<{}>", opt(f.ty())),
        Type::Stream(s) => format!("stream<{}>", opt(s.ty())),
        Type::ErrorContext => "error-context".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_of_the_job_world_are_allowed() {
        for name in [
            "wasync:job/context@0.1.0",
            "wasync:job/types@0.1.3",
            "wasi:cli/environment@0.2.0",
            "wasi:cli/terminal-stderr@0.2.6",
            "wasi:clocks/monotonic-clock@0.2.3",
            "wasi:random/insecure-seed@0.2.0",
            "wasi:io/streams@0.2.10",
        ] {
            assert_eq!(check_import(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn other_imports_are_refused_by_name() {
        for name in [
            "wasi:sockets/tcp@0.2.0",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:filesystem/types@0.2.0",
            "wasi:filesystem/preopens@0.2.0",
            "wasi:cli/environment@0.3.0",
            "wasi:io/streams@0.2.0-rc-2023-11-10",
            "wasync:job/context@1.0.0",
            "wasync:job/other@0.1.0",
            "wasi:cli/environment",
            "my-func",
        ] {
            let err = check_import(name).unwrap_err();
            assert_eq!(err, ValidationError::ForbiddenImport { name: name.into() });
            assert!(err.to_string().contains(name));
        }
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
