//! `wasync put`: put a job into a queue.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value, json};

use super::ClientArgs;
use super::output::print_json;

/// Arguments of `wasync put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The module: a name or a digest (`sha256:...`).
    module: String,
    /// The job function.
    function: String,
    /// Its arguments as JSON: an array (positional) or an object (named).
    args: Option<String>,
    /// The queue (default: the default queue).
    #[arg(long, short)]
    queue: Option<String>,
    /// Do not start before this time (RFC 3339; without zone it is UTC).
    #[arg(long)]
    begin_after: Option<String>,
    /// Fail with `timeout` if not started this long after `--begin-after`.
    #[arg(long)]
    begin_by: Option<String>,
    /// Fuel budget (capped by the agent).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit, e.g. `64MiB` (capped by the agent).
    #[arg(long, value_parser = super::parse_size)]
    memory: Option<u64>,
    /// Wall-clock limit of a run, e.g. `30s`.
    #[arg(long, value_parser = super::parse_duration)]
    timeout: Option<Duration>,
    /// A quota of the queue the job counts against (repeat for several).
    #[arg(long = "quota", value_name = "NAME")]
    quotas: Vec<String>,
    /// Its retry policy: `common-four-times` (the usual default),
    /// `forever`, `never`, or a JSON object such as
    /// '{"max_attempts": 3, "backoff": {"initial_ms": 1000}}'
    /// (default: the queue's).
    #[arg(long, value_name = "POLICY")]
    retry: Option<String>,
}

/// Puts the job and prints its id (or the whole job with `--json`).
pub async fn run(client_args: &ClientArgs, args: PutArgs) -> anyhow::Result<ExitCode> {
    let call_args = match &args.args {
        Some(text) => super::parse_json_arg("ARGS", text)?,
        None => json!([]),
    };
    let mut limits = Map::new();
    if let Some(fuel) = args.fuel {
        limits.insert("fuel".into(), json!(fuel));
    }
    if let Some(memory) = args.memory {
        limits.insert("memory_bytes".into(), json!(memory));
    }
    if let Some(timeout) = args.timeout {
        limits.insert("timeout_ms".into(), json!(timeout.as_millis() as u64));
    }
    let mut body = json!({
        "module": args.module,
        "function": args.function,
        "args": call_args,
        "queue": args.queue.unwrap_or_default(),
        "limits": limits,
        "quota_names": args.quotas,
    });
    if let Some(at) = args.begin_after {
        body["begin_after"] = Value::String(at);
    }
    if let Some(by) = args.begin_by {
        body["begin_by"] = Value::String(by);
    }
    if let Some(policy) = &args.retry {
        body["retry"] = super::failures::policy_arg(policy)?;
    }
    let job = client_args.client().post("/v1/jobs", &body).await?;
    if client_args.json {
        print_json(&job);
    } else {
        println!("{}", job["id"].as_str().unwrap_or("?"));
    }
    Ok(ExitCode::SUCCESS)
}
