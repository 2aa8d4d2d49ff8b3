//! A PostgreSQL cluster of the test's own, to stop and restart.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::Unsupported;

/// A cluster made by `initdb` in a temporary directory, listening on
/// 127.0.0.1 on a port of its own, trust authentication, superuser
/// `postgres`. Stopped (immediately) and deleted when dropped.
#[derive(Debug)]
pub struct PrivatePostgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// Whom to run the server as: PostgreSQL refuses to run as root.
    user: Option<&'static str>,
}

impl PrivatePostgres {
    /// Makes and starts a cluster. `Err` says why where this machine has
    /// no PostgreSQL binaries (`/usr/lib/postgresql/<version>/bin`) or
    /// cannot run them.
    pub fn start() -> Result<PrivatePostgres, Unsupported> {
        let bin = binaries().ok_or_else(|| {
            "no PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin/pg_ctl)".to_owned()
        })?;
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let root = is_root();
        let user = root.then_some("postgres");
        if root {
            // The directory must be the server user's.
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()))?;
        }
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let cluster = PrivatePostgres {
            dir,
            bin,
            port,
            user,
        };
        cluster.pg(&[
            "initdb",
            "-D",
            &cluster.data(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "--no-instructions",
        ])?;
        cluster.start_again()?;
        Ok(cluster)
    }

    /// [`PrivatePostgres::start`], or `None` after printing why the test
    /// that asked is skipped.
    pub fn start_or_skip() -> Option<PrivatePostgres> {
        Self::start()
            .map_err(|reason| eprintln!("skipped: {reason}"))
            .ok()
    }

    /// A URL of database `postgres` on it.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `pg_ctl stop -m fast`: every session is terminated, the server
    /// stops; waits until it has.
    pub fn stop(&self) -> Result<(), Unsupported> {
        self.pg_ctl(&["stop", "-m", "fast", "-w"])
    }

    /// `pg_ctl start`: waits until it accepts connections.
    pub fn start_again(&self) -> Result<(), Unsupported> {
        self.pg_ctl_serving("start", &[])
    }

    /// `pg_ctl restart -m fast`: what an operator's restart does.
    pub fn restart(&self) -> Result<(), Unsupported> {
        self.pg_ctl_serving("restart", &["-m", "fast"])
    }

    /// `pg_ctl start` or `restart` with the server's options, its output
    /// to its log (never to this process's pipes, which it would hold).
    fn pg_ctl_serving(&self, action: &str, extra: &[&str]) -> Result<(), Unsupported> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let log = log.to_string_lossy();
        let mut args = vec![action, "-w", "-l", &log, "-o", &options];
        args.extend_from_slice(extra);
        self.pg_ctl(&args)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), Unsupported> {
        let data = self.data();
        let mut all = vec!["pg_ctl", "-D", &data];
        all.extend_from_slice(args);
        self.pg(&all)
    }

    /// Runs one of the server's programs, as the server user.
    fn pg(&self, args: &[&str]) -> Result<(), Unsupported> {
        let program = self.bin.join(args[0]);
        let mut command = match self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        command.args(&args[1..]).current_dir(self.dir.path());
        run(&mut command)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with a `pg_ctl`.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(command: &mut Command) -> Result<(), Unsupported> {
    let output: Output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
