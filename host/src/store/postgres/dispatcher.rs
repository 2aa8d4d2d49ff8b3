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
use crate::store::{Error, Result};

const COLUMNS: &str =
    "id, hostname, pid, poll_interval_ms, activated_at, last_ping_at, deactivated_at";
const AGENT_COLUMNS: &str =
    "dispatcher, queue, name, size, filter, fuel_cap, memory_cap, prefer, time_cap_ms";

pub(super) static HELD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT count(*) FROM jobs WHERE dispatcher = $1 AND queue = $2 AND agent = $3 \
         AND status IN ({assigned}, {active})",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// The notification an agent change sends, built in SQL from the row
/// written so that it goes only if the write happened.
const AGENTS_CHANGED: &str = "pg_notify($1, json_build_object('agents', w.dispatcher)::text)";

static UPSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH w AS ( \
           INSERT INTO agents (dispatcher, queue, name, size, filter, fuel_cap, memory_cap, \
             prefer, time_cap_ms) \
           VALUES ($2, $3, $4, $5, $6::json, $7, $8, $9::json, $10) \
           ON CONFLICT (dispatcher, queue, name) DO UPDATE SET size = excluded.size, \
             filter = excluded.filter, fuel_cap = excluded.fuel_cap, \
             memory_cap = excluded.memory_cap, prefer = excluded.prefer, \
             time_cap_ms = excluded.time_cap_ms \
           RETURNING dispatcher) \
         SELECT {AGENTS_CHANGED} FROM w"
    )
});

static DELETE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH w AS (DELETE FROM agents WHERE dispatcher = $2 AND queue = $3 AND name = $4 \
           RETURNING dispatcher) \
         SELECT {AGENTS_CHANGED} FROM w"
    )
});

fn no_dispatcher(id: DispatcherId) -> Error {
    Error::not_found(format!("dispatcher {id}"))
}

fn info(row: &PgRow) -> Result<DispatcherInfo> {
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

fn agent(row: &PgRow) -> Result<Agent> {
    const T: &str = "agents";
    Ok(Agent {
        dispatcher: DispatcherId(row.try_get(0)?),
        spec: AgentSpec {
            queue: row.try_get(1)?,
            name: row.try_get(2)?,
            size: to_u32(T, "size", row.try_get(3)?)?,
            filter: row
                .try_get::<Option<Value>, _>(4)?
                .map(|f| from_json(T, "filter", f))
                .transpose()?,
            prefer: row
                .try_get::<Option<Value>, _>(7)?
                .map(|f| from_json(T, "prefer", f))
                .transpose()?,
            fuel_cap: row.try_get::<Option<i64>, _>(5)?.map(from_u64_bits),
            memory_cap: row.try_get::<Option<i64>, _>(6)?.map(from_u64_bits),
            time_cap_ms: row.try_get::<Option<i64>, _>(8)?.map(from_u64_bits),
        },
    })
}

/// Activation's statements, in one transaction: the row is read `FOR
/// UPDATE`, and a new id is inserted only if no other process inserted it
/// first (`ON CONFLICT DO NOTHING` waits for that one's transaction).
#[async_trait]
impl ActivateTx for PgTx<'_> {
    async fn holding(&mut self, id: DispatcherId) -> Result<Option<DispatcherInfo>> {
        let sql = format!("SELECT {COLUMNS} FROM dispatchers WHERE id = $1 FOR UPDATE");
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&mut *self.conn)
            .await?;
        row.as_ref().map(info).transpose()
    }

    async fn register(&mut self, p: &DispatcherActivateParams) -> Result<Option<DispatcherInfo>> {
        let sql = format!(
            "INSERT INTO dispatchers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $5, NULL) \
             ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
        );
        let row = bind_activation(sqlx::query(&sql), p)
            .fetch_optional(&mut *self.conn)
            .await?;
        row.as_ref().map(info).transpose()
    }

    async fn reactivate(&mut self, p: &DispatcherActivateParams) -> Result<DispatcherInfo> {
        let sql = format!(
            "UPDATE dispatchers SET hostname = $2, pid = $3, poll_interval_ms = $4, \
             activated_at = $5, last_ping_at = $5, deactivated_at = NULL, rescued_by = NULL, \
             rescued_at = NULL WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row = bind_activation(sqlx::query(&sql), p)
            .fetch_one(&mut *self.conn)
            .await?;
        info(&row)
    }
}

fn bind_activation<'q>(
    query: Query<'q, Postgres, PgArguments>,
    p: &'q DispatcherActivateParams,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(p.id.0)
        .bind(&p.process.hostname)
        .bind(i64::from(p.process.pid))
        .bind(u64_bits(p.poll_interval_ms))
        .bind(ms(p.now))
}

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

async fn stamp(db: &PgStore, column: &str, id: DispatcherId, now: Timestamp) -> Result<()> {
    let sql = format!("UPDATE dispatchers SET {column} = $2 WHERE id = $1");
    let changed = sqlx::query(&sql)
        .bind(id.0)
        .bind(ms(now))
        .execute(&db.pool)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(no_dispatcher(id));
    }
    Ok(())
}

/// Marks a dispatcher stopped.
pub(super) async fn deactivate(db: &PgStore, id: DispatcherId, now: Timestamp) -> Result<()> {
    stamp(db, "deactivated_at", id, now).await
}

/// A dispatcher.
pub(super) async fn get(db: &PgStore, id: DispatcherId) -> Result<DispatcherInfo> {
    let sql = format!("SELECT {COLUMNS} FROM dispatchers WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.0)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| no_dispatcher(id))?;
    info(&row)
}

/// Every dispatcher, by id.
pub(super) async fn list(db: &PgStore) -> Result<Vec<DispatcherInfo>> {
    let sql = format!("SELECT {COLUMNS} FROM dispatchers ORDER BY id");
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    rows.iter().map(info).collect()
}

/// Creates or replaces an agent, and announces it. The foreign keys refuse
/// a dispatcher or queue that does not exist.
pub(super) async fn agent_upsert(
    db: &PgStore,
    dispatcher: DispatcherId,
    spec: AgentSpec,
) -> Result<Agent> {
    let written = sqlx::query(&UPSERT)
        .bind(&*db.channel)
        .bind(dispatcher.0)
        .bind(&spec.queue)
        .bind(&spec.name)
        .bind(i64::from(spec.size))
        .bind(spec.filter.as_ref().map(json_text))
        .bind(spec.fuel_cap.map(u64_bits))
        .bind(spec.memory_cap.map(u64_bits))
        .bind(spec.prefer.as_ref().map(json_text))
        .bind(spec.time_cap_ms.map(u64_bits))
        .execute(&db.pool)
        .await;
    match written {
        Ok(_) => Ok(Agent { dispatcher, spec }),
        Err(e) => match row::db_error(&e) {
            Some((code, Some(constraint))) if code == row::sqlstate::FOREIGN_KEY => {
                if constraint == "agents_queue_fkey" {
                    Err(Error::not_found(queue::what(&spec.queue)))
                } else {
                    Err(no_dispatcher(dispatcher))
                }
            }
            _ => Err(e.into()),
        },
    }
}

/// Agents, of one dispatcher or all, by dispatcher, queue and name.
pub(super) async fn agent_list(
    db: &PgStore,
    dispatcher: Option<DispatcherId>,
) -> Result<Vec<Agent>> {
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE $1::uuid IS NULL OR dispatcher = $1 \
         ORDER BY dispatcher, queue COLLATE \"C\", name COLLATE \"C\""
    );
    let rows = sqlx::query(&sql)
        .bind(dispatcher.map(|d| d.0))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(agent).collect()
}

/// Deletes an agent that holds no assigned or active job, and announces
/// it.
pub(super) async fn agent_delete(
    db: &PgStore,
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
    let deleted = sqlx::query(&DELETE)
        .bind(&*db.channel)
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
