//! `wasync show`: one job.

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;
use super::client::segment;
use super::output::{print_job, print_json};
use crate::wire::JobView;

/// Arguments of `wasync show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The job id.
    id: String,
}

/// Shows a job.
pub async fn run(client_args: &ClientArgs, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let view: JobView = client_args
        .client()
        .get_as(&format!("/v1/jobs/{}", segment(&args.id)))
        .await?;
    if client_args.json {
        print_json(&view);
    } else {
        print_job(&view.job, &view.annotations);
    }
    Ok(ExitCode::SUCCESS)
}
