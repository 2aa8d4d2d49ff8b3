//! `dispatchers` and their `agents`.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row as _, Sqlite};

use super::row::{corrupt, from_u64_bits, json, lit, ms, to_u32, u64_bits};
use super::tx::SqliteTx;
use super::{SqliteStore, queue};
use crate::clock;
use crate::model::{Agent, AgentSpec, DispatcherId, DispatcherInfo, JobStatus, Timestamp};
use crate::store::identity::{self, ActivateTx, Activation, DispatcherActivateParams};
use crate::store::dispatchers;
use crate::store::{Error, Result};

/// Registers a dispatcher id, or takes a known one over if its holder is
/// gone (see [`identity::activate`]).
pub(super) async fn activate(db: &SqliteStore, p: DispatcherActivateParams) -> Result<Activation> {
    let mut tx = db.begin().await?;
    let activation = identity::activate(&mut SqliteTx(&mut tx), &p).await?;
    tx.commit().await?;
    Ok(activation)
}

/// Marks a dispatcher stopped.
pub(super) async fn deactivate(db: &SqliteStore, id: DispatcherId, now: Timestamp) -> Result<()> {
    dispatchers::deactivate(db, id, now).await
}

/// A dispatcher.
pub(super) async fn get(db: &SqliteStore, id: DispatcherId) -> Result<DispatcherInfo> {
    dispatchers::get(db, id).await
}

/// Every dispatcher, by id.
pub(super) async fn list(db: &SqliteStore) -> Result<Vec<DispatcherInfo>> {
    dispatchers::list(db).await
}

/// Creates or replaces an agent. Its dispatcher and queue are looked up in
/// the statement: a missing one leaves a NULL that the NOT NULL
/// constraint refuses.
pub(super) async fn agent_upsert(
    db: &SqliteStore,
    dispatcher: DispatcherId,
    spec: AgentSpec,
) -> Result<Agent> {
    dispatchers::agent_upsert(db, dispatcher, spec).await
}

/// Agents, of one dispatcher or all, by dispatcher, queue and name.
pub(super) async fn agent_list(
    db: &SqliteStore,
    dispatcher: Option<DispatcherId>,
) -> Result<Vec<Agent>> {
    dispatchers::agent_list(db, dispatcher).await
}

/// Deletes an agent that holds no assigned or active job.
pub(super) async fn agent_delete(
    db: &SqliteStore,
    dispatcher: DispatcherId,
    queue: &str,
    name: &str,
) -> Result<()> {
    dispatchers::agent_delete(db, dispatcher, queue, name).await
}
