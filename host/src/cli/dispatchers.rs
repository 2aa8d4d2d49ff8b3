//! `wasync dispatchers`: dispatchers and their agents.

use std::process::ExitCode;

use super::ClientArgs;
use super::output::print_json;

/// Lists dispatchers with their agents.
pub async fn run(client_args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let answer = client_args.client().get("/v1/dispatchers").await?;
    if client_args.json {
        print_json(&answer);
        return Ok(ExitCode::SUCCESS);
    }
    for dispatcher in answer["dispatchers"].as_array().into_iter().flatten() {
        let state = if dispatcher.get("deactivated_at").is_some() {
            "stopped"
        } else {
            "active"
        };
        println!(
            "dispatcher {} ({state}) on {} pid {}, last ping {}",
            dispatcher["id"].as_str().unwrap_or("?"),
            dispatcher["hostname"].as_str().unwrap_or("?"),
            dispatcher["pid"],
            dispatcher["last_ping_at"].as_str().unwrap_or("?"),
        );
        for agent in dispatcher["agents"].as_array().into_iter().flatten() {
            super::agents::print_agent_line(agent);
        }
    }
    Ok(ExitCode::SUCCESS)
}
