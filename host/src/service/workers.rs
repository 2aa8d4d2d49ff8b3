//! Dispatchers and their agents, as the API shows and edits them.

use serde::Serialize;

use super::names::queue_from_alias;
use super::{Error, Result, Service};
use crate::model::{Agent, AgentSpec, DispatcherId, DispatcherInfo};

/// The largest agent size (jobs run at once by one agent).
pub const AGENT_SIZE_MAX: u32 = 10_000;

/// A dispatcher with its agents.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DispatcherView {
    /// The dispatcher.
    #[serde(flatten)]
    pub info: DispatcherInfo,
    /// Its agents.
    pub agents: Vec<AgentSpec>,
}

impl Service {
    /// Every dispatcher with its agents.
    pub async fn dispatcher_list(&self) -> Result<Vec<DispatcherView>> {
        let (dispatchers, agents) = tokio::try_join!(
            self.store().dispatcher_list(),
            self.store().agent_list(None)
        )?;
        Ok(dispatchers
            .into_iter()
            .map(|info| DispatcherView {
                agents: agents
                    .iter()
                    .filter(|a| a.dispatcher == info.id)
                    .map(|a| a.spec.clone())
                    .collect(),
                info,
            })
            .collect())
    }

    /// One dispatcher with its agents.
    pub async fn dispatcher_get(&self, id: DispatcherId) -> Result<DispatcherView> {
        let (info, agents) = tokio::try_join!(
            self.store().dispatcher_get(id),
            self.store().agent_list(Some(id))
        )?;
        Ok(DispatcherView {
            info,
            agents: agents.into_iter().map(|a| a.spec).collect(),
        })
    }

    /// Creates or replaces an agent. The dispatcher picks the change up at
    /// once if it runs in this process, else at its next poll.
    pub async fn agent_upsert(
        &self,
        dispatcher: DispatcherId,
        mut spec: AgentSpec,
    ) -> Result<Agent> {
        spec.queue = queue_from_alias(&spec.queue).to_owned();
        super::names::validate_free_name("agent name", &spec.name, super::names::NAME_MAX_LEN)?;
        if spec.size == 0 || spec.size > AGENT_SIZE_MAX {
            return Err(Error::Invalid(format!(
                "agent `size` must be 1 to {AGENT_SIZE_MAX}, got {}",
                spec.size
            )));
        }
        if spec.fuel_cap == Some(0) || spec.memory_cap == Some(0) || spec.time_cap_ms == Some(0) {
            return Err(Error::Invalid(
                "`fuel_cap`, `memory_cap` and `time_cap_ms` must be positive (omit them for no \
                 cap)"
                    .into(),
            ));
        }
        self.store().queue_get(&spec.queue).await?;
        let agent = self.store().agent_upsert(dispatcher, spec).await?;
        self.events().agents_changed();
        Ok(agent)
    }

    /// Deletes an agent; refused while it holds jobs.
    pub async fn agent_delete(
        &self,
        dispatcher: DispatcherId,
        queue: &str,
        name: &str,
    ) -> Result<()> {
        self.store()
            .agent_delete(dispatcher, queue_from_alias(queue), name)
            .await?;
        self.events().agents_changed();
        Ok(())
    }
}
