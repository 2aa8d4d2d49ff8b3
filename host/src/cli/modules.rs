//! `wasync upload` and `wasync modules`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::ClientArgs;
use super::client::{Body, segment};
use super::output::{print_json, print_table};

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
    let module = client_args
        .client()
        .send::<()>(reqwest::Method::POST, &path, Body::Bytes(bytes))
        .await?;
    if client_args.json {
        print_json(&module);
    } else {
        let name = module["name"]
            .as_str()
            .map(|n| format!(" as `{n}`"))
            .unwrap_or_default();
        println!(
            "uploaded {}{name} ({} bytes)",
            module["digest"].as_str().unwrap_or("?"),
            module["size"]
        );
    }
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
            let answer = client.get("/v1/modules").await?;
            if client_args.json {
                print_json(&answer);
            } else {
                let rows: Vec<Vec<String>> = answer["modules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        vec![
                            m["name"].as_str().unwrap_or("-").to_owned(),
                            m["digest"].as_str().unwrap_or("?").to_owned(),
                            m["size"].to_string(),
                            m["created_at"].as_str().unwrap_or("").to_owned(),
                        ]
                    })
                    .collect();
                print_table(&["NAME", "DIGEST", "SIZE", "CREATED"], &rows);
            }
        }
        ModulesCommand::Show { module } => {
            let answer = client
                .get(&format!("/v1/modules/{}", segment(&module)))
                .await?;
            if client_args.json {
                print_json(&answer);
            } else {
                println!("digest   {}", answer["digest"].as_str().unwrap_or("?"));
                println!("name     {}", answer["name"].as_str().unwrap_or("-"));
                println!("size     {} bytes", answer["size"]);
                println!("created  {}", answer["created_at"].as_str().unwrap_or(""));
                println!("exports");
                for export in answer["exports"].as_array().into_iter().flatten() {
                    println!("  {}", export.as_str().unwrap_or(""));
                }
            }
        }
        ModulesCommand::Delete { module } => {
            client
                .delete(&format!("/v1/modules/{}", segment(&module)))
                .await?;
            if client_args.json {
                print_json(&Value::Null);
            } else {
                println!("deleted module {module}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
