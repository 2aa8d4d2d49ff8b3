//! `wasync quotas`: a queue's quotas: list,
//! create, show, set-size, delete.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::{print_json, print_table, queue_name};

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
fn print_keys(quota: &Value) {
    for key in quota["keys"].as_array().into_iter().flatten() {
        println!(
            "  key {:?}: {} running, {} pending{}",
            key["key"].as_str().unwrap_or("?"),
            key["running"],
            key["pending"],
            if key["filled"] == true {
                ", filled"
            } else {
                ""
            }
        );
        let rate = &key["rate"];
        if !rate.is_null() {
            println!(
                "    rate {} per {} ms: {} started this window, {} waiting",
                rate["limit"], rate["period_ms"], rate["starts"], rate["waiting"]
            );
        }
    }
}

fn print_quota_line(quota: &Value) {
    let active: Vec<&str> = quota["active"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "quota {:?} of {}: size {}{}, {} running{}{}",
        quota["name"].as_str().unwrap_or("?"),
        queue_name(&quota["queue"]),
        quota["size"],
        if quota["partitioned"] == true {
            " per key"
        } else {
            ""
        },
        active.len(),
        if quota["filled"] == true {
            ", filled"
        } else {
            ""
        },
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
    let base = format!("/v1/queues/{}/quotas", queue_segment(&args.queue));
    let one = |name: &str| format!("{base}/{}", segment(name));
    let command = args.command.unwrap_or(QuotasCommand::List);
    let answer = match &command {
        QuotasCommand::List => client.get(&base).await?,
        QuotasCommand::Create {
            name,
            size,
            partitioned,
            rate,
        } => {
            let body =
                json!({ "name": name, "size": size, "partitioned": partitioned, "rate": rate });
            client.post(&base, &body).await?
        }
        QuotasCommand::Show { name } => client.get(&one(name)).await?,
        QuotasCommand::SetSize { name, size } => {
            client.patch(&one(name), &json!({ "size": size })).await?
        }
        QuotasCommand::Delete { name } => client.delete(&one(name)).await?,
    };
    if client_args.json {
        print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    match command {
        QuotasCommand::List => {
            let rows: Vec<Vec<String>> = answer["quotas"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|q| {
                    vec![
                        q["name"].as_str().unwrap_or("?").to_owned(),
                        if q["partitioned"] == true {
                            format!("{} per key", q["size"])
                        } else {
                            q["size"].to_string()
                        },
                        q["active"].as_array().map_or(0, Vec::len).to_string(),
                        if q["filled"] == true { "yes" } else { "no" }.to_owned(),
                    ]
                })
                .collect();
            print_table(&["QUOTA", "SIZE", "RUNNING", "FILLED"], &rows);
        }
        QuotasCommand::Delete { name } => {
            println!("deleted quota {name:?} of {}", args.queue);
        }
        _ => print_quota_line(&answer),
    }
    Ok(ExitCode::SUCCESS)
}
