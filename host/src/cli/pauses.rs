//! `wasync pause`, `wasync resume` and `wasync processing`: pausing and
//! resuming a queue or a dispatcher.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::{emit, print_json, print_table, queue_label, time};
use crate::wire::operators::{DispatcherProcessing, ProcessingView, QueueProcessing};

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
    let client = client_args.client();
    // The pause and the resume take no body.
    let path = args.target.path(action);
    match &args.target {
        Target::Queue { .. } => {
            let reply: QueueProcessing = client.post_empty_as(&path).await?;
            emit(client_args.json, &reply, |_| {
                println!("{} {}", done(resume), args.target.describe());
            });
        }
        Target::Dispatcher { .. } => {
            let reply: DispatcherProcessing = client.post_empty_as(&path).await?;
            emit(client_args.json, &reply, |_| {
                println!("{} {}", done(resume), args.target.describe());
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn done(resume: bool) -> &'static str {
    if resume { "resumed" } else { "paused" }
}

/// Lists what is paused.
pub async fn processing(client_args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let view: ProcessingView = client_args.client().get_as("/v1/processing").await?;
    if client_args.json {
        print_json(&view);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for q in &view.paused_queues {
        rows.push(vec![
            "queue".into(),
            queue_label(&q.queue),
            time(&q.paused_at),
        ]);
    }
    for d in &view.paused_dispatchers {
        rows.push(vec![
            "dispatcher".into(),
            d.dispatcher.to_string(),
            time(&d.paused_at),
        ]);
    }
    if rows.is_empty() {
        println!("nothing is paused");
    } else {
        print_table(&["PAUSED", "NAME", "SINCE"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}
