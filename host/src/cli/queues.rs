//! `wasync queues`: list, create, show, delete queues, set their caps, and
//! list a queue's pending jobs in order.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::ClientArgs;
use super::client::queue_segment;
use super::output::{print_json, print_table, queue_name, short_json};
use crate::model::Rate;

/// Arguments of `wasync queues`.
#[derive(Debug, Args)]
pub struct QueuesArgs {
    /// What to do; default: list.
    #[command(subcommand)]
    command: Option<QueuesCommand>,
}

/// `wasync queues ...`.
#[derive(Debug, Subcommand)]
enum QueuesCommand {
    /// List queues with their lengths.
    List,
    /// Create a queue.
    Create {
        /// Its name.
        name: String,
    },
    /// Show a queue and its length (`default` is the default queue).
    Show {
        /// Its name.
        name: String,
    },
    /// Delete an empty queue.
    Delete {
        /// Its name.
        name: String,
    },
    /// Set a queue's caps (admin): the most jobs one run of its jobs may
    /// put, and the most pending jobs it takes. A cap left out is cleared.
    Caps {
        /// Its name (`default` is the default queue).
        name: String,
        /// The most jobs one run may put (default: the server's
        /// `job_put_cap`).
        #[arg(long)]
        put_cap: Option<u64>,
        /// The most pending jobs the queue takes (default: no cap).
        #[arg(long)]
        pending_cap: Option<u64>,
    },
    /// Set a queue's rate: at most N of its jobs start per period (fixed
    /// windows); `--off` clears it.
    Rate {
        /// Its name (`default` is the default queue).
        name: String,
        /// `N/PERIOD`, e.g. `10/1m` or `100/1s`.
        #[arg(value_parser = parse_rate, required_unless_present = "off")]
        rate: Option<Rate>,
        /// Clear the queue's rate.
        #[arg(long, conflicts_with = "rate")]
        off: bool,
    },
    /// List a queue's pending jobs in the order they will run.
    Jobs {
        /// Its name (`default` is the default queue).
        name: String,
        /// The most to list.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

/// `N/PERIOD` (e.g. `10/1m`): at most N starts per period.
pub(super) fn parse_rate(text: &str) -> Result<Rate, String> {
    let (limit, period) = text
        .split_once('/')
        .ok_or_else(|| format!("expected N/PERIOD (e.g. 10/1m), got {text:?}"))?;
    let limit = limit
        .trim()
        .parse()
        .map_err(|_| format!("the count of {text:?} is not a whole number"))?;
    let period = super::parse_duration(period.trim())?;
    Rate {
        limit,
        period_ms: u64::try_from(period.as_millis()).unwrap_or(u64::MAX),
    }
    .check()
}

/// A rate's current window, one line (nothing for no rate).
pub(super) fn print_rate(rate: &serde_json::Value) {
    if rate.is_null() {
        return;
    }
    println!(
        "rate: {} per {} ms; this window (until {}): {} started, {} waiting",
        rate["limit"],
        rate["period_ms"],
        rate["window_end"].as_str().unwrap_or("?"),
        rate["starts"],
        rate["waiting"],
    );
}

/// Runs a `wasync queues` command.
pub async fn run(client_args: &ClientArgs, args: QueuesArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let command = args.command.unwrap_or(QueuesCommand::List);
    let answer = match &command {
        QueuesCommand::List => client.get("/v1/queues").await?,
        QueuesCommand::Create { name } => {
            client.post("/v1/queues", &json!({ "name": name })).await?
        }
        QueuesCommand::Show { name } => {
            client
                .get(&format!("/v1/queues/{}", queue_segment(name)))
                .await?
        }
        QueuesCommand::Delete { name } => {
            client
                .delete(&format!("/v1/queues/{}", queue_segment(name)))
                .await?
        }
        QueuesCommand::Caps {
            name,
            put_cap,
            pending_cap,
        } => {
            let body = json!({ "put_cap": put_cap, "pending_cap": pending_cap });
            client
                .put(&format!("/v1/queues/{}/caps", queue_segment(name)), &body)
                .await?
        }
        QueuesCommand::Rate { name, rate, .. } => {
            let path = format!("/v1/queues/{}/rate", queue_segment(name));
            match rate {
                Some(rate) => client.put(&path, rate).await?,
                None => client.delete(&path).await?,
            }
        }
        QueuesCommand::Jobs { name, limit } => {
            client
                .get(&format!(
                    "/v1/queues/{}/jobs?limit={limit}",
                    queue_segment(name)
                ))
                .await?
        }
    };
    if client_args.json {
        print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    match command {
        QueuesCommand::List => {
            let rows: Vec<Vec<String>> = answer["queues"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|q| vec![queue_name(&q["name"]), q["length"].to_string()])
                .collect();
            print_table(&["QUEUE", "PENDING"], &rows);
        }
        QueuesCommand::Create { name } => println!("created queue {name}"),
        QueuesCommand::Show { .. } => {
            println!(
                "{}: {} pending",
                queue_name(&answer["name"]),
                answer["length"]
            );
            for (field, label) in [("put_cap", "put cap"), ("pending_cap", "pending cap")] {
                if let Some(cap) = answer[field].as_u64() {
                    println!("{label}: {cap}");
                }
            }
            print_rate(&answer["rate"]);
        }
        QueuesCommand::Rate { .. } => {
            println!("{}:", queue_name(&answer["name"]));
            if answer["rate"].is_null() {
                println!("no rate");
            }
            print_rate(&answer["rate"]);
        }
        QueuesCommand::Delete { name } => println!("deleted queue {name}"),
        QueuesCommand::Caps { .. } => {
            let cap = |v: &serde_json::Value, none: &str| {
                v.as_u64()
                    .map_or_else(|| none.to_owned(), |n| n.to_string())
            };
            println!(
                "{}: put cap {}, pending cap {}",
                queue_name(&answer["name"]),
                cap(&answer["put_cap"], "the server's"),
                cap(&answer["pending_cap"], "none"),
            );
        }
        QueuesCommand::Jobs { .. } => {
            let rows: Vec<Vec<String>> = answer["jobs"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, job)| {
                    vec![
                        i.to_string(),
                        job["id"].as_str().unwrap_or("?").to_owned(),
                        format!(
                            "{}({})",
                            job["function"].as_str().unwrap_or("?"),
                            short_json(&job["args"], 60)
                        ),
                        job["begin_after"].as_str().unwrap_or("").to_owned(),
                    ]
                })
                .collect();
            print_table(&["#", "ID", "CALL", "DUE"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}
