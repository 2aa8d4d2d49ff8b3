//! `wasync dispatchers`: dispatchers and their agents.

use std::process::ExitCode;

use super::ClientArgs;
use super::output::{emit, time};
use crate::wire::dispatchers::DispatcherList;

/// Lists dispatchers with their agents.
pub async fn run(client_args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let list: DispatcherList = client_args.client().get_as("/v1/dispatchers").await?;
    emit(client_args.json, &list, |list| {
        for dispatcher in &list.dispatchers {
            let info = &dispatcher.info;
            let state = if info.deactivated_at.is_some() {
                "stopped"
            } else {
                "active"
            };
            println!(
                "dispatcher {} ({state}) on {} pid {}, last ping {}",
                info.id,
                info.hostname,
                info.pid,
                time(&info.last_ping_at),
            );
            dispatcher
                .agents
                .iter()
                .for_each(super::agents::print_agent_line);
        }
    });
    Ok(ExitCode::SUCCESS)
}
