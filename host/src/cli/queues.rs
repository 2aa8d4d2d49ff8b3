//! `wasync queues`: list, create, show, delete queues, set their caps, and
//! list a queue's pending jobs in order.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::ClientArgs;
use super::client::queue_segment;
use super::output::{emit, print_table, queue_label, short_json, time};
use crate::model::{QueueInfo, Rate, RateStatus};
use crate::wire::queues::{QueueCaps, QueueCreate, QueueJobs, QueueList, QueueView};

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
pub(super) fn print_rate(rate: Option<&RateStatus>) {
    let Some(rate) = rate else {
        return;
    };
    println!(
        "rate: {} per {} ms; this window (until {}): {} started, {} waiting",
        rate.limit,
        rate.period_ms,
        time(&rate.window_end),
        rate.starts,
        rate.waiting,
    );
}

/// Runs a `wasync queues` command.
pub async fn run(client_args: &ClientArgs, args: QueuesArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let json = client_args.json;
    let path = |name: &str| format!("/v1/queues/{}", queue_segment(name));
    match args.command.unwrap_or(QueuesCommand::List) {
        QueuesCommand::List => {
            let list: QueueList = client.get_as("/v1/queues").await?;
            emit(json, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .queues
                    .iter()
                    .map(|q| vec![queue_label(&q.name), q.length.to_string()])
                    .collect();
                print_table(&["QUEUE", "PENDING"], &rows);
            });
        }
        QueuesCommand::Create { name } => {
            let body = QueueCreate { name: name.clone() };
            let queue: QueueInfo = client.post_as("/v1/queues", &body).await?;
            emit(json, &queue, |_| println!("created queue {name}"));
        }
        QueuesCommand::Show { name } => {
            let view: QueueView = client.get_as(&path(&name)).await?;
            emit(json, &view, |view| {
                let queue = &view.queue;
                println!("{}: {} pending", queue_label(&queue.name), queue.length);
                for (cap, label) in [
                    (queue.put_cap, "put cap"),
                    (queue.pending_cap, "pending cap"),
                ] {
                    if let Some(cap) = cap {
                        println!("{label}: {cap}");
                    }
                }
                print_rate(queue.rate.as_ref());
            });
        }
        QueuesCommand::Delete { name } => {
            let answer = client.delete(&path(&name)).await?;
            emit(json, &answer, |_| println!("deleted queue {name}"));
        }
        QueuesCommand::Caps {
            name,
            put_cap,
            pending_cap,
        } => {
            let body = QueueCaps {
                put_cap,
                pending_cap,
            };
            let queue: QueueInfo = client
                .put_as(&format!("{}/caps", path(&name)), &body)
                .await?;
            emit(json, &queue, |queue| {
                let cap = |v: Option<u64>, none: &str| {
                    v.map_or_else(|| none.to_owned(), |n| n.to_string())
                };
                println!(
                    "{}: put cap {}, pending cap {}",
                    queue_label(&queue.name),
                    cap(queue.put_cap, "the server's"),
                    cap(queue.pending_cap, "none"),
                );
            });
        }
        QueuesCommand::Rate { name, rate, .. } => {
            let rate_path = format!("{}/rate", path(&name));
            let queue: QueueInfo = match rate {
                Some(rate) => client.put_as(&rate_path, &rate).await?,
                None => client.delete_as(&rate_path).await?,
            };
            emit(json, &queue, |queue| {
                println!("{}:", queue_label(&queue.name));
                if queue.rate.is_none() {
                    println!("no rate");
                }
                print_rate(queue.rate.as_ref());
            });
        }
        QueuesCommand::Jobs { name, limit } => {
            let jobs: QueueJobs = client
                .get_as(&format!("{}/jobs?limit={limit}", path(&name)))
                .await?;
            emit(json, &jobs, |jobs| {
                let rows: Vec<Vec<String>> = jobs
                    .jobs
                    .iter()
                    .enumerate()
                    .map(|(i, job)| {
                        vec![
                            i.to_string(),
                            job.id.to_string(),
                            format!("{}({})", job.function, short_json(&job.args, 60)),
                            time(&job.begin_after),
                        ]
                    })
                    .collect();
                print_table(&["#", "ID", "CALL", "DUE"], &rows);
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
