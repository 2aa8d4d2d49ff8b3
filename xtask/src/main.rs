//! The README's two commands, so that a fresh machine with only rustup and
//! cargo needs nothing else:
//!
//! - `cargo xtask demo`: builds the example components and `wasync`,
//!   starts `wasync serve` on its embedded SQLite default, uploads the
//!   `hello` component, puts a job, waits for it with the CLI and leaves the
//!   server running until Ctrl-C.
//! - `cargo xtask test`: runs the whole test suite, then runs the demo
//!   exactly as the README gives it and checks that a job completes.
//!
//! - `cargo xtask contract`: checks the API against its OpenAPI document
//!   (`contract.rs`); `cargo xtask test` does it after the tests.
//! - `cargo xtask polyglot`: installs the Python, JavaScript and C
//!   toolchains (pinned, cached under `target/toolchains`) and builds their
//!   example jobs into `target/polyglot`; `cargo xtask test` does it first.
//!
//! Both add the `wasm32-wasip2` target with rustup first when it is missing.

mod browser;
mod contract;
mod polyglot;
mod toolchains;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The address `wasync serve` listens on by default (`WASYNC_LISTEN`).
const LISTEN_DEFAULT: &str = "127.0.0.1:7411";
/// The target job components are built for.
const WASM_TARGET: &str = "wasm32-wasip2";
/// What the demo prints once its job has completed; the test looks for it.
const DEMO_DONE_MARKER: &str = "completed with result \"200 OK\"";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(&args[1..]),
        Some("polyglot") => build_polyglot().map(|_| ()),
        Some("contract") => contract::check(
            &workspace_root(),
            &target_dir(),
            &toolchains::contract_tools(&target_dir()),
        ),
        _ => {
            eprintln!(
                "usage: cargo xtask demo           start wasync and run a job\n       \
                 cargo xtask test [ARGS]    run every test (ARGS go to `cargo test`)\n       \
                 cargo xtask polyglot       build the Python, JavaScript and C example jobs\n       \
                 cargo xtask contract       check the API against docs/openapi.json"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Adds the wasm32-wasip2 target to the active toolchain if it is missing.
fn ensure_wasm_target() -> Result<()> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .context("could not run rustc")?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .is_dir()
    {
        return Ok(());
    }
    eprintln!("xtask: installing the {WASM_TARGET} target with rustup");
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
        .context("the job components need the wasm32-wasip2 target; install rustup or run `rustup target add wasm32-wasip2`")
}

fn demo() -> Result<()> {
    ensure_wasm_target()?;
    step("Building the example job components (wasm32-wasip2)");
    run(cargo().args([
        "build",
        "--quiet",
        "--release",
        "--target",
        WASM_TARGET,
        "--package",
        "wasync-example-hello",
        "--package",
        "wasync-example-demo",
    ]))?;
    step("Building wasync");
    run(cargo().args(["build", "--quiet", "--package", "wasync"]))?;

    // Where cargo built them: `CARGO_TARGET_DIR` when set, as for the
    // rest of xtask.
    let target = target_dir();
    let wasync = target.join("debug/wasync");
    let components = target.join(WASM_TARGET).join("release");
    let listen = std::env::var("WASYNC_LISTEN").unwrap_or_else(|_| LISTEN_DEFAULT.into());
    let server = format!("http://{listen}");

    step("Starting `wasync serve` (SQLite in ./wasync-data unless WASYNC_DATA_DIR says otherwise)");
    let mut serve = Command::new(&wasync)
        .arg("serve")
        .env("WASYNC_LISTEN", &listen)
        .spawn()
        .context("could not start wasync serve")?;
    let client = |args: &[&str]| -> Result<String> {
        println!("$ wasync {}", shell_words(args));
        let output = Command::new(&wasync)
            .args(args)
            .env("WASYNC_SERVER", &server)
            .stderr(Stdio::inherit())
            .output()
            .context("could not run wasync")?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        print!("{stdout}");
        if !output.status.success() {
            bail!("`wasync {}` failed ({})", args.join(" "), output.status);
        }
        Ok(stdout.trim().to_owned())
    };
    let outcome = (|| -> Result<()> {
        client(&["health", "--wait", "30s"])?;
        step("Uploading the `hello` component");
        let hello = components.join("hello.wasm");
        client(&["upload", &hello.to_string_lossy(), "--name", "hello"])?;
        step("Putting a job into the default queue, then waiting for it");
        let id = client(&["put", "hello", "hello"])?;
        client(&["wait", &id])?;
        step("Named arguments work too: demo's increase(counter, value=1)");
        let demo = components.join("demo.wasm");
        client(&["upload", &demo.to_string_lossy(), "--name", "demo"])?;
        let id = client(&["put", "demo", "increase", r#"{"counter": 6, "value": 10}"#])?;
        client(&["wait", &id])?;
        Ok(())
    })();
    if let Err(error) = outcome {
        let _ = serve.kill();
        return Err(error);
    }
    step(&format!(
        "wasync is serving at {server}. Try:\n    \
         curl -s {server}/v1/jobs | head\n    \
         target/debug/wasync --server {server} jobs\n\
         Press Ctrl-C to stop."
    ));
    let status = serve.wait()?;
    if !status.success() {
        bail!("wasync serve exited ({status})");
    }
    Ok(())
}

/// `args` as a shell would need them typed.
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|arg| {
            if arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
            {
                (*arg).to_owned()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn step(text: &str) {
    println!("\n==> {text}");
}

/// The cargo target directory of the workspace.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Installs the toolchains and builds the non-Rust examples.
fn build_polyglot() -> Result<(toolchains::Toolchains, PathBuf)> {
    ensure_wasm_target()?;
    step("The Python, JavaScript and C toolchains and example jobs (target/polyglot)");
    let tools = toolchains::ensure(&target_dir());
    let dir = polyglot::build_all(&workspace_root(), &target_dir(), &tools)?;
    Ok((tools, dir))
}

fn test(cargo_test_args: &[String]) -> Result<()> {
    let (tools, polyglot_dir) = build_polyglot()?;
    step("The browser of the dashboard's tests (Debian's chromium and chromium-driver)");
    let driver = browser::ensure();
    step("cargo test --workspace");
    let mut test = cargo();
    test.args(["test", "--workspace"])
        .args(cargo_test_args)
        .env(polyglot::DIR_ENV, &polyglot_dir);
    if let Ok(driver) = &driver {
        test.env(browser::DRIVER_ENV, driver);
    }
    run(&mut test)?;
    sdk_tests(&tools)?;
    contract::check(&workspace_root(), &target_dir(), &tools.contract_bin)?;
    step("The README's first command, as written: cargo xtask demo");
    demo_smoke_test()?;
    println!("\nxtask: every test passed");
    Ok(())
}

/// Runs `cargo xtask demo` exactly as the README gives it (only its port
/// and data directory come from the environment, so it never collides with
/// a running server) and checks that its job completes.
fn demo_smoke_test() -> Result<()> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let data_dir = std::env::temp_dir().join(format!("wasync-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut child = spawn_in_own_group(
        cargo()
            .args(["xtask", "demo"])
            .env("WASYNC_LISTEN", format!("127.0.0.1:{port}"))
            .env("WASYNC_DATA_DIR", &data_dir)
            .stdout(Stdio::piped()),
    )?;
    let stdout = child.stdout.take().expect("piped");
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("    | {line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut seen = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines_rx.recv_timeout(left) {
            Ok(line) if line.contains(DEMO_DONE_MARKER) => {
                seen = true;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    kill_group(&mut child);
    let _ = std::fs::remove_dir_all(&data_dir);
    if !seen {
        bail!("`cargo xtask demo` did not show a job {DEMO_DONE_MARKER}");
    }
    println!("xtask: the demo's job completed");
    Ok(())
}

#[cfg(unix)]
fn spawn_in_own_group(command: &mut Command) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    Ok(command.process_group(0).spawn()?)
}

#[cfg(not(unix))]
fn spawn_in_own_group(command: &mut Command) -> Result<Child> {
    Ok(command.spawn()?)
}

/// Stops the demo and the server it started (they share a process group).
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The Python and JavaScript SDKs' own suites: pytest and `node --test`.
fn sdk_tests(tools: &toolchains::Toolchains) -> Result<()> {
    let root = workspace_root();
    step("The Python SDK's tests (pytest)");
    match &tools.python {
        Ok(python) => run(Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .args(["guest-sdk/python/tests", "jobs-examples/python-usage"])
            .env("PYTHONPATH", root.join("guest-sdk/python"))
            .current_dir(&root))?,
        Err(reason) => println!("skipped: no Python toolchain: {reason}"),
    }
    step("The JavaScript SDK's tests (node --test)");
    match &tools.node_bin {
        Ok(_) => run(Command::new("node")
            .arg("--test")
            .current_dir(root.join("guest-sdk/js")))?,
        Err(reason) => println!("skipped: no JavaScript toolchain: {reason}"),
    }
    Ok(())
}
