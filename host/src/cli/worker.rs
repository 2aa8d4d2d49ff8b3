//! `wasync worker`: a dispatcher and its agents, no HTTP API. Several
//! workers (on one machine with SQLite, on many with PostgreSQL) share the
//! queues of one database; each needs a directory of its own (its own
//! `--data-dir`, or `--instance NAME` of a shared one: `docs/identity.md`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use super::identity;
use super::server::{ServerArgs, init_logging, second_signal};
use crate::api;
use crate::api::input::parse_duration_text;
use crate::app::App;
use crate::config::ConfigLayer;
use crate::model::DispatcherId;
use crate::sandbox_config::SandboxLayer;

/// Arguments of `wasync worker`: where the database is, and the
/// dispatcher's settings (no API, so no address, token or upload limit).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Where the settings and the database are.
    #[command(flatten)]
    server: ServerArgs,
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
    /// Serve this worker's metrics (`GET /metrics`, Prometheus) on this
    /// address, e.g. `127.0.0.1:9187` (default: none). No token guards
    /// it: bind it where only the scraper reaches.
    #[arg(long, env = "WASYNC_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// The sandbox's limits and the HTTP origins this worker's jobs may
    /// reach (`[sandbox]` in the file).
    #[command(flatten)]
    sandbox: SandboxLayer,
}

impl WorkerArgs {
    /// Where the settings are, and those given on the command line.
    fn into_parts(self) -> (ServerArgs, ConfigLayer) {
        let settings = ConfigLayer {
            poll_interval: self.poll_interval,
            dispatcher_id: self.dispatcher_id,
            main_agent_size: self.main_agent_size,
            shutdown_grace: self.shutdown_grace,
            ping_interval: self.ping_interval,
            death_interval: self.death_interval,
            metrics_listen: self.metrics_listen,
            sandbox: self.sandbox,
            ..ConfigLayer::default()
        };
        (self.server, settings)
    }
}

/// Runs jobs until Ctrl-C or SIGTERM, then stops as `serve` does: no new
/// claims, running jobs get the shutdown grace period, those still running
/// then are handed back (a second signal hands them back at once). Exits
/// with an error if its dispatcher id is taken over meanwhile.
pub async fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let (server, settings) = args.into_parts();
    let config = server.resolve(settings)?;
    let lock = identity::lock_own_dir(&config, "worker")?;
    let metrics = match &config.metrics_listen {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} for metrics"))?,
        ),
        None => None,
    };
    let app = App::open(&config).await?;
    let dispatcher = identity::start_dispatcher(&app, &config, &lock).await?;
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_task = match metrics {
        Some(listener) => {
            let address = listener.local_addr()?;
            // Tests and scripts read this line to find the port.
            println!("wasync metrics on http://{address}/metrics");
            let stopped = async move {
                let _ = metrics_stopped.await;
            };
            Some(tokio::spawn(api::serve_metrics(listener, stopped)))
        }
        None => None,
    };
    // Tests and scripts read this line to know the worker is ready.
    println!("wasync worker {} running", dispatcher.id());
    tracing::info!(dispatcher = %dispatcher.id(), backend = app.backend(), "working");
    let taken_over = identity::until_stopped(Some(&dispatcher)).await;
    // Listening before saying so: a second signal sent at once is heard.
    let hurry = second_signal();
    tracing::info!("shutting down");
    let id = dispatcher.id();
    dispatcher.stop_or(hurry).await;
    let _ = metrics_stop.send(());
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    if let Some(by) = taken_over {
        return Err(identity::taken_over(id, &by));
    }
    drop(lock);
    Ok(ExitCode::SUCCESS)
}
