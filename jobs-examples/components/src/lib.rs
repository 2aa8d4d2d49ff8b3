//! The example jobs of `jobs-examples/`, compiled to `wasm32-wasip2`
//! components by this crate's build script, once per change, for every
//! test and benchmark that needs a real component.
//!
//! ```no_run
//! let hello: Vec<u8> = wasync_example_components::bytes("hello");
//! assert_eq!(
//!     wasync_example_components::path("hello"),
//!     std::path::Path::new(wasync_example_components::HELLO),
//! );
//! ```
//!
//! The components live in `<target>/examples-wasm/wasm32-wasip2/release/`
//! (`<target>` is `$CARGO_TARGET_DIR` or the workspace's `target/`). They
//! are release builds that keep their `name` section and line tables, so
//! the host's wasm backtraces name the Rust functions. Building this crate
//! needs `rustup target add wasm32-wasip2`.

#![deny(missing_docs)]

use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// The path of example component `name` (`"hello"`, `"failing"`, ...).
///
/// # Panics
///
/// If there is no such example.
pub fn path(name: &str) -> &'static Path {
    match ALL.iter().find(|(n, _)| *n == name) {
        Some((_, path)) => Path::new(path),
        None => panic!(
            "no example component named `{name}` (there are: {})",
            ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The bytes of example component `name`.
///
/// # Panics
///
/// If there is no such example, or its file cannot be read.
pub fn bytes(name: &str) -> Vec<u8> {
    let path = path(name);
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
