//! Builds the Python, JavaScript and C example jobs into components, once,
//! into `target/polyglot/<example>.wasm`, for the tests and benchmarks
//! (found through [`DIR_ENV`]). An example is rebuilt only when a file of
//! it, of its SDK or of the WIT is newer than its component.
//!
//! An example whose toolchain is missing gets `<example>.skipped` instead,
//! holding the reason, which the tests print when they skip it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::toolchains::Toolchains;

/// The environment variable naming the directory of the built components.
pub const DIR_ENV: &str = "WASYNC_POLYGLOT_DIR";

/// The languages of the examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Python,
    JavaScript,
    C,
}

/// The examples: `jobs-examples/<name>`, built to `<name>.wasm`.
const EXAMPLES: &[(&str, Language)] = &[
    ("python-hello", Language::Python),
    ("python-context", Language::Python),
    ("python-usage", Language::Python),
    ("js-hello", Language::JavaScript),
    ("js-context", Language::JavaScript),
    ("c-hello", Language::C),
];

/// Builds every example whose toolchain is there; returns the output
/// directory. Fails if a build that could run fails.
pub fn build_all(root: &Path, target: &Path, tools: &Toolchains) -> Result<PathBuf> {
    let out_dir = target.join("polyglot");
    fs::create_dir_all(&out_dir)?;
    for &(name, language) in EXAMPLES {
        let source = root.join("jobs-examples").join(name);
        let wasm = out_dir.join(format!("{name}.wasm"));
        let skipped = out_dir.join(format!("{name}.skipped"));
        let _ = fs::remove_file(&skipped);
        let (sdk, tool) = match language {
            Language::Python => (root.join("guest-sdk/python"), tools.python.as_ref().err()),
            Language::JavaScript => (root.join("guest-sdk/js"), tools.node_bin.as_ref().err()),
            Language::C => (source.clone(), tools.c.as_ref().err()),
        };
        if let Some(reason) = tool {
            let _ = fs::remove_file(&wasm);
            fs::write(&skipped, reason)?;
            continue;
        }
        let inputs = [source.as_path(), sdk.as_path(), &root.join("wit")];
        if is_fresh(&wasm, &inputs) {
            continue;
        }
        eprintln!("xtask: building {name} → {}", wasm.display());
        let started = Instant::now();
        let mut command = match language {
            Language::Python => {
                let python = tools.python.as_ref().expect("checked above");
                let mut c = Command::new(python);
                c.args(["-m", "wasync_job", "build"])
                    .env("PYTHONPATH", root.join("guest-sdk/python"));
                c
            }
            Language::JavaScript => {
                let mut c = Command::new("node");
                c.arg(root.join("guest-sdk/js/bin/wasync-js.js"))
                    .arg("build");
                c
            }
            Language::C => {
                let c_tools = tools.c.as_ref().expect("checked above");
                let mut c = Command::new("bash");
                c.arg(source.join("build.sh"))
                    .env("WIT_BINDGEN", &c_tools.wit_bindgen)
                    .env("WASM_COMPONENT_LD", &c_tools.component_ld);
                c
            }
        };
        command
            .arg(&source)
            .arg("-o")
            .arg(&wasm)
            .env("PATH", tools.path_env())
            .current_dir(root);
        let status = command
            .status()
            .with_context(|| format!("could not start the build of {name}"))?;
        if !status.success() {
            let _ = fs::remove_file(&wasm);
            bail!("building {name} failed ({status}): {command:?}");
        }
        eprintln!(
            "xtask: built {name} in {:.1} s ({} bytes)",
            started.elapsed().as_secs_f64(),
            fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0)
        );
    }
    Ok(out_dir)
}

/// Whether `output` exists and is newer than every file under `inputs`.
fn is_fresh(output: &Path, inputs: &[&Path]) -> bool {
    let Ok(built) = fs::metadata(output).and_then(|m| m.modified()) else {
        return false;
    };
    inputs.iter().all(|dir| newest(dir) <= built)
}

/// The newest modification time of a file under `path` (skipping
/// `node_modules`, `__pycache__` and build outputs).
fn newest(path: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let Ok(meta) = fs::metadata(path) else {
        return newest;
    };
    if meta.is_file() {
        return meta.modified().unwrap_or(newest);
    }
    let Ok(entries) = fs::read_dir(path) else {
        return newest;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if matches!(
            name.as_ref(),
            "node_modules" | "__pycache__" | ".pytest_cache" | "build"
        ) || name.ends_with(".wasm")
        {
            continue;
        }
        newest = newest.max(self::newest(&entry.path()));
    }
    newest
}
