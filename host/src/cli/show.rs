//! `wasync show`: one job.

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;
use super::client::segment;
use super::output::{print_job, print_json};

/// Arguments of `wasync show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The job id.
    id: String,
}

/// Shows a job.
pub async fn run(client_args: &ClientArgs, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let job = client_args
        .client()
        .get(&format!("/v1/jobs/{}", segment(&args.id)))
        .await?;
    if client_args.json {
        print_json(&job);
    } else {
        print_job(&job);
    }
    Ok(ExitCode::SUCCESS)
}
