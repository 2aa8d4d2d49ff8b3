//! `wasync put`: put a job into a queue (or many: `--from FILE`,
//! `put_from.rs`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::ClientArgs;
use super::output::print_json;
use crate::model::{JobLimits, UniqueSpec};
use crate::service::PUT_MANY_MAX;
use crate::wire::JobSpec;
use crate::wire::input::{DurationInput, TimeInput, parse_duration_text, parse_time};
use crate::wire::jobs::PutReply;

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
    /// Put it only if no job of its queue holds the same uniqueness key
    /// (by default derived from module, function and arguments); otherwise
    /// print that job's id and say it is a duplicate.
    #[arg(long)]
    unique: bool,
    /// The uniqueness key (implies `--unique`).
    #[arg(long, value_name = "KEY")]
    unique_key: Option<String>,
    /// A state in which a job holding the key blocks the put (repeat;
    /// default every state before `completed`; implies `--unique`).
    #[arg(long = "unique-state", value_name = "STATUS")]
    unique_states: Vec<crate::model::JobStatus>,
    /// The key holds within periods of this length, e.g. `1h` (implies
    /// `--unique`).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    unique_period: Option<Duration>,
    /// Put every job of FILE instead (`-`: standard input): a JSON array
    /// of job bodies, or one per line (NDJSON), each as `POST /v1/jobs`
    /// takes it. Sent in batches, each put whole or not at all; prints the
    /// ids in order.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "module", "function", "args", "queue", "begin_after", "begin_by", "fuel",
        "memory", "timeout", "quotas", "retry", "priority", "quota_keys", "broadcast",
        "unique", "unique_key", "unique_states", "unique_period",
    ])]
    from: Option<String>,
    /// With `--from`: the most jobs one request carries.
    #[arg(long, value_name = "N", requires = "from", default_value_t = PUT_MANY_MAX)]
    batch_size: usize,
}

/// `NAME=KEY` of `--quota-key`.
pub(super) fn parse_quota_key(text: &str) -> Result<(String, String), String> {
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
    let unique = (args.unique
        || args.unique_key.is_some()
        || !args.unique_states.is_empty()
        || args.unique_period.is_some())
    .then(|| UniqueSpec {
        key: args.unique_key,
        states: args.unique_states,
        period_ms: args.unique_period.map(|d| d.as_millis() as u64),
    });
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
        unique,
    };
    let put: PutReply = client_args.client().post_as("/v1/jobs", &spec).await?;
    print_put(client_args, &put);
    Ok(ExitCode::SUCCESS)
}

/// Prints a put's job id (or, with `--json`, the reply), and says so on
/// standard error when it was a duplicate.
pub(super) fn print_put(client_args: &ClientArgs, put: &PutReply) {
    if client_args.json {
        print_json(put);
    } else {
        println!("{}", put.job.id);
    }
    if put.duplicate {
        eprintln!(
            "duplicate: job {} ({}) already holds this uniqueness key; nothing was put",
            put.job.id, put.job.status
        );
    }
}
