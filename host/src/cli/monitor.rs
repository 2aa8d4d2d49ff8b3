//! `wasync monitor`, over HTTP: count and list jobs by state, function,
//! queue, agent, dispatcher and time ranges; a job's info and failure; the next pending and the last
//! completed job; a dispatcher's statistics, status and recent polls.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::{print_json, print_table, queue_label, time};
use crate::model::Job;
use crate::wire::JobPage;
use crate::wire::dispatchers::{DispatcherStatsView, DispatcherStatusView, PollList};
use crate::wire::operators::{FailureReply, JobCount, JobInfo, JobSlot};

/// Arguments of `wasync monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// What to show.
    #[command(subcommand)]
    command: MonitorCommand,
}

/// The filters of `count` and `jobs`. Times are
/// RFC 3339 (`2026-11-26T10:00:00Z`); a range takes either end or both.
#[derive(Debug, Default, Args)]
struct Filters {
    /// States, comma-separated: new, pending, assigned, active, callbacks,
    /// completed, succeeded, failed, cancelled.
    #[arg(long)]
    state: Option<String>,
    /// Glob on the module's name or digest.
    #[arg(long)]
    module: Option<String>,
    /// Glob on the function, e.g. `resize*`.
    #[arg(long)]
    function: Option<String>,
    /// Only this queue (`default` is the default queue).
    #[arg(long, short)]
    queue: Option<String>,
    /// Only jobs claimed by an agent of this name.
    #[arg(long)]
    agent: Option<String>,
    /// Only jobs claimed by this dispatcher.
    #[arg(long)]
    dispatcher: Option<String>,
    /// Requested start (begin-after) from this time.
    #[arg(long)]
    requested_start_since: Option<String>,
    /// Requested start before this time.
    #[arg(long)]
    requested_start_before: Option<String>,
    /// Started from this time.
    #[arg(long)]
    start_since: Option<String>,
    /// Started before this time.
    #[arg(long)]
    start_before: Option<String>,
    /// Completed from this time.
    #[arg(long)]
    end_since: Option<String>,
    /// Completed before this time.
    #[arg(long)]
    end_before: Option<String>,
}

impl Filters {
    /// The query string (without `?`).
    fn query(&self) -> String {
        let pairs = [
            ("state", &self.state),
            ("module", &self.module),
            ("function", &self.function),
            ("queue", &self.queue),
            ("agent", &self.agent),
            ("dispatcher", &self.dispatcher),
            ("requested_start_since", &self.requested_start_since),
            ("requested_start_before", &self.requested_start_before),
            ("start_since", &self.start_since),
            ("start_before", &self.start_before),
            ("end_since", &self.end_since),
            ("end_before", &self.end_before),
        ];
        pairs
            .iter()
            .filter_map(|(key, value)| {
                let value = value.as_deref()?;
                let value = if *key == "queue" && value == "default" {
                    ""
                } else {
                    value
                };
                Some(format!("{key}={}", segment(value)))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// `wasync monitor ...`.
#[derive(Debug, Subcommand)]
enum MonitorCommand {
    /// Count the jobs matching the filters.
    Count(Filters),
    /// List the jobs matching the filters, oldest first.
    Jobs {
        #[command(flatten)]
        filters: Filters,
        /// The most to list.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A job's info: dispatcher, agent, poll, times, result summary.
    Info {
        /// The job id.
        id: String,
    },
    /// A job's failure, with its detail (backtrace).
    Failure {
        /// The job id.
        id: String,
    },
    /// The job a queue hands out next.
    NextPending {
        /// The queue (`default` is the default queue).
        #[arg(default_value = "default")]
        queue: String,
    },
    /// The job completed last (filters apply).
    LastCompleted(Filters),
    /// A dispatcher's statistics over a window (default: since the
    /// beginning, until now).
    Stats {
        /// The dispatcher id.
        dispatcher: String,
        /// Jobs started from this time.
        #[arg(long)]
        since: Option<String>,
        /// Jobs started before this time.
        #[arg(long)]
        before: Option<String>,
    },
    /// A dispatcher's status and active jobs.
    Status {
        /// The dispatcher id.
        dispatcher: String,
    },
    /// A dispatcher's latest polls that claimed jobs.
    Polls {
        /// The dispatcher id.
        dispatcher: String,
        /// How many.
        #[arg(long, default_value_t = 3)]
        count: u32,
    },
}

/// Runs a `wasync monitor` command.
pub async fn run(client_args: &ClientArgs, args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let path = match &args.command {
        MonitorCommand::Count(filters) => format!("/v1/jobs/count?{}", filters.query()),
        MonitorCommand::Jobs { filters, limit } => {
            format!("/v1/jobs/query?limit={limit}&{}", filters.query())
        }
        MonitorCommand::Info { id } => format!("/v1/jobs/{}/info", segment(id)),
        MonitorCommand::Failure { id } => format!("/v1/jobs/{}/failure", segment(id)),
        MonitorCommand::NextPending { queue } => {
            format!("/v1/queues/{}/next", queue_segment(queue))
        }
        MonitorCommand::LastCompleted(filters) => {
            format!("/v1/jobs/last-completed?{}", filters.query())
        }
        MonitorCommand::Stats {
            dispatcher,
            since,
            before,
        } => {
            let mut path = format!("/v1/dispatchers/{}/stats?", segment(dispatcher));
            if let Some(since) = since {
                path.push_str(&format!("since={}&", segment(since)));
            }
            if let Some(before) = before {
                path.push_str(&format!("before={}", segment(before)));
            }
            path
        }
        MonitorCommand::Status { dispatcher } => {
            format!("/v1/dispatchers/{}/status", segment(dispatcher))
        }
        MonitorCommand::Polls { dispatcher, count } => {
            format!(
                "/v1/dispatchers/{}/polls?count={count}",
                segment(dispatcher)
            )
        }
    };
    let json = client_args.json;
    match args.command {
        MonitorCommand::Count(_) => {
            let reply: JobCount = client.get_as(&path).await?;
            if json {
                print_json(&reply);
            } else {
                println!("{}", reply.count);
            }
        }
        MonitorCommand::Jobs { .. } => {
            let page: JobPage = client.get_as(&path).await?;
            if json {
                print_json(&page);
            } else {
                print_jobs(&page.jobs);
            }
        }
        MonitorCommand::NextPending { .. } | MonitorCommand::LastCompleted(_) => {
            let slot: JobSlot = client.get_as(&path).await?;
            match (&slot.job, json) {
                (_, true) => print_json(&slot),
                (Some(job), false) => print_jobs(std::slice::from_ref(job)),
                (None, false) => println!("none"),
            }
        }
        MonitorCommand::Failure { .. } => {
            let reply: FailureReply = client.get_as(&path).await?;
            match (&reply.failure, json) {
                (_, true) => print_json(&reply),
                (Some(failure), false) => {
                    println!("{}: {}", failure.kind, failure.message);
                    if let Some(detail) = &failure.detail {
                        println!("{detail}");
                    }
                }
                (None, false) => println!("no failure"),
            }
        }
        // These print their JSON either way.
        MonitorCommand::Info { .. } => print_json(&client.get_as::<JobInfo>(&path).await?),
        MonitorCommand::Stats { .. } => {
            print_json(&client.get_as::<DispatcherStatsView>(&path).await?)
        }
        MonitorCommand::Status { .. } => {
            print_json(&client.get_as::<DispatcherStatusView>(&path).await?)
        }
        MonitorCommand::Polls { .. } => print_json(&client.get_as::<PollList>(&path).await?),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_jobs(jobs: &[Job]) {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            vec![
                job.id.to_string(),
                job.status.to_string(),
                queue_label(&job.queue),
                job.function.clone(),
                job.completed_at.as_ref().map(time).unwrap_or_default(),
            ]
        })
        .collect();
    print_table(&["ID", "STATUS", "QUEUE", "FUNCTION", "COMPLETED"], &rows);
}
