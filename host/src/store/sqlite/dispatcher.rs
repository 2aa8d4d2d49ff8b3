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
use crate::store::{Error, Result};

const COLUMNS: &str =
    "id, hostname, pid, poll_interval_ms, activated_at, last_ping_at, deactivated_at";
const AGENT_COLUMNS: &str =
    "dispatcher, queue, name, size, filter, fuel_cap, memory_cap, prefer, time_cap_ms";

pub(super) static HELD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT count(*) FROM jobs WHERE dispatcher = ?1 AND queue = ?2 AND agent = ?3 \
         AND status IN ({assigned}, {active})",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

fn no_dispatcher(id: DispatcherId) -> Error {
    Error::not_found(format!("dispatcher {id}"))
}

fn info(row: &SqliteRow) -> Result<DispatcherInfo> {
    const T: &str = "dispatchers";
    Ok(DispatcherInfo {
        id: DispatcherId(row.try_get(0)?),
        hostname: row.try_get(1)?,
        pid: to_u32(T, "pid", row.try_get(2)?)?,
        poll_interval_ms: from_u64_bits(row.try_get(3)?),
        activated_at: clock::from_millis(row.try_get(4)?),
        last_ping_at: clock::from_millis(row.try_get(5)?),
        deactivated_at: row.try_get::<Option<i64>, _>(6)?.map(clock::from_millis),
    })
}

fn agent(row: &SqliteRow) -> Result<Agent> {
    const T: &str = "agents";
    Ok(Agent {
        dispatcher: DispatcherId(row.try_get(0)?),
        spec: AgentSpec {
            queue: row.try_get(1)?,
            name: row.try_get(2)?,
            size: to_u32(T, "size", row.try_get(3)?)?,
            filter: row
                .try_get::<Option<String>, _>(4)?
                .map(|f| json(T, "filter", &f))
                .transpose()?,
            prefer: row
                .try_get::<Option<String>, _>(7)?
                .map(|f| json(T, "prefer", &f))
                .transpose()?,
            fuel_cap: row.try_get::<Option<i64>, _>(5)?.map(from_u64_bits),
            memory_cap: row.try_get::<Option<i64>, _>(6)?.map(from_u64_bits),
            time_cap_ms: row.try_get::<Option<i64>, _>(8)?.map(from_u64_bits),
        },
    })
}

/// Activation's statements, in one `BEGIN IMMEDIATE` transaction: SQLite's
/// one writer serializes two processes activating one id.
#[async_trait]
impl ActivateTx for SqliteTx<'_> {
    async fn holding(&mut self, id: DispatcherId) -> Result<Option<DispatcherInfo>> {
        let sql = format!("SELECT {COLUMNS} FROM dispatchers WHERE id = ?1");
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&mut **self.0)
            .await?;
        row.as_ref().map(info).transpose()
    }

    async fn register(&mut self, p: &DispatcherActivateParams) -> Result<Option<DispatcherInfo>> {
        let sql = format!(
            "INSERT INTO dispatchers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?5, NULL) \
             ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
        );
        let row = bind_activation(sqlx::query(&sql), p)
            .fetch_optional(&mut **self.0)
            .await?;
        row.as_ref().map(info).transpose()
    }

    async fn reactivate(&mut self, p: &DispatcherActivateParams) -> Result<DispatcherInfo> {
        let sql = format!(
            "UPDATE dispatchers SET hostname = ?2, pid = ?3, poll_interval_ms = ?4, \
             activated_at = ?5, last_ping_at = ?5, deactivated_at = NULL, rescued_by = NULL, \
             rescued_at = NULL WHERE id = ?1 RETURNING {COLUMNS}"
        );
        let row = bind_activation(sqlx::query(&sql), p)
            .fetch_one(&mut **self.0)
            .await?;
        info(&row)
    }
}

fn bind_activation<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    p: &'q DispatcherActivateParams,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    query
        .bind(p.id.0)
        .bind(&p.process.hostname)
        .bind(i64::from(p.process.pid))
        .bind(u64_bits(p.poll_interval_ms))
        .bind(ms(p.now))
}

/// Registers a dispatcher id, or takes a known one over if its holder is
/// gone (see [`identity::activate`]).
pub(super) async fn activate(db: &SqliteStore, p: DispatcherActivateParams) -> Result<Activation> {
    let mut tx = db.begin().await?;
    let activation = identity::activate(&mut SqliteTx(&mut tx), &p).await?;
    tx.commit().await?;
    Ok(activation)
}

async fn stamp(db: &SqliteStore, column: &str, id: DispatcherId, now: Timestamp) -> Result<()> {
    let sql = format!("UPDATE dispatchers SET {column} = ?2 WHERE id = ?1");
    let changed = sqlx::query(&sql)
        .bind(id.0)
        .bind(ms(now))
        .execute(&db.writer)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(no_dispatcher(id));
    }
    Ok(())
}

/// Marks a dispatcher stopped.
pub(super) async fn deactivate(db: &SqliteStore, id: DispatcherId, now: Timestamp) -> Result<()> {
    stamp(db, "deactivated_at", id, now).await
}

/// A dispatcher.
pub(super) async fn get(db: &SqliteStore, id: DispatcherId) -> Result<DispatcherInfo> {
    let sql = format!("SELECT {COLUMNS} FROM dispatchers WHERE id = ?1");
    let row = sqlx::query(&sql)
        .bind(id.0)
        .fetch_optional(&db.reader)
        .await?
        .ok_or_else(|| no_dispatcher(id))?;
    info(&row)
}

/// Every dispatcher, by id.
pub(super) async fn list(db: &SqliteStore) -> Result<Vec<DispatcherInfo>> {
    let sql = format!("SELECT {COLUMNS} FROM dispatchers ORDER BY id");
    let rows = sqlx::query(&sql).fetch_all(&db.reader).await?;
    rows.iter().map(info).collect()
}

/// Creates or replaces an agent. Its dispatcher and queue are looked up in
/// the statement: a missing one leaves a NULL that the NOT NULL
/// constraint refuses.
pub(super) async fn agent_upsert(
    db: &SqliteStore,
    dispatcher: DispatcherId,
    spec: AgentSpec,
) -> Result<Agent> {
    let to_json = |f: &Option<crate::model::AgentFilter>| {
        f.as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| corrupt("agents", e))
    };
    let (filter, prefer) = (to_json(&spec.filter)?, to_json(&spec.prefer)?);
    let written = sqlx::query(
        "INSERT INTO agents (dispatcher, queue, name, size, filter, fuel_cap, memory_cap, \
           prefer, time_cap_ms) \
         VALUES ((SELECT id FROM dispatchers WHERE id = ?1), \
                 (SELECT name FROM queues WHERE name = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (dispatcher, queue, name) DO UPDATE SET size = excluded.size, \
         filter = excluded.filter, fuel_cap = excluded.fuel_cap, \
         memory_cap = excluded.memory_cap, prefer = excluded.prefer, \
         time_cap_ms = excluded.time_cap_ms",
    )
    .bind(dispatcher.0)
    .bind(&spec.queue)
    .bind(&spec.name)
    .bind(i64::from(spec.size))
    .bind(filter)
    .bind(spec.fuel_cap.map(u64_bits))
    .bind(spec.memory_cap.map(u64_bits))
    .bind(prefer)
    .bind(spec.time_cap_ms.map(u64_bits))
    .execute(&db.writer)
    .await;
    match written {
        Ok(_) => Ok(Agent { dispatcher, spec }),
        Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::NotNullViolation => {
            if e.message().contains("agents.queue") {
                Err(Error::not_found(queue::what(&spec.queue)))
            } else {
                Err(no_dispatcher(dispatcher))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Agents, of one dispatcher or all, by dispatcher, queue and name.
pub(super) async fn agent_list(
    db: &SqliteStore,
    dispatcher: Option<DispatcherId>,
) -> Result<Vec<Agent>> {
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE ?1 IS NULL OR dispatcher = ?1 \
         ORDER BY dispatcher, queue, name"
    );
    let rows = sqlx::query(&sql)
        .bind(dispatcher.map(|d| d.0))
        .fetch_all(&db.reader)
        .await?;
    rows.iter().map(agent).collect()
}

/// Deletes an agent that holds no assigned or active job.
pub(super) async fn agent_delete(
    db: &SqliteStore,
    dispatcher: DispatcherId,
    queue: &str,
    name: &str,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let held: i64 = sqlx::query_scalar(&HELD)
        .bind(dispatcher.0)
        .bind(queue)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    if held > 0 {
        return Err(Error::Conflict(format!(
            "agent `{name}` of dispatcher {dispatcher} in {} holds {held} assigned or active \
             job(s); it can be deleted once they finish",
            queue::what(queue)
        )));
    }
    let deleted =
        sqlx::query("DELETE FROM agents WHERE dispatcher = ?1 AND queue = ?2 AND name = ?3")
            .bind(dispatcher.0)
            .bind(queue)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if deleted == 0 {
        return Err(Error::not_found(format!(
            "agent `{name}` of dispatcher {dispatcher} in {}",
            queue::what(queue)
        )));
    }
    tx.commit().await?;
    Ok(())
}

use tracing::instrument;

use crate::store::{DispatcherPingParams, DispatcherStore, Ping};

#[async_trait]
impl DispatcherStore for SqliteStore {
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
