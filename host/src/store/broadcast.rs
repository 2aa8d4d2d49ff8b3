//! Broadcast jobs, written once for both backends: the put that pins one
//! copy to each live dispatcher able to run it ([`put`]), the gathering
//! of the copies' outcomes into the broadcast's result once the last one
//! has its outcome ([`gather`], a step of settling), and the copies a
//! dispatcher that stopped or died never ran ([`strand`], a step of
//! handing its jobs back). `model/links.rs` describes broadcasts.
//!
//! Which dispatchers: those live at put (pinged within the death
//! interval, not stopped) with an agent for the queue whose filter takes
//! the job, read in the put's transaction. A dispatcher that joins later
//! gets no copy. One found live that dies before its copy is inserted is
//! not missed: the search for dead dispatchers (`failures.rs`) also takes
//! a dispatcher that still has a copy pinned to it in a queue, so its
//! copy is stranded at the next rescue.

use std::collections::BTreeSet;

use super::Result;
use super::links::insert_linked;
use super::settle::{self, SettleTx};
use super::sql::{corrupt, lit, ms, settled_status};
use super::statement::{Arg, Sql, SqlConn, SqlRow};
use crate::model::{
    AgentFilter, BROADCAST_FUNCTION, BroadcastArgs, DispatcherId, Failure, JobId, JobLink,
    JobStatus, LinkedJob, NewJob, Timestamp, Transition, broadcast_result, outcome_json,
};

/// Puts a broadcast: the broadcast job and one copy of the job per live
/// dispatcher with an agent that may take it, in one transaction.
#[derive(Debug, Clone)]
pub struct BroadcastPutParams {
    /// The job each copy runs, fully resolved (its id is the
    /// broadcast's: each copy gets an id of its own).
    pub job: NewJob,
    /// The broadcast's callbacks (and theirs), linked already.
    pub callbacks: Vec<LinkedJob>,
    /// Dispatchers whose last ping is older than this are not live.
    pub live_since: Timestamp,
    /// Now.
    pub now: Timestamp,
}

/// Live dispatchers with an agent for queue `?1`, and the agents'
/// filters, by dispatcher.
static CANDIDATES: Sql = Sql::new(|_| {
    "SELECT d.id, a.filter FROM dispatchers AS d JOIN agents AS a ON a.dispatcher = d.id \
     WHERE a.queue = ?1 AND d.deactivated_at IS NULL AND d.last_ping_at >= ?2 ORDER BY d.id"
        .into()
});

/// [`Store::job_broadcast`](super::Store::job_broadcast), inside the
/// backend's transaction: returns the dispatchers its copies are pinned
/// to, in copy order.
pub(crate) async fn put<T: SettleTx + ?Sized>(
    tx: &mut T,
    p: &BroadcastPutParams,
) -> Result<Vec<DispatcherId>> {
    let job = &p.job;
    let sql = CANDIDATES.text(tx.dialect());
    let rows = tx
        .fetch_all(
            "dispatchers",
            sql,
            &[Arg::Text(&job.queue), Arg::Int(ms(p.live_since))],
        )
        .await?;
    let mut dispatchers = BTreeSet::new();
    for row in &rows {
        let filter: Option<AgentFilter> = row.opt_json(1)?;
        let takes = filter.is_none_or(|f| {
            f.takes(
                job.module_name.as_deref(),
                job.module.as_str(),
                &job.function,
            )
        });
        if takes {
            dispatchers.insert(DispatcherId(row.id(0)?));
        }
    }
    let dispatchers: Vec<DispatcherId> = dispatchers.into_iter().collect();
    let args = BroadcastArgs {
        dispatchers: dispatchers.clone(),
    };
    let broadcast = NewJob {
        function: BROADCAST_FUNCTION.to_owned(),
        args: serde_json::to_value(&args).map_err(|e| corrupt("jobs", e))?,
        expired: false,
        ..job.clone()
    };
    let mut linked = vec![LinkedJob {
        job: broadcast,
        held: true,
        link: None,
    }];
    for (index, &dispatcher) in dispatchers.iter().enumerate() {
        linked.push(LinkedJob {
            job: NewJob {
                id: JobId::new(),
                ..job.clone()
            },
            held: false,
            link: Some(JobLink::Copy {
                of: job.id,
                index: index as i64,
                dispatcher,
            }),
        });
    }
    linked.extend(p.callbacks.iter().cloned());
    insert_linked(tx, &linked, p.now).await?;
    // With no copy (or only copies expired at put, settled above) nothing
    // is left to wait for: it completes now, and is settled in turn.
    let gathered = gather(tx, &[job.id], p.now).await?;
    if !gathered.is_empty() {
        settle::settle(tx, gathered, p.now).await?;
    }
    if !dispatchers.is_empty() {
        tx.announce_puts(std::slice::from_ref(&job.queue)).await?;
    }
    Ok(dispatchers)
}

/// The broadcasts among `?1` still waiting for their copies, locked where
/// rows lock: a copy's outcome and another's take turns, and the later
/// one reads the earlier one's.
static WAITING: Sql = Sql::new(|d| {
    format!(
        "SELECT id FROM jobs WHERE {ids} AND function = '{BROADCAST_FUNCTION}' \
         AND status = {new} ORDER BY id{lock}",
        ids = (d.in_ids)("id", "?1"),
        new = lit(Transition::Gather.from()),
        lock = d.lock_rows,
    )
});

/// A broadcast's copies: the dispatcher each is pinned to, its status and
/// its outcome, in copy order.
static COPIES: Sql = Sql::new(|_| {
    "SELECT pinned_to, status, result, failure FROM jobs WHERE part_of = ?1 ORDER BY part_index"
        .into()
});

static GATHER: Sql = Sql::new(|d| {
    let t = Transition::Gather;
    format!(
        "UPDATE jobs SET status = {to}, result = ?2{json}, completed_at = ?3 \
         WHERE id = ?1 AND status = {from}",
        to = settled_status(t, "jobs"),
        from = lit(t.from()),
        json = d.json,
    )
});

fn copy_of(row: &SqlRow) -> Result<(Option<DispatcherId>, JobStatus, serde_json::Value)> {
    let status = row.text(1)?.parse().map_err(|e| corrupt("jobs", e))?;
    let result: Option<serde_json::Value> = row.opt_json(2)?;
    let failure: Option<Failure> = row.opt_json(3)?;
    Ok((
        row.opt_id(0)?.map(DispatcherId),
        status,
        outcome_json(result.as_ref(), failure.as_ref()),
    ))
}

/// Completes those of `ids` that are broadcasts whose copies all have
/// their outcome (completed or cancelled) with the map dispatcher →
/// outcome ([`Transition::Gather`]); returns them, to be settled in turn.
pub(crate) async fn gather<T: SettleTx + ?Sized>(
    tx: &mut T,
    ids: &[JobId],
    now: Timestamp,
) -> Result<Vec<JobId>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let list = (tx.dialect().id_list)(&uuids);
    let sql = WAITING.text(tx.dialect());
    let waiting = tx.fetch_all("jobs", sql, &[Arg::Text(&list)]).await?;
    let mut gathered = Vec::new();
    for row in &waiting {
        let id = JobId(row.id(0)?);
        let sql = COPIES.text(tx.dialect());
        let copies = tx
            .fetch_all("jobs", sql, &[Arg::Id(id.0)])
            .await?
            .iter()
            .map(copy_of)
            .collect::<Result<Vec<_>>>()?;
        if copies.iter().any(|(_, status, _)| !status.is_terminal()) {
            continue;
        }
        let result = broadcast_result(
            copies
                .into_iter()
                .map(|(dispatcher, _, outcome)| {
                    dispatcher.map(|d| (d, outcome)).ok_or_else(|| {
                        corrupt(
                            "jobs",
                            format!("a copy of broadcast {id} is pinned to no dispatcher"),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        )
        .to_string();
        let sql = GATHER.text(tx.dialect());
        let changed = tx
            .execute(sql, &[Arg::Id(id.0), Arg::Json(&result), Arg::Int(ms(now))])
            .await?;
        if changed > 0 {
            gathered.push(id);
        }
    }
    let done: Vec<uuid::Uuid> = gathered.iter().map(|id| id.0).collect();
    tx.announce_completed(&done);
    Ok(gathered)
}

static STRAND: Sql = Sql::new(|d| {
    let t = Transition::Strand;
    format!(
        "UPDATE jobs SET status = {to}, failure = ?2{json}, completed_at = ?3 \
         WHERE pinned_to = ?1 AND status = {from} RETURNING id",
        to = settled_status(t, "jobs"),
        from = lit(t.from()),
        json = d.json,
    )
});

/// Completes the copies pinned to `dispatcher` still in their queue with
/// an `aborted` failure saying why (`reason`: its dispatcher stopped,
/// died or was taken over) ([`Transition::Strand`]); returns them, to be
/// settled (their broadcasts gather).
pub(crate) async fn strand<C: SqlConn + ?Sized>(
    conn: &mut C,
    dispatcher: DispatcherId,
    reason: &str,
    now: Timestamp,
) -> Result<Vec<JobId>> {
    let failure = Failure::new(
        crate::model::FailureKind::Aborted,
        format!(
            "this broadcast copy never ran on dispatcher {dispatcher}, the one it was for: {reason}"
        ),
    );
    let failure = serde_json::to_string(&failure).map_err(|e| corrupt("jobs", e))?;
    let sql = STRAND.text(conn.dialect());
    let rows = conn
        .fetch_all(
            "jobs",
            sql,
            &[
                Arg::Id(dispatcher.0),
                Arg::Json(&failure),
                Arg::Int(ms(now)),
            ],
        )
        .await?;
    rows.iter().map(|r| Ok(JobId(r.id(0)?))).collect()
}
