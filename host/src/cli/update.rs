//! `wasync update`: change a job before a dispatcher claims it (its
//! arguments, due time, `begin_by`, quotas or priority).

use std::process::ExitCode;

use clap::Args;
use serde_json::{Map, Value, json};

use super::ClientArgs;
use super::client::segment;
use super::output::{print_job, print_json};

/// Arguments of `wasync update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The job's id.
    job: String,
    /// New arguments as JSON: an array (positional) or an object (named).
    #[arg(long)]
    args: Option<String>,
    /// A new due time (RFC 3339; without zone it is UTC), or `now`.
    #[arg(long)]
    begin_after: Option<String>,
    /// A new `begin_by` (e.g. `10m`), or `none`.
    #[arg(long)]
    begin_by: Option<String>,
    /// The quotas it counts against, replacing its own (repeat for
    /// several).
    #[arg(long = "quota", value_name = "NAME")]
    quotas: Vec<String>,
    /// Remove all its quotas.
    #[arg(long, conflicts_with = "quotas")]
    no_quotas: bool,
    /// A new priority (higher runs first among due jobs).
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
}

/// Sends the change and prints the job as it now is.
pub async fn run(client_args: &ClientArgs, args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let mut body = Map::new();
    if let Some(text) = &args.args {
        body.insert("args".into(), super::parse_json_arg("--args", text)?);
    }
    if let Some(at) = args.begin_after {
        let at = if at == "now" { Value::Null } else { json!(at) };
        body.insert("begin_after".into(), at);
    }
    if let Some(by) = args.begin_by {
        let by = if by == "none" { Value::Null } else { json!(by) };
        body.insert("begin_by".into(), by);
    }
    if !args.quotas.is_empty() || args.no_quotas {
        body.insert("quota_names".into(), json!(args.quotas));
    }
    if let Some(priority) = args.priority {
        body.insert("priority".into(), json!(priority));
    }
    if body.is_empty() {
        anyhow::bail!(
            "nothing to change: give --args, --begin-after, --begin-by, --quota, --no-quotas or --priority"
        );
    }
    let job = client_args
        .client()
        .patch(
            &format!("/v1/jobs/{}", segment(&args.job)),
            &Value::Object(body),
        )
        .await?;
    if client_args.json {
        print_json(&job);
    } else {
        print_job(&job);
    }
    Ok(ExitCode::SUCCESS)
}
