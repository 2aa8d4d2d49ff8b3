//! `wasync tokens`: scoped API tokens (the admin's): create (prints the
//! secret, shown this once), list, revoke.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::segment;
use super::output::{print_json, print_table};

/// Arguments of `wasync tokens`.
#[derive(Debug, Args)]
pub struct TokensArgs {
    /// What to do; default: list.
    #[command(subcommand)]
    command: Option<TokensCommand>,
}

/// `wasync tokens ...`.
#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// List the tokens: name, queues, scopes (never their secrets).
    List,
    /// Create a token; prints its secret, which is shown only this once.
    Create {
        /// Its name.
        name: String,
        /// The queues it may use: comma-separated globs (`*`, `?`;
        /// `default` is the default queue).
        #[arg(long, value_delimiter = ',', required = true)]
        queues: Vec<String>,
        /// What it may do there: comma-separated among read, put, upload,
        /// manage, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
    },
    /// Revoke a token at once: its secret is refused, and the jobs and
    /// schedules it put act with nothing.
    Revoke {
        /// Its name.
        name: String,
    },
}

fn joined(list: &Value) -> String {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|v| match v.as_str() {
            Some("") => "default".to_owned(),
            Some(s) => s.to_owned(),
            None => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs a `wasync tokens` command.
pub async fn run(client_args: &ClientArgs, args: TokensArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let command = args.command.unwrap_or(TokensCommand::List);
    let answer = match &command {
        TokensCommand::List => client.get("/v1/tokens").await?,
        TokensCommand::Create {
            name,
            queues,
            scopes,
        } => {
            let scopes: Vec<&str> = scopes.iter().map(|s| s.trim()).collect();
            let body = json!({ "name": name, "queues": queues, "scopes": scopes });
            client.post("/v1/tokens", &body).await?
        }
        TokensCommand::Revoke { name } => {
            client
                .delete(&format!("/v1/tokens/{}", segment(name)))
                .await?
        }
    };
    if client_args.json {
        print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    match command {
        TokensCommand::List => {
            let rows: Vec<Vec<String>> = answer["tokens"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    vec![
                        t["name"].as_str().unwrap_or("?").to_owned(),
                        joined(&t["queues"]),
                        joined(&t["scopes"]),
                    ]
                })
                .collect();
            print_table(&["TOKEN", "QUEUES", "SCOPES"], &rows);
        }
        TokensCommand::Create { name, .. } => {
            eprintln!(
                "token {name:?} created ({} on {}); its secret, shown only now:",
                joined(&answer["scopes"]),
                joined(&answer["queues"])
            );
            println!("{}", answer["secret"].as_str().unwrap_or("?"));
        }
        TokensCommand::Revoke { name } => println!("token {name:?} revoked"),
    }
    Ok(ExitCode::SUCCESS)
}
