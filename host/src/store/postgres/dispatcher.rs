//! `dispatchers` and their `agents`. Agent changes are announced
//! ([`StoreEvent::AgentsChanged`](crate::store::StoreEvent::AgentsChanged))
//! on commit.

use std::sync::LazyLock;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row as _};

use super::row::{self, from_json, from_u64_bits, json_text, lit, ms, to_u32, u64_bits};
use super::tx::PgTx;
use super::{PgStore, queue};
use crate::clock;
use crate::model::{Agent, AgentSpec, DispatcherId, DispatcherInfo, JobStatus, Timestamp};
use crate::store::identity::{self, ActivateTx, Activation, DispatcherActivateParams};
use crate::store::dispatchers;
use crate::store::{Error, Result};

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

/// Creates or replaces an agent, and announces it. The foreign keys refuse
/// a dispatcher or queue that does not exist.
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
