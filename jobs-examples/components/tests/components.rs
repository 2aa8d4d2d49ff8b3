//! The built example components are real components with what the host
//! relies on: the `run` export, only allowed imports, the function names
//! in the `name` section and the `wasync-functions` custom section.

use wasmparser::{Encoding, KnownCustom, Name, Parser, Payload};
use wasync_example_components::{ALL, HELLO, bytes, path};

/// The preamble of a component: `\0asm`, version 0x0d, layer 1.
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// What a component's parse shows that the host cares about.
#[derive(Default)]
struct Summary {
    imports: Vec<String>,
    exports: Vec<String>,
    /// Function names of every core module inside.
    function_names: Vec<String>,
    /// Custom sections of the core modules inside: (name, data).
    core_custom_sections: Vec<(String, Vec<u8>)>,
}

fn summarize(wasm: &[u8]) -> Summary {
    let mut summary = Summary::default();
    // parse_all descends into nested modules and components; track where
    // we are with a stack of encodings (pushed on Version, popped on End).
    let mut stack: Vec<Encoding> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("the component parses") {
            Payload::Version { encoding, .. } => stack.push(encoding),
            Payload::End(_) => {
                stack.pop();
            }
            Payload::ComponentImportSection(reader) if stack.len() == 1 => {
                for import in reader {
                    summary.imports.push(import.unwrap().name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if stack.len() == 1 => {
                for export in reader {
                    summary.exports.push(export.unwrap().name.name.to_owned());
                }
            }
            Payload::CustomSection(section) if stack.last() == Some(&Encoding::Module) => {
                if let KnownCustom::Name(names) = section.as_known() {
                    for name in names {
                        if let Name::Function(map) = name.unwrap() {
                            for naming in map {
                                summary.function_names.push(naming.unwrap().name.to_owned());
                            }
                        }
                    }
                }
                summary
                    .core_custom_sections
                    .push((section.name().to_owned(), section.data().to_vec()));
            }
            _ => {}
        }
    }
    summary
}

#[test]
fn every_example_is_a_component() {
    assert_eq!(ALL.len(), 11);
    for (name, file) in ALL {
        assert_eq!(path(name), std::path::Path::new(file));
        let wasm = bytes(name);
        assert!(
            wasm.starts_with(&COMPONENT_PREAMBLE),
            "{name}.wasm is not a component: {:02x?}",
            &wasm[..8.min(wasm.len())]
        );
        let summary = summarize(&wasm);
        assert_eq!(summary.exports, ["run"], "{name}.wasm exports");
        println!("{name}.wasm: {} bytes", wasm.len());
    }
}

#[test]
#[should_panic(expected = "no example component named `nope` (there are: hello, demo,")]
fn unknown_examples_are_named() {
    path("nope");
}

/// The interfaces the host links (docs/sandbox.md), plus the
/// `types` interface and the three types the world `use`s, which a
/// component imports as such.
fn allowed(import: &str) -> bool {
    ["json", "outcome", "job-error"].contains(&import)
        || ["wasync:job/context@", "wasync:job/types@"]
            .iter()
            .any(|prefix| import.starts_with(prefix))
        || [
            "wasi:cli/",
            "wasi:clocks/",
            "wasi:random/",
            "wasi:io/",
            "wasi:filesystem/",
            "wasi:sockets/",
            "wasi:http/",
        ]
        .iter()
        .any(|prefix| import.starts_with(prefix))
}

#[test]
fn examples_import_only_what_the_host_links() {
    for (name, _) in ALL {
        let summary = summarize(&bytes(name));
        let refused: Vec<_> = summary.imports.iter().filter(|i| !allowed(i)).collect();
        assert!(refused.is_empty(), "{name}.wasm imports {refused:?}");
    }
    let hello = summarize(&std::fs::read(HELLO).unwrap());
    println!("hello.wasm imports:");
    for import in &hello.imports {
        println!("  {import}");
    }
    assert!(
        hello
            .imports
            .iter()
            .any(|i| i.starts_with("wasync:job/context@0.3.0")),
        "{:?}",
        hello.imports
    );
}

#[test]
fn hello_keeps_rust_function_names() {
    let summary = summarize(&bytes("hello"));
    let names = &summary.function_names;
    assert!(names.len() > 100, "only {} function names", names.len());
    // Mangled or not, the job functions and the SDK's dispatch are named.
    for wanted in ["scribble", "wasync_guest", "run_export"] {
        assert!(
            names.iter().any(|n| n.contains(wanted)),
            "no function name contains {wanted:?}"
        );
    }
}

#[test]
fn the_function_list_survives_in_a_custom_section() {
    let summary = summarize(&bytes("hello"));
    let sections: Vec<_> = summary
        .core_custom_sections
        .iter()
        .filter(|(name, _)| name == "wasync-functions")
        .collect();
    assert_eq!(sections.len(), 1, "one wasync-functions section");
    let text = std::str::from_utf8(&sections[0].1).unwrap();
    assert_eq!(
        text,
        "hello\necho\nadd\nscribble\nsleep\nwrite_output\njob_info\nnow_micros\n"
    );
    let failing = summarize(&bytes("failing"));
    let (_, data) = failing
        .core_custom_sections
        .iter()
        .find(|(name, _)| name == "wasync-functions")
        .unwrap();
    assert_eq!(
        data,
        b"typed_error\npermanent_error\npanics\ntrap\ndivide\nretried_child\n"
    );
}
