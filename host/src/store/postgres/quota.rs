//! `quotas`: named caps per queue, and the claim of a queue that has any.
//!
//! A quota's slots are the queue's jobs `assigned` or `active` that name
//! it (`jobs_quota_in_flight` holds exactly those jobs that name any
//! quota); a partitioned quota's, per key, are counted in `quota_slots`.
//! A claim in a queue with quotas is one transaction through the steps of
//! `store/claim_apart.rs` (which locks every quota row of the queue first,
//! `FOR UPDATE` by name, so the claims of one queue with quotas take turns
//! on every machine); this module gives its statements ([`ClaimApartTx`]):
//! the keys' first jobs (one `LATERAL` seek per key) and the pages of the
//! walk over the due jobs without a key, both `FOR UPDATE SKIP LOCKED` and
//! skipping in SQL every job that names a full quota, and the claim of the
//! accepted jobs by id.
//!
//! The one-statement claim of `claim.rs` takes no job while its queue has
//! a quota, so every claim that could fill a quota goes through here. A
//! quota created while such a statement runs could miss it (the statement
//! saw no quota), so [`create`] first takes `SHARE` on `jobs`: it waits for
//! the claims in progress to commit, and the claims after it see the new
//! quota.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::PgStore;
use super::claim::{candidate_order, filter_binds, filter_clauses, not_expired};
use super::row::{self, JOB_COLUMNS, lit, ms};
use super::tx::PgTx;
use crate::model::{Job, JobStatus, Transition};
use crate::store::claim_apart::{self, Candidate, ClaimApartTx};
use crate::store::quota_claim::{Page, order_key};
use crate::store::{JobClaimParams, Result};

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
fn candidate(r: &PgRow) -> Result<Candidate<Uuid>> {
    let key = order_key(r.try_get(5)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
    let names = r.try_get::<Option<Vec<String>>, _>(4)?.unwrap_or_default();
    Ok((key, names, r.try_get(0)?))
}

/// Claims up to `limit` jobs of a queue with quotas; see the module doc.
pub(super) async fn claim(db: &PgStore, p: &JobClaimParams, limit: u32) -> Result<Vec<(i64, Job)>> {
    let mut tx = db.begin().await?;
    let claimed = claim_apart::claim(&mut PgTx::new(&mut tx, db, Vec::new()), p, limit).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// The statements of a claim apart; its steps are `claim_apart.rs`'s.
#[async_trait]
impl ClaimApartTx for PgTx<'_> {
    type Id = Uuid;
    /// The four pattern lists ([`filter_binds`]).
    type Filters = [Vec<String>; 4];

    fn filters(p: &JobClaimParams) -> Self::Filters {
        filter_binds(p)
    }

    async fn heads(
        &mut self,
        p: &JobClaimParams,
        [modules, functions, preferred_modules, preferred_functions]: &Self::Filters,
        open: &[String],
        per_key: u32,
        full: &[String],
    ) -> Result<Vec<Candidate<Uuid>>> {
        let rows = sqlx::query(&HEADS)
            .bind(&p.queue)
            .bind(ms(p.now))
            .bind(open)
            .bind(i64::from(per_key))
            .bind(full)
            .bind(modules)
            .bind(functions)
            .bind(preferred_modules)
            .bind(preferred_functions)
            .bind(p.dispatcher.0)
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter().map(candidate).collect()
    }

    async fn walk(
        &mut self,
        p: &JobClaimParams,
        [modules, functions, preferred_modules, preferred_functions]: &Self::Filters,
        page: Page,
        size: u32,
        full: &[String],
    ) -> Result<Vec<Candidate<Uuid>>> {
        let (statement, position) = page.binds();
        let rows = sqlx::query(&WALK[statement])
            .bind(&p.queue)
            .bind(ms(p.now))
            .bind(full)
            .bind(i64::from(size))
            .bind(modules)
            .bind(functions)
            .bind(preferred_modules)
            .bind(preferred_functions)
            .bind(p.dispatcher.0)
            .bind(position.0)
            .bind(position.1)
            .bind(position.2)
            .bind(position.3)
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter().map(candidate).collect()
    }

    async fn claim_accepted(
        &mut self,
        p: &JobClaimParams,
        ids: &[Uuid],
    ) -> Result<Vec<(i64, Job)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&CLAIM_IDS)
            .bind(p.dispatcher.0)
            .bind(&p.agent)
            .bind(ids)
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter().map(row::job).collect()
    }
}
