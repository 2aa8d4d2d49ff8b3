//! The API's contract, checked from outside with nothing but the document
//! (`docs/openapi.json`) and a real `wasync serve`:
//!
//! 1. the document validates (openapi-spec-validator) and is the one the
//!    server serves at `/v1/openapi.json`;
//! 2. a Python client generated from it (openapi-python-client) runs the
//!    README's flow: upload `hello`, put, wait, show (`tests/contract/flow.py`);
//! 3. schemathesis fuzzes every operation, statefully where the document
//!    links operations: no 5xx, and every status, content type and body as
//!    documented.
//!
//! Skipped, saying so, only when the tools cannot be installed (PyPI
//! unreachable).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{WASM_TARGET, cargo, run, step};

/// Test cases per operation and phase: bounds schemathesis's run time
/// (about 80 operations; a few minutes on CI's two cores).
const MAX_EXAMPLES: &str = "25";
/// The checks schemathesis makes of every answer: no 5xx, and the status,
/// content type and body each documented.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";

/// Runs the three checks; `Ok` without running them when the tools are
/// missing (reported).
pub fn check(root: &Path, target: &Path, tools: &Result<PathBuf, String>) -> Result<()> {
    step(
        "The API's contract: docs/openapi.json validated, a generated Python client, schemathesis",
    );
    let bin = match tools {
        Ok(bin) => bin.clone(),
        Err(reason) => {
            println!("skipped: the contract tools could not be installed: {reason}");
            return Ok(());
        }
    };
    let document = root.join("docs/openapi.json");
    run(Command::new(bin.join("openapi-spec-validator")).arg(&document))
        .context("docs/openapi.json is not a valid OpenAPI document")?;

    run(cargo().args([
        "build",
        "--quiet",
        "--release",
        "--target",
        WASM_TARGET,
        "--package",
        "wasync-example-hello",
    ]))?;
    run(cargo().args(["build", "--quiet", "--package", "wasync"]))?;
    let hello = target.join(WASM_TARGET).join("release/hello.wasm");
    let work = target.join("contract");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let server = Server::start(&target.join("debug/wasync"), &work)?;

    println!("xtask: generating a Python client from docs/openapi.json");
    let client = work.join("wasync_client");
    run(Command::new(bin.join("openapi-python-client"))
        .args(["generate", "--meta", "none", "--overwrite"])
        .arg("--config")
        .arg(root.join("tests/contract/client-config.yaml"))
        .arg("--path")
        .arg(&document)
        .arg("--output-path")
        .arg(&client))?;
    run(Command::new(bin.join("python"))
        .arg(root.join("tests/contract/flow.py"))
        .arg(&server.url)
        .arg(&hello)
        .arg(&document)
        .env("PYTHONPATH", &work))
    .context("the generated client's put → wait → show flow failed")?;

    println!("xtask: schemathesis against {}", server.url);
    let started = Instant::now();
    run(Command::new(bin.join("st"))
        .arg("--config-file")
        .arg(root.join("tests/contract/schemathesis.toml"))
        .arg("run")
        .arg(&document)
        .args(["--url", &server.url])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", "1", "--workers", "1", "--request-timeout", "60"])
        .args(["--suppress-health-check", "all"])
        .args(["--report", "junit", "--report-dir"])
        .arg(work.join("schemathesis"))
        .current_dir(&work))
    .context("schemathesis found answers the document does not allow (see above)")?;
    println!(
        "xtask: schemathesis passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    drop(server);
    Ok(())
}

/// A `wasync serve` on a free port and a fresh data directory, stopped
/// when dropped.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(wasync: &Path, work: &Path) -> Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = format!("http://127.0.0.1:{port}");
        let log = work.join("serve.log");
        let child = Command::new(wasync)
            .arg("serve")
            .env("WASYNC_LISTEN", format!("127.0.0.1:{port}"))
            .env("WASYNC_DATA_DIR", work.join("data"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log)?)
            .stderr(fs::File::create(work.join("serve.err"))?)
            .spawn()
            .context("could not start wasync serve")?;
        let server = Server { child, url, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = Command::new(wasync)
                .args(["health", "--wait", "5s", "--server", &server.url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if health.success() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "wasync serve did not become healthy in 60s (its log: {})",
                    server.log.display()
                );
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
