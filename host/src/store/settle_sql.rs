//! The statements of settling and of the link operations that read or
//! change one job or a list of them, written once for both backends over
//! [`SqlConn`]: they are [`SettleTx`](super::settle::SettleTx)'s default
//! methods. A list of ids is one parameter ([`Dialect::id_list`]), so a
//! statement has one text whatever the list's length. The batch writes
//! whose plan matters (the await cascade, firing callbacks, passing an
//! outcome through, inserting linked jobs) stay per backend.
//!
//! [`Dialect::id_list`]: super::statement::Dialect

use serde_json::Value;
use uuid::Uuid;

use super::Result;
use super::settle::{CompositeState, Link, Outcome, Part, WaitingCallback};
use super::sql::{callbacks_pending, corrupt, lit};
use super::statement::{Arg, Sql, SqlConn, SqlRow};
use crate::model::{CallbackOn, JobId, JobStatus, Transition};

const TABLE: &str = "jobs";

/// `ids` as the one parameter a list statement binds.
fn id_list<C: SqlConn + ?Sized>(conn: &C, ids: &[JobId]) -> String {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    (conn.dialect().id_list)(&ids)
}

fn status(row: &SqlRow, i: usize) -> Result<JobStatus> {
    row.text(i)?.parse().map_err(|e| corrupt(TABLE, e))
}

fn outcome(row: &SqlRow, result: usize) -> Result<Outcome> {
    Ok(Outcome {
        result: row.opt_json(result)?,
        failure: row.opt_json(result + 1)?,
    })
}

/// The callbacks (still `new`) waiting for the jobs `?1`, with the
/// outcome of the job each waits for: read by every finish that may have
/// callbacks to fire (`postgres/plans.rs` checks its plan).
pub(crate) static WAITING: Sql = Sql::new(|d| {
    format!(
        "SELECT c.id, c.callback_on, c.args, p.result, p.failure \
         FROM jobs AS c JOIN jobs AS p ON p.id = c.callback_of \
         WHERE {of} AND c.status = {new} ORDER BY c.seq",
        of = (d.in_ids)("c.callback_of", "?1"),
        new = lit(JobStatus::New)
    )
});

/// See [`SettleTx::waiting_callbacks`](super::settle::SettleTx::waiting_callbacks).
pub(crate) async fn waiting_callbacks<C: SqlConn + ?Sized>(
    conn: &mut C,
    ids: &[JobId],
) -> Result<Vec<WaitingCallback>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = id_list(conn, ids);
    let sql = WAITING.text(conn.dialect());
    let rows = conn.fetch_all(TABLE, sql, &[Arg::Text(&list)]).await?;
    rows.iter()
        .map(|r| {
            Ok(WaitingCallback {
                id: JobId(r.id(0)?),
                on: r
                    .text(1)?
                    .parse::<CallbackOn>()
                    .map_err(|e| corrupt(TABLE, e))?,
                args: r.json(2)?,
                outcome: outcome(r, 3)?,
            })
        })
        .collect()
}

static LINKS: Sql = Sql::new(|d| {
    format!(
        "SELECT id, status, callback_of, part_of FROM jobs \
         WHERE {ids} AND (callback_of IS NOT NULL OR part_of IS NOT NULL)",
        ids = (d.in_ids)("id", "?1"),
    )
});

/// See [`SettleTx::links`](super::settle::SettleTx::links).
pub(crate) async fn links<C: SqlConn + ?Sized>(conn: &mut C, ids: &[JobId]) -> Result<Vec<Link>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = id_list(conn, ids);
    let sql = LINKS.text(conn.dialect());
    let rows = conn.fetch_all(TABLE, sql, &[Arg::Text(&list)]).await?;
    rows.iter()
        .map(|r| {
            Ok(Link {
                status: status(r, 1)?,
                callback_of: r.opt_id(2)?.map(JobId),
                part_of: r.opt_id(3)?.map(JobId),
            })
        })
        .collect()
}

static CALLBACKS_DONE: Sql = Sql::new(|d| {
    let t = Transition::CallbacksDone;
    format!(
        "UPDATE jobs SET status = {to} \
         WHERE {ids} AND status = {from} AND NOT {pending} RETURNING id",
        ids = (d.in_ids)("id", "?1"),
        to = lit(t.to()),
        from = lit(t.from()),
        pending = callbacks_pending("jobs"),
    )
});

/// See [`SettleTx::callbacks_done`](super::settle::SettleTx::callbacks_done):
/// the jobs completed are announced.
pub(crate) async fn callbacks_done<C: SqlConn + ?Sized>(
    conn: &mut C,
    ids: &[JobId],
) -> Result<Vec<JobId>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = id_list(conn, ids);
    let sql = CALLBACKS_DONE.text(conn.dialect());
    let rows = conn.fetch_all(TABLE, sql, &[Arg::Text(&list)]).await?;
    let done = rows
        .iter()
        .map(|r| r.id(0))
        .collect::<Result<Vec<Uuid>>>()?;
    conn.announce_completed(&done);
    Ok(done.into_iter().map(JobId).collect())
}

static LOCK_MANY: Sql = Sql::new(|d| {
    format!(
        "SELECT id FROM jobs WHERE {ids} ORDER BY id{lock}",
        ids = (d.in_ids)("id", "?1"),
        lock = d.lock_rows,
    )
});

static COMPOSITES: Sql = Sql::new(|d| {
    let running = [
        JobStatus::Pending,
        JobStatus::Assigned,
        JobStatus::Active,
        JobStatus::Callbacks,
    ]
    .map(lit)
    .join(", ");
    format!(
        "SELECT c.id, c.function, c.args, \
           EXISTS (SELECT 1 FROM jobs AS p WHERE p.part_of = c.id AND p.status IN ({running})), \
           (SELECT p.id FROM jobs AS p WHERE p.part_of = c.id AND p.status = {new} \
            ORDER BY p.part_index LIMIT 1) \
         FROM jobs AS c WHERE {ids} AND c.status = {active}",
        ids = (d.in_ids)("c.id", "?1"),
        new = lit(JobStatus::New),
        active = lit(JobStatus::Active),
    )
});

/// See [`SettleTx::composites`](super::settle::SettleTx::composites).
/// Where rows lock, the composites are locked first and read in a later
/// statement: it sees every part added by a transaction that held the
/// lock before, so a part added and the last part completing take turns
/// and the postprocess never misses a part.
pub(crate) async fn composites<C: SqlConn + ?Sized>(
    conn: &mut C,
    ids: &[JobId],
) -> Result<Vec<CompositeState>> {
    let list = id_list(conn, ids);
    let d = conn.dialect();
    if d.locks_rows() {
        conn.execute(LOCK_MANY.text(d), &[Arg::Text(&list)]).await?;
    }
    let rows = conn
        .fetch_all(TABLE, COMPOSITES.text(d), &[Arg::Text(&list)])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CompositeState {
                id: JobId(r.id(0)?),
                function: r.text(1)?,
                args: r.json(2)?,
                running: r.bool(3)?,
                next_new: r.opt_id(4)?.map(JobId),
            })
        })
        .collect()
}

/// See [`SettleTx::parts`](super::settle::SettleTx::parts).
pub(crate) async fn parts<C: SqlConn + ?Sized>(
    conn: &mut C,
    composite: JobId,
) -> Result<Vec<Part>> {
    let sql = conn.dialect().render(
        "SELECT id, status, result, failure FROM jobs WHERE part_of = ?1 ORDER BY part_index",
    );
    let rows = conn.fetch_all(TABLE, &sql, &[Arg::Id(composite.0)]).await?;
    rows.iter()
        .map(|r| {
            Ok(Part {
                id: JobId(r.id(0)?),
                status: status(r, 1)?,
                outcome: outcome(r, 2)?,
            })
        })
        .collect()
}

static STATUS_AND_ARGS: Sql = Sql::new(|_| "SELECT status, args FROM jobs WHERE id = ?1".into());

/// See [`SettleTx::status_and_args`](super::settle::SettleTx::status_and_args).
pub(crate) async fn status_and_args<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: JobId,
) -> Result<Option<(JobStatus, Value)>> {
    let sql = STATUS_AND_ARGS.text(conn.dialect());
    let row = conn.fetch_optional(TABLE, sql, &[Arg::Id(id.0)]).await?;
    row.map(|r| Ok((status(&r, 0)?, r.json(1)?))).transpose()
}

static LOCK: Sql = Sql::new(|d| {
    format!(
        "SELECT status, function, args FROM jobs WHERE id = ?1{}",
        d.lock_rows
    )
});

/// See [`SettleTx::lock`](super::settle::SettleTx::lock).
pub(crate) async fn lock<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: JobId,
) -> Result<Option<(JobStatus, String, Value)>> {
    let sql = LOCK.text(conn.dialect());
    let row = conn.fetch_optional(TABLE, sql, &[Arg::Id(id.0)]).await?;
    row.map(|r| Ok((status(&r, 0)?, r.text(1)?, r.json(2)?)))
        .transpose()
}

static SET_ARGS: Sql = Sql::new(|d| format!("UPDATE jobs SET args = ?2{} WHERE id = ?1", d.json));

/// See [`SettleTx::set_args`](super::settle::SettleTx::set_args).
pub(crate) async fn set_args<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: JobId,
    args: &Value,
) -> Result<()> {
    let sql = SET_ARGS.text(conn.dialect());
    let args = args.to_string();
    conn.execute(sql, &[Arg::Id(id.0), Arg::Json(&args)])
        .await?;
    Ok(())
}

static NEXT_PART_INDEX: Sql = Sql::new(|_| {
    "SELECT CAST(coalesce(max(part_index) + 1, 0) AS BIGINT) FROM jobs WHERE part_of = ?1".into()
});

/// See [`SettleTx::next_part_index`](super::settle::SettleTx::next_part_index).
pub(crate) async fn next_part_index<C: SqlConn + ?Sized>(
    conn: &mut C,
    composite: JobId,
) -> Result<i64> {
    let sql = NEXT_PART_INDEX.text(conn.dialect());
    let row = conn
        .fetch_optional(TABLE, sql, &[Arg::Id(composite.0)])
        .await?;
    row.map_or(Ok(0), |r| r.int(0))
}
