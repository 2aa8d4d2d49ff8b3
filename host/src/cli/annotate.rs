//! `wasync annotate`: read a job's annotations, or set one from outside
//! (while the job runs, too).

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;
use super::client::segment;
use super::output::{print_json, short_json};

/// Arguments of `wasync annotate`.
#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// The job id.
    id: String,
    /// The annotation; without it, all annotations are listed.
    name: Option<String>,
    /// A JSON value to set it to; without it, the annotation is read.
    value: Option<String>,
}

/// Lists, reads or sets.
pub async fn run(client_args: &ClientArgs, args: AnnotateArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let base = format!("/v1/jobs/{}/annotations", segment(&args.id));
    match (args.name, args.value) {
        (None, _) => {
            let all = client.get(&base).await?;
            if client_args.json {
                print_json(&all);
            } else {
                for (name, value) in all.as_object().into_iter().flatten() {
                    println!("{name} = {}", short_json(value, 500));
                }
            }
        }
        (Some(name), None) => {
            let value = client.get(&format!("{base}/{}", segment(&name))).await?;
            if client_args.json {
                print_json(&value);
            } else {
                println!("{}", short_json(&value, usize::MAX));
            }
        }
        (Some(name), Some(text)) => {
            let value = super::parse_json_arg("VALUE", &text)?;
            client
                .put(&format!("{base}/{}", segment(&name)), &value)
                .await?;
            if !client_args.json {
                println!("set {name} = {}", short_json(&value, 500));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
