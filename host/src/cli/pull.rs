//! `wasync pull`, `wasync remove`, `wasync put-back`: take the job at an
//! index of a queue out of it, take a given job out, and put a detached
//! job back.

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::emit;
use crate::model::Job;
use crate::wire::jobs::PutBackBody;
use crate::wire::queues::PullBody;

/// Arguments of `wasync pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The queue (default: the default queue).
    #[arg(long, short, default_value = "")]
    queue: String,
    /// Which job, in queue order; negative counts from the end (-1: last).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    index: i64,
}

/// Pulls a job out of a queue and prints it.
pub async fn pull(client_args: &ClientArgs, args: PullArgs) -> anyhow::Result<ExitCode> {
    let job: Job = client_args
        .client()
        .post_as(
            &format!("/v1/queues/{}/pull", queue_segment(&args.queue)),
            &PullBody { index: args.index },
        )
        .await?;
    report(client_args, &job, "pulled");
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `wasync remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The job id.
    id: String,
    /// The queue it must be in (default: the default queue).
    #[arg(long, short, default_value = "")]
    queue: String,
}

/// Removes a pending job from its queue.
pub async fn remove(client_args: &ClientArgs, args: RemoveArgs) -> anyhow::Result<ExitCode> {
    let job: Job = client_args
        .client()
        .delete_as(&format!(
            "/v1/queues/{}/jobs/{}",
            queue_segment(&args.queue),
            segment(&args.id)
        ))
        .await?;
    report(client_args, &job, "removed");
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `wasync put-back`.
#[derive(Debug, Args)]
pub struct PutBackArgs {
    /// The job id (a pulled or removed job).
    id: String,
    /// The queue to put it in (default: its own).
    #[arg(long, short)]
    queue: Option<String>,
}

/// Puts a detached job back at the end of a queue.
pub async fn put_back(client_args: &ClientArgs, args: PutBackArgs) -> anyhow::Result<ExitCode> {
    let body = PutBackBody { queue: args.queue };
    let job: Job = client_args
        .client()
        .post_as(&format!("/v1/jobs/{}/put", segment(&args.id)), &body)
        .await?;
    report(client_args, &job, "put back");
    Ok(ExitCode::SUCCESS)
}

fn report(client_args: &ClientArgs, job: &Job, what: &str) {
    emit(client_args.json, job, |job| {
        let module = match &job.module_name {
            Some(name) => name.clone(),
            None => job.module.to_string(),
        };
        println!("{what} job {} ({module}:{})", job.id, job.function);
    });
}
