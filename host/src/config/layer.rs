//! One layer of settings, as a config file or the command line gives
//! them: every field optional, each set one overriding the layers below
//! ([`ServerConfig::apply`](super::ServerConfig::apply)).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Deserializer};

use crate::model::DispatcherId;

/// One layer of settings: a config file, or the environment and flags.
/// Every field is optional; a set field overrides the layers below.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    /// Data directory (see [`ServerConfig::data_dir`](super::ServerConfig::data_dir)). On the command
    /// line, an option every server command shares (`cli::server`).
    #[arg(skip)]
    pub data_dir: Option<PathBuf>,
    /// See [`ServerConfig::instance`](super::ServerConfig::instance); an option every server command
    /// shares.
    #[arg(skip)]
    pub instance: Option<String>,
    /// See [`ServerConfig::database`](super::ServerConfig::database); an option every server command
    /// shares.
    #[arg(skip)]
    pub database: Option<String>,
    /// Address to listen on (default 127.0.0.1:7411).
    #[arg(long, env = "WASYNC_LISTEN")]
    pub listen: Option<String>,
    /// Require this bearer token on every request but /v1/health.
    #[arg(long, env = "WASYNC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How often to poll for work put by other processes (default 5s).
    #[arg(long, env = "WASYNC_POLL_INTERVAL", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub poll_interval: Option<Duration>,
    /// This process's dispatcher id (default: kept in the data directory).
    #[arg(long, env = "WASYNC_DISPATCHER_ID")]
    pub dispatcher_id: Option<DispatcherId>,
    /// Do not run a dispatcher: serve the API only.
    #[arg(long, env = "WASYNC_NO_DISPATCHER", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default)]
    pub no_dispatcher: Option<bool>,
    /// Size of the `main` agent created in the default queue (default 3).
    #[arg(long, env = "WASYNC_MAIN_AGENT_SIZE")]
    pub main_agent_size: Option<u32>,
    /// Largest upload, e.g. 50MiB (default).
    #[arg(long, env = "WASYNC_UPLOAD_LIMIT", value_parser = parse_size)]
    #[serde(default, deserialize_with = "de_size")]
    pub upload_limit: Option<u64>,
    /// How long running jobs may take to finish on shutdown (default 30s).
    #[arg(long, env = "WASYNC_SHUTDOWN_GRACE", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub shutdown_grace: Option<Duration>,
    /// `serve`: do not run a scheduler (another process schedules).
    #[arg(long, env = "WASYNC_NO_SCHEDULER", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default)]
    pub no_scheduler: Option<bool>,
    /// How often the scheduler looks for due schedules (default 1s).
    #[arg(long, env = "WASYNC_SCHEDULER_INTERVAL", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub scheduler_interval: Option<Duration>,
    /// How often the dispatcher pings and looks for dead ones (default 30s).
    #[arg(long, env = "WASYNC_PING_INTERVAL", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub ping_interval: Option<Duration>,
    /// A dispatcher silent this long is dead; its jobs are handed back
    /// (default 60s).
    #[arg(long, env = "WASYNC_DEATH_INTERVAL", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub death_interval: Option<Duration>,
    /// `serve`: delete finished jobs completed longer ago than this, e.g.
    /// 7d (default: keep them).
    #[arg(long, env = "WASYNC_RETAIN_FOR", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub retain_for: Option<Duration>,
    /// `serve`: keep at most this many finished jobs (default: all).
    #[arg(long, env = "WASYNC_RETAIN_COUNT")]
    pub retain_count: Option<u64>,
    /// How often retention looks for jobs to delete (default 60s).
    #[arg(long, env = "WASYNC_RETENTION_INTERVAL", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub retention_interval: Option<Duration>,
    /// Wall-clock limit of a job that asks for none (default 10m).
    #[arg(long, env = "WASYNC_JOB_TIME_LIMIT", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub job_time_limit: Option<Duration>,
    /// Fuel budget of a job that asks for none (default 10^12).
    #[arg(long, env = "WASYNC_JOB_FUEL_LIMIT")]
    pub job_fuel_limit: Option<u64>,
    /// Memory limit of a job that asks for none, e.g. 64MiB (default
    /// 256MiB).
    #[arg(long, env = "WASYNC_JOB_MEMORY_LIMIT", value_parser = parse_size)]
    #[serde(default, deserialize_with = "de_size")]
    pub job_memory_limit: Option<u64>,
    /// The most jobs one run may put (default 10000).
    #[arg(long, env = "WASYNC_JOB_PUT_CAP")]
    pub job_put_cap: Option<u64>,
    /// Where a worker serves its metrics (see
    /// [`ServerConfig::metrics_listen`](super::ServerConfig::metrics_listen));
    /// on the command line, an option of `wasync worker` (`cli::worker`).
    #[arg(skip)]
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// The sandbox's limits and HTTP origins: the `[sandbox]` table.
    #[command(flatten)]
    #[serde(default)]
    pub sandbox: crate::sandbox_config::SandboxLayer,
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    value
        .map(|v| crate::api::input::parse_duration(&v).map_err(serde::de::Error::custom))
        .transpose()
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("a size must be a whole number of bytes")),
        Some(serde_json::Value::String(s)) => {
            parse_size(&s).map(Some).map_err(serde::de::Error::custom)
        }
        Some(other) => Err(serde::de::Error::custom(format!("`{other}` is not a size"))),
    }
}

/// A config file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("config file {path}: {message}")]
pub struct ConfigFileError {
    /// The file.
    pub path: PathBuf,
    /// What was wrong.
    pub message: String,
}

impl ConfigLayer {
    /// Reads a TOML config file (the same keys as the flags, with `_`).
    pub fn from_file(path: &Path) -> Result<ConfigLayer, ConfigFileError> {
        let error = |message: String| ConfigFileError {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        toml::from_str(&text).map_err(|e| error(e.to_string()))
    }
}

/// Parses a byte size: `1048576`, `64MiB`, `1 GiB` (flags and the config
/// file alike).
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|e| format!("`{text}` is not a size ({e}); use e.g. `1048576`, `64MiB`"))
}
