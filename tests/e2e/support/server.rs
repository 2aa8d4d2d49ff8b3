//! `wasync` processes under test: how to start one (`serve`, `worker`,
//! `scheduler`) on a fresh data directory, waiting until it announces it
//! is ready; stopping it by signal; starts it refuses; and the CLI run
//! against it. Each process is killed when its handle is dropped, so a
//! failing test leaves none behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::{Backend, DEADLINE, Database, Http};

/// The `wasync` binary under test.
pub const WASYNC: &str = env!("CARGO_BIN_EXE_wasync");

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

/// stdout of a CLI run as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr of a CLI run as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
