//! `wasync scheduler`: a scheduler only — no HTTP API, no dispatcher. It
//! turns the due occurrences of the schedules in the database into jobs,
//! which any dispatcher sharing the database runs (m01.remote's split
//! between the scheduling process and the job-processing one). Several
//! schedulers may share one database: each occurrence is put once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::identity;
use super::serve::{init_logging, open_service, resolve_config, shutdown_signal, start_scheduler};
use crate::api::input::parse_duration_text;
use crate::config::ConfigLayer;

/// Arguments of `wasync scheduler`: where the database is, and how often
/// to look for due schedules (no API, no dispatcher).
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// A TOML file of settings (the same names as the flags, with `_`; a
    /// scheduler ignores those of the API and the dispatcher).
    #[arg(long, env = "WASYNC_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, lock); one process at a time holds
    /// it.
    #[arg(long, env = "WASYNC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Run as instance NAME of the data directory: a lock of its own in
    /// DATA_DIR/instances/NAME, sharing its database.
    #[arg(long, env = "WASYNC_INSTANCE")]
    instance: Option<String>,
    /// Database URL (default: SQLite in the data directory).
    #[arg(long, env = "WASYNC_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// How often to look for due schedules (default 1s).
    #[arg(long, env = "WASYNC_SCHEDULER_INTERVAL", value_parser = parse_duration_text)]
    scheduler_interval: Option<Duration>,
}

impl SchedulerArgs {
    /// The config file and the settings given on the command line.
    fn into_parts(self) -> (Option<PathBuf>, ConfigLayer) {
        let settings = ConfigLayer {
            data_dir: self.data_dir,
            instance: self.instance,
            database: self.database,
            scheduler_interval: self.scheduler_interval,
            ..ConfigLayer::default()
        };
        (self.config, settings)
    }
}

/// Schedules until Ctrl-C or SIGTERM, then stops after the round in
/// progress.
pub async fn run(args: SchedulerArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let (config_file, settings) = args.into_parts();
    let config = resolve_config(config_file, settings)?;
    let lock = identity::lock_own_dir(&config, "scheduler")?;
    let service = open_service(&config).await?;
    let scheduler = start_scheduler(&service, &config);
    // Tests and scripts read this line to know the scheduler is ready.
    println!("wasync scheduler {} running", scheduler.holder());
    tracing::info!(
        holder = scheduler.holder(),
        backend = service.store().backend(),
        "scheduling"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    scheduler.stop().await;
    drop(lock);
    Ok(ExitCode::SUCCESS)
}
