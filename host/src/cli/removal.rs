//! `wasync remove-jobs`: removal of finished jobs by status.

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;
use super::output::{emit, print_table};
use crate::wire::operators::{RemoveReply, RemoveRequest};

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
    let body = RemoveRequest {
        statuses: args.statuses,
        queue: args.queue,
    };
    let reply: RemoveReply = client_args
        .client()
        .post_as("/v1/jobs/remove", &body)
        .await?;
    emit(client_args.json, &reply, |reply| {
        let rows: Vec<Vec<String>> = reply
            .removed
            .iter()
            .map(|(state, count)| vec![state.clone(), count.to_string()])
            .collect();
        print_table(&["STATUS", "REMOVED"], &rows);
    });
    Ok(ExitCode::SUCCESS)
}
