//! `dispatchers` and their `agents`: activation's transaction (its
//! statements, the reads and the agent changes are written once in
//! `store/dispatchers.rs`).

use async_trait::async_trait;

use super::PgStore;
use super::row;
use super::tx::PgTx;
use crate::model::{Agent, AgentSpec, DispatcherId, DispatcherInfo, Timestamp};
use crate::store::Result;
use crate::store::dispatchers;
use crate::store::identity::{self, Activation, DispatcherActivateParams};

/// Registers a dispatcher id, or takes a known one over if its holder is
/// gone (see [`identity::activate`]).
pub(super) async fn activate(db: &PgStore, p: DispatcherActivateParams) -> Result<Activation> {
    row::retrying(|| async {
        let mut tx = db.begin().await?;
        let activation = identity::activate(&mut PgTx::new(&mut tx, db, Vec::new()), &p).await?;
        tx.commit().await?;
        Ok(activation)
    })
    .await
}

/// Marks a dispatcher stopped.
pub(super) async fn deactivate(db: &PgStore, id: DispatcherId, now: Timestamp) -> Result<()> {
    dispatchers::deactivate(db, id, now).await
}

/// A dispatcher.
pub(super) async fn get(db: &PgStore, id: DispatcherId) -> Result<DispatcherInfo> {
    dispatchers::get(db, id).await
}

/// Every dispatcher, by id.
pub(super) async fn list(db: &PgStore) -> Result<Vec<DispatcherInfo>> {
    dispatchers::list(db).await
}

/// Creates or replaces an agent, and announces it.
pub(super) async fn agent_upsert(
    db: &PgStore,
    dispatcher: DispatcherId,
    spec: AgentSpec,
) -> Result<Agent> {
    dispatchers::agent_upsert(db, dispatcher, spec).await
}

/// Agents, of one dispatcher or all, by dispatcher, queue and name.
pub(super) async fn agent_list(
    db: &PgStore,
    dispatcher: Option<DispatcherId>,
) -> Result<Vec<Agent>> {
    dispatchers::agent_list(db, dispatcher).await
}

/// Deletes an agent that holds no assigned or active job, and announces
/// it.
pub(super) async fn agent_delete(
    db: &PgStore,
    dispatcher: DispatcherId,
    queue: &str,
    name: &str,
) -> Result<()> {
    dispatchers::agent_delete(db, dispatcher, queue, name).await
}

use tracing::instrument;

use crate::store::{DispatcherPingParams, DispatcherStore, Ping};

#[async_trait]
impl DispatcherStore for PgStore {
    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_activate(&self, params: DispatcherActivateParams) -> Result<Activation> {
        activate(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_ping(&self, params: DispatcherPingParams) -> Result<Ping> {
        super::failures::ping(self, params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_deactivate(&self, id: DispatcherId, now: Timestamp) -> Result<()> {
        deactivate(self, id, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_get(&self, id: DispatcherId) -> Result<DispatcherInfo> {
        get(self, id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_list(&self) -> Result<Vec<DispatcherInfo>> {
        list(self).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn agent_upsert(&self, dispatcher: DispatcherId, spec: AgentSpec) -> Result<Agent> {
        agent_upsert(self, dispatcher, spec).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn agent_list(&self, dispatcher: Option<DispatcherId>) -> Result<Vec<Agent>> {
        agent_list(self, dispatcher).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn agent_delete(&self, dispatcher: DispatcherId, queue: &str, name: &str) -> Result<()> {
        agent_delete(self, dispatcher, queue, name).await
    }
}
