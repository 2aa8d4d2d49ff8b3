//! `wasync pause`, `wasync resume` and `wasync processing`: pausing and
//! resuming a queue or a dispatcher.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::{print_json, print_table, queue_name};

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
