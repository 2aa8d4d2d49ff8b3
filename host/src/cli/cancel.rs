//! `wasync cancel`: cancelling a job, running or not.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::ClientArgs;
use super::client::segment;
use super::output::print_json;

/// Arguments of `wasync cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The job id.
    id: String,
}

/// Cancels a job that has not completed; a running job's run is stopped
/// wherever it runs.
pub async fn cancel(client_args: &ClientArgs, args: CancelArgs) -> anyhow::Result<ExitCode> {
    let job = client_args
        .client()
        .post(
            &format!("/v1/jobs/{}/cancel", segment(&args.id)),
            &json!({}),
        )
        .await?;
    if client_args.json {
        print_json(&job);
    } else {
        println!("cancelled job {}", args.id);
    }
    Ok(ExitCode::SUCCESS)
}
