//! `quotas`: named caps per queue, and the claim of a queue that has any.
//!
//! A quota's slots are the queue's jobs `assigned` or `active` that name
//! it (`jobs_quota_in_flight` holds exactly those jobs that name any
//! quota). A claim in a queue with quotas is one transaction:
//!
//! 1. it locks every quota row of the queue (`FOR UPDATE`, by name), so
//!    the claims of one queue with quotas take turns, on every machine;
//! 2. it counts the slots each quota has taken (a statement that starts
//!    after the lock, so it sees every claim that held it before);
//! 3. it walks the due jobs in queue order (`FOR UPDATE SKIP LOCKED`),
//!    skipping in SQL every job that names a full quota, and accepts jobs
//!    while their quotas have room: a job accepted takes a slot of each
//!    quota it names, so one batch never takes a quota past its size;
//! 4. it claims the accepted jobs by id, and commits.
//!
//! The one-statement claim of `claim.rs` takes no job while its queue has
//! a quota, so every claim that could fill a quota goes through here. A
//! quota created while such a statement runs could miss it (the statement
//! saw no quota), so [`create`] first takes `SHARE` on `jobs`: it waits for
//! the claims in progress to commit, and the claims after it see the new
//! quota.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use sqlx::{PgConnection, Row as _};
use uuid::Uuid;

use super::PgStore;
use super::claim::{candidate_order, filter_binds, filter_clauses, not_expired};
use super::row::{self, JOB_COLUMNS, lit, ms, to_u32};
use crate::model::{Job, JobId, JobStatus, Transition};
use crate::store::quota::IN_FLIGHT as SLOTS;
use crate::store::statement;
use crate::store::{JobClaimParams, Result};

/// Locks the queue's quotas and reads their sizes.
pub(super) static LOCK: &str =
    "SELECT name, size FROM quotas WHERE queue = $1 ORDER BY name COLLATE \"C\" FOR UPDATE";

/// Due jobs of a queue in queue order after a position (`$4`–`$6`; `$7`:
/// from the start), skipping those that name a full quota (`$3`), that
/// are past their deadline or pinned to another dispatcher than `$13` (a
/// broadcast's copies), locked (`SKIP LOCKED`).
pub(super) static WALK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT c.id, c.begin_after, c.scheduled, c.seq, c.quota_names FROM jobs AS c \
         WHERE c.status = {pending} AND c.queue = $1 \
           AND c.begin_after >= $4 AND c.begin_after <= $2 \
           AND ($7 OR c.begin_after > $4 OR ($5 AND NOT c.scheduled) \
                OR (c.scheduled = $5 AND c.seq > $6)) \
           AND {not_expired} \
           AND (c.quota_names IS NULL OR NOT (c.quota_names && $3::text[])) \
           AND {filters} AND (c.pinned_to IS NULL OR c.pinned_to = $13) \
         ORDER BY {order} LIMIT $8 \
         FOR UPDATE SKIP LOCKED",
        pending = lit(JobStatus::Pending),
        not_expired = not_expired(2),
        filters = filter_clauses(9),
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

/// The most candidates one walk statement reads.
const PAGE_MAX: u32 = 512;

/// Claims up to `limit` jobs of a queue with quotas; see the module doc.
pub(super) async fn claim(db: &PgStore, p: &JobClaimParams, limit: u32) -> Result<Vec<(i64, Job)>> {
    let mut tx = db.begin().await?;
    let sizes: HashMap<String, u32> = sqlx::query(LOCK)
        .bind(&p.queue)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, to_u32("quotas", "size", r.try_get(1)?)?)))
        .collect::<Result<_>>()?;
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

    let [modules, functions, preferred_modules, preferred_functions] = filter_binds(p);
    let page = (limit.saturating_mul(2)).clamp(16, PAGE_MAX);
    let mut after: Option<(i64, bool, i64)> = None;
    let mut accepted: Vec<Uuid> = Vec::new();
    'walk: loop {
        let (a, s, q) = after.unwrap_or((i64::MIN, false, i64::MIN));
        let rows = sqlx::query(&WALK)
            .bind(&p.queue)
            .bind(ms(p.now))
            .bind(full.iter().cloned().collect::<Vec<_>>())
            .bind(a)
            .bind(s)
            .bind(q)
            .bind(after.is_none())
            .bind(i64::from(page))
            .bind(&modules)
            .bind(&functions)
            .bind(&preferred_modules)
            .bind(&preferred_functions)
            .bind(p.dispatcher.0)
            .fetch_all(&mut *tx)
            .await?;
        for r in &rows {
            after = Some((r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
            let names: Vec<String> = r.try_get::<Option<Vec<String>>, _>(4)?.unwrap_or_default();
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
            accepted.push(r.try_get(0)?);
            if accepted.len() == limit as usize {
                break 'walk;
            }
        }
        if rows.len() < page as usize {
            break;
        }
    }

    let rows = if accepted.is_empty() {
        Vec::new()
    } else {
        sqlx::query(&CLAIM_IDS)
            .bind(p.dispatcher.0)
            .bind(&p.agent)
            .bind(&accepted)
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
