//! Compiles every example job to a `wasm32-wasip2` component, once, with
//! one nested `cargo build --release` (like wasmtime's
//! `crates/test-programs/artifacts/build.rs`), and writes their paths to
//! `$OUT_DIR/components.rs` for `src/lib.rs` to include.
//!
//! The nested build uses its own target directory (`<target>/examples-wasm`)
//! so it never waits on the lock of the build that runs this script, and
//! debug and release builds of the host share one set of components.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The example crates, `jobs-examples/<name>` (package
/// `wasync-example-<name>`, component `<name>.wasm`).
const EXAMPLES: &[&str] = &[
    "hello", "demo", "failing", "spin", "hog", "annotate", "fanout", "hash", "usage", "fetch",
    "hostile",
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("jobs-examples/components sits two levels below the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    for path in ["wit", "guest-sdk", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    for name in EXAMPLES {
        let dir = workspace.join("jobs-examples").join(name);
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = match env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
    .join("examples-wasm");

    check_target_installed();
    build(&workspace, &target_dir);

    let release = target_dir.join(TARGET).join("release");
    let mut code = String::new();
    for name in EXAMPLES {
        let wasm = release.join(format!("{name}.wasm"));
        assert!(
            wasm.is_file(),
            "the nested build did not produce {}",
            wasm.display()
        );
        let _ = writeln!(
            code,
            "/// The `{name}` example component (`jobs-examples/{name}`).\n\
             pub const {}: &str = {:?};",
            name.to_uppercase(),
            wasm.display().to_string(),
        );
    }
    let _ = writeln!(
        code,
        "/// Every example component, as `(name, path)`.\npub const ALL: &[(&str, &str)] = &[{}];",
        EXAMPLES
            .iter()
            .map(|n| format!("({n:?}, {})", n.to_uppercase()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::write(out_dir.join("components.rs"), code).expect("write components.rs");
}

/// Fails early, with the fix, when the wasm32-wasip2 standard library is
/// missing.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    let installed = match output {
        Ok(out) if out.status.success() => {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            Path::new(&dir).is_dir()
        }
        _ => false,
    };
    if !installed {
        panic!(
            "\n\nThe Rust target `{TARGET}` is not installed, so the example jobs cannot be \
             compiled to components.\nInstall it with:\n\n    rustup target add {TARGET}\n\n\
             (`cargo xtask test` and `cargo xtask demo` do this for you.)\n"
        );
    }
}

/// One `cargo build --release --target wasm32-wasip2 -p ... -p ...` in a
/// clean environment.
fn build(workspace: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(target_dir);
    for name in EXAMPLES {
        cmd.arg("-p").arg(format!("wasync-example-{name}"));
    }
    // What cargo sets for this build script (and what the user set for the
    // outer build) must not leak into the nested one: flags meant for the
    // host target, wrappers such as clippy-driver, the outer target dir.
    const PREFIXES: &[&str] = &[
        "CARGO_BUILD_",
        "CARGO_CFG_",
        "CARGO_ENCODED_",
        "CARGO_FEATURE_",
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_PROFILE_",
        "CARGO_TARGET_",
        "__CARGO_",
    ];
    const NAMES: &[&str] = &[
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_INCREMENTAL",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "NUM_JOBS",
        "OPT_LEVEL",
        "DEBUG",
        "PROFILE",
    ];
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if NAMES.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    // Backtraces need only the name section, not DWARF: without debug info
    // a component is ~150 KB instead of ~3 MB to upload, store and compile.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    // Cargo reads this script's stdout for directives: send the nested
    // build's output to stderr, which cargo shows when the build fails.
    cmd.stdout(Stdio::from(std::io::stderr()));
    eprintln!("running: {cmd:?}");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo for the example components: {e}"));
    assert!(
        status.success(),
        "compiling the example components failed ({status}); see the output above"
    );
}
