//! `quotas`: named caps per queue, and the claim of a queue that has any.
//!
//! A quota's slots are the queue's jobs `assigned` or `active` that name
//! it (`jobs_quota_in_flight` holds exactly those jobs that name any
//! quota). A claim in a queue with quotas runs in one `BEGIN IMMEDIATE`
//! transaction: it reads the quotas and how many slots each has taken,
//! walks the due jobs in queue order (skipping, in SQL, every job that
//! names a full quota), accepts jobs while their quotas have room (a job
//! accepted takes a slot of each quota it names, so one batch never takes
//! a quota past its size), and claims the accepted jobs by `seq`. The
//! write lock is held throughout, so no other claim, of this process or
//! another, counts the same slots.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use sqlx::Row as _;
use sqlx::sqlite::SqliteConnection;
use uuid::Uuid;

use super::SqliteStore;
use super::batch::{self, Statements};
use super::claim::{SHAPES, filter_clauses, filter_shape, not_expired};
use super::queue::QUEUE_ORDER;
use super::row::{self, JOB_COLUMNS, json, lit, ms, to_u32};
use crate::model::{Job, JobId, JobStatus, Transition};
use crate::store::quota::IN_FLIGHT as SLOTS;
use crate::store::statement;
use crate::store::{JobClaimParams, Result};

/// Due jobs of a queue in queue order, after a position (`?4`–`?6`),
/// skipping those that name a full quota (`?3`, a JSON array), that are
/// past their deadline or pinned to another dispatcher than `?8` (a
/// broadcast's copies); one statement per filter shape.
pub(super) static WALK: LazyLock<[String; SHAPES]> =
    LazyLock::new(|| std::array::from_fn(walk_sql));

fn walk_sql(shape: usize) -> String {
    format!(
        "SELECT c.seq, c.begin_after, c.scheduled, c.quota_names FROM jobs AS c \
         WHERE c.status = {pending} AND c.queue = ?1 \
           AND c.begin_after >= ?4 AND c.begin_after <= ?2 \
           AND (c.begin_after > ?4 OR c.scheduled < ?5 OR (c.scheduled = ?5 AND c.seq > ?6)) \
           AND {not_expired} \
           AND (c.quota_names IS NULL OR NOT EXISTS ( \
             SELECT 1 FROM json_each(c.quota_names) AS n \
             WHERE n.value IN (SELECT value FROM json_each(?3)))) AND (c.pinned_to IS NULL OR c.pinned_to = ?8){filters} \
         ORDER BY {QUEUE_ORDER} LIMIT ?7",
        pending = lit(JobStatus::Pending),
        not_expired = not_expired(2),
        filters = filter_clauses(shape, 9),
    )
}

/// Claims the accepted jobs, by `seq` (padded with repeats).
fn claim_seqs_sql(rows: usize) -> String {
    let t = Transition::Claim;
    format!(
        "UPDATE jobs SET status = {to}, dispatcher = ?, agent = ? \
         WHERE seq IN ({seqs}) AND status = {from} RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
        seqs = batch::placeholders(rows),
    )
}

pub(super) static CLAIM_SEQS: Statements = Statements::new(claim_seqs_sql);

/// The most candidates one walk statement reads.
const PAGE_MAX: u32 = 512;

/// Claims up to `limit` jobs of a queue with quotas; see the module doc.
pub(super) async fn claim(
    db: &SqliteStore,
    p: &JobClaimParams,
    limit: u32,
) -> Result<Vec<(i64, Job)>> {
    let mut tx = db.begin().await?;
    let sizes = sizes(&mut tx, &p.queue).await?;
    let mut held: HashMap<String, u32> = HashMap::new();
    for (_, name) in in_flight(&mut tx, &p.queue).await? {
        *held.entry(name).or_default() += 1;
    }
    let is_full = |held: &HashMap<String, u32>, name: &str| {
        sizes
            .get(name)
            .is_some_and(|size| held.get(name).copied().unwrap_or(0) >= *size)
    };
    let mut full: BTreeSet<String> = sizes
        .keys()
        .filter(|name| is_full(&held, name))
        .cloned()
        .collect();

    let (shape, patterns) = filter_shape(p);
    let page = (limit.saturating_mul(2)).clamp(16, PAGE_MAX);
    // The position after which the next page starts: (begin_after,
    // scheduled, seq); the first page starts before every job.
    let mut after: (i64, i64, i64) = (i64::MIN, 2, i64::MIN);
    let mut accepted: Vec<i64> = Vec::new();
    'walk: loop {
        let mut query = sqlx::query(&WALK[shape])
            .bind(&p.queue)
            .bind(ms(p.now))
            .bind(serde_json::to_string(&full).map_err(|e| row::corrupt("quotas", e))?)
            .bind(after.0)
            .bind(after.1)
            .bind(after.2)
            .bind(i64::from(page));
        // `?8`: the dispatcher a broadcast's copy must be pinned to.
        query = query.bind(p.dispatcher.0);
        for list in &patterns {
            query = query.bind(list);
        }
        let rows = query.fetch_all(&mut *tx).await?;
        for r in &rows {
            after = (r.try_get(1)?, r.try_get(2)?, r.try_get(0)?);
            let names: Vec<String> = match r.try_get::<Option<String>, _>(3)? {
                Some(text) => json("jobs", "quota_names", &text)?,
                None => Vec::new(),
            };
            let names: Vec<&String> = names.iter().filter(|n| sizes.contains_key(*n)).collect();
            if names.iter().any(|n| is_full(&held, n)) {
                continue; // filled by a job accepted earlier in this walk
            }
            for name in names {
                *held.entry(name.clone()).or_default() += 1;
                if is_full(&held, name) {
                    full.insert(name.clone());
                }
            }
            accepted.push(after.2);
            if accepted.len() == limit as usize {
                break 'walk;
            }
        }
        if rows.len() < page as usize {
            break;
        }
    }

    let mut claimed = Vec::with_capacity(accepted.len());
    for chunk in accepted.chunks(batch::MAX_ROWS) {
        let rows = batch::bucket(chunk.len());
        let mut query = sqlx::query(CLAIM_SEQS.get(rows))
            .bind(p.dispatcher.0)
            .bind(&p.agent);
        for seq in batch::padded(chunk, rows) {
            query = query.bind(seq);
        }
        for r in query.fetch_all(&mut *tx).await? {
            claimed.push(row::job(&r)?);
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

/// The sizes of a queue's quotas, by name.
async fn sizes(conn: &mut SqliteConnection, queue: &str) -> Result<HashMap<String, u32>> {
    let rows = sqlx::query("SELECT name, size FROM quotas WHERE queue = ?1")
        .bind(queue)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, to_u32("quotas", "size", r.try_get(1)?)?)))
        .collect()
}

/// `(job, quota name)` for every slot taken in the queue, by job id.
async fn in_flight(conn: &mut SqliteConnection, queue: &str) -> Result<Vec<(JobId, String)>> {
    let rows = sqlx::query(SLOTS.text(&statement::SQLITE))
        .bind(queue)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((JobId(r.try_get::<Uuid, _>(0)?), r.try_get(1)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_statements_number_their_parameters() {
        assert!(WALK[0].contains("?8") && !WALK[0].contains("?9"));
        assert!(WALK[1].contains("?9") && !WALK[1].contains("?10"));
        assert!(WALK[15].contains("?12") && !WALK[15].contains("?13"));
    }
}
