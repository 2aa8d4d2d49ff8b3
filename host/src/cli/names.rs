//! `wasync names`: named jobs: register a name for a module's function,
//! then put by name.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::segment;
use super::output::{print_json, print_table, queue_name, short_json};
use super::{ClientArgs, parse_json_arg};

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
    },
}

/// Runs a `wasync names` command.
pub async fn run(client_args: &ClientArgs, args: NamesArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let command = args.command.unwrap_or(NamesCommand::List);
    let answer = match &command {
        NamesCommand::List => client.get("/v1/job-names").await?,
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
        } => {
            let args = match args {
                Some(text) => parse_json_arg("args", text)?,
                None => Value::Null,
            };
            let mut body =
                json!({ "module": module, "function": function, "queue": queue, "args": args });
            if let Some(policy) = retry {
                body["retry"] = super::failures::policy_arg(policy)?;
            }
            if let Some(priority) = priority {
                body["priority"] = json!(priority);
            }
            if *unique || unique_key.is_some() {
                body["unique"] = json!({ "key": unique_key });
            }
            client
                .put(&format!("/v1/job-names/{}", segment(name)), &body)
                .await?
        }
        NamesCommand::Show { name } => {
            client
                .get(&format!("/v1/job-names/{}", segment(name)))
                .await?
        }
        NamesCommand::Delete { name } => {
            client
                .delete(&format!("/v1/job-names/{}", segment(name)))
                .await?
        }
        NamesCommand::Put { name, args, queue } => {
            let args = match args {
                Some(text) => parse_json_arg("args", text)?,
                None => Value::Null,
            };
            client
                .post(
                    &format!("/v1/job-names/{}/jobs", segment(name)),
                    &json!({ "args": args, "queue": queue }),
                )
                .await?
        }
    };
    if client_args.json {
        print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    match command {
        NamesCommand::List => {
            let rows: Vec<Vec<String>> = answer["job_names"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| {
                    vec![
                        n["name"].as_str().unwrap_or("?").to_owned(),
                        format!(
                            "{}:{}",
                            n["module"].as_str().unwrap_or("?"),
                            n["function"].as_str().unwrap_or("?")
                        ),
                        queue_name(&n["queue"]),
                        short_json(&n["args"], 40),
                    ]
                })
                .collect();
            print_table(&["NAME", "CALL", "QUEUE", "ARGS"], &rows);
        }
        NamesCommand::Set { name, .. } => println!("registered job name {name}"),
        NamesCommand::Show { .. } => print_json(&answer),
        NamesCommand::Delete { name } => println!("deleted job name {name}"),
        NamesCommand::Put { .. } => {
            let id = answer["id"].as_str().unwrap_or("?");
            println!("{id}");
            if answer["duplicate"] == true {
                eprintln!("duplicate: job {id} already holds this uniqueness key; nothing was put");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
