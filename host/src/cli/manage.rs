//! The management tools on the command line: `wasync cancel`,
//! `wasync remove-jobs`, `wasync pause`, `wasync resume`, `wasync
//! processing`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::{print_json, print_table, queue_name};

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

/// What `pause` and `resume` act on.
#[derive(Debug, Subcommand)]
pub enum Target {
    /// A queue: no dispatcher claims from it while paused.
    Queue {
        /// Its name (`default` is the default queue).
        name: String,
    },
    /// A dispatcher: it claims nothing while paused (running jobs go on).
    Dispatcher {
        /// Its id.
        id: String,
    },
}

impl Target {
    fn path(&self, action: &str) -> String {
        match self {
            Target::Queue { name } => format!("/v1/queues/{}/{action}", queue_segment(name)),
            Target::Dispatcher { id } => format!("/v1/dispatchers/{}/{action}", segment(id)),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Queue { name } => format!("queue {name}"),
            Target::Dispatcher { id } => format!("dispatcher {id}"),
        }
    }
}

/// Arguments of `wasync pause` and `wasync resume`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// What to pause or resume.
    #[command(subcommand)]
    target: Target,
}

/// Pauses (`resume` false) or resumes processing of a queue or dispatcher.
pub async fn pause(
    client_args: &ClientArgs,
    args: PauseArgs,
    resume: bool,
) -> anyhow::Result<ExitCode> {
    let action = if resume { "resume" } else { "pause" };
    let answer = client_args
        .client()
        .post(&args.target.path(action), &json!({}))
        .await?;
    if client_args.json {
        print_json(&answer);
    } else {
        let done = if resume { "resumed" } else { "paused" };
        println!("{done} {}", args.target.describe());
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists what is paused.
pub async fn processing(client_args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let answer = client_args.client().get("/v1/processing").await?;
    if client_args.json {
        print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for q in answer["paused_queues"].as_array().into_iter().flatten() {
        rows.push(vec![
            "queue".into(),
            queue_name(&q["queue"]),
            q["paused_at"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    for d in answer["paused_dispatchers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        rows.push(vec![
            "dispatcher".into(),
            d["dispatcher"].as_str().unwrap_or("?").to_owned(),
            d["paused_at"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    if rows.is_empty() {
        println!("nothing is paused");
    } else {
        print_table(&["PAUSED", "NAME", "SINCE"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}
