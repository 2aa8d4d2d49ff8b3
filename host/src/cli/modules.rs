//! `wasync upload` and `wasync modules`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::ClientArgs;
use super::client::{Body, segment};
use super::output::{emit, print_table, time};
use crate::model::ModuleInfo;
use crate::wire::modules::ModuleList;

/// Arguments of `wasync upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The component (`.wasm`, built for wasm32-wasip2).
    file: PathBuf,
    /// A unique name to put jobs by (moves from any module that had it).
    #[arg(long)]
    name: Option<String>,
}

/// Uploads a component.
pub async fn upload(client_args: &ClientArgs, args: UploadArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let path = match &args.name {
        Some(name) => format!("/v1/modules?name={}", segment(name)),
        None => "/v1/modules".to_owned(),
    };
    let module: ModuleInfo = client_args
        .client()
        .call::<(), _>(reqwest::Method::POST, &path, Body::Bytes(bytes))
        .await?;
    emit(client_args.json, &module, |module| {
        let name = module
            .name
            .as_ref()
            .map(|n| format!(" as `{n}`"))
            .unwrap_or_default();
        println!("uploaded {}{name} ({} bytes)", module.digest, module.size);
    });
    Ok(ExitCode::SUCCESS)
}

/// `wasync modules ...`.
#[derive(Debug, Subcommand)]
pub enum ModulesCommand {
    /// List modules.
    List,
    /// Show a module (by digest or name).
    Show {
        /// Digest or name.
        module: String,
    },
    /// Delete a module (refused while jobs use it).
    Delete {
        /// Digest or name.
        module: String,
    },
}

/// Runs a `wasync modules` command.
pub async fn run(client_args: &ClientArgs, command: ModulesCommand) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    match command {
        ModulesCommand::List => {
            let list: ModuleList = client.get_as("/v1/modules").await?;
            emit(client_args.json, &list, |list| {
                let rows: Vec<Vec<String>> = list
                    .modules
                    .iter()
                    .map(|m| {
                        vec![
                            m.name.clone().unwrap_or_else(|| "-".to_owned()),
                            m.digest.to_string(),
                            m.size.to_string(),
                            time(&m.created_at),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "DIGEST", "SIZE", "CREATED"], &rows);
            });
        }
        ModulesCommand::Show { module } => {
            let info: ModuleInfo = client
                .get_as(&format!("/v1/modules/{}", segment(&module)))
                .await?;
            emit(client_args.json, &info, |m| {
                println!("digest   {}", m.digest);
                println!("name     {}", m.name.as_deref().unwrap_or("-"));
                println!("size     {} bytes", m.size);
                println!("created  {}", time(&m.created_at));
                println!("exports");
                for export in &m.exports {
                    println!("  {export}");
                }
            });
        }
        ModulesCommand::Delete { module } => {
            let answer = client
                .delete(&format!("/v1/modules/{}", segment(&module)))
                .await?;
            emit(client_args.json, &answer, |_| {
                println!("deleted module {module}");
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
