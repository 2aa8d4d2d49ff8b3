//! `wasync scheduler`: a scheduler only — no HTTP API, no dispatcher. It
//! turns the due occurrences of the schedules in the database into jobs,
//! which any dispatcher sharing the database runs: scheduling and running
//! jobs can be separate processes. Several schedulers may share one
//! database: each occurrence is put once.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::identity;
use super::server::{ServerArgs, init_logging, shutdown_signal};
use crate::api::input::parse_duration_text;
use crate::app::{self, App};
use crate::config::ConfigLayer;

/// Arguments of `wasync scheduler`: where the database is, and how often
/// to look for due schedules (no API, no dispatcher).
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Where the settings and the database are.
    #[command(flatten)]
    server: ServerArgs,
    /// How often to look for due schedules (default 1s).
    #[arg(long, env = "WASYNC_SCHEDULER_INTERVAL", value_parser = parse_duration_text)]
    scheduler_interval: Option<Duration>,
}

impl SchedulerArgs {
    /// Where the settings are, and those given on the command line.
    fn into_parts(self) -> (ServerArgs, ConfigLayer) {
        let settings = ConfigLayer {
            scheduler_interval: self.scheduler_interval,
            ..ConfigLayer::default()
        };
        (self.server, settings)
    }
}

/// Schedules until Ctrl-C or SIGTERM, then stops after the round in
/// progress.
pub async fn run(args: SchedulerArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let (server, settings) = args.into_parts();
    let config = server.resolve(settings)?;
    let lock = identity::lock_own_dir(&config, "scheduler")?;
    let app = App::open(&config).await?;
    let scheduler = app.start_scheduler(app::scheduler_config(&config));
    // Tests and scripts read this line to know the scheduler is ready.
    println!("wasync scheduler {} running", scheduler.holder());
    tracing::info!(
        holder = scheduler.holder(),
        backend = app.backend(),
        "scheduling"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    scheduler.stop().await;
    drop(lock);
    Ok(ExitCode::SUCCESS)
}
