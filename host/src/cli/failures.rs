//! `wasync attempts` (a job's failed attempts) and `wasync retry-policy`
//! (a queue's default retry policy).

use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;
use serde_json::Value;

use super::ClientArgs;
use super::client::{queue_segment, segment};
use super::output::{print_json, print_table, time};
use crate::model::RetryPolicy;
use crate::wire::failures::{AttemptList, RetryBody, RetryView};

/// A retry policy given on the command line: a preset's name, or a JSON
/// object. Checked here so that a typo is named before anything is sent.
pub(crate) fn policy_arg(text: &str) -> anyhow::Result<RetryPolicy> {
    let trimmed = text.trim();
    let value = if trimmed.starts_with('{') {
        super::parse_json_arg("the retry policy", trimmed)?
    } else {
        Value::String(trimmed.to_owned())
    };
    RetryPolicy::from_json(&value).map_err(|e| anyhow!("{e}"))
}

/// Arguments of `wasync attempts`.
#[derive(Debug, Args)]
pub struct AttemptsArgs {
    /// The job's id.
    id: String,
}

/// Prints a job's failed attempts, oldest first.
pub async fn attempts(client_args: &ClientArgs, args: AttemptsArgs) -> anyhow::Result<ExitCode> {
    let list: AttemptList = client_args
        .client()
        .get_as(&format!("/v1/jobs/{}/attempts", segment(&args.id)))
        .await?;
    if client_args.json {
        print_json(&list);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = list
        .attempts
        .iter()
        .map(|a| {
            let a = &a.attempt;
            vec![
                a.attempt.to_string(),
                time(&a.failed_at),
                a.failure.kind.to_string(),
                a.failure.message.clone(),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no failed attempts");
    } else {
        print_table(&["ATTEMPT", "FAILED AT", "KIND", "MESSAGE"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `wasync retry-policy`.
#[derive(Debug, Args)]
pub struct RetryPolicyArgs {
    /// The queue (`default` is the default queue).
    queue: String,
    /// The policy to set: `common-four-times`, `forever`, `never`, or a
    /// JSON object. Without it (and without `--clear`): show the policy.
    policy: Option<String>,
    /// Remove the queue's default (its jobs get `common-four-times`).
    #[arg(long, conflicts_with = "policy")]
    clear: bool,
}

/// Shows or sets a queue's default retry policy.
pub async fn retry_policy(
    client_args: &ClientArgs,
    args: RetryPolicyArgs,
) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let path = format!("/v1/queues/{}/retry", queue_segment(&args.queue));
    let view: RetryView = match (&args.policy, args.clear) {
        (Some(policy), _) => {
            let retry = Some(policy_arg(policy)?);
            client.put_as(&path, &RetryBody { retry }).await?
        }
        (None, true) => client.put_as(&path, &RetryBody { retry: None }).await?,
        (None, false) => client.get_as(&path).await?,
    };
    if client_args.json {
        print_json(&view);
        return Ok(ExitCode::SUCCESS);
    }
    let effective = &view.effective;
    let origin = if view.retry.is_none() {
        "built-in default"
    } else {
        "set on the queue"
    };
    println!("{}: {effective} ({origin})", args.queue);
    Ok(ExitCode::SUCCESS)
}
