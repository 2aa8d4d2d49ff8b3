//! `quotas`: named caps per queue, and the claim of a queue that has any.
//!
//! A quota's slots are the queue's jobs `assigned` or `active` that name
//! it (`jobs_quota_in_flight` holds exactly those jobs that name any
//! quota); a partitioned quota's, per key, are counted in `quota_slots`.
//! A claim in a queue with quotas is one transaction:
//!
//! 1. it locks every quota row of the queue (`FOR UPDATE`, by name), so
//!    the claims of one queue with quotas take turns, on every machine;
//! 2. it counts the slots each plain quota has taken and reads the keys
//!    with pending jobs and room (statements that start after the lock, so
//!    they see every claim that held it before);
//! 3. it accepts jobs as `store/quota_claim.rs` says: the keys' first jobs
//!    (one `LATERAL` seek per key) merged with the walk over the due jobs
//!    without a key in queue order (by pages, `quota_claim::Walk`), both
//!    `FOR UPDATE SKIP LOCKED` and skipping in SQL every job that names a
//!    full quota;
//! 4. it claims the accepted jobs by id, and commits.
//!
//! The one-statement claim of `claim.rs` takes no job while its queue has
//! a quota, so every claim that could fill a quota goes through here. A
//! quota created while such a statement runs could miss it (the statement
//! saw no quota), so [`create`] first takes `SHARE` on `jobs`: it waits for
//! the claims in progress to commit, and the claims after it see the new
//! quota.

use std::sync::LazyLock;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use super::PgStore;
use super::claim::{candidate_order, filter_binds, filter_clauses, not_expired};
use super::row::{self, JOB_COLUMNS, lit, ms, to_u32};
use super::tx::PgTx;
use crate::model::{Job, JobId, JobStatus, Transition};
use crate::store::quota::IN_FLIGHT as SLOTS;
use crate::store::quota_claim::{
    Accepted, Heads, OrderKey, Quota, Slots, Walk, count_starts, order_key, read_windows,
    stored_rate,
};
use crate::store::statement;
use crate::store::{JobClaimParams, Result};

/// Locks the queue's quotas and reads their sizes.
pub(super) static LOCK: &str = "SELECT name, size, partitioned, rate_limit, rate_period_ms \
     FROM quotas WHERE queue = $1 ORDER BY name COLLATE \"C\" FOR UPDATE";

/// The columns a candidate is read with.
const CANDIDATE: &str = "c.id, c.begin_after, c.scheduled, c.seq, c.quota_names, c.priority";

/// Due jobs of a queue without a key in queue order, one page
/// (`quota_claim::Page`): `WALK[0]` those of a priority below `$10`,
/// `WALK[1]` those of priority `$10` after the position `$11`–`$13` (both
/// bind all four); at most `$4`, skipping those that name a full quota
/// (`$3`), that are past their deadline or pinned to another dispatcher
/// than `$9` (a broadcast's copies), locked (`SKIP LOCKED`). Either is one
/// range of `jobs_pending_unslotted`.
pub(super) static WALK: LazyLock<[String; 2]> = LazyLock::new(|| {
    [
        "c.priority < $10".to_owned(),
        "c.priority = $10 AND c.begin_after >= $11 \
         AND (c.begin_after > $11 OR c.scheduled < $12 OR (c.scheduled = $12 AND c.seq > $13))"
            .to_owned(),
    ]
    .map(|page| {
        format!(
            "SELECT {CANDIDATE} FROM jobs AS c \
             WHERE c.status = {pending} AND c.queue = $1 AND c.quota_slot IS NULL \
               AND {page} AND c.begin_after <= $2 AND {not_expired} \
               AND (c.quota_names IS NULL OR NOT (c.quota_names && $3::text[])) \
               AND {filters} AND (c.pinned_to IS NULL OR c.pinned_to = $9) \
             ORDER BY {order} LIMIT $4 \
             FOR UPDATE SKIP LOCKED",
            pending = lit(JobStatus::Pending),
            not_expired = not_expired(2),
            filters = filter_clauses(5),
            order = candidate_order(),
        )
    })
});

/// The first due jobs (at most `$4`) of each open key (`$3`), in queue
/// order, skipping those that name a full quota (`$5`), that are past
/// their deadline or pinned to another dispatcher than `$10`, locked (`SKIP
/// LOCKED`): one seek of `jobs_pending_slot` per key. The key and the
/// status are one expression, the one that index is built on (migration
/// 0028), and the statement names no `status = 'pending'` apart: no other
/// index of pending jobs can serve it, so no plan walks a whole queue per
/// key, with or without statistics.
pub(super) static HEADS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT h.* FROM unnest($3::text[]) AS o(slot) CROSS JOIN LATERAL ( \
           SELECT {CANDIDATE} FROM jobs AS c \
           WHERE c.queue = $1 AND (CASE WHEN c.status = {pending} THEN c.quota_slot END) = o.slot \
             AND c.begin_after <= $2 AND {not_expired} \
             AND (c.quota_names IS NULL OR NOT (c.quota_names && $5::text[])) \
             AND {filters} AND (c.pinned_to IS NULL OR c.pinned_to = $10) \
           ORDER BY {order} LIMIT $4 \
           FOR UPDATE SKIP LOCKED) AS h",
        pending = lit(JobStatus::Pending),
        not_expired = not_expired(2),
        filters = filter_clauses(6),
        order = candidate_order(),
    )
});

/// Claims the accepted (and locked) jobs by id.
pub(super) static CLAIM_IDS: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Claim;
    format!(
        "WITH picked AS MATERIALIZED (SELECT unnest($3::uuid[]) AS picked_id) \
         UPDATE jobs SET status = {to}, dispatcher = $1, agent = $2 \
         FROM picked WHERE jobs.id = picked.picked_id AND jobs.status = {from} \
         RETURNING {JOB_COLUMNS}",
        from = lit(t.from()),
        to = lit(t.to()),
    )
});

/// A candidate row: its place, its quota entries, its id.
fn candidate(r: &PgRow) -> Result<(OrderKey, Vec<String>, Uuid)> {
    let key = order_key(r.try_get(5)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
    let names = r.try_get::<Option<Vec<String>>, _>(4)?.unwrap_or_default();
    Ok((key, names, r.try_get(0)?))
}

/// Claims up to `limit` jobs of a queue with quotas; see the module doc.
pub(super) async fn claim(db: &PgStore, p: &JobClaimParams, limit: u32) -> Result<Vec<(i64, Job)>> {
    let mut tx = db.begin().await?;
    let quotas = sqlx::query(LOCK)
        .bind(&p.queue)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let size = to_u32("quotas", "size", r.try_get(1)?)?;
            let rate = stored_rate(r.try_get(3)?, r.try_get(4)?);
            Ok((r.try_get(0)?, size, r.try_get(2)?, rate))
        })
        .collect::<Result<Vec<Quota>>>()?;
    let in_flight = in_flight(&mut tx, &p.queue).await?;
    let mut slots = Slots::new(quotas, in_flight.into_iter().map(|(_, n)| n), ms(p.now));
    let [modules, functions, preferred_modules, preferred_functions] = filter_binds(p);

    let open = read_windows(
        &mut PgTx::new(&mut tx, db, Vec::new()),
        &p.queue,
        &mut slots,
    )
    .await?;
    let size = slots.partitioned_size();
    let full = |slots: &Slots| slots.full_names().into_iter().collect::<Vec<_>>();
    let mut heads = Vec::new();
    if !open.is_empty() {
        let rows = sqlx::query(&HEADS)
            .bind(&p.queue)
            .bind(ms(p.now))
            .bind(&open)
            .bind(i64::from(size.min(limit)))
            .bind(full(&slots))
            .bind(&modules)
            .bind(&functions)
            .bind(&preferred_modules)
            .bind(&preferred_functions)
            .bind(p.dispatcher.0)
            .fetch_all(&mut *tx)
            .await?;
        for r in &rows {
            heads.push(candidate(r)?);
        }
    }
    let mut heads = Heads::new(heads);

    let mut walk = Walk::new(limit);
    let mut accepted = Accepted::new(limit);
    'walk: while let Some(page) = walk.page() {
        let (statement, position) = page.binds();
        let rows = sqlx::query(&WALK[statement])
            .bind(&p.queue)
            .bind(ms(p.now))
            .bind(full(&slots))
            .bind(i64::from(walk.size))
            .bind(&modules)
            .bind(&functions)
            .bind(&preferred_modules)
            .bind(&preferred_functions)
            .bind(p.dispatcher.0)
            .bind(position.0)
            .bind(position.1)
            .bind(position.2)
            .bind(position.3)
            .fetch_all(&mut *tx)
            .await?;
        for r in &rows {
            let (key, names, id) = candidate(r)?;
            walk.saw(&key);
            if accepted.offer_heads(&mut slots, &mut heads, Some(&key))
                || accepted.offer(&mut slots, &names, id)
            {
                break 'walk;
            }
        }
        accepted.end_page(&mut walk, rows.len(), &mut slots, &mut heads);
    }

    count_starts(&mut PgTx::new(&mut tx, db, Vec::new()), &p.queue, &slots).await?;
    let rows = if accepted.ids.is_empty() {
        Vec::new()
    } else {
        sqlx::query(&CLAIM_IDS)
            .bind(p.dispatcher.0)
            .bind(&p.agent)
            .bind(&accepted.ids)
            .fetch_all(&mut *tx)
            .await?
    };
    let claimed = rows.iter().map(row::job).collect::<Result<Vec<_>>>()?;
    tx.commit().await?;
    Ok(claimed)
}

/// `(job, quota name)` for every slot taken in the queue, by job id.
async fn in_flight(conn: &mut PgConnection, queue: &str) -> Result<Vec<(JobId, String)>> {
    let rows = sqlx::query(SLOTS.text(&statement::POSTGRES))
        .bind(queue)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((JobId(r.try_get::<Uuid, _>(0)?), r.try_get(1)?)))
        .collect()
}
