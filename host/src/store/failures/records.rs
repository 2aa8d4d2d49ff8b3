//! What the failure handling records and reads outside its multi-step
//! operations, written once for both backends: a job's failed attempts,
//! a queue's default retry policy, the jobs a dispatcher holds (its
//! self-check) and the probe that tells a live store from a dead one.

use crate::clock;
use crate::model::{Attempt, DispatcherId, JobId, JobStatus, RetryPolicy, Timestamp};
use crate::store::sql::{lit, ms, queue_what, to_u32};
use crate::store::statement::{Arg, Sql, SqlConn};
use crate::store::{Error, Result};

/// A job's failed attempts, oldest first (see
/// [`Store::job_attempts`](crate::store::Store::job_attempts)).
pub(crate) async fn attempts<C: SqlConn + ?Sized>(conn: &mut C, id: JobId) -> Result<Vec<Attempt>> {
    static ATTEMPTS: Sql = Sql::new(|d| {
        format!(
            "SELECT attempt, dispatcher, failure, failed_at FROM job_attempts WHERE job = ?1 \
             ORDER BY failed_at, {order}",
            order = d.row_order
        )
    });
    let sql = ATTEMPTS.text(conn.dialect());
    let rows = conn.fetch_all(T, sql, &[Arg::Id(id.0)]).await?;
    if rows.is_empty() && !job_exists(conn, id).await? {
        return Err(Error::not_found(format!("job {id}")));
    }
    rows.iter()
        .map(|r| {
            Ok(Attempt {
                attempt: to_u32(T, "attempt", r.int(0)?)?,
                dispatcher: r.opt_id(1)?.map(DispatcherId),
                failure: r.json(2)?,
                failed_at: clock::from_millis(r.int(3)?),
            })
        })
        .collect()
}

const T: &str = "job_attempts";

async fn job_exists<C: SqlConn + ?Sized>(conn: &mut C, id: JobId) -> Result<bool> {
    let sql = conn.dialect().render("SELECT 1 FROM jobs WHERE id = ?1");
    Ok(conn
        .fetch_optional("jobs", &sql, &[Arg::Id(id.0)])
        .await?
        .is_some())
}

/// A queue's default retry policy.
pub(crate) async fn queue_retry_get<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
) -> Result<Option<RetryPolicy>> {
    let sql = conn
        .dialect()
        .render("SELECT retry FROM queues WHERE name = ?1");
    match conn
        .fetch_optional("queues", &sql, &[Arg::Text(name)])
        .await?
    {
        Some(r) => r.opt_json(0),
        None => Err(Error::not_found(queue_what(name))),
    }
}

/// Sets or clears a queue's default retry policy.
pub(crate) async fn queue_retry_set<C: SqlConn + ?Sized>(
    conn: &mut C,
    name: &str,
    policy: Option<RetryPolicy>,
) -> Result<()> {
    static SET: Sql = Sql::new(|d| {
        format!(
            "UPDATE queues SET retry = ?2{json} WHERE name = ?1",
            json = d.json
        )
    });
    let text = policy
        .as_ref()
        .map(|p| serde_json::to_string(p).expect("a retry policy serializes to JSON"));
    let sql = SET.text(conn.dialect());
    let args = match &text {
        Some(text) => [Arg::Text(name), Arg::Json(text)],
        None => [Arg::Text(name), Arg::OptText(None)],
    };
    if conn.execute(sql, &args).await? == 0 {
        return Err(Error::not_found(queue_what(name)));
    }
    Ok(())
}

/// The jobs the store says a dispatcher holds (see
/// [`Store::dispatcher_held_jobs`](crate::store::Store::dispatcher_held_jobs)):
/// one range of `jobs_in_flight`.
pub(crate) static HELD_JOBS: Sql = Sql::new(|_| {
    format!(
        "SELECT id FROM jobs WHERE dispatcher = ?1 AND status IN ({assigned}, {active}) \
         AND (status = {assigned} OR awaiting IS NULL)",
        assigned = lit(JobStatus::Assigned),
        active = lit(JobStatus::Active),
    )
});

/// The jobs the store says a dispatcher holds.
pub(crate) async fn held_jobs<C: SqlConn + ?Sized>(
    conn: &mut C,
    id: DispatcherId,
) -> Result<Vec<JobId>> {
    let sql = HELD_JOBS.text(conn.dialect());
    let rows = conn.fetch_all("jobs", sql, &[Arg::Id(id.0)]).await?;
    rows.iter().map(|r| Ok(JobId(r.id(0)?))).collect()
}

/// Rewrites the probe row (migration 0009) and commits.
pub(crate) async fn probe<C: SqlConn + ?Sized>(conn: &mut C, now: Timestamp) -> Result<()> {
    let sql = conn
        .dialect()
        .render("UPDATE probes SET probed_at = ?1 WHERE id = 1");
    conn.execute(&sql, &[Arg::Int(ms(now))]).await?;
    Ok(())
}
