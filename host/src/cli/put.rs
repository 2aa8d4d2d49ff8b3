//! `wasync put`: put a job into a queue (or many: `--from FILE`,
//! `put_from.rs`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::ClientArgs;
use super::output::print_json;
use crate::model::{Job, JobLimits};
use crate::service::PUT_MANY_MAX;
use crate::wire::JobSpec;
use crate::wire::input::{DurationInput, TimeInput, parse_duration_text, parse_time};

/// Arguments of `wasync put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The module: a name or a digest (`sha256:...`).
    #[arg(required_unless_present = "from")]
    module: Option<String>,
    /// The job function.
    #[arg(required_unless_present = "from")]
    function: Option<String>,
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
    /// Among due jobs of its queue, higher runs first (default 0; may be
    /// negative).
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// A partitioned quota of the queue the job counts against, with its
    /// key: `NAME=KEY` (e.g. `tenants=acme`); the quota's size applies per
    /// key.
    #[arg(long = "quota-key", value_name = "NAME=KEY", value_parser = parse_quota_key)]
    quota_keys: Vec<(String, String)>,
    /// Run it once on every live dispatcher with an agent for the queue
    /// (e.g. to clear a per-machine cache): prints the broadcast job's id,
    /// whose result is the map dispatcher → outcome of its copies.
    #[arg(long)]
    broadcast: bool,
    /// Put every job of FILE instead (`-`: standard input): a JSON array
    /// of job bodies, or one per line (NDJSON), each as `POST /v1/jobs`
    /// takes it. Sent in batches, each put whole or not at all; prints the
    /// ids in order.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "module", "function", "args", "queue", "begin_after", "begin_by", "fuel",
        "memory", "timeout", "quotas", "retry", "priority", "quota_keys", "broadcast",
    ])]
    from: Option<String>,
    /// With `--from`: the most jobs one request carries.
    #[arg(long, value_name = "N", requires = "from", default_value_t = PUT_MANY_MAX)]
    batch_size: usize,
}

/// `NAME=KEY` of `--quota-key`.
fn parse_quota_key(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, key)) if !name.is_empty() && !key.is_empty() => {
            Ok((name.to_owned(), key.to_owned()))
        }
        _ => Err(format!(
            "expected NAME=KEY (a partitioned quota and the job's key), got {text:?}"
        )),
    }
}

/// Puts the job and prints its id (or the whole job with `--json`).
pub async fn run(client_args: &ClientArgs, args: PutArgs) -> anyhow::Result<ExitCode> {
    if let Some(from) = &args.from {
        return super::put_from::run(client_args, from, args.batch_size).await;
    }
    let (Some(module), Some(function)) = (args.module, args.function) else {
        anyhow::bail!("MODULE and FUNCTION are needed (or `--from FILE`)");
    };
    let call_args = match &args.args {
        Some(text) => super::parse_json_arg("ARGS", text)?,
        None => serde_json::Value::Array(Vec::new()),
    };
    let retry = args
        .retry
        .as_deref()
        .map(super::failures::policy_arg)
        .transpose()?;
    let spec = JobSpec {
        module,
        function,
        args: call_args,
        queue: Some(args.queue.unwrap_or_default()),
        begin_after: args
            .begin_after
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--begin-after: {e}"))?
            .map(TimeInput),
        begin_by: args
            .begin_by
            .as_deref()
            .map(parse_duration_text)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--begin-by: {e}"))?
            .map(DurationInput),
        limits: JobLimits {
            fuel: args.fuel,
            memory_bytes: args.memory,
            timeout_ms: args.timeout.map(|t| t.as_millis() as u64),
        },
        quota_names: args.quotas,
        callbacks: Vec::new(),
        retry,
        priority: args.priority.unwrap_or_default(),
        quota_keys: args.quota_keys.into_iter().collect(),
        broadcast: args.broadcast,
    };
    let job: Job = client_args.client().post_as("/v1/jobs", &spec).await?;
    if client_args.json {
        print_json(&job);
    } else {
        println!("{}", job.id);
    }
    Ok(ExitCode::SUCCESS)
}
