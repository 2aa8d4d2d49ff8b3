//! `dispatchers` and their `agents`, written once for both backends: the
//! statements of activation ([`ActivateTx`], over any transaction that
//! settles), reads, and agent changes, which are announced where the
//! backend announces (they wake the dispatcher). Activation's transaction
//! (and PostgreSQL's retry of it) stays with each backend.

use async_trait::async_trait;
use tracing::instrument;

use super::failures::FailureTx;
use super::identity::{
    self, ActivateTx, Activation, DispatcherActivateParams, DispatcherPingParams, Ping,
};
use super::pauses::queue_exists;
use super::sql::{from_u64_bits, lit, ms, queue_what, to_u32, u64_bits};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow, SqlTx, retrying};
use super::{DispatcherStore, Error, Result};
use crate::clock;
use crate::model::{Agent, AgentSpec, DispatcherId, DispatcherInfo, JobStatus, Timestamp};

const COLUMNS: &str =
    "id, hostname, pid, poll_interval_ms, activated_at, last_ping_at, deactivated_at";
const AGENT_COLUMNS: &str =
    "dispatcher, queue, name, size, filter, fuel_cap, memory_cap, prefer, time_cap_ms";

/// The jobs an agent holds (assigned or active).
pub(crate) static HELD: Sql = Sql::new(|_| {
    format!(
        "SELECT count(*) FROM jobs WHERE dispatcher = ?1 AND queue = ?2 AND agent = ?3 \
         AND status IN ({assigned}, {active})",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// Whether a dispatcher other than `?2`, active and not paused, has an
/// agent in queue `?1` holding fewer jobs (assigned or active) than its
/// size: one count of the in-flight index per agent of the queue, each at
/// most its size and what it claimed ahead. A count, not a boolean, read
/// alike by both backends.
static ROOM_ELSEWHERE: Sql = Sql::new(|_| {
    format!(
        "SELECT count(*) FROM (SELECT 1 FROM agents AS a \
           JOIN dispatchers AS d ON d.id = a.dispatcher \
           WHERE a.queue = ?1 AND a.dispatcher <> ?2 AND d.deactivated_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM dispatcher_pauses AS p \
                             WHERE p.dispatcher = a.dispatcher) \
             AND a.size > (SELECT count(*) FROM jobs AS j \
                           WHERE j.dispatcher = a.dispatcher AND j.queue = a.queue \
                             AND j.agent = a.name AND j.status IN ({assigned}, {active})) \
           LIMIT 1) AS room",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

static HOLDING: Sql = Sql::new(|d| {
    format!(
        "SELECT {COLUMNS} FROM dispatchers WHERE id = ?1{}",
        d.lock_rows
    )
});

static REGISTER: Sql = Sql::new(|_| {
    format!(
        "INSERT INTO dispatchers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?5, NULL) \
         ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
    )
});

static REACTIVATE: Sql = Sql::new(|_| {
    format!(
        "UPDATE dispatchers SET hostname = ?2, pid = ?3, poll_interval_ms = ?4, \
         activated_at = ?5, last_ping_at = ?5, deactivated_at = NULL, rescued_by = NULL, \
         rescued_at = NULL WHERE id = ?1 RETURNING {COLUMNS}"
    )
});

/// Creates or replaces an agent. Its dispatcher and queue are looked up in
/// the statement: a missing one leaves a NULL that the NOT NULL
/// constraint refuses.
static UPSERT: Sql = Sql::new(|d| {
    format!(
        "INSERT INTO agents (dispatcher, queue, name, size, filter, fuel_cap, memory_cap, \
           prefer, time_cap_ms) \
         VALUES ((SELECT id FROM dispatchers WHERE id = ?1), \
                 (SELECT name FROM queues WHERE name = ?2), ?3, ?4, ?5{json}, ?6, ?7, \
                 ?8{json}, ?9) \
         ON CONFLICT (dispatcher, queue, name) DO UPDATE SET size = excluded.size, \
         filter = excluded.filter, fuel_cap = excluded.fuel_cap, \
         memory_cap = excluded.memory_cap, prefer = excluded.prefer, \
         time_cap_ms = excluded.time_cap_ms",
        json = d.json,
    )
});

/// Deletes an agent unless it holds a job.
static DELETE: Sql = Sql::new(|_| {
    format!(
        "DELETE FROM agents WHERE dispatcher = ?1 AND queue = ?2 AND name = ?3 \
         AND NOT EXISTS (SELECT 1 FROM jobs WHERE dispatcher = ?1 AND queue = ?2 \
           AND agent = ?3 AND status IN ({assigned}, {active}))",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

fn no_dispatcher(id: DispatcherId) -> Error {
    Error::not_found(format!("dispatcher {id}"))
}

fn info(row: &SqlRow) -> Result<DispatcherInfo> {
    const T: &str = "dispatchers";
    Ok(DispatcherInfo {
        id: DispatcherId(row.id(0)?),
        hostname: row.text(1)?,
        pid: to_u32(T, "pid", row.int(2)?)?,
        poll_interval_ms: from_u64_bits(row.int(3)?),
        activated_at: clock::from_millis(row.int(4)?),
        last_ping_at: clock::from_millis(row.int(5)?),
        deactivated_at: row.opt_int(6)?.map(clock::from_millis),
    })
}

fn agent(row: &SqlRow) -> Result<Agent> {
    const T: &str = "agents";
    Ok(Agent {
        dispatcher: DispatcherId(row.id(0)?),
        spec: AgentSpec {
            queue: row.text(1)?,
            name: row.text(2)?,
            size: to_u32(T, "size", row.int(3)?)?,
            filter: row.opt_json(4)?,
            prefer: row.opt_json(7)?,
            fuel_cap: row.opt_int(5)?.map(from_u64_bits),
            memory_cap: row.opt_int(6)?.map(from_u64_bits),
            time_cap_ms: row.opt_int(8)?.map(from_u64_bits),
        },
    })
}

fn activation_args(p: &DispatcherActivateParams) -> [Arg<'_>; 5] {
    [
        Arg::Id(p.id.0),
        Arg::Text(&p.process.hostname),
        Arg::Int(i64::from(p.process.pid)),
        Arg::Int(u64_bits(p.poll_interval_ms)),
        Arg::Int(ms(p.now)),
    ]
}

/// Activation's statements, inside the backend's transaction: the row is
/// read locked where rows lock (SQLite's one writer serializes two
/// processes activating one id), and a new id is inserted only if no
/// other process inserted it first.
#[async_trait]
impl<T: FailureTx + ?Sized> ActivateTx for T {
    async fn holding(&mut self, id: DispatcherId) -> Result<Option<DispatcherInfo>> {
        let sql = HOLDING.text(self.dialect());
        let row = self
            .fetch_optional("dispatchers", sql, &[Arg::Id(id.0)])
            .await?;
        row.as_ref().map(info).transpose()
    }

    async fn register(&mut self, p: &DispatcherActivateParams) -> Result<Option<DispatcherInfo>> {
        let sql = REGISTER.text(self.dialect());
        let row = self
            .fetch_optional("dispatchers", sql, &activation_args(p))
            .await?;
        row.as_ref().map(info).transpose()
    }

    async fn reactivate(&mut self, p: &DispatcherActivateParams) -> Result<DispatcherInfo> {
        let sql = REACTIVATE.text(self.dialect());
        let row = self
            .fetch_optional("dispatchers", sql, &activation_args(p))
            .await?;
        info(&row.ok_or_else(|| no_dispatcher(p.id))?)
    }
}

/// Marks a dispatcher stopped.
pub(crate) async fn deactivate<B: SqlBackend>(
    db: &B,
    id: DispatcherId,
    now: Timestamp,
) -> Result<()> {
    let mut conn = db.writes();
    let sql = conn
        .dialect()
        .render("UPDATE dispatchers SET deactivated_at = ?2 WHERE id = ?1");
    let changed = conn
        .execute(&sql, &[Arg::Id(id.0), Arg::Int(ms(now))])
        .await?;
    if changed == 0 {
        return Err(no_dispatcher(id));
    }
    Ok(())
}

/// A dispatcher.
pub(crate) async fn get<B: SqlBackend>(db: &B, id: DispatcherId) -> Result<DispatcherInfo> {
    let mut conn = db.reads();
    let sql = conn
        .dialect()
        .render(&format!("SELECT {COLUMNS} FROM dispatchers WHERE id = ?1"));
    let row = conn
        .fetch_optional("dispatchers", &sql, &[Arg::Id(id.0)])
        .await?
        .ok_or_else(|| no_dispatcher(id))?;
    info(&row)
}

/// Every dispatcher, by id.
pub(crate) async fn list<B: SqlBackend>(db: &B) -> Result<Vec<DispatcherInfo>> {
    let sql = format!("SELECT {COLUMNS} FROM dispatchers ORDER BY id");
    let rows = db.reads().fetch_all("dispatchers", &sql, &[]).await?;
    rows.iter().map(info).collect()
}

/// Whether `error` is a write refused for a missing row it refers to.
fn refers_to_missing(error: &Error) -> bool {
    use sqlx::error::ErrorKind;
    matches!(error, Error::Database(sqlx::Error::Database(e))
        if matches!(e.kind(), ErrorKind::NotNullViolation | ErrorKind::ForeignKeyViolation))
}

/// Creates or replaces an agent, and announces it.
pub(crate) async fn agent_upsert<B: SqlBackend>(
    db: &B,
    dispatcher: DispatcherId,
    spec: AgentSpec,
) -> Result<Agent> {
    let json = |f: &Option<crate::model::AgentFilter>| {
        f.as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| super::sql::corrupt("agents", e))
    };
    let (filter, prefer) = (json(&spec.filter)?, json(&spec.prefer)?);
    let mut conn = db.writes();
    let sql = UPSERT.text(conn.dialect());
    let args = [
        Arg::Id(dispatcher.0),
        Arg::Text(&spec.queue),
        Arg::Text(&spec.name),
        Arg::Int(i64::from(spec.size)),
        Arg::OptText(filter.as_deref()),
        Arg::OptInt(spec.fuel_cap.map(u64_bits)),
        Arg::OptInt(spec.memory_cap.map(u64_bits)),
        Arg::OptText(prefer.as_deref()),
        Arg::OptInt(spec.time_cap_ms.map(u64_bits)),
    ];
    match conn.execute(sql, &args).await {
        Ok(_) => {}
        Err(e) if refers_to_missing(&e) => {
            queue_exists(&mut db.reads(), &spec.queue).await?;
            return Err(no_dispatcher(dispatcher));
        }
        Err(e) => return Err(e),
    }
    conn.announce_agents(dispatcher.0).await?;
    Ok(Agent { dispatcher, spec })
}

/// Agents, of one dispatcher or all, by dispatcher, queue and name.
pub(crate) async fn agent_list<B: SqlBackend>(
    db: &B,
    dispatcher: Option<DispatcherId>,
) -> Result<Vec<Agent>> {
    let mut conn = db.reads();
    let d = conn.dialect();
    let sql = d.render(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE ?1{uuid} IS NULL OR dispatcher = ?1 \
         ORDER BY dispatcher, queue{order}, name{order}",
        uuid = d.uuid,
        order = d.binary_order,
    ));
    let rows = conn
        .fetch_all("agents", &sql, &[Arg::OptId(dispatcher.map(|d| d.0))])
        .await?;
    rows.iter().map(agent).collect()
}

/// Deletes an agent that holds no assigned or active job, and announces
/// it.
pub(crate) async fn agent_delete<B: SqlBackend>(
    db: &B,
    dispatcher: DispatcherId,
    queue: &str,
    name: &str,
) -> Result<()> {
    let mut conn = db.writes();
    let args = [Arg::Id(dispatcher.0), Arg::Text(queue), Arg::Text(name)];
    let sql = DELETE.text(conn.dialect());
    if conn.execute(sql, &args).await? > 0 {
        conn.announce_agents(dispatcher.0).await?;
        return Ok(());
    }
    let sql = HELD.text(conn.dialect());
    let held = match conn.fetch_optional("jobs", sql, &args).await? {
        Some(row) => row.int(0)?,
        None => 0,
    };
    if held > 0 {
        return Err(Error::Conflict(format!(
            "agent `{name}` of dispatcher {dispatcher} in {} holds {held} assigned or active \
             job(s); it can be deleted once they finish",
            queue_what(queue)
        )));
    }
    Err(Error::not_found(format!(
        "agent `{name}` of dispatcher {dispatcher} in {}",
        queue_what(queue)
    )))
}

/// See [`DispatcherStore::agent_room_elsewhere`].
pub(crate) async fn agent_room_elsewhere<B: SqlBackend>(
    db: &B,
    queue: &str,
    dispatcher: DispatcherId,
) -> Result<bool> {
    let mut conn = db.reads();
    let sql = ROOM_ELSEWHERE.text(conn.dialect());
    let args = [Arg::Text(queue), Arg::Id(dispatcher.0)];
    let rows = conn.fetch_all("agents", sql, &args).await?;
    match rows.first() {
        Some(row) => Ok(row.int(0)? > 0),
        None => Ok(false),
    }
}

/// A dispatcher's ping: the statement each backend tunes (it runs every
/// poll interval of every dispatcher).
#[async_trait]
pub(crate) trait PingStatement {
    /// Records a ping if the row still names the process; reactivates a
    /// dispatcher declared dead meanwhile (see [`identity::ping_verdict`]).
    async fn ping(&self, p: DispatcherPingParams) -> Result<Ping>;
}

/// Written once for every backend; activation is one transaction, run
/// again when PostgreSQL aborts it (two processes activating one id).
#[async_trait]
impl<B: SqlBackend + PingStatement> DispatcherStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_activate(&self, p: DispatcherActivateParams) -> Result<Activation> {
        retrying(|| async {
            let mut tx = self.transaction().await?;
            let activation = identity::activate(&mut tx.conn(), &p).await?;
            tx.commit().await?;
            Ok(activation)
        })
        .await
    }

    #[instrument(level = "debug", skip_all)]
    async fn dispatcher_ping(&self, params: DispatcherPingParams) -> Result<Ping> {
        let ping = self.ping(params).await?;
        // The maintenance the job counts need (`store/counts.rs`): each
        // dispatcher's ping folds their deltas, so that they never pile
        // up while any dispatcher works. A fold that fails leaves them
        // for the next; the ping itself was recorded.
        if let Err(error) = super::counts::fold(self).await {
            tracing::warn!(%error, "could not fold the job counts' deltas");
        }
        Ok(ping)
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

    #[instrument(level = "debug", skip_all)]
    async fn agent_room_elsewhere(&self, queue: &str, dispatcher: DispatcherId) -> Result<bool> {
        agent_room_elsewhere(self, queue, dispatcher).await
    }
}
