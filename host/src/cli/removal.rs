//! `wasync remove-jobs`: removal of finished jobs by status.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::ClientArgs;
use super::output::{print_json, print_table};

/// Arguments of `wasync remove-jobs`.
#[derive(Debug, Args)]
pub struct RemoveJobsArgs {
    /// A state to remove: completed, succeeded, failed or cancelled;
    /// repeat for several (default: completed and cancelled).
    #[arg(long = "status", short = 's')]
    statuses: Vec<String>,
    /// Only jobs of this queue (`default` is the default queue).
    #[arg(long, short)]
    queue: Option<String>,
}

/// Deletes finished jobs and prints the count per state.
pub async fn remove_jobs(
    client_args: &ClientArgs,
    args: RemoveJobsArgs,
) -> anyhow::Result<ExitCode> {
    let answer = client_args
        .client()
        .post(
            "/v1/jobs/remove",
            &json!({ "statuses": args.statuses, "queue": args.queue }),
        )
        .await?;
    if client_args.json {
        print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = answer["removed"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(state, count)| vec![state.clone(), count.to_string()])
        .collect();
    print_table(&["STATUS", "REMOVED"], &rows);
    Ok(ExitCode::SUCCESS)
}
