//! `wasync jobs`: list jobs.

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;
use super::client::segment;
use super::output::{outcome_line, print_json, print_table, queue_label};
use crate::model::JobStatus;
use crate::wire::JobPage;

/// Arguments of `wasync jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only these statuses (comma-separated: new, pending, assigned,
    /// active, callbacks, completed, cancelled).
    #[arg(long, short)]
    status: Option<String>,
    /// Only this queue (`default` for the default queue).
    #[arg(long, short)]
    queue: Option<String>,
    /// The most to list.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Start after this job id (the `next` of a previous page).
    #[arg(long)]
    after: Option<String>,
}

/// Lists jobs, oldest first.
pub async fn run(client_args: &ClientArgs, args: JobsArgs) -> anyhow::Result<ExitCode> {
    let mut query = vec![format!("limit={}", args.limit)];
    if let Some(status) = &args.status {
        query.push(format!("status={}", segment(status)));
    }
    if let Some(queue) = &args.queue {
        query.push(format!(
            "queue={}",
            segment(if queue == "default" { "" } else { queue })
        ));
    }
    if let Some(after) = &args.after {
        query.push(format!("after={}", segment(after)));
    }
    let page: JobPage = client_args
        .client()
        .get_as(&format!("/v1/jobs?{}", query.join("&")))
        .await?;
    if client_args.json {
        print_json(&page);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = page
        .jobs
        .iter()
        .map(|job| {
            let module = job
                .module_name
                .clone()
                .unwrap_or_else(|| job.module.as_str().chars().take(19).collect());
            vec![
                job.id.to_string(),
                job.status.to_string(),
                queue_label(&job.queue),
                format!("{module}:{}", job.function),
                if job.status == JobStatus::Completed {
                    outcome_line(job)
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    print_table(&["ID", "STATUS", "QUEUE", "CALL", "OUTCOME"], &rows);
    if let Some(next) = page.next {
        println!("(more: --after {next})");
    }
    Ok(ExitCode::SUCCESS)
}
