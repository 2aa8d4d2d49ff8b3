//! One process per data directory: its lock.
//!
//! `serve`, `worker` and `scheduler` take an exclusive OS lock (`flock`) on
//! `wasync.lock` in their own directory (the data directory, or their
//! instance's, see [`ServerConfig::own_dir`](crate::config::ServerConfig::own_dir))
//! before anything else, and hold it until they exit. A second process
//! finds it taken and refuses to start ([`LockError::Held`]), naming the
//! holder, which wrote itself into the file (pid, host, since when, which
//! command). The OS releases the lock however the holder ends, SIGKILL
//! included: the next process then takes it and reads who held it before
//! ([`DataDirLock::proven_gone`]), which proves that process gone and lets
//! its dispatcher id be taken over at once (`store/identity.rs`).
//!
//! The file is never deleted: deleting a lock file races with a process
//! about to lock it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{Process, Timestamp};

/// The lock file, inside the directory it guards.
pub const LOCK_FILE: &str = "wasync.lock";

/// Who holds (or last held) a data directory, as its lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// Its process id.
    pub pid: u32,
    /// The host it runs on.
    pub hostname: String,
    /// When it took the lock.
    pub since: Timestamp,
    /// The `wasync` command it runs (`serve`, `worker`, `scheduler`).
    pub command: String,
}

impl LockHolder {
    /// This process, running `command`, from `since`.
    pub fn this_process(command: &str, since: Timestamp) -> LockHolder {
        let process = crate::dispatch::this_process();
        LockHolder {
            pid: process.pid,
            hostname: process.hostname,
            since,
            command: command.to_owned(),
        }
    }

    /// The process it names.
    pub fn process(&self) -> Process {
        Process {
            hostname: self.hostname.clone(),
            pid: self.pid,
        }
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`wasync {}`, pid {} on host {}, since {}",
            self.command, self.pid, self.hostname, self.since
        )
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "the data directory {} is in use by another wasync process: {} (it holds {})",
        dir.display(),
        holder.as_ref().map_or_else(|| "one that has not said who it is yet".to_owned(), ToString::to_string),
        file.display()
    )]
    Held {
        /// The directory.
        dir: PathBuf,
        /// Its lock file.
        file: PathBuf,
        /// The holder, as the file names it (`None` if it could not be
        /// read: a holder that has just taken it, or another program).
        holder: Option<LockHolder>,
    },
    /// The directory or its lock file could not be used.
    #[error("cannot lock the data directory {}: {source}", dir.display())]
    Io {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// The lock on a data directory, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    // Holding the open file holds the lock.
    _file: File,
    previous: Option<LockHolder>,
}

impl DataDirLock {
    /// Creates `dir` if needed and takes its lock for `holder`, or fails at
    /// once if another process holds it.
    pub fn acquire(dir: &Path, holder: &LockHolder) -> Result<DataDirLock, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    dir: dir.to_owned(),
                    holder: read_holder(&mut file),
                    file: path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let previous = read(&mut file).ok().and_then(|text| parse(&text));
        write_holder(&mut file, holder).map_err(io)?;
        Ok(DataDirLock {
            _file: file,
            previous,
        })
    }

    /// Who held the lock before this process, if the file says.
    pub fn previous(&self) -> Option<&LockHolder> {
        self.previous.as_ref()
    }

    /// The process this lock proves gone: its previous holder, if it ran
    /// on `hostname` (this host). The lock was free, so that process has
    /// exited, however it ended.
    pub fn proven_gone(&self, hostname: &str) -> Option<Process> {
        self.previous
            .as_ref()
            .filter(|previous| previous.hostname == hostname)
            .map(LockHolder::process)
    }
}

fn read(file: &mut File) -> std::io::Result<String> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_string(&mut text)?;
    Ok(text)
}

fn parse(text: &str) -> Option<LockHolder> {
    serde_json::from_str(text.trim()).ok()
}

/// The holder a locked file names. The holder writes itself in just after
/// it takes the lock: a reader that comes in between tries again briefly.
fn read_holder(file: &mut File) -> Option<LockHolder> {
    for _ in 0..20 {
        if let Some(holder) = read(file).ok().and_then(|text| parse(&text)) {
            return Some(holder);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    None
}

fn write_holder(file: &mut File, holder: &LockHolder) -> std::io::Result<()> {
    let mut text = serde_json::to_string(holder).map_err(std::io::Error::other)?;
    text.push('\n');
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_millis;

    fn holder(pid: u32, host: &str) -> LockHolder {
        LockHolder {
            pid,
            hostname: host.to_owned(),
            since: from_millis(1_000),
            command: "worker".to_owned(),
        }
    }

    #[test]
    fn a_second_lock_on_one_directory_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path(), &holder(100, "a")).unwrap();
        assert_eq!(first.previous(), None);
        match DataDirLock::acquire(dir.path(), &holder(200, "a")) {
            Err(LockError::Held {
                holder: Some(held), ..
            }) => assert_eq!(held, holder(100, "a")),
            other => panic!("not refused: {other:?}"),
        }
        let message = DataDirLock::acquire(dir.path(), &holder(200, "a"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`wasync worker`, pid 100 on host a, since 1970-01-01 00:00:01 UTC"),
            "{message}"
        );
        assert!(message.contains("wasync.lock"), "{message}");
    }

    #[test]
    fn a_released_lock_names_its_previous_holder_as_proven_gone_on_this_host_only() {
        let dir = tempfile::tempdir().unwrap();
        drop(DataDirLock::acquire(dir.path(), &holder(100, "a")).unwrap());
        let second = DataDirLock::acquire(dir.path(), &holder(200, "a")).unwrap();
        assert_eq!(second.previous(), Some(&holder(100, "a")));
        assert_eq!(
            second.proven_gone("a"),
            Some(Process {
                hostname: "a".into(),
                pid: 100
            })
        );
        assert_eq!(second.proven_gone("b"), None);
        drop(second);
        let third = DataDirLock::acquire(dir.path(), &holder(300, "a")).unwrap();
        assert_eq!(
            third.previous(),
            Some(&holder(200, "a")),
            "the file was rewritten whole"
        );
    }

    #[test]
    fn the_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("instances").join("w1");
        let _lock = DataDirLock::acquire(&nested, &holder(1, "a")).unwrap();
        assert!(nested.join(LOCK_FILE).exists());
    }
}
