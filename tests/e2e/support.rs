//! The end-to-end test kit: real `wasync` processes on free ports with
//! temporary data directories, an HTTP client, the CLI, and waiting on
//! conditions with deadlines (never bare sleeps).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The `wasync` binary under test.
pub const WASYNC: &str = env!("CARGO_BIN_EXE_wasync");

/// How long any single condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

static MACHINE: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

/// Taken by tests that can share the machine with others.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// Taken by tests that measure responsiveness or load the machine: no
/// other end-to-end test runs meanwhile.
pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// The PostgreSQL URL tests may use (`WASYNC_TEST_PG`), if set.
pub fn postgres_url() -> Option<String> {
    std::env::var("WASYNC_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The store backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: each server's data directory, or a shared file.
    Sqlite,
    /// PostgreSQL (`WASYNC_TEST_PG`): a schema of the test's own.
    Postgres,
}

impl Backend {
    /// A fresh database that several servers of one test may share.
    pub fn database(self) -> Database {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite:{}", dir.path().join("shared.db").display());
                Database {
                    url,
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Postgres => {
                let base = postgres_url().expect("WASYNC_TEST_PG is set for PostgreSQL tests");
                let schema = format!("wasync_e2e_{}", uuid::Uuid::now_v7().simple());
                let separator = if base.contains('?') { '&' } else { '?' };
                Database {
                    url: format!("{base}{separator}schema={schema}"),
                    cleanup: Cleanup::Schema { base, schema },
                }
            }
        }
    }
}

/// One test's database; dropped (the file or the schema) at the end.
#[derive(Debug)]
pub struct Database {
    /// What `--database` takes.
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Dir(#[allow(dead_code)] TempDir),
    Schema { base: String, schema: String },
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Cleanup::Schema { base, schema } = &self.cleanup {
            let (base, schema) = (base.clone(), schema.clone());
            // Drop is synchronous and may run inside the test's runtime:
            // drop the schema from a thread with a runtime of its own.
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(wasync::store::postgres::PgStore::drop_schema(
                        &base, &schema,
                    ))
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop a test schema: {dropped:?}");
            }
        }
    }
}

/// Declares each listed `async fn test(backend: Backend)` as two tests:
/// `sqlite::test`, and `postgres::test`, which is skipped (passes, saying
/// so) when `WASYNC_TEST_PG` is not set.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if $crate::support::postgres_url().is_none() {
                        eprintln!("skipped: WASYNC_TEST_PG is not set");
                        return;
                    }
                    super::$test($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The data directory; default a fresh temporary one.
    pub data_dir: Option<PathBuf>,
    /// Extra arguments to `wasync serve`.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// The subcommand (default `serve`).
    pub command: Option<String>,
    /// `--database`; default: SQLite in the data directory.
    pub database: Option<String>,
    /// Run in this directory with no `--data-dir`: the default data
    /// directory, `./wasync-data` there.
    pub cwd: Option<PathBuf>,
}

impl ServerOptions {
    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Uses this data directory.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    /// Uses this database.
    pub fn database(mut self, database: &Database) -> Self {
        self.database = Some(database.url.clone());
        self
    }

    /// Runs this subcommand instead of `serve` (e.g. `worker`).
    pub fn command(mut self, command: &str) -> Self {
        self.command = Some(command.to_owned());
        self
    }

    /// Runs in `dir` with the default data directory (`dir/wasync-data`).
    pub fn in_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// The process these options start, its data directory, and the
    /// temporary directory holding it if the options named none.
    fn build(&self) -> (Command, PathBuf, Option<TempDir>) {
        let (data_dir, temp) = match (&self.data_dir, &self.cwd) {
            (Some(dir), _) => (dir.clone(), None),
            (None, Some(cwd)) => (cwd.join("wasync-data"), None),
            (None, None) => {
                let temp = tempfile::tempdir().expect("temporary directory");
                (temp.path().to_owned(), Some(temp))
            }
        };
        std::fs::create_dir_all(&data_dir).unwrap();
        let given = |flag: &str| self.args.iter().any(|a| a == flag);
        let mut command = Command::new(WASYNC);
        let name = self.command.as_deref().unwrap_or("serve");
        command.arg(name);
        // Each command takes only the options that mean something for it:
        // an address for the API's, a poll interval for a dispatcher's.
        if name == "serve" && !given("--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        match &self.cwd {
            Some(cwd) => {
                command.current_dir(cwd);
            }
            None => {
                command.arg("--data-dir").arg(&data_dir);
            }
        }
        command
            // A short poll by default, unless the test chose its own.
            .args(
                (name != "scheduler" && !given("--poll-interval"))
                    .then_some(["--poll-interval", "200ms"])
                    .into_iter()
                    .flatten(),
            )
            .args(
                self.database
                    .iter()
                    .flat_map(|url| ["--database", url.as_str()]),
            )
            .args(&self.args)
            .env_remove("WASYNC_TOKEN")
            .env_remove("WASYNC_DATABASE")
            .env_remove("WASYNC_DATA_DIR")
            .env_remove("WASYNC_INSTANCE")
            .env_remove("WASYNC_DISPATCHER_ID")
            .env("WASYNC_LOG", "info,wasync=debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        (command, data_dir, temp)
    }
}

/// A `wasync serve`, `worker` or `scheduler` that ended on its own (see
/// [`refused`]).
#[derive(Debug)]
pub struct Refusal {
    /// How it ended.
    pub status: ExitStatus,
    /// What it wrote to stderr.
    pub stderr: String,
}

/// Starts the process `options` describe expecting it to end on its own
/// before it is ready, as a refused start does; fails the test if it runs
/// on past [`DEADLINE`].
pub async fn refused(options: ServerOptions) -> Refusal {
    let (mut command, _data_dir, _temp) = options.build();
    let stderr_dir = tempfile::tempdir().expect("temporary directory");
    let stderr_path = stderr_dir.path().join("stderr");
    let stderr_file = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = command
        .stdout(Stdio::null())
        .stderr(stderr_file)
        .spawn()
        .expect("start wasync");
    let deadline = std::time::Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("wasync was expected to refuse to start; it ran on. Its stderr:\n{stderr}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Refusal {
        status,
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

/// A running `wasync serve`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    temp: Option<TempDir>,
    token: Option<String>,
    database: Option<Database>,
}

impl Server {
    /// `wasync serve` with a fresh data directory and a short poll interval,
    /// on SQLite.
    pub async fn start() -> Server {
        Server::start_with(ServerOptions::default()).await
    }

    /// `wasync serve` on a fresh database of `backend`.
    pub async fn start_on(backend: Backend) -> Server {
        Server::start_on_with(backend, ServerOptions::default()).await
    }

    /// A server with options, on a fresh database of `backend` (unless the
    /// options name one).
    pub async fn start_on_with(backend: Backend, options: ServerOptions) -> Server {
        if options.database.is_some() || backend == Backend::Sqlite {
            return Server::start_with(options).await;
        }
        let database = backend.database();
        let mut server = Server::start_with(options.database(&database)).await;
        server.database = Some(database);
        server
    }

    /// A server with options.
    pub async fn start_with(options: ServerOptions) -> Server {
        let (mut command, data_dir, temp) = options.build();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .expect("server log");
        let token = token_of(&options.args);
        command.stdout(Stdio::piped()).stderr(log);
        let mut child = command.spawn().expect("start wasync serve");
        let stdout = child.stdout.take().expect("piped stdout");
        // Read the announced address on a thread of its own, then keep
        // draining stdout there so the server never blocks on a full pipe.
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut address_tx = Some(address_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // `serve` announces its address; `worker` and `scheduler`
                // that they run.
                let ready = line
                    .strip_prefix("wasync listening on ")
                    .map(|url| url.trim().to_owned())
                    .or_else(|| {
                        (line.starts_with("wasync worker ")
                            || line.starts_with("wasync scheduler "))
                        .then(String::new)
                    });
                if let Some(url) = ready
                    && let Some(tx) = address_tx.take()
                {
                    let _ = tx.send(url);
                }
            }
        });
        let url = tokio::task::spawn_blocking(move || address_rx.recv_timeout(DEADLINE).ok())
            .await
            .expect("reader thread")
            .unwrap_or_else(|| {
                let _ = child.kill();
                let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
                panic!("wasync serve did not start; its log:\n{log}")
            });
        Server {
            child,
            url,
            data_dir,
            temp,
            token,
            database: None,
        }
    }

    /// An HTTP client of this server (with its token, if it has one).
    pub fn http(&self) -> Http {
        Http::new(&self.url, self.token.clone())
    }

    /// An HTTP client without any token.
    pub fn http_without_token(&self) -> Http {
        Http::new(&self.url, None)
    }

    /// Runs the `wasync` CLI against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut command = Command::new(WASYNC);
        command.args(["--server", &self.url]).args(args);
        if let Some(token) = &self.token {
            command.args(["--token", token]);
        }
        command.env_remove("WASYNC_TOKEN");
        command.output().expect("run the wasync CLI")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL): no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits for it.
    pub fn terminate(&mut self) -> ExitStatus {
        signal(self.child.id(), "TERM");
        self.wait_exit("wasync did not stop on SIGTERM")
    }

    /// Waits for the process to end on its own; fails the test with
    /// `what` after [`DEADLINE`].
    pub fn wait_exit(&mut self, what: &str) -> ExitStatus {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The dispatcher id it keeps in its own directory: `dir` is the data
    /// directory, or the instance's directory in it.
    pub fn kept_dispatcher_id(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("dispatcher-id"))
            .expect("a dispatcher id")
            .trim()
            .to_owned()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    /// Keeps the data directory after the server is dropped.
    pub fn keep_data(&mut self) -> Option<TempDir> {
        self.temp.take()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token_of(args: &[String]) -> Option<String> {
    args.windows(2)
        .find(|pair| pair[0] == "--token")
        .map(|pair| pair[1].clone())
}

/// Sends a signal to a process.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

/// A plain HTTP client of one server; answers are `(status, JSON)`.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Http {
    /// A client of `base`.
    pub fn new(base: &str, token: Option<String>) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: base.to_owned(),
            token,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{status}: the answer is not JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, value)
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// `POST` with a raw body.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.send(self.client.post(format!("{}{path}", self.base)).body(body))
            .await
    }

    /// `POST` with a raw body of a given content type.
    pub async fn post_typed(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    /// `PUT` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.client.put(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// `PATCH` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            self.client
                .patch(format!("{}{path}", self.base))
                .json(&body),
        )
        .await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.delete(format!("{}{path}", self.base)))
            .await
    }

    /// `GET` that must succeed.
    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// Uploads an example component under its own name.
    pub async fn upload_example(&self, name: &str) -> Value {
        let bytes = wasync_example_components::bytes(name);
        let (status, body) = self
            .post_bytes(&format!("/v1/modules?name={name}"), bytes)
            .await;
        assert_eq!(status, StatusCode::CREATED, "upload {name}: {body}");
        body
    }

    /// Puts a job and returns it.
    pub async fn put_job(&self, module: &str, function: &str, args: Value) -> Value {
        self.put_job_with(json!({"module": module, "function": function, "args": args}))
            .await
    }

    /// Puts a job described by `body` and returns it.
    pub async fn put_job_with(&self, body: Value) -> Value {
        let (status, job) = self.post("/v1/jobs", body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "put {body}: {job}");
        job
    }

    /// Waits until the job completes and returns it.
    pub async fn wait_completed(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let job = self.ok(&format!("/v1/jobs/{id}/wait?timeout=5s")).await;
            if job["status"] == "completed" {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} did not complete: {job}"
            );
        }
    }

    /// The id of the (one) active dispatcher.
    pub async fn dispatcher_id(&self) -> String {
        let answer = self.ok("/v1/dispatchers").await;
        let active: Vec<&Value> = answer["dispatchers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d.get("deactivated_at").is_none())
            .collect();
        assert_eq!(active.len(), 1, "{answer}");
        active[0]["id"].as_str().unwrap().to_owned()
    }
}

/// Waits until `check` gives `Some`, re-checking every 20 ms, failing the
/// test after [`DEADLINE`] with `what`.
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// stdout of a CLI run as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr of a CLI run as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
