//! The server a benchmark starts: `wasync serve` with the settings a new
//! user gets, on a data directory of its own, stopped at the end.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long the started server may take to listen.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A `wasync serve` started by the benchmark.
#[derive(Debug)]
pub struct StartedServer {
    child: Child,
    /// Its base URL.
    pub url: String,
    /// Its data directory (removed when it stops).
    pub data_dir: PathBuf,
}

/// Memory the server holds, from `/proc` (Linux).
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    /// Resident now, in bytes.
    pub now: u64,
    /// The most it was resident, in bytes.
    pub peak: u64,
}

impl StartedServer {
    /// Starts this very binary's `serve` on a free port and a fresh data
    /// directory, with `database` if given and `extra` arguments, and
    /// waits until it listens. Its log goes to `server.log` in the data
    /// directory.
    pub fn start(database: Option<&str>, extra: &[String]) -> anyhow::Result<StartedServer> {
        let exe = std::env::current_exe().context("cannot find the wasync binary")?;
        let data_dir = std::env::temp_dir().join(format!(
            "wasync-bench-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let mut command = Command::new(exe);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(database.iter().flat_map(|url| ["--database", url]))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        // The settings a new user gets: nothing from this environment.
        for name in [
            "WASYNC_CONFIG",
            "WASYNC_DATA_DIR",
            "WASYNC_DATABASE",
            "WASYNC_INSTANCE",
            "WASYNC_DISPATCHER_ID",
            "WASYNC_TOKEN",
            "WASYNC_LISTEN",
        ] {
            command.env_remove(name);
        }
        let mut child = command.spawn().context("cannot start wasync serve")?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the announced address, then drains stdout so the server
        // never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("wasync listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let mut server = StartedServer {
            child,
            url: String::new(),
            data_dir,
        };
        match rx.recv_timeout(START_DEADLINE) {
            Ok(url) => server.url = url,
            Err(_) => {
                let log =
                    std::fs::read_to_string(server.data_dir.join("server.log")).unwrap_or_default();
                server.stop();
                bail!("wasync serve did not start; its log:\n{log}");
            }
        }
        Ok(server)
    }

    /// Its memory now and at most, if `/proc` tells.
    pub fn rss(&self) -> Option<Rss> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().strip_suffix("kB"))
                .and_then(|kb| kb.trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
        };
        Some(Rss {
            now: field("VmRSS:")?,
            peak: field("VmHWM:")?,
        })
    }

    /// Asks it to stop (SIGTERM), kills it if it has not within ten
    /// seconds, and removes its data directory.
    pub fn stop(&mut self) {
        // Once reaped, its pid may be another process's: never signal it.
        let running = matches!(self.child.try_wait(), Ok(None));
        #[cfg(unix)]
        if running && let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: a plain kill(2) of our own child, which we have not
            // waited for yet, so its pid is still ours.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if running {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Drop for StartedServer {
    fn drop(&mut self) {
        self.stop();
    }
}
