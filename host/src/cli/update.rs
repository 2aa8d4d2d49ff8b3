//! `wasync update`: change a job before a dispatcher claims it (its
//! arguments, due time, `begin_by`, quotas or priority).

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;
use super::client::segment;
use super::output::{print_job, print_json};
use crate::model::Job;
use crate::wire::input::{DurationInput, TimeInput, parse_duration_text, parse_time};
use crate::wire::jobs::JobPatch;

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
    let time = |text: String| -> anyhow::Result<Option<TimeInput>> {
        if text == "now" {
            return Ok(None);
        }
        parse_time(&text)
            .map(|t| Some(TimeInput(t)))
            .map_err(|e| anyhow::anyhow!("--begin-after: {e}"))
    };
    let duration = |text: String| -> anyhow::Result<Option<DurationInput>> {
        if text == "none" {
            return Ok(None);
        }
        parse_duration_text(&text)
            .map(|d| Some(DurationInput(d)))
            .map_err(|e| anyhow::anyhow!("--begin-by: {e}"))
    };
    let patch = JobPatch {
        args: match &args.args {
            Some(text) => Some(super::parse_json_arg("--args", text)?),
            None => None,
        },
        begin_after: args.begin_after.map(time).transpose()?,
        begin_by: args.begin_by.map(duration).transpose()?,
        quota_names: (!args.quotas.is_empty() || args.no_quotas).then_some(args.quotas),
        priority: args.priority,
    };
    if patch.args.is_none()
        && patch.begin_after.is_none()
        && patch.begin_by.is_none()
        && patch.quota_names.is_none()
        && patch.priority.is_none()
    {
        anyhow::bail!(
            "nothing to change: give --args, --begin-after, --begin-by, --quota, --no-quotas or --priority"
        );
    }
    let job: Job = client_args
        .client()
        .patch_as(&format!("/v1/jobs/{}", segment(&args.job)), &patch)
        .await?;
    if client_args.json {
        print_json(&job);
    } else {
        print_job(&job, &Default::default());
    }
    Ok(ExitCode::SUCCESS)
}
