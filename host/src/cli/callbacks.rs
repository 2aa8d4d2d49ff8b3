//! `wasync callbacks` and
//! `wasync composite` (`serial`, `parallel`): list and add callbacks,
//! put composites, list and add their parts.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::ClientArgs;
use super::client::segment;
use super::output::{outcome_line, print_json, print_table};
use crate::model::{CallbackOn, CompositeKind, Job};
use crate::wire::input::{TimeInput, parse_time};
use crate::wire::{CallbackView, CompositeSpec, LinkedSpec};

/// Arguments of `wasync callbacks`.
#[derive(Debug, Args)]
pub struct CallbacksArgs {
    /// What to do.
    #[command(subcommand)]
    command: CallbacksCommand,
}

/// `wasync callbacks ...`.
#[derive(Debug, Subcommand)]
enum CallbacksCommand {
    /// List a job's callbacks: branch, status, outcome.
    List {
        /// The job.
        job: String,
    },
    /// Add a callback to a job: it runs once the job has its outcome (at
    /// once if it has it already), with the outcome appended to ARGS.
    Add {
        /// The job.
        job: String,
        #[command(flatten)]
        callback: LinkedArgs,
        /// On which outcome it runs its function; otherwise it passes the
        /// outcome through.
        #[arg(long, value_enum, default_value_t = On::Always)]
        on: On,
    },
}

/// A callback's branch.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum On {
    /// Whatever the outcome.
    Always,
    /// Only a value.
    Success,
    /// Only a failure.
    Failure,
}

impl From<On> for CallbackOn {
    fn from(on: On) -> Self {
        match on {
            On::Always => CallbackOn::Always,
            On::Success => CallbackOn::Success,
            On::Failure => CallbackOn::Failure,
        }
    }
}

/// A job that hangs on another (a callback or a part).
#[derive(Debug, Args)]
struct LinkedArgs {
    /// The job function.
    function: String,
    /// Its arguments as JSON (an array or an object); the outcome is added.
    args: Option<String>,
    /// The module (default: that of the job it hangs on).
    #[arg(long, short)]
    module: Option<String>,
    /// The queue (default: that of the job it hangs on).
    #[arg(long, short)]
    queue: Option<String>,
}

impl LinkedArgs {
    fn spec(&self) -> anyhow::Result<LinkedSpec> {
        Ok(LinkedSpec {
            function: self.function.clone(),
            args: match &self.args {
                Some(text) => super::parse_json_arg("ARGS", text)?,
                None => Value::Array(Vec::new()),
            },
            module: self.module.clone(),
            queue: self.queue.clone(),
            ..LinkedSpec::default()
        })
    }
}

fn print_jobs<'a>(rows: impl Iterator<Item = (String, &'a Job)>) {
    let rows: Vec<Vec<String>> = rows
        .map(|(first, job)| {
            vec![
                first,
                job.id.to_string(),
                job.function.clone(),
                job.status.to_string(),
                outcome_line(job),
            ]
        })
        .collect();
    print_table(&["", "ID", "FUNCTION", "STATUS", "OUTCOME"], &rows);
}

fn print_id(client_args: &ClientArgs, job: &Job) {
    if client_args.json {
        print_json(job);
    } else {
        println!("{}", job.id);
    }
}

/// Runs `wasync callbacks`.
pub async fn run(client_args: &ClientArgs, args: CallbacksArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    match args.command {
        CallbacksCommand::List { job } => {
            let list: Vec<CallbackView> = client
                .get_as(&format!("/v1/jobs/{}/callbacks", segment(&job)))
                .await?;
            if client_args.json {
                print_json(&list);
            } else {
                print_jobs(list.iter().map(|c| (c.on.to_string(), &c.job)));
            }
        }
        CallbacksCommand::Add { job, callback, on } => {
            let spec = LinkedSpec {
                on: Some(on.into()),
                ..callback.spec()?
            };
            let path = format!("/v1/jobs/{}/callbacks", segment(&job));
            print_id(client_args, &client.post_as(&path, &spec).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `wasync composite`.
#[derive(Debug, Args)]
pub struct CompositeArgs {
    /// What to do.
    #[command(subcommand)]
    command: CompositeCommand,
}

/// The two composites.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// Parts one after another.
    Serial,
    /// Every part at once.
    Parallel,
}

/// `wasync composite ...`.
#[derive(Debug, Subcommand)]
enum CompositeCommand {
    /// Put a composite; prints its id. Its result is the postprocess's.
    Put {
        /// Serial or parallel.
        #[arg(value_enum)]
        kind: Kind,
        /// The module of the parts and the postprocess.
        module: String,
        /// The postprocess function, called with the parts' outcomes
        /// appended to `--postprocess-args`.
        postprocess: String,
        /// A part: `FUNCTION` or `FUNCTION:ARGS` (ARGS as JSON); repeat,
        /// in order.
        #[arg(long = "part", value_name = "FUNCTION[:ARGS]")]
        parts: Vec<String>,
        /// The postprocess's own arguments (JSON array or object).
        #[arg(long)]
        postprocess_args: Option<String>,
        /// The queue (default: the default queue).
        #[arg(long, short)]
        queue: Option<String>,
        /// Do not start before this time (RFC 3339; without zone it is UTC).
        #[arg(long)]
        begin_after: Option<String>,
    },
    /// List a composite's parts, in order.
    Parts {
        /// The composite.
        job: String,
    },
    /// Add a part, last, until the composite has put its postprocess.
    AddPart {
        /// The composite.
        job: String,
        #[command(flatten)]
        part: LinkedArgs,
    },
}

fn part_spec(spec: &str) -> anyhow::Result<LinkedSpec> {
    let (function, args) = match spec.split_once(':') {
        Some((function, args)) => (function, super::parse_json_arg("--part", args)?),
        None => (spec, Value::Array(Vec::new())),
    };
    Ok(LinkedSpec {
        function: function.to_owned(),
        args,
        ..LinkedSpec::default()
    })
}

/// Runs `wasync composite`.
pub async fn composite(client_args: &ClientArgs, args: CompositeArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    match args.command {
        CompositeCommand::Put {
            kind,
            module,
            postprocess,
            parts,
            postprocess_args,
            queue,
            begin_after,
        } => {
            let parts = parts
                .iter()
                .map(|p| part_spec(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let postprocess_args = match postprocess_args {
                Some(text) => super::parse_json_arg("--postprocess-args", &text)?,
                None => Value::Array(Vec::new()),
            };
            let begin_after = begin_after
                .as_deref()
                .map(parse_time)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--begin-after: {e}"))?
                .map(TimeInput);
            let spec = CompositeSpec {
                kind: match kind {
                    Kind::Serial => CompositeKind::Serial,
                    Kind::Parallel => CompositeKind::Parallel,
                },
                module: Some(module),
                queue: Some(queue.unwrap_or_default()),
                parts,
                postprocess: LinkedSpec {
                    function: postprocess,
                    args: postprocess_args,
                    ..LinkedSpec::default()
                },
                begin_after,
                begin_by: None,
                quota_names: Vec::new(),
                callbacks: Vec::new(),
                priority: 0,
            };
            print_id(client_args, &client.post_as("/v1/composites", &spec).await?);
        }
        CompositeCommand::Parts { job } => {
            let parts: Vec<Job> = client
                .get_as(&format!("/v1/jobs/{}/parts", segment(&job)))
                .await?;
            if client_args.json {
                print_json(&parts);
            } else {
                print_jobs(
                    parts
                        .iter()
                        .enumerate()
                        .map(|(i, job)| (i.to_string(), job)),
                );
            }
        }
        CompositeCommand::AddPart { job, part } => {
            let path = format!("/v1/jobs/{}/parts", segment(&job));
            print_id(client_args, &client.post_as(&path, &part.spec()?).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
