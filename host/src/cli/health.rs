//! `wasync health`: is the server up?

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::ClientArgs;
use super::output::emit;
use crate::wire::server::Health;

/// Arguments of `wasync health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Keep trying this long while the server does not answer yet.
    #[arg(long, value_parser = super::parse_duration)]
    wait: Option<Duration>,
}

/// Asks `/v1/health`, retrying until `--wait` passes.
pub async fn run(client_args: &ClientArgs, args: HealthArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let deadline = tokio::time::Instant::now() + args.wait.unwrap_or_default();
    loop {
        match client.get_as::<Health>("/v1/health").await {
            Ok(health) => {
                emit(client_args.json, &health, |health| {
                    println!(
                        "wasync {} at {} is up ({} store)",
                        health.version, client_args.server, health.backend
                    );
                });
                return Ok(ExitCode::SUCCESS);
            }
            Err(error) if tokio::time::Instant::now() >= deadline => return Err(error.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
