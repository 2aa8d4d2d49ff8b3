//! `wasync pull`, `wasync remove`, `wasync put-back`: take the job at an
//! index of a queue out of it, take a given job out, and put a detached
//! job back.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::print_json;

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
    let job = client_args
        .client()
        .post(
            &format!("/v1/queues/{}/pull", queue_segment(&args.queue)),
            &json!({ "index": args.index }),
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
    let job = client_args
        .client()
        .delete(&format!(
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
    let body = match &args.queue {
        Some(queue) => json!({ "queue": queue }),
        None => json!({}),
    };
    let job = client_args
        .client()
        .post(&format!("/v1/jobs/{}/put", segment(&args.id)), &body)
        .await?;
    report(client_args, &job, "put back");
    Ok(ExitCode::SUCCESS)
}

fn report(client_args: &ClientArgs, job: &serde_json::Value, what: &str) {
    if client_args.json {
        print_json(job);
    } else {
        println!(
            "{what} job {} ({}:{})",
            job["id"].as_str().unwrap_or("?"),
            job["module_name"]
                .as_str()
                .or(job["module"].as_str())
                .unwrap_or("?"),
            job["function"].as_str().unwrap_or("?")
        );
    }
}
