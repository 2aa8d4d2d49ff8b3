//! Modules, queues and dispatchers as stored.

use serde::{Deserialize, Serialize};

use super::{DispatcherId, ModuleDigest, Timestamp};

/// The name of the default queue, which always exists.
pub const DEFAULT_QUEUE: &str = "";

/// A stored module (its bytes are fetched separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleInfo {
    /// Its content digest.
    pub digest: ModuleDigest,
    /// Its unique name, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size of the component in bytes.
    pub size: u64,
    /// The component's exports as `name: type` lines (the job entry point),
    /// and the job functions it declares, if it declares them.
    pub exports: Vec<String>,
    /// When it was first uploaded.
    pub created_at: Timestamp,
}

/// How a job function the module declares is listed in
/// [`ModuleInfo::exports`]: this prefix, then its name.
pub const FUNCTION_EXPORT_PREFIX: &str = "function ";

impl ModuleInfo {
    /// The job functions it declares (none when it does not declare
    /// them).
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.exports
            .iter()
            .filter_map(|line| line.strip_prefix(FUNCTION_EXPORT_PREFIX))
    }
}

/// A queue and how many jobs wait in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueInfo {
    /// Its name; `""` is the default queue.
    pub name: String,
    /// Jobs in it with status `pending`.
    pub length: u64,
    /// When it was created.
    pub created_at: Timestamp,
    /// The most jobs one run of a job in this queue may put (its fan-out
    /// cap); `None`: the server's `job_put_cap`.
    #[serde(default)]
    pub put_cap: Option<u64>,
    /// The most pending jobs the queue takes: a put past it is refused,
    /// naming the cap; `None`: no cap.
    #[serde(default)]
    pub pending_cap: Option<u64>,
}

/// A process, as a dispatcher's row and a data directory's lock name it:
/// the machine it runs on and its process id there. Two processes are the
/// same only if both are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Process {
    /// The host it runs on.
    pub hostname: String,
    /// Its process id on that host.
    pub pid: u32,
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on host {}", self.pid, self.hostname)
    }
}

/// A dispatcher as stored: one per `wasync` process that does work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatcherInfo {
    /// Its id.
    pub id: DispatcherId,
    /// The host it runs on.
    pub hostname: String,
    /// Its process id.
    pub pid: u32,
    /// How often it polls its queues when nothing wakes it, in ms.
    pub poll_interval_ms: u64,
    /// When it was (last) activated.
    pub activated_at: Timestamp,
    /// When it last reported it is alive.
    pub last_ping_at: Timestamp,
    /// When it stopped, if it stopped; `None` while active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_at: Option<Timestamp>,
}

impl DispatcherInfo {
    /// The process that holds (or last held) this dispatcher id.
    pub fn process(&self) -> Process {
        Process {
            hostname: self.hostname.clone(),
            pid: self.pid,
        }
    }
}
