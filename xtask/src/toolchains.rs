//! Installs the toolchains of the Python, JavaScript and C jobs, pinned and
//! cached under `target/toolchains`, from the package registries:
//!
//! - Python: a virtual environment (`target/toolchains/python`) with
//!   componentize-py and pytest from PyPI;
//! - JavaScript: componentize-js, jco and rolldown from npm
//!   (`target/toolchains/node`), run with the machine's Node.js;
//! - the API's contract tests: a virtual environment
//!   (`target/toolchains/contract`) with openapi-spec-validator,
//!   openapi-python-client and schemathesis from PyPI;
//! - C: Debian's clang, lld and wasi-libc (installed with `apt-get` when
//!   missing), `wit-bindgen` from crates.io (`cargo install --root
//!   target/toolchains`) and the `wasm-component-ld` linker that rustup
//!   ships with the `wasm32-wasip2` target.
//!
//! A toolchain that cannot be installed (registry unreachable, no Node.js,
//! not root for `apt-get`) is reported with the reason, and only what needs
//! it is skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

/// componentize-py, from PyPI.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// pytest, from PyPI, for the Python SDK's own tests.
pub const PYTEST: &str = "8.3.4";
/// openapi-spec-validator, from PyPI: validates `docs/openapi.json`.
pub const OPENAPI_SPEC_VALIDATOR: &str = "0.9.0";
/// openapi-python-client, from PyPI: generates a client from the document.
pub const OPENAPI_PYTHON_CLIENT: &str = "0.29.1";
/// schemathesis, from PyPI: fuzzes a server from the document.
pub const SCHEMATHESIS: &str = "4.32.5";
/// componentize-js (StarlingMonkey), from npm.
pub const COMPONENTIZE_JS: &str = "0.23.0";
/// jco, from npm (reads a component's imports: `jco wit`).
pub const JCO: &str = "1.35.0";
/// preview2-shim, from npm: componentize-js imports it without declaring
/// it (it relies on a hoisted copy), and it reads no WIT folder with the
/// 0.26 that jco 1.35 brings ("reading file ...: os error 44"), so the
/// 0.17 line it was developed with is pinned here.
pub const PREVIEW2_SHIM: &str = "0.17.9";
/// rolldown, from npm: bundles a job's ES modules into the one file
/// componentize-js takes.
pub const ROLLDOWN: &str = "1.3.4";
/// wit-bindgen-cli, from crates.io, for the C bindings.
pub const WIT_BINDGEN: &str = "0.63.0";
/// Debian packages of the C toolchain.
pub const APT_PACKAGES: &[&str] = &[
    "clang-19",
    "lld-19",
    "wasi-libc",
    "libclang-rt-19-dev-wasm32",
];

/// Where each toolchain is, or why it is not there.
#[derive(Debug)]
pub struct Toolchains {
    /// The virtual environment's `python` (componentize-py, pytest).
    pub python: Result<PathBuf, String>,
    /// The `node_modules/.bin` directory holding componentize-js and rolldown.
    pub node_bin: Result<PathBuf, String>,
    /// The C tools.
    pub c: Result<CTools, String>,
    /// The contract tests' virtual environment's `bin` directory.
    pub contract_bin: Result<PathBuf, String>,
}

/// The programs `jobs-examples/c-hello/build.sh` needs.
#[derive(Debug, Clone)]
pub struct CTools {
    /// `wit-bindgen`.
    pub wit_bindgen: PathBuf,
    /// `wasm-component-ld`.
    pub component_ld: PathBuf,
}

impl Toolchains {
    /// `PATH` with every installed toolchain's `bin` directory first.
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Ok(python) = &self.python
            && let Some(bin) = python.parent()
        {
            dirs.push(bin.to_owned());
        }
        if let Ok(bin) = &self.node_bin {
            dirs.push(bin.clone());
        }
        if let Ok(c) = &self.c {
            for tool in [&c.wit_bindgen, &c.component_ld] {
                if let Some(bin) = tool.parent() {
                    dirs.push(bin.to_owned());
                }
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path));
        }
        std::env::join_paths(dirs).unwrap_or_default()
    }
}

/// Installs (or finds, cached) every toolchain under `<target>/toolchains`.
pub fn ensure(target: &Path) -> Toolchains {
    let root = target.join("toolchains");
    let report = |name: &str, result: Result<PathBuf>| -> Result<PathBuf, String> {
        result.map_err(|e| {
            let reason = format!("{e:#}");
            eprintln!("xtask: {name} is not available, so what needs it is skipped: {reason}");
            reason
        })
    };
    let python = report("the Python toolchain", python(&root));
    let node_bin = report("the JavaScript toolchain", node(&root));
    let c = report("the C toolchain (wit-bindgen)", wit_bindgen(&root)).and_then(|wit_bindgen| {
        let component_ld = report("the C toolchain (Debian packages)", c_packages())
            .and_then(|_clang| report("the C toolchain (wasm-component-ld)", component_ld()))?;
        Ok(CTools {
            wit_bindgen,
            component_ld,
        })
    });
    let contract_bin = contract_tools(target);
    Toolchains {
        python,
        node_bin,
        c,
        contract_bin,
    }
}

/// A file recording what was installed, so a second run does nothing.
fn stamp_matches(stamp: &Path, wanted: &str) -> bool {
    fs::read_to_string(stamp).is_ok_and(|s| s == wanted)
}

/// Runs `command`, failing with its last lines of output.
fn run_quiet(command: &mut Command, what: &str) -> Result<Output> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {:?} to {what}", command.get_program()))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        let tail: Vec<&str> = text.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "could not {what} ({}):\n    {}",
            output.status,
            tail.join("\n    ")
        );
    }
    Ok(output)
}

fn python(root: &Path) -> Result<PathBuf> {
    let venv = root.join("python");
    let python = venv.join("bin/python");
    let stamp = venv.join("wasync-pinned.txt");
    let wanted = format!("componentize-py=={COMPONENTIZE_PY}\npytest=={PYTEST}\n");
    if python.is_file() && stamp_matches(&stamp, &wanted) {
        return Ok(python);
    }
    eprintln!(
        "xtask: installing componentize-py {COMPONENTIZE_PY} and pytest {PYTEST} from PyPI into {}",
        venv.display()
    );
    if !python.is_file() {
        run_quiet(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "create a Python virtual environment (python3 -m venv; Debian: apt-get install python3-venv)",
        )?;
    }
    run_quiet(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("componentize-py=={COMPONENTIZE_PY}"),
            &format!("pytest=={PYTEST}"),
        ]),
        "install componentize-py and pytest from PyPI (is PyPI reachable?)",
    )?;
    fs::write(&stamp, wanted)?;
    Ok(python)
}

/// Installs (or finds, cached) the contract tests' tools under
/// `<target>/toolchains/contract`: their `bin` directory, or why not.
pub fn contract_tools(target: &Path) -> Result<PathBuf, String> {
    contract(&target.join("toolchains")).map_err(|e| {
        let reason = format!("{e:#}");
        eprintln!("xtask: the API contract toolchain is not available, so what needs it is skipped: {reason}");
        reason
    })
}

/// The contract tests' tools, in a virtual environment of their own (their
/// dependencies are many and none is a job's).
fn contract(root: &Path) -> Result<PathBuf> {
    let venv = root.join("contract");
    let bin = venv.join("bin");
    let python = bin.join("python");
    let stamp = venv.join("wasync-pinned.txt");
    let packages = [
        format!("openapi-spec-validator=={OPENAPI_SPEC_VALIDATOR}"),
        format!("openapi-python-client=={OPENAPI_PYTHON_CLIENT}"),
        format!("schemathesis=={SCHEMATHESIS}"),
    ];
    let wanted = packages.join("\n") + "\n";
    if python.is_file() && stamp_matches(&stamp, &wanted) {
        return Ok(bin);
    }
    eprintln!(
        "xtask: installing {} from PyPI into {}",
        packages.join(", "),
        venv.display()
    );
    if !python.is_file() {
        run_quiet(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "create a Python virtual environment (python3 -m venv; Debian: apt-get install python3-venv)",
        )?;
    }
    run_quiet(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(&packages),
        "install the contract tools from PyPI (is PyPI reachable?)",
    )?;
    fs::write(&stamp, wanted)?;
    Ok(bin)
}

fn node(root: &Path) -> Result<PathBuf> {
    let dir = root.join("node");
    let bin = dir.join("node_modules/.bin");
    let manifest = format!(
        "{{\n  \"private\": true,\n  \"dependencies\": {{\n    \
         \"@bytecodealliance/componentize-js\": \"{COMPONENTIZE_JS}\",\n    \
         \"@bytecodealliance/jco\": \"{JCO}\",\n    \
         \"@bytecodealliance/preview2-shim\": \"{PREVIEW2_SHIM}\",\n    \
         \"rolldown\": \"{ROLLDOWN}\"\n  }}\n}}\n"
    );
    let stamp = dir.join("wasync-pinned.txt");
    if bin.join("componentize-js").is_file() && stamp_matches(&stamp, &manifest) {
        return Ok(bin);
    }
    run_quiet(
        Command::new("node").arg("--version"),
        "run Node.js (install Node.js 20 or newer)",
    )?;
    eprintln!(
        "xtask: installing componentize-js {COMPONENTIZE_JS}, jco {JCO} and rolldown {ROLLDOWN} from npm into {}",
        dir.display()
    );
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("package.json"), &manifest)?;
    run_quiet(
        Command::new("npm").current_dir(&dir).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]),
        "install componentize-js, jco and rolldown from npm (is the npm registry reachable?)",
    )?;
    fs::write(&stamp, manifest)?;
    Ok(bin)
}

fn wit_bindgen(root: &Path) -> Result<PathBuf> {
    let tool = root.join("bin/wit-bindgen");
    if let Ok(out) = Command::new(&tool).arg("--version").output()
        && String::from_utf8_lossy(&out.stdout).contains(WIT_BINDGEN)
    {
        return Ok(tool);
    }
    eprintln!(
        "xtask: installing wit-bindgen-cli {WIT_BINDGEN} from crates.io (a few minutes, once)"
    );
    run_quiet(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "--locked", "--quiet", "--root"])
            .arg(root)
            .args(["wit-bindgen-cli", "--version", WIT_BINDGEN])
            // Not the outer build's target dir: its lock is held.
            .env_remove("CARGO_TARGET_DIR")
            .env("CARGO_TARGET_DIR", root.join("cargo-install")),
        "install wit-bindgen-cli from crates.io (is crates.io reachable?)",
    )?;
    Ok(tool)
}

/// Whether Debian's clang, lld and wasi-libc for wasm32 are installed.
fn c_packages_present() -> bool {
    Path::new("/usr/bin/clang-19").is_file()
        && Path::new("/usr/bin/wasm-ld-19").is_file()
        && Path::new("/usr/lib/wasm32-wasi/libc.a").is_file()
        && Path::new("/usr/lib/llvm-19/lib/clang/19/lib/wasi").is_dir()
}

fn c_packages() -> Result<PathBuf> {
    if c_packages_present() {
        return Ok(PathBuf::from("/usr/bin/clang-19"));
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!("clang-19, lld-19 and wasi-libc are missing and there is no apt-get to install them");
    }
    apt_install(APT_PACKAGES, "the C toolchain")?;
    if !c_packages_present() {
        bail!(
            "apt-get installed {} but the wasm32 files are not where expected",
            APT_PACKAGES.join(" ")
        );
    }
    Ok(PathBuf::from("/usr/bin/clang-19"))
}

/// Installs Debian `packages` (`what` they are, for the messages) with
/// `apt-get`, updating the package lists first if the install fails.
pub fn apt_install(packages: &[&str], what: &str) -> Result<()> {
    eprintln!("xtask: installing {} with apt-get", packages.join(" "));
    let install = || {
        run_quiet(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            &format!("install {what} with apt-get (root and a reachable Debian mirror are needed)"),
        )
    };
    if install().is_err() {
        run_quiet(
            Command::new("apt-get").args(["update", "-qq"]),
            "run apt-get update",
        )?;
        install()?;
    }
    Ok(())
}

/// The `wasm-component-ld` of the active Rust toolchain (shipped with the
/// `wasm32-wasip2` target's host tools).
fn component_ld() -> Result<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = run_quiet(
        Command::new(&rustc).args(["--print", "sysroot"]),
        "ask rustc for its sysroot",
    )?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let out = run_quiet(Command::new(&rustc).arg("-vV"), "ask rustc for its host")?;
    let host = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV names no host")?;
    let tool = sysroot
        .join("lib/rustlib")
        .join(host)
        .join("bin/wasm-component-ld");
    if !tool.is_file() {
        bail!(
            "{} is missing (it comes with the Rust toolchain since 1.82)",
            tool.display()
        );
    }
    Ok(tool)
}
