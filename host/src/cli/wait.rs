//! `wasync wait`: wait for a job to complete, with a spinner.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::ClientArgs;
use super::client::segment;
use super::output::{outcome_line, print_json};
use crate::model::{Job, JobStatus};

/// How long one long-poll request holds the connection.
const LONG_POLL: Duration = Duration::from_secs(5);

/// Arguments of `wasync wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The job id.
    id: String,
    /// Give up after this long (exit 3); default: wait for ever.
    #[arg(long, value_parser = super::parse_duration)]
    timeout: Option<Duration>,
}

/// Waits, then prints the outcome. Exits 0 on a value, 1 on a failure, 3
/// if the timeout passed first.
pub async fn run(client_args: &ClientArgs, args: WaitArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    let job = loop {
        let left = args
            .timeout
            .map(|t| t.saturating_sub(started.elapsed()))
            .unwrap_or(LONG_POLL);
        let poll = left.min(LONG_POLL);
        let path = format!(
            "/v1/jobs/{}/wait?timeout={}ms",
            segment(&args.id),
            poll.as_millis()
        );
        let job: Job = match client.get_as(&path).await {
            Ok(job) => job,
            Err(error) => {
                spinner.finish_and_clear();
                return Err(error.into());
            }
        };
        let status = job.status;
        // Both final statuses: a cancelled job never runs.
        if matches!(status, JobStatus::Completed | JobStatus::Cancelled) {
            break job;
        }
        if args.timeout.is_some_and(|t| started.elapsed() >= t) {
            spinner.finish_and_clear();
            if client_args.json {
                print_json(&job);
            } else {
                println!("job {} is still {status}", args.id);
            }
            return Ok(ExitCode::from(3));
        }
        spinner.set_message(format!(
            "job {}: {status} (attempt {})",
            args.id, job.attempts
        ));
    };
    spinner.finish_and_clear();
    if client_args.json {
        print_json(&job);
    } else {
        println!("job {} {} with {}", args.id, job.status, outcome_line(&job));
    }
    Ok(if job.failure.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
