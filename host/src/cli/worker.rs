//! `wasync worker`: a dispatcher and its agents, no HTTP API. Several
//! workers (on one machine with SQLite, on many with PostgreSQL) share the
//! queues of one database; each needs a directory of its own (its own
//! `--data-dir`, or `--instance NAME` of a shared one: `docs/identity.md`).

use std::process::ExitCode;

use super::identity;
use super::serve::{
    ServeArgs, init_logging, open_service, resolve_config, second_signal, start_dispatcher,
};

/// Runs jobs until Ctrl-C or SIGTERM, then stops as `serve` does: no new
/// claims, running jobs get the shutdown grace period, those still running
/// then are handed back (a second signal hands them back at once). Exits
/// with an error if its dispatcher id is taken over meanwhile.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
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
