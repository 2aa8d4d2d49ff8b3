//! `wasync scheduler`: a scheduler only — no HTTP API, no dispatcher. It
//! turns the due occurrences of the schedules in the database into jobs,
//! which any dispatcher sharing the database runs (m01.remote's split
//! between the scheduling process and the job-processing one). Several
//! schedulers may share one database: each occurrence is put once.

use std::process::ExitCode;

use super::identity;
use super::serve::{
    ServeArgs, init_logging, open_service, resolve_config, shutdown_signal, start_scheduler,
};

/// Schedules until Ctrl-C or SIGTERM, then stops after the round in
/// progress.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
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
