//! `jobs`: claims (pending → assigned) and starts (assigned → active), each
//! one statement per batch, or both in one statement.

use std::collections::HashMap;
use std::sync::LazyLock;

use uuid::Uuid;

use super::PgStore;
use super::queue::QUEUE_ORDER;
use super::row::{self, JOB_COLUMNS, lit, ms};
use crate::clock;
use crate::model::{Job, JobId, Transition};
use crate::store::statement::like_pattern;
use crate::store::{JobClaimParams, JobStartParams, JobStarted, Result};

/// The claim of a queue without quotas: one statement.
///
/// A `MATERIALIZED` CTE picks the jobs (`SELECT … ORDER BY … LIMIT n FOR
/// UPDATE SKIP LOCKED`) and the `UPDATE` of the same statement takes them:
/// the CTE walks `jobs_pending` from its start, locks the first `n` due jobs
/// that match the agent's filter and that no other transaction holds, and
/// is evaluated exactly once. (The shape `UPDATE … WHERE id IN (SELECT …
/// LIMIT n FOR UPDATE SKIP LOCKED)` is not safe: depending on the plan,
/// PostgreSQL may run the subquery again while the update runs, skip the
/// rows the update has just changed, and claim more than `n` jobs; the
/// conformance suite caught it.) A job another claimer has locked is
/// skipped, not waited for, so claimers on any number of machines never
/// block each other, and a job is never handed out twice. The CTE's rows are
/// locked and passed the guard (`status = 'pending'`, checked again on the
/// latest version of each row once locked), so the `UPDATE` joins them on
/// the id alone: a guard there too would let the planner read
/// `jobs_pending` first and look for each pending job among the picked
/// ones (see `finish.rs`). Empty filter arrays match any job; `$8` and `$9`
/// are the preference's patterns (see [`JobClaimParams::preferred`]).
///
/// Jobs past their deadline are never picked, nor a broadcast's copies
/// pinned to another dispatcher, nor jobs of a paused queue
/// or for a paused dispatcher (two one-time `NOT EXISTS` on the tiny pause
/// tables: no round trip of its own), and the statement picks
/// nothing when the queue has a quota or a rate (one-time `NOT EXISTS`):
/// such a queue is claimed by [`super::quota::claim`], which counts the
/// quotas' slots and the rate's starts under their row locks.
///
/// Indexed by whether the claim starts the jobs too (see
/// [`JobClaimParams::start`]).
pub(super) static CLAIM: LazyLock<[String; 2]> =
    LazyLock::new(|| [claim_sql(false), claim_sql(true)]);

fn claim_sql(start: bool) -> String {
    let t = Transition::Claim;
    // Started too: straight to where a start leaves a job.
    let to = if start { Transition::Start } else { t }.to();
    format!(
        "WITH picked AS MATERIALIZED ( \
           SELECT c.id AS picked_id FROM jobs AS c \
           WHERE c.status = {from} AND c.queue = $3 AND c.begin_after <= $4 \
             AND {not_expired} \
             AND NOT EXISTS (SELECT 1 FROM quotas AS q WHERE q.queue = $3) \
             AND NOT EXISTS (SELECT 1 FROM queues AS rq WHERE rq.name = $3 AND rq.rate_limit IS NOT NULL) \
             AND NOT EXISTS (SELECT 1 FROM queue_pauses AS pq WHERE pq.queue = $3) \
             AND NOT EXISTS (SELECT 1 FROM dispatcher_pauses AS pd WHERE pd.dispatcher = $1) \
             AND {filters} AND (c.pinned_to IS NULL OR c.pinned_to = $1) \
           ORDER BY {order} LIMIT $5 \
           FOR UPDATE SKIP LOCKED) \
         UPDATE jobs SET status = {to}, dispatcher = $1, agent = $2{started} \
         FROM picked WHERE jobs.id = picked.picked_id \
         RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(to),
        started = if start {
            ", attempts = jobs.attempts + 1, started_at = $4"
        } else {
            ""
        },
        not_expired = not_expired(4),
        filters = filter_clauses(6),
        order = candidate_order(),
    )
}

/// The queue order for candidates aliased `c`.
pub(super) fn candidate_order() -> String {
    QUEUE_ORDER
        .split(", ")
        .map(|key| format!("c.{key}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The agent's filter (`$first`, `$first+1`: module and function
/// patterns) and its preference (the next two), each list empty for "any".
pub(super) fn filter_clauses(first: usize) -> String {
    let module = |n: usize| {
        format!(
            "(cardinality(${n}::text[]) = 0 \
              OR c.module_name LIKE ANY (${n}::text[]) OR c.module LIKE ANY (${n}::text[]))"
        )
    };
    let function =
        |n: usize| format!("(cardinality(${n}::text[]) = 0 OR c.function LIKE ANY (${n}::text[]))");
    format!(
        "{} AND {} AND {} AND {}",
        module(first),
        function(first + 1),
        module(first + 2),
        function(first + 3)
    )
}

/// Not past its deadline at `$now`.
pub(super) fn not_expired(now: usize) -> String {
    format!("(c.begin_by_ms IS NULL OR c.begin_after + c.begin_by_ms >= ${now})")
}

/// The four pattern lists of a claim, as `LIKE` patterns, in the order
/// [`filter_clauses`] binds them.
pub(super) fn filter_binds(p: &JobClaimParams) -> [Vec<String>; 4] {
    let lists = |f: &Option<crate::model::AgentFilter>| match f {
        Some(f) => (like_patterns(&f.modules), like_patterns(&f.functions)),
        None => (Vec::new(), Vec::new()),
    };
    let (modules, functions) = lists(&p.filter);
    let (preferred_modules, preferred_functions) = lists(&p.preferred);
    [modules, functions, preferred_modules, preferred_functions]
}

pub(super) static START: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Start;
    format!(
        "UPDATE jobs SET status = {to}, attempts = attempts + 1, started_at = $1 \
         WHERE dispatcher = $2 AND status = {from} AND id = ANY($3::uuid[]) \
         RETURNING id, attempts",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

/// Our patterns (`*` any run, `?` one character, everything else literal)
/// as `LIKE` patterns: `%`, `_` and the escape `\` are escaped first.
pub(super) fn like_patterns(patterns: &[String]) -> Vec<String> {
    patterns.iter().map(|p| like_pattern(p)).collect()
}

/// [`CLAIM`] on `conn` (see [`crate::store::puts::PutTx`]).
pub(super) async fn claim_in_one_statement<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    p: &JobClaimParams,
) -> Result<Vec<(i64, Job)>> {
    let [modules, functions, preferred_modules, preferred_functions] = filter_binds(p);
    let rows = sqlx::query(&CLAIM[usize::from(p.start)])
        .bind(p.dispatcher.0)
        .bind(&p.agent)
        .bind(&p.queue)
        .bind(ms(p.now))
        .bind(i64::from(p.limit))
        .bind(modules)
        .bind(functions)
        .bind(preferred_modules)
        .bind(preferred_functions)
        .fetch_all(conn)
        .await?;
    rows.iter().map(row::job).collect()
}

/// Starts claimed jobs still assigned to the dispatcher.
pub(super) async fn start_many(db: &PgStore, p: JobStartParams) -> Result<Vec<JobStarted>> {
    if p.ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = p.ids.iter().map(|id| id.0).collect();
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(&START)
        .bind(ms(p.now))
        .bind(p.dispatcher.0)
        .bind(ids)
        .fetch_all(&db.pool)
        .await?;
    let mut attempts = HashMap::with_capacity(rows.len());
    for (id, n) in rows {
        attempts.insert(JobId(id), row::to_u32("jobs", "attempts", n)?);
    }
    let started_at = clock::from_millis(ms(p.now));
    Ok(p.ids
        .iter()
        .filter_map(|&id| {
            attempts.remove(&id).map(|attempts| JobStarted {
                id,
                attempts,
                started_at,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_like_patterns() {
        let like = like_patterns(&[
            "image-*".to_owned(),
            "s?nd".to_owned(),
            "100%_\\x".to_owned(),
            "odd[1]".to_owned(),
        ]);
        assert_eq!(like, ["image-%", "s_nd", "100\\%\\_\\\\x", "odd[1]"]);
    }

    #[test]
    fn claim_orders_by_the_queue_order() {
        for claim in &*CLAIM {
            assert!(claim.contains(
                "ORDER BY c.priority DESC, c.begin_after, c.scheduled DESC, c.seq LIMIT $5"
            ));
            assert!(claim.contains("FOR UPDATE SKIP LOCKED"));
        }
        assert!(CLAIM[1].contains("started_at = $4") && !CLAIM[0].contains("started_at ="));
    }
}
