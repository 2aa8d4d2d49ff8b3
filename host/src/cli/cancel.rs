//! `wasync cancel`: cancelling a job, running or not.

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;
use super::client::segment;
use super::output::emit;
use crate::model::Job;

/// Arguments of `wasync cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The job id.
    id: String,
}

/// Cancels a job that has not completed; a running job's run is stopped
/// wherever it runs.
pub async fn cancel(client_args: &ClientArgs, args: CancelArgs) -> anyhow::Result<ExitCode> {
    // The cancel takes no body.
    let job: Job = client_args
        .client()
        .post_empty_as(&format!("/v1/jobs/{}/cancel", segment(&args.id)))
        .await?;
    emit(client_args.json, &job, |job| {
        println!("cancelled job {}", job.id)
    });
    Ok(ExitCode::SUCCESS)
}
