//! `wasync serve`: the HTTP API, a dispatcher and a scheduler in one
//! process.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;

use super::identity;
use super::server::{ServerArgs, init_logging, second_signal};
use crate::api::{self, AppState};
use crate::app::{self, App};
use crate::config::ConfigLayer;

/// Arguments of `wasync serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the settings and the database are.
    #[command(flatten)]
    server: ServerArgs,
    /// Settings; each overrides the config file.
    #[command(flatten)]
    settings: ConfigLayer,
}

/// Runs the server until Ctrl-C or SIGTERM (or until its dispatcher id is
/// taken over: then it exits with an error).
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = args.server.resolve(args.settings)?;
    // What only one process may have comes first, before anything is
    // written to the database: a start that cannot complete changes
    // nothing there.
    let lock = identity::lock_own_dir(&config, "serve")?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let app = App::open(&config).await?;
    let dispatcher = if config.dispatcher {
        Some(identity::start_dispatcher(&app, &config, &lock).await?)
    } else {
        None
    };
    let scheduler = config
        .scheduler
        .then(|| app.start_scheduler(app::scheduler_config(&config)));
    let retention = app.start_retention(&config);
    let address = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("wasync listening on http://{address}");
    tracing::info!(%address, backend = app.backend(), "serving");
    let state = AppState {
        service: app.service.clone(),
        token: config.token.clone(),
        upload_limit: config.upload_limit as usize,
    };
    let (stopped, why) = tokio::sync::oneshot::channel();
    let until = identity::until_stopped(dispatcher.as_ref());
    api::serve(listener, state, async move {
        let _ = stopped.send(until.await);
    })
    .await?;
    let taken_over = why.await.ok().flatten();
    // Listening before saying so: a second signal sent at once is heard.
    let hurry = second_signal();
    tracing::info!("shutting down");
    if let Some(scheduler) = scheduler {
        scheduler.stop().await;
    }
    if let Some(retention) = retention {
        retention.stop().await;
    }
    if let Some(dispatcher) = dispatcher {
        let id = dispatcher.id();
        dispatcher.stop_or(hurry).await;
        if let Some(by) = taken_over {
            return Err(identity::taken_over(id, &by));
        }
    }
    drop(lock);
    Ok(ExitCode::SUCCESS)
}
