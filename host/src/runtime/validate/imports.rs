//! The imports a job may have: the `job` world's contract. A component
//! may import `wasync:job` at this host's version track and the WASI 0.2
//! interfaces wasmtime implements, nothing else, so that a component that
//! could not run is refused at upload rather than when its first job runs.
//! Names are checked on the bytes; types by the linker, whose refusal is
//! turned into one that lists every import of the wrong type.

use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Linker, Val};
use wasmtime::{Engine, StoreContextMut};

use super::{ValidationError, WrongImport};

/// The version of the `wasync:job` package (`wit/job.wit`) this host
/// implements; components may import any `0.3.x`.
pub const JOB_WIT_VERSION: &str = "0.3.0";
/// The `wasync:job` versions earlier hosts ran: refused with
/// [`ValidationError::OldJobVersion`].
const OLD_JOB_TRACKS: &[&str] = &["0.1.", "0.2."];

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

pub(super) fn import_allowed(name: &str) -> bool {
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

/// An import of `wasync:job` at a version earlier hosts ran.
pub(super) fn is_old_job_import(name: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::scan;
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
}
