//! `wasync agents`: list, set (create or replace) and delete agents.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use super::ClientArgs;
use super::client::{Client, queue_segment, segment};
use super::output::{emit, queue_label};
use crate::model::{AgentFilter, AgentSpec};
use crate::wire::dispatchers::{Agent, AgentBody, AgentList, DispatcherList};

/// Arguments of `wasync agents`.
#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// The dispatcher; may be left out when there is exactly one.
    #[arg(long, short, global = true)]
    dispatcher: Option<String>,
    /// What to do; default: list.
    #[command(subcommand)]
    command: Option<AgentsCommand>,
}

/// `wasync agents ...`.
#[derive(Debug, Subcommand)]
enum AgentsCommand {
    /// List the agents.
    List,
    /// Create or replace an agent.
    Set {
        /// The queue it takes jobs from (`default` for the default queue).
        queue: String,
        /// Its name.
        name: String,
        /// The most jobs it runs at once.
        #[arg(long, default_value_t = crate::model::AGENT_SIZE_DEFAULT)]
        size: u32,
        /// Take only jobs whose module name or digest matches (a glob; repeat for more).
        #[arg(long = "module")]
        modules: Vec<String>,
        /// Take only jobs whose function matches (a glob; repeat for more).
        #[arg(long = "function")]
        functions: Vec<String>,
        /// Take jobs whose function matches first, then any (a glob;
        /// repeat for more).
        #[arg(long = "prefer", value_name = "GLOB")]
        prefer: Vec<String>,
        /// Take jobs whose module name or digest matches first, then any.
        #[arg(long = "prefer-module", value_name = "GLOB")]
        prefer_modules: Vec<String>,
        /// The most fuel any job it runs gets.
        #[arg(long)]
        fuel_cap: Option<u64>,
        /// The most memory any job it runs gets, e.g. `64MiB`.
        #[arg(long, value_parser = super::parse_size)]
        memory_cap: Option<u64>,
        /// The longest any job it runs may take, e.g. `30s`, `10m`.
        #[arg(long, value_parser = super::parse_duration)]
        time_cap: Option<std::time::Duration>,
    },
    /// Delete an agent (refused while it holds jobs).
    Delete {
        /// Its queue.
        queue: String,
        /// Its name.
        name: String,
    },
}

/// Prints one agent on one line.
pub fn print_agent_line(agent: &AgentSpec) {
    let compact = |filter: &AgentFilter| serde_json::to_string(filter).unwrap_or_default();
    let mut extras = Vec::new();
    if let Some(filter) = &agent.filter {
        extras.push(format!("filter {}", compact(filter)));
    }
    if let Some(prefer) = &agent.prefer {
        extras.push(format!("prefers {}", compact(prefer)));
    }
    if let Some(fuel) = agent.fuel_cap {
        extras.push(format!("fuel cap {fuel}"));
    }
    if let Some(memory) = agent.memory_cap {
        extras.push(format!("memory cap {memory}"));
    }
    if let Some(ms) = agent.time_cap_ms {
        extras.push(format!("time cap {ms} ms"));
    }
    println!(
        "  agent {} in queue {}: size {}{}",
        agent.name,
        queue_label(&agent.queue),
        agent.size,
        if extras.is_empty() {
            String::new()
        } else {
            format!(", {}", extras.join(", "))
        }
    );
}

async fn dispatcher_id(client: &Client, given: Option<String>) -> anyhow::Result<String> {
    if let Some(id) = given {
        return Ok(id);
    }
    let list: DispatcherList = client.get_as("/v1/dispatchers").await?;
    let active: Vec<_> = list
        .dispatchers
        .iter()
        .filter(|d| d.info.deactivated_at.is_none())
        .collect();
    match active.as_slice() {
        [one] => Ok(one.info.id.to_string()),
        [] => bail!("no active dispatcher; start `wasync serve` first"),
        _ => bail!(
            "{} dispatchers are active; choose one with --dispatcher",
            active.len()
        ),
    }
}

/// Runs a `wasync agents` command.
pub async fn run(client_args: &ClientArgs, args: AgentsArgs) -> anyhow::Result<ExitCode> {
    let client = client_args.client();
    let dispatcher = dispatcher_id(&client, args.dispatcher).await?;
    let base = format!("/v1/dispatchers/{}/agents", segment(&dispatcher));
    match args.command.unwrap_or(AgentsCommand::List) {
        AgentsCommand::List => {
            let list: AgentList = client.get_as(&base).await?;
            emit(client_args.json, &list, |list| {
                println!("dispatcher {dispatcher}");
                list.agents.iter().for_each(print_agent_line);
            });
        }
        AgentsCommand::Set {
            queue,
            name,
            size,
            modules,
            functions,
            prefer,
            prefer_modules,
            fuel_cap,
            memory_cap,
            time_cap,
        } => {
            let filter = |modules: Vec<String>, functions: Vec<String>| {
                let filter = AgentFilter { modules, functions };
                (!filter.is_any()).then_some(filter)
            };
            let body = AgentBody {
                size: Some(size),
                filter: filter(modules, functions),
                prefer: filter(prefer_modules, prefer),
                fuel_cap,
                memory_cap,
                time_cap_ms: time_cap.map(|t| t.as_millis() as u64),
            };
            let agent: Agent = client
                .put_as(
                    &format!("{base}/{}/{}", queue_segment(&queue), segment(&name)),
                    &body,
                )
                .await?;
            emit(client_args.json, &agent, |agent| {
                print_agent_line(&agent.spec)
            });
        }
        AgentsCommand::Delete { queue, name } => {
            client
                .delete(&format!(
                    "{base}/{}/{}",
                    queue_segment(&queue),
                    segment(&name)
                ))
                .await?;
            if !client_args.json {
                println!("deleted agent {name} in queue {queue}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
