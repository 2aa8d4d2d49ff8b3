//! `wasync worker`: a dispatcher and its agents, no HTTP API. Several
//! workers (on one machine with SQLite, on many with PostgreSQL) share the
//! queues of one database; each needs a directory of its own (its own
//! `--data-dir`, or `--instance NAME` of a shared one: `docs/identity.md`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::identity;
use super::serve::{init_logging, open_service, resolve_config, second_signal, start_dispatcher};
use crate::api::input::parse_duration_text;
use crate::config::ConfigLayer;
use crate::model::DispatcherId;

/// Arguments of `wasync worker`: where the database is, and the
/// dispatcher's settings (no API, so no address, token or upload limit).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// A TOML file of settings (the same names as the flags, with `_`; a
    /// worker ignores those of the API and the scheduler).
    #[arg(long, env = "WASYNC_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, dispatcher id, compiled cache); one
    /// process at a time holds it.
    #[arg(long, env = "WASYNC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Run as instance NAME of the data directory: an identity (lock and
    /// dispatcher id) of its own in DATA_DIR/instances/NAME, sharing its
    /// database and compiled cache. For several workers on one machine.
    #[arg(long, env = "WASYNC_INSTANCE")]
    instance: Option<String>,
    /// Database URL (default: SQLite in the data directory).
    #[arg(long, env = "WASYNC_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// How often to poll for work put by other processes (default 5s).
    #[arg(long, env = "WASYNC_POLL_INTERVAL", value_parser = parse_duration_text)]
    poll_interval: Option<Duration>,
    /// This process's dispatcher id (default: kept in the data directory).
    #[arg(long, env = "WASYNC_DISPATCHER_ID")]
    dispatcher_id: Option<DispatcherId>,
    /// Size of the `main` agent created in the default queue (default 3).
    #[arg(long, env = "WASYNC_MAIN_AGENT_SIZE")]
    main_agent_size: Option<u32>,
    /// How long running jobs may take to finish on shutdown (default 30s).
    #[arg(long, env = "WASYNC_SHUTDOWN_GRACE", value_parser = parse_duration_text)]
    shutdown_grace: Option<Duration>,
    /// How often the dispatcher pings and looks for dead ones (default 30s).
    #[arg(long, env = "WASYNC_PING_INTERVAL", value_parser = parse_duration_text)]
    ping_interval: Option<Duration>,
    /// A dispatcher silent this long is dead; its jobs are handed back
    /// (default 60s).
    #[arg(long, env = "WASYNC_DEATH_INTERVAL", value_parser = parse_duration_text)]
    death_interval: Option<Duration>,
}

impl WorkerArgs {
    /// The config file and the settings given on the command line.
    fn into_parts(self) -> (Option<PathBuf>, ConfigLayer) {
        let settings = ConfigLayer {
            data_dir: self.data_dir,
            instance: self.instance,
            database: self.database,
            poll_interval: self.poll_interval,
            dispatcher_id: self.dispatcher_id,
            main_agent_size: self.main_agent_size,
            shutdown_grace: self.shutdown_grace,
            ping_interval: self.ping_interval,
            death_interval: self.death_interval,
            ..ConfigLayer::default()
        };
        (self.config, settings)
    }
}

/// Runs jobs until Ctrl-C or SIGTERM, then stops as `serve` does: no new
/// claims, running jobs get the shutdown grace period, those still running
/// then are handed back (a second signal hands them back at once). Exits
/// with an error if its dispatcher id is taken over meanwhile.
pub async fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let (config_file, settings) = args.into_parts();
    let config = resolve_config(config_file, settings)?;
    let lock = identity::lock_own_dir(&config, "worker")?;
    let service = open_service(&config).await?;
    let dispatcher = start_dispatcher(&service, &config, &lock).await?;
    // Tests and scripts read this line to know the worker is ready.
    println!("wasync worker {} running", dispatcher.id());
    tracing::info!(dispatcher = %dispatcher.id(), backend = service.store().backend(), "working");
    let taken_over = identity::until_stopped(Some(&dispatcher)).await;
    // Listening before saying so: a second signal sent at once is heard.
    let hurry = second_signal();
    tracing::info!("shutting down");
    let id = dispatcher.id();
    dispatcher.stop_or(hurry).await;
    if let Some(by) = taken_over {
        return Err(identity::taken_over(id, &by));
    }
    drop(lock);
    Ok(ExitCode::SUCCESS)
}
