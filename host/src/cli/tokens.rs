//! `wasync tokens`: scoped API tokens (the admin's): create (prints the
//! secret, shown this once), list, revoke.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::ClientArgs;
use super::client::segment;
use super::output::{emit, print_table};
use crate::model::Scope;
use crate::wire::access::{CreatedToken, TokenCreate, TokenList};

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

fn joined<T: ToString>(list: &[T]) -> String {
    list.iter()
        .map(|v| match v.to_string().as_str() {
            "" => "default".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs a `wasync tokens` command.
pub async fn run(client_args: &ClientArgs, args: TokensArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let json = client_args.json;
    match args.command.unwrap_or(TokensCommand::List) {
        TokensCommand::List => {
            let list: TokenList = client.get_as("/v1/tokens").await?;
            emit(json, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .tokens
                    .iter()
                    .map(|t| vec![t.name.clone(), joined(&t.queues), joined(&t.scopes)])
                    .collect();
                print_table(&["TOKEN", "QUEUES", "SCOPES"], &rows);
            });
        }
        TokensCommand::Create {
            name,
            queues,
            scopes,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| s.parse::<Scope>())
                .collect::<Result<Vec<_>, _>>()?;
            let body = TokenCreate {
                name,
                queues,
                scopes,
            };
            let created: CreatedToken = client.post_as("/v1/tokens", &body).await?;
            emit(json, &created, |created| {
                let token = &created.token;
                eprintln!(
                    "token {:?} created ({} on {}); its secret, shown only now:",
                    token.name,
                    joined(&token.scopes),
                    joined(&token.queues)
                );
                println!("{}", created.secret);
            });
        }
        TokensCommand::Revoke { name } => {
            let answer = client
                .delete(&format!("/v1/tokens/{}", segment(&name)))
                .await?;
            emit(json, &answer, |_| println!("token {name:?} revoked"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
