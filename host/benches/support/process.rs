//! `wasync serve` and `wasync worker` processes for the benches that go
//! through the binary, and the HTTP calls they make to them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The binary under bench.
pub const WASYNC: &str = env!("CARGO_BIN_EXE_wasync");

/// A `wasync` process with a data directory of its own, or an instance of
/// a shared one; killed when dropped.
pub struct Process {
    /// The process.
    pub child: Child,
    /// What it announced on its first line: `serve`'s URL, a worker's
    /// dispatcher id.
    pub announced: String,
    /// Its own data directory, removed when dropped (`None`: an instance
    /// of a directory the caller keeps).
    _dir: Option<tempfile::TempDir>,
}

impl Process {
    /// Starts `wasync <command>` on `database` (the default, in its data
    /// directory, for `None`) with `args`; `serve` listens on a free port.
    /// It logs warnings only, to nowhere, unless `WASYNC_BENCH_LOG_DIR`
    /// names a directory: then it logs at `info` to a file of its own
    /// there (to count, say, the hand-backs of jobs claimed ahead).
    pub fn start(command: &str, database: Option<&str>, args: &[&str]) -> Process {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut process = Process::launch(command, dir.path(), None, database, args);
        process._dir = Some(dir);
        process
    }

    /// As [`Process::start`], as instance `instance` of the data directory
    /// `data_dir` (`--instance`: several processes on one machine, sharing
    /// its compiled-component cache).
    pub fn start_instance(
        command: &str,
        data_dir: &std::path::Path,
        instance: &str,
        database: Option<&str>,
        args: &[&str],
    ) -> Process {
        Process::launch(command, data_dir, Some(instance), database, args)
    }

    fn launch(
        command: &str,
        dir: &std::path::Path,
        instance: Option<&str>,
        database: Option<&str>,
        args: &[&str],
    ) -> Process {
        let log = std::env::var_os("WASYNC_BENCH_LOG_DIR").map(|d| {
            let name = format!("{command}-{}.log", uuid::Uuid::now_v7().simple());
            std::fs::File::create(std::path::Path::new(&d).join(name)).expect("log file")
        });
        let mut command_line = Command::new(WASYNC);
        command_line.arg(command);
        // A worker serves no API (and takes no `--listen`).
        if command == "serve" {
            command_line.args(["--listen", "127.0.0.1:0"]);
        }
        command_line.arg("--data-dir").arg(dir);
        if let Some(instance) = instance {
            command_line.args(["--instance", instance]);
        }
        if let Some(database) = database {
            command_line.args(["--database", database]);
        }
        let mut child = command_line
            .args(args)
            .env("WASYNC_LOG", if log.is_some() { "info" } else { "warn" })
            .stdout(Stdio::piped())
            .stderr(log.map_or_else(Stdio::null, Stdio::from))
            .spawn()
            .expect("start wasync");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a first line").expect("readable");
        let announced = first
            .strip_prefix("wasync listening on ")
            .or_else(|| {
                first
                    .strip_prefix("wasync worker ")
                    .and_then(|rest| rest.split_whitespace().next())
            })
            .expect("an announcement")
            .trim()
            .to_owned();
        std::thread::spawn(move || for _ in lines {});
        Process {
            child,
            announced,
            _dir: None,
        }
    }

    /// A `serve` process's URL.
    pub fn url(&self) -> &str {
        &self.announced
    }

    /// The process's resident memory, from `/proc`.
    pub fn rss_mib(&self) -> f64 {
        rss_mib(self.child.id())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident memory of process `pid`, from `/proc` (0 if unknown).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// `GET url`, which must succeed; its JSON body.
pub async fn get(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("GET");
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.json().await.expect("JSON")
}

/// `POST url` with a JSON body, which must succeed; its JSON body.
pub async fn post(client: &reqwest::Client, url: &str, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.expect("POST");
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {url}: {status} {value}");
    value
}

/// Uploads the example component `name` under its name to the server at
/// `base`.
pub async fn upload(client: &reqwest::Client, base: &str, name: &str) {
    let response = client
        .post(format!("{base}/v1/modules?name={name}"))
        .body(wasync_example_components::bytes(name))
        .send()
        .await
        .expect("upload");
    assert!(
        response.status().is_success(),
        "upload {name}: {}",
        response.status()
    );
}
