//! `wasync names`: named jobs: register a name for a module's function,
//! then put by name.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::segment;
use super::output::{emit, print_json, print_table, queue_label, short_json};
use super::{ClientArgs, parse_json_arg};
use crate::model::{JobLimits, UniqueSpec};
use crate::wire::jobs::PutReply;
use crate::wire::names::{JobName, JobNameBody, JobNameList, PutByName};

/// Arguments of `wasync names`.
#[derive(Debug, Args)]
pub struct NamesArgs {
    /// What to do; default: list.
    #[command(subcommand)]
    command: Option<NamesCommand>,
}

/// `wasync names ...`.
#[derive(Debug, Subcommand)]
enum NamesCommand {
    /// List named jobs.
    List,
    /// Register (or replace) a named job.
    Set {
        /// The name.
        name: String,
        /// The module (name or digest).
        module: String,
        /// The function.
        function: String,
        /// The queue its jobs go to by default.
        #[arg(long, short)]
        queue: Option<String>,
        /// Default arguments (JSON array or object).
        #[arg(long)]
        args: Option<String>,
        /// The retry policy of its jobs (a preset's name or a JSON object,
        /// as `wasync put --retry` takes it).
        #[arg(long, value_name = "POLICY")]
        retry: Option<String>,
        /// The priority of its jobs.
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i32>,
        /// Its jobs are unique: a put by name whose key (derived from
        /// module, function and arguments) is held answers with the holder.
        #[arg(long)]
        unique: bool,
        /// Its jobs are unique with this key (implies `--unique`).
        #[arg(long, value_name = "KEY")]
        unique_key: Option<String>,
        /// A partitioned quota of the queue its jobs count against, with
        /// their key: `NAME=KEY` (e.g. `tenants=acme`).
        #[arg(long = "quota-key", value_name = "NAME=KEY", value_parser = super::put::parse_quota_key)]
        quota_keys: Vec<(String, String)>,
    },
    /// Show a named job.
    Show {
        /// The name.
        name: String,
    },
    /// Forget a named job (jobs put by it stay).
    Delete {
        /// The name.
        name: String,
    },
    /// Put a job by name; prints its id.
    Put {
        /// The name.
        name: String,
        /// Arguments (JSON array or object; default: the name's).
        args: Option<String>,
        /// The queue (default: the name's).
        #[arg(long, short)]
        queue: Option<String>,
        /// Its key in a partitioned quota, `NAME=KEY` (default: the
        /// name's).
        #[arg(long = "quota-key", value_name = "NAME=KEY", value_parser = super::put::parse_quota_key)]
        quota_keys: Vec<(String, String)>,
    },
}

/// Runs a `wasync names` command.
pub async fn run(client_args: &ClientArgs, args: NamesArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let json = client_args.json;
    let path = |name: &str| format!("/v1/job-names/{}", segment(name));
    let parsed = |args: Option<String>| match args {
        Some(text) => parse_json_arg("args", &text),
        None => Ok(Value::Null),
    };
    match args.command.unwrap_or(NamesCommand::List) {
        NamesCommand::List => {
            let list: JobNameList = client.get_as("/v1/job-names").await?;
            emit(json, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .job_names
                    .iter()
                    .map(|n| {
                        vec![
                            n.name.clone(),
                            format!(
                                "{}:{}",
                                n.job.module.as_deref().unwrap_or("?"),
                                n.job.function
                            ),
                            queue_label(n.job.queue.as_deref().unwrap_or_default()),
                            short_json(&n.job.args, 40),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "CALL", "QUEUE", "ARGS"], &rows);
            });
        }
        NamesCommand::Set {
            name,
            module,
            function,
            queue,
            args,
            retry,
            priority,
            unique,
            unique_key,
            quota_keys,
        } => {
            let body = JobNameBody {
                module,
                function,
                queue,
                args: parsed(args)?,
                retry: retry
                    .as_deref()
                    .map(super::failures::policy_arg)
                    .transpose()?,
                limits: JobLimits::default(),
                priority: priority.unwrap_or_default(),
                unique: (unique || unique_key.is_some()).then(|| UniqueSpec {
                    key: unique_key,
                    ..UniqueSpec::default()
                }),
                quota_keys: quota_keys.into_iter().collect(),
            };
            let named: JobName = client.put_as(&path(&name), &body).await?;
            emit(json, &named, |_| println!("registered job name {name}"));
        }
        NamesCommand::Show { name } => {
            // Shown as JSON either way.
            print_json(&client.get_as::<JobName>(&path(&name)).await?);
        }
        NamesCommand::Delete { name } => {
            let answer = client.delete(&path(&name)).await?;
            emit(json, &answer, |_| println!("deleted job name {name}"));
        }
        NamesCommand::Put {
            name,
            args,
            queue,
            quota_keys,
        } => {
            let body = PutByName {
                args: parsed(args)?,
                queue,
                quota_keys: quota_keys.into_iter().collect(),
                ..PutByName::default()
            };
            let put: PutReply = client
                .post_as(&format!("{}/jobs", path(&name)), &body)
                .await?;
            super::put::print_put(client_args, &put);
        }
    }
    Ok(ExitCode::SUCCESS)
}
