//! Jobs in Python, JavaScript and C: the example components
//! built by the SDKs' build commands (`cargo xtask polyglot`, run by
//! `cargo xtask test`, into `target/polyglot`) uploaded to a real `wasync
//! serve` and run through the queue on SQLite and PostgreSQL, and run with
//! `wasync run`.
//!
//! The components come from `WASYNC_POLYGLOT_DIR`. A component whose
//! toolchain could not be installed has a `<name>.skipped` file instead,
//! with the reason, and its tests print it and skip; so does every test
//! when the variable is not set (plain `cargo test`).

mod c;
mod js;
mod python;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{Http, WASYNC};

/// The environment variable naming the directory of the built components.
const DIR_ENV: &str = "WASYNC_POLYGLOT_DIR";

/// The path of the built component `name` (`python-hello`, ...), or `None`
/// after printing why it is not there.
pub(crate) fn component(name: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os(DIR_ENV).map(PathBuf::from) else {
        eprintln!(
            "skipped: {DIR_ENV} is not set (`cargo xtask test` builds the Python, JavaScript \
             and C components and sets it; `cargo xtask polyglot` builds them alone)"
        );
        return None;
    };
    let wasm = dir.join(format!("{name}.wasm"));
    if wasm.is_file() {
        return Some(wasm);
    }
    let skipped = dir.join(format!("{name}.skipped"));
    match std::fs::read_to_string(&skipped) {
        Ok(reason) => {
            eprintln!("skipped: {name} was not built: {reason}");
            None
        }
        Err(_) => panic!(
            "{} is missing and no {} says why: run `cargo xtask polyglot`",
            wasm.display(),
            skipped.display()
        ),
    }
}

/// The first promise of every language's hello example: `greet("Ada")`
/// answers "Hello, Ada!" and what it printed on the way is captured.
pub(crate) async fn greets_and_prints(http: &Http, module: &str) {
    let done = run_job(http, module, "greet", json!(["Ada"])).await;
    assert_eq!(done["result"], "Hello, Ada!", "{done}");
    assert!(
        done["stdout"]
            .as_str()
            .unwrap_or_default()
            .contains("greeting Ada"),
        "{done}"
    );
}

/// What the Python and JavaScript SDKs add to it: arguments by name, and
/// a parameter left out taking its default (`add(a, b=1)`).
pub(crate) async fn takes_names_and_defaults(http: &Http, module: &str) {
    let done = run_job(
        http,
        module,
        "greet",
        json!({"name": "Ada", "greeting": "Hi"}),
    )
    .await;
    assert_eq!(done["result"], "Hi, Ada!", "{done}");
    assert_eq!(
        run_job(http, module, "add", json!({"a": 2})).await["result"],
        3
    );
}

/// Uploads component `name` under that name; returns its module record.
pub(crate) async fn upload(http: &Http, name: &str, path: &PathBuf) -> Value {
    let bytes = std::fs::read(path).expect("read the component");
    let (status, body) = http
        .post_bytes(&format!("/v1/modules?name={name}"), bytes)
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::CREATED,
        "upload {name}: {body}"
    );
    body
}

/// The job function names the server lists for an uploaded module
/// (`function NAME` entries of `exports`), sorted.
pub(crate) fn exports(module: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = module["exports"]
        .as_array()
        .unwrap_or_else(|| panic!("no exports in {module}"))
        .iter()
        .filter_map(|v| v.as_str()?.strip_prefix("function "))
        .collect();
    names.sort_unstable();
    names
}

/// The id of a job record.
pub(crate) fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

/// Puts `function(args)` of `module`, waits until it completes, returns it.
pub(crate) async fn run_job(http: &Http, module: &str, function: &str, args: Value) -> Value {
    let job = http.put_job(module, function, args).await;
    http.wait_completed(&id(&job)).await
}

/// `wasync run FILE FUNCTION ARGS` (release or debug binary under test).
pub(crate) fn wasync_run(file: &PathBuf, function: &str, args: &str) -> Output {
    Command::new(WASYNC)
        .arg("run")
        .arg(file)
        .args([function, args])
        .output()
        .expect("run wasync")
}

/// What `wasync run` printed, parsed as JSON.
pub(crate) fn run_json(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "wasync run printed no JSON ({e}): stdout {text:?}, stderr {:?}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A failure's fields the tests look at: (kind, guest_kind, message).
pub(crate) fn failure(done: &Value) -> (String, String, String) {
    let f = &done["failure"];
    let text = |key: &str| f[key].as_str().unwrap_or_default().to_owned();
    (text("kind"), text("guest_kind"), text("message"))
}
