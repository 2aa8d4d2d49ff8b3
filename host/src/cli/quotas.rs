//! `wasync quotas`: a queue's quotas: list,
//! create, show, set-size, delete.

use std::process::ExitCode;

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::{emit, print_table, queue_label};
use crate::wire::quotas::{Quota, QuotaCreate, QuotaList, QuotaPatch};
use clap::{Args, Subcommand};

/// Arguments of `wasync quotas`.
#[derive(Debug, Args)]
pub struct QuotasArgs {
    /// The queue (`default`, or left out, for the default queue).
    #[arg(long, short, global = true, default_value = "default")]
    queue: String,
    /// What to do; default: list.
    #[command(subcommand)]
    command: Option<QuotasCommand>,
}

/// `wasync quotas ...`.
#[derive(Debug, Subcommand)]
enum QuotasCommand {
    /// List the queue's quotas: size, jobs holding each, filled or not.
    List,
    /// Create a quota.
    Create {
        /// Its name (spaces allowed: quote it).
        name: String,
        /// The most of its jobs running at once.
        #[arg(long, default_value_t = crate::model::QUOTA_SIZE_DEFAULT)]
        size: u32,
        /// Apply the size to each key separately (jobs name it with
        /// `--quota-key NAME=KEY`).
        #[arg(long)]
        partitioned: bool,
        /// With `--partitioned`: at most N starts per key per period,
        /// `N/PERIOD` (e.g. `5/1s`).
        #[arg(long, value_parser = super::queues::parse_rate, requires = "partitioned")]
        rate: Option<crate::model::Rate>,
    },
    /// Show a quota and the jobs holding it.
    Show {
        /// Its name.
        name: String,
    },
    /// Change a quota's size (running jobs are not touched).
    SetSize {
        /// Its name.
        name: String,
        /// The new size.
        size: u32,
    },
    /// Remove a quota (jobs naming it are no longer held back by it).
    Delete {
        /// Its name.
        name: String,
    },
}

/// A partitioned quota's keys, one line each.
fn print_keys(quota: &Quota) {
    for key in &quota.keys {
        println!(
            "  key {:?}: {} running, {} pending{}",
            key.key,
            key.running,
            key.pending,
            if key.filled { ", filled" } else { "" }
        );
        if let Some(rate) = &key.rate {
            println!(
                "    rate {} per {} ms: {} started this window, {} waiting",
                rate.limit, rate.period_ms, rate.starts, rate.waiting
            );
        }
    }
}

fn print_quota_line(quota: &Quota) {
    let active: Vec<String> = quota.active.iter().map(ToString::to_string).collect();
    println!(
        "quota {:?} of {}: size {}{}, {} running{}{}",
        quota.name,
        queue_label(&quota.queue),
        quota.size,
        if quota.partitioned { " per key" } else { "" },
        active.len(),
        if quota.filled { ", filled" } else { "" },
        if active.is_empty() {
            String::new()
        } else {
            format!(": {}", active.join(", "))
        }
    );
    print_keys(quota);
}

/// Runs a `wasync quotas` command.
pub async fn run(client_args: &ClientArgs, args: QuotasArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let json = client_args.json;
    let base = format!("/v1/queues/{}/quotas", queue_segment(&args.queue));
    let one = |name: &str| format!("{base}/{}", segment(name));
    match args.command.unwrap_or(QuotasCommand::List) {
        QuotasCommand::List => {
            let list: QuotaList = client.get_as(&base).await?;
            emit(json, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .quotas
                    .iter()
                    .map(|q| {
                        vec![
                            q.name.clone(),
                            if q.partitioned {
                                format!("{} per key", q.size)
                            } else {
                                q.size.to_string()
                            },
                            q.active.len().to_string(),
                            if q.filled { "yes" } else { "no" }.to_owned(),
                        ]
                    })
                    .collect();
                print_table(&["QUOTA", "SIZE", "RUNNING", "FILLED"], &rows);
            });
        }
        QuotasCommand::Create {
            name,
            size,
            partitioned,
            rate,
        } => {
            let body = QuotaCreate {
                name,
                size: Some(size),
                partitioned,
                rate,
            };
            let quota: Quota = client.post_as(&base, &body).await?;
            emit(json, &quota, print_quota_line);
        }
        QuotasCommand::Show { name } => {
            let quota: Quota = client.get_as(&one(&name)).await?;
            emit(json, &quota, print_quota_line);
        }
        QuotasCommand::SetSize { name, size } => {
            let quota: Quota = client.patch_as(&one(&name), &QuotaPatch { size }).await?;
            emit(json, &quota, print_quota_line);
        }
        QuotasCommand::Delete { name } => {
            let answer = client.delete(&one(&name)).await?;
            emit(json, &answer, |_| {
                println!("deleted quota {name:?} of {}", args.queue);
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
