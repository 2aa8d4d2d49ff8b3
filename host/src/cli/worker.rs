//! `wasync worker`: a dispatcher and its agents, no HTTP API. Several
//! workers (on one machine with SQLite, on many with PostgreSQL) share the
//! queues of one database.

use std::process::ExitCode;

use super::serve::{
    ServeArgs, init_logging, open_service, resolve_config, second_signal, shutdown_signal,
    start_dispatcher,
};

/// Runs jobs until Ctrl-C or SIGTERM, then stops as `serve` does: no new
/// claims, running jobs get the shutdown grace period, those still running
/// then are handed back (a second signal hands them back at once).
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let (config_file, settings) = args.into_parts();
    let config = resolve_config(config_file, settings)?;
    let service = open_service(&config).await?;
    let dispatcher = start_dispatcher(&service, &config).await?;
    // Tests and scripts read this line to know the worker is ready.
    println!("wasync worker {} running", dispatcher.id());
    tracing::info!(dispatcher = %dispatcher.id(), backend = service.store().backend(), "working");
    shutdown_signal().await;
    tracing::info!("shutting down");
    dispatcher.stop_or(second_signal()).await;
    Ok(ExitCode::SUCCESS)
}
