//! The server's configuration: one struct, [`ServerConfig`], each field
//! with its default. Values come, lowest precedence first, from the
//! defaults, a TOML file (`--config`), `WASYNC_*` environment variables,
//! and command-line flags.

mod layer;

use std::path::PathBuf;
use std::time::Duration;

pub use layer::{ConfigFileError, ConfigLayer, parse_size};

use crate::model::DispatcherId;

/// Default data directory: `./wasync-data`.
pub const DATA_DIR_DEFAULT: &str = "wasync-data";
/// The folder of the data directory that holds its instances' own
/// directories (see [`ServerConfig::instance`]).
pub const INSTANCES_DIR: &str = "instances";
/// Default listen address. Port 7411, loopback only.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:7411";
/// Default poll interval: 5 s.
pub const POLL_INTERVAL_DEFAULT: Duration = crate::dispatch::POLL_INTERVAL_DEFAULT;
/// Default upload limit: 50 MiB.
pub const UPLOAD_LIMIT_DEFAULT: u64 = crate::api::UPLOAD_LIMIT_DEFAULT as u64;
/// The smallest default size of the `main` agent: 3, zc.async's agent
/// size (see [`main_agent_size_default`]).
pub const MAIN_AGENT_SIZE_DEFAULT: u32 = crate::model::AGENT_SIZE_DEFAULT;

/// Default size of the `main` agent: one slot per CPU, at least
/// [`MAIN_AGENT_SIZE_DEFAULT`].
///
/// Why: the size caps how many jobs run at once, not how many a second
/// (an agent claims ahead of its slots the jobs it will start within a few
/// milliseconds: `dispatch/agents.rs`), so it need not be large for short
/// jobs to flow. Guests are async: a guest waiting on the host (an HTTP
/// call, a timer) gives its thread to the next, so a few slots beyond the
/// CPUs keep those busy; every CPU-bound guest beyond one per CPU only
/// shares time (and holds its memory, up to the job memory limit, while
/// it waits). All agents share the guest threads (one per CPU, niced: the
/// API and the store keep the CPU they need). A queue of I/O-bound jobs
/// wants a larger agent (`--main-agent-size`, or an agent of its own).
pub fn main_agent_size_default() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    MAIN_AGENT_SIZE_DEFAULT.max(u32::try_from(cpus).unwrap_or(u32::MAX))
}
/// Default shutdown grace period: 30 s.
pub const SHUTDOWN_GRACE_DEFAULT: Duration = crate::dispatch::SHUTDOWN_GRACE_DEFAULT;
/// Default ping interval: 30 s.
pub const PING_INTERVAL_DEFAULT: Duration = crate::dispatch::PING_INTERVAL_DEFAULT;
/// Default death interval: 60 s.
pub const DEATH_INTERVAL_DEFAULT: Duration = crate::dispatch::DEATH_INTERVAL_DEFAULT;
/// Default scheduler interval: 1 s.
pub const SCHEDULER_INTERVAL_DEFAULT: Duration = crate::schedule::SCHEDULER_INTERVAL_DEFAULT;

/// Default wall-clock limit of a job that asks for none: 10 minutes.
pub const JOB_TIME_LIMIT_DEFAULT: Duration = crate::runtime::DEFAULT_TIMEOUT_DEFAULT;
/// Default fuel budget of a job that asks for none: 10^12.
pub const JOB_FUEL_LIMIT_DEFAULT: u64 = crate::runtime::DEFAULT_FUEL_DEFAULT;
/// Default fan-out cap: the most jobs one run may put, 10,000.
pub const JOB_PUT_CAP_DEFAULT: u64 = crate::runtime::PUT_CAP_DEFAULT;
/// Default memory limit of a job that asks for none: 256 MiB.
pub const JOB_MEMORY_LIMIT_DEFAULT: u64 = crate::runtime::DEFAULT_MEMORY_BYTES_DEFAULT;

/// Default retention interval: 60 s.
pub const RETENTION_INTERVAL_DEFAULT: Duration = crate::service::RETENTION_INTERVAL_DEFAULT;

/// Everything `wasync serve` needs to know.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    /// Where the SQLite database, the dispatcher id and the compiled
    /// component cache live. Default [`DATA_DIR_DEFAULT`]. One process at
    /// a time holds it (its lock, `wasync.lock`), unless each names an
    /// [`instance`](Self::instance).
    pub data_dir: PathBuf,
    /// The name of this process among several sharing the data directory
    /// on one machine: its lock and dispatcher id are then kept in
    /// `<data_dir>/instances/<name>` ([`ServerConfig::own_dir`]), while the
    /// SQLite database and the compiled cache stay shared. `None`: the
    /// process has the data directory to itself.
    pub instance: Option<String>,
    /// The database URL; `None`: SQLite at `<data_dir>/wasync.db`.
    pub database: Option<String>,
    /// The address the HTTP API listens on. Default [`LISTEN_DEFAULT`].
    pub listen: String,
    /// The bearer token every request but the health check needs; `None`:
    /// no authentication. Never printed.
    pub token: Option<String>,
    /// How often the dispatcher polls for work put by other processes.
    /// Default [`POLL_INTERVAL_DEFAULT`].
    pub poll_interval: Duration,
    /// The dispatcher's id; `None`: the one kept in the data directory
    /// (created on first start).
    pub dispatcher_id: Option<DispatcherId>,
    /// Whether this process runs a dispatcher (does work). Default true.
    pub dispatcher: bool,
    /// The size of the `main` agent created in the default queue when the
    /// dispatcher has no agent there. Default [`main_agent_size_default`].
    pub main_agent_size: u32,
    /// The largest request body (component upload). Default
    /// [`UPLOAD_LIMIT_DEFAULT`].
    pub upload_limit: u64,
    /// How long a stopping dispatcher lets running jobs finish. Default
    /// [`SHUTDOWN_GRACE_DEFAULT`].
    pub shutdown_grace: Duration,
    /// Whether `serve` runs a scheduler (puts the jobs of due schedules).
    /// Default true; `worker` never schedules, `scheduler` only does.
    pub scheduler: bool,
    /// How often the scheduler looks for due schedules when none is due
    /// sooner. Default [`SCHEDULER_INTERVAL_DEFAULT`].
    pub scheduler_interval: Duration,
    /// How often the dispatcher records that it is alive and looks for
    /// dead dispatchers. Default [`PING_INTERVAL_DEFAULT`].
    pub ping_interval: Duration,
    /// A dispatcher whose last ping is older than this is dead: a live one
    /// hands its jobs back. Longer than `ping_interval`. Default
    /// [`DEATH_INTERVAL_DEFAULT`].
    pub death_interval: Duration,
    /// `serve`: delete finished (completed or cancelled) jobs that completed
    /// longer ago than this. Default `None`: keep them.
    pub retain_for: Option<Duration>,
    /// `serve`: keep at most this many finished jobs, deleting the oldest.
    /// Default `None`: keep them all.
    pub retain_count: Option<u64>,
    /// How often retention looks for jobs to delete. Default
    /// [`RETENTION_INTERVAL_DEFAULT`].
    pub retention_interval: Duration,
    /// The wall-clock limit of a job that asks for none (and whose agent
    /// has no `time_cap_ms`). Default [`JOB_TIME_LIMIT_DEFAULT`].
    pub job_time_limit: Duration,
    /// The fuel budget of a job that asks for none (and whose agent has no
    /// `fuel_cap`). Default [`JOB_FUEL_LIMIT_DEFAULT`].
    pub job_fuel_limit: u64,
    /// The memory limit of a job that asks for none (and whose agent has
    /// no `memory_cap`). Default [`JOB_MEMORY_LIMIT_DEFAULT`].
    pub job_memory_limit: u64,
    /// The most jobs one run may put (the fan-out cap); a put over it
    /// answers the job an error naming the cap. Default
    /// [`JOB_PUT_CAP_DEFAULT`].
    pub job_put_cap: u64,
    /// Where a worker serves its metrics (`GET /metrics`); `None`: it
    /// serves none. `serve` has them on its API.
    pub metrics_listen: Option<String>,
    /// The sandbox's limits and HTTP origins (`[sandbox]`).
    pub sandbox: crate::sandbox_config::SandboxLayer,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: PathBuf::from(DATA_DIR_DEFAULT),
            instance: None,
            database: None,
            listen: LISTEN_DEFAULT.to_owned(),
            token: None,
            poll_interval: POLL_INTERVAL_DEFAULT,
            dispatcher_id: None,
            dispatcher: true,
            main_agent_size: main_agent_size_default(),
            upload_limit: UPLOAD_LIMIT_DEFAULT,
            shutdown_grace: SHUTDOWN_GRACE_DEFAULT,
            scheduler: true,
            scheduler_interval: SCHEDULER_INTERVAL_DEFAULT,
            ping_interval: PING_INTERVAL_DEFAULT,
            death_interval: DEATH_INTERVAL_DEFAULT,
            retain_for: None,
            retain_count: None,
            retention_interval: RETENTION_INTERVAL_DEFAULT,
            job_time_limit: JOB_TIME_LIMIT_DEFAULT,
            job_fuel_limit: JOB_FUEL_LIMIT_DEFAULT,
            job_memory_limit: JOB_MEMORY_LIMIT_DEFAULT,
            job_put_cap: JOB_PUT_CAP_DEFAULT,
            metrics_listen: None,
            sandbox: Default::default(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("instance", &self.instance)
            .field("database", &self.database.as_deref().map(redact_url))
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("poll_interval", &self.poll_interval)
            .field("dispatcher_id", &self.dispatcher_id)
            .field("dispatcher", &self.dispatcher)
            .field("main_agent_size", &self.main_agent_size)
            .field("upload_limit", &self.upload_limit)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("scheduler", &self.scheduler)
            .field("scheduler_interval", &self.scheduler_interval)
            .field("ping_interval", &self.ping_interval)
            .field("death_interval", &self.death_interval)
            .field("retain_for", &self.retain_for)
            .field("retain_count", &self.retain_count)
            .field("retention_interval", &self.retention_interval)
            .field("job_time_limit", &self.job_time_limit)
            .field("job_fuel_limit", &self.job_fuel_limit)
            .field("job_memory_limit", &self.job_memory_limit)
            .field("job_put_cap", &self.job_put_cap)
            .field("metrics_listen", &self.metrics_listen)
            .field("sandbox", &self.sandbox)
            .finish()
    }
}

/// A URL without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:<redacted>{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl ServerConfig {
    /// This config with every field `layer` sets overridden.
    pub fn apply(mut self, layer: ConfigLayer) -> ServerConfig {
        if let Some(v) = layer.data_dir {
            self.data_dir = v;
        }
        if layer.instance.is_some() {
            self.instance = layer.instance.filter(|name| !name.is_empty());
        }
        if layer.database.is_some() {
            self.database = layer.database;
        }
        if let Some(v) = layer.listen {
            self.listen = v;
        }
        if layer.token.is_some() {
            self.token = layer.token.filter(|t| !t.is_empty());
        }
        if let Some(v) = layer.poll_interval {
            self.poll_interval = v;
        }
        if layer.dispatcher_id.is_some() {
            self.dispatcher_id = layer.dispatcher_id;
        }
        if let Some(v) = layer.no_dispatcher {
            self.dispatcher = !v;
        }
        if let Some(v) = layer.main_agent_size {
            self.main_agent_size = v;
        }
        if let Some(v) = layer.upload_limit {
            self.upload_limit = v;
        }
        if let Some(v) = layer.shutdown_grace {
            self.shutdown_grace = v;
        }
        if let Some(v) = layer.no_scheduler {
            self.scheduler = !v;
        }
        if let Some(v) = layer.scheduler_interval {
            self.scheduler_interval = v;
        }
        if let Some(v) = layer.ping_interval {
            self.ping_interval = v;
        }
        if let Some(v) = layer.death_interval {
            self.death_interval = v;
        }
        if layer.retain_for.is_some() {
            self.retain_for = layer.retain_for;
        }
        if layer.retain_count.is_some() {
            self.retain_count = layer.retain_count;
        }
        if let Some(v) = layer.retention_interval {
            self.retention_interval = v;
        }
        if let Some(v) = layer.job_time_limit {
            self.job_time_limit = v;
        }
        if let Some(v) = layer.job_fuel_limit {
            self.job_fuel_limit = v;
        }
        if let Some(v) = layer.job_memory_limit {
            self.job_memory_limit = v;
        }
        if let Some(v) = layer.job_put_cap {
            self.job_put_cap = v;
        }
        if layer.metrics_listen.is_some() {
            self.metrics_listen = layer.metrics_listen.filter(|a| !a.is_empty());
        }
        self.sandbox = layer.sandbox.over(self.sandbox);
        self
    }

    /// The directory this process has to itself: its lock and its
    /// dispatcher id live there. The data directory, or with an
    /// [`instance`](Self::instance) `<data_dir>/instances/<name>`.
    pub fn own_dir(&self) -> PathBuf {
        match &self.instance {
            Some(name) => self.data_dir.join(INSTANCES_DIR).join(name),
            None => self.data_dir.clone(),
        }
    }

    /// Checks the values that cannot be checked one by one.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(name) = &self.instance {
            let plain = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !plain || name.starts_with('.') {
                return Err(format!(
                    "instance `{name}`: use letters, digits, `-`, `_` and `.` (not first): it \
                     names a directory"
                ));
            }
        }
        if self.poll_interval.is_zero() {
            return Err("poll_interval must be positive".into());
        }
        if self.main_agent_size == 0 {
            return Err("main_agent_size must be at least 1".into());
        }
        if self.upload_limit == 0 {
            return Err("upload_limit must be positive".into());
        }
        if self.scheduler_interval.is_zero() {
            return Err("scheduler_interval must be positive".into());
        }
        if self.ping_interval.is_zero() {
            return Err("ping_interval must be positive".into());
        }
        if self.death_interval <= self.ping_interval {
            return Err(format!(
                "death_interval ({:?}) must be longer than ping_interval ({:?}): a live \
                 dispatcher would look dead between two pings",
                self.death_interval, self.ping_interval
            ));
        }
        if self.retention_interval.is_zero() {
            return Err("retention_interval must be positive".into());
        }
        if self.job_time_limit.is_zero() || self.job_fuel_limit == 0 || self.job_memory_limit == 0 {
            return Err(
                "job_time_limit, job_fuel_limit and job_memory_limit must be positive: every \
                 job has a limit"
                    .into(),
            );
        }
        if self.retain_for.is_some_and(|age| age.is_zero()) {
            return Err("retain_for must be positive (omit it to keep finished jobs)".into());
        }
        Ok(())
    }

    /// The retention settings.
    pub fn retention(&self) -> crate::service::RetentionConfig {
        crate::service::RetentionConfig {
            max_age: self.retain_for,
            max_count: self.retain_count,
            interval: self.retention_interval,
        }
    }
}

#[cfg(test)]
mod tests;
