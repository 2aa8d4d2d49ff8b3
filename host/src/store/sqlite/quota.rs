//! `quotas`: named caps per queue, and the claim of a queue that has any.
//!
//! A quota's slots are the queue's jobs `assigned` or `active` that name
//! it (`jobs_quota_in_flight` holds exactly those jobs that name any
//! quota); a partitioned quota's, per key, are counted in `quota_slots`.
//! A claim in a queue with quotas runs in one `BEGIN IMMEDIATE`
//! transaction through the steps of `store/claim_apart.rs`; this module
//! gives its statements ([`ClaimApartTx`]): the walk over the jobs without
//! a key (skipping, in SQL, every job that names a full quota), the keys'
//! first jobs (from their own index), and the claim of the accepted jobs
//! by `seq`. The write lock is held throughout, so no other claim, of this
//! process or another, counts the same slots.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::batch::{self, Statements};
use super::claim::{SHAPES, filter_clauses, filter_shape, not_expired};
use super::queue::QUEUE_ORDER;
use super::row::{self, JOB_COLUMNS, json, lit, ms};
use super::tx::SqliteTx;
use crate::model::{Job, JobStatus, Transition};
use crate::store::claim_apart::{self, Candidate, ClaimApartTx};
use crate::store::quota_claim::{Page, order_key};
use crate::store::{JobClaimParams, Result};

/// Due jobs of a queue without a key in queue order, one page
/// (`quota_claim::Page`): `WALK[0]` those of a priority below `?4`, `WALK[1]` those
/// of priority `?4` after the position `?5`–`?7` (both bind all four); at
/// most `?8`, skipping those that name a full quota (`?3`, a JSON array),
/// that are past their deadline or pinned to another dispatcher than `?9`
/// (a broadcast's copies); one statement per filter shape. The index named
/// is the one without keyed jobs, so the walk never steps over a key's
/// jobs, and either page is one range of it.
pub(super) static WALK: LazyLock<[[String; SHAPES]; 2]> =
    LazyLock::new(|| [0, 1].map(|after| std::array::from_fn(|shape| walk_sql(after == 1, shape))));

/// The columns a candidate is read with.
const CANDIDATE: &str = "c.seq, c.begin_after, c.scheduled, c.quota_names, c.priority";

/// Skips a job naming a full quota (`?{param}`, a JSON array).
fn not_full(param: usize) -> String {
    format!(
        "(c.quota_names IS NULL OR NOT EXISTS ( \
           SELECT 1 FROM json_each(c.quota_names) AS n \
           WHERE n.value IN (SELECT value FROM json_each(?{param}))))"
    )
}

/// Skips a job pinned to another dispatcher than `?{param}` (a
/// broadcast's copy).
fn not_pinned(param: usize) -> String {
    format!("(c.pinned_to IS NULL OR c.pinned_to = ?{param})")
}

fn walk_sql(after: bool, shape: usize) -> String {
    let page = if after {
        "c.priority = ?4 AND c.begin_after >= ?5 \
         AND (c.begin_after > ?5 OR c.scheduled < ?6 OR (c.scheduled = ?6 AND c.seq > ?7))"
    } else {
        "c.priority < ?4"
    };
    format!(
        "SELECT {CANDIDATE} FROM jobs AS c INDEXED BY jobs_pending_unslotted \
         WHERE c.status = {pending} AND c.queue = ?1 AND c.quota_slot IS NULL \
           AND {page} AND c.begin_after <= ?2 \
           AND {not_expired} AND {not_full} AND {not_pinned}{filters} \
         ORDER BY {QUEUE_ORDER} LIMIT ?8",
        pending = lit(JobStatus::Pending),
        not_expired = not_expired(2),
        not_full = not_full(3),
        not_pinned = not_pinned(9),
        filters = filter_clauses(shape, 10),
    )
}

/// The first due jobs (at most `?4`) of each open key (`?3`, a JSON array
/// of key entries), in queue order, skipping those that name a full quota
/// (`?5`) or that are past their deadline: one seek of `jobs_pending_slot`
/// per key (named: without statistics, SQLite could walk `jobs_pending`
/// for each key instead).
pub(super) static HEADS: LazyLock<[String; SHAPES]> =
    LazyLock::new(|| std::array::from_fn(heads_sql));

fn heads_sql(shape: usize) -> String {
    format!(
        "SELECT {columns} FROM json_each(?3) AS o JOIN jobs AS h ON h.seq IN ( \
           SELECT c.seq FROM jobs AS c INDEXED BY jobs_pending_slot \
           WHERE c.status = {pending} AND c.queue = ?1 AND c.quota_slot = o.value \
             AND c.quota_slot IS NOT NULL AND c.begin_after <= ?2 \
             AND {not_expired} AND {not_full} AND {not_pinned}{filters} \
           ORDER BY {QUEUE_ORDER} LIMIT ?4)",
        columns = CANDIDATE.replace("c.", "h."),
        pending = lit(JobStatus::Pending),
        not_expired = not_expired(2),
        not_full = not_full(5),
        not_pinned = not_pinned(6),
        filters = filter_clauses(shape, 7),
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

/// A candidate row: its place, its quota entries, its `seq`.
fn candidate(r: &SqliteRow) -> Result<Candidate<i64>> {
    let seq = r.try_get(0)?;
    let key = order_key(r.try_get(4)?, r.try_get(1)?, r.try_get(2)?, seq);
    let names: Vec<String> = match r.try_get::<Option<String>, _>(3)? {
        Some(text) => json("jobs", "quota_names", &text)?,
        None => Vec::new(),
    };
    Ok((key, names, seq))
}

/// Claims up to `limit` jobs of a queue with quotas (see the module doc)
/// in one `BEGIN IMMEDIATE` transaction.
pub(super) async fn claim(
    db: &SqliteStore,
    p: &JobClaimParams,
    limit: u32,
) -> Result<Vec<(i64, Job)>> {
    let mut tx = db.begin().await?;
    let claimed = claim_apart::claim(&mut SqliteTx(&mut tx), p, limit).await?;
    tx.commit().await?;
    Ok(claimed)
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The candidates `query` reads, with the filter shape's pattern lists
/// bound after its own parameters, in order.
async fn candidates<'q>(
    tx: &mut SqliteTx<'_>,
    mut query: Query<'q>,
    patterns: &'q [String],
) -> Result<Vec<Candidate<i64>>> {
    for list in patterns {
        query = query.bind(list);
    }
    let rows = query.fetch_all(&mut *tx.0).await?;
    rows.iter().map(candidate).collect()
}

/// A list of quota names or key entries as bound: a JSON array.
fn names(list: &[String]) -> String {
    serde_json::Value::from(list).to_string()
}

/// The statements of a claim apart; its steps are `claim_apart.rs`'s.
#[async_trait]
impl ClaimApartTx for SqliteTx<'_> {
    type Id = i64;
    /// The filter shape and its pattern lists.
    type Filters = (usize, Vec<String>);

    fn filters(p: &JobClaimParams) -> Self::Filters {
        filter_shape(p)
    }

    async fn heads(
        &mut self,
        p: &JobClaimParams,
        (shape, patterns): &Self::Filters,
        open: &[String],
        per_key: u32,
        full: &[String],
    ) -> Result<Vec<Candidate<i64>>> {
        let query = sqlx::query(&HEADS[*shape])
            .bind(p.queue.clone())
            .bind(ms(p.now))
            .bind(names(open))
            .bind(i64::from(per_key))
            .bind(names(full))
            // `?6`: the dispatcher a broadcast's copy must be pinned to.
            .bind(p.dispatcher.0);
        candidates(self, query, patterns).await
    }

    async fn walk(
        &mut self,
        p: &JobClaimParams,
        (shape, patterns): &Self::Filters,
        page: Page,
        size: u32,
        full: &[String],
    ) -> Result<Vec<Candidate<i64>>> {
        let (statement, position) = page.binds();
        let query = sqlx::query(&WALK[statement][*shape])
            .bind(p.queue.clone())
            .bind(ms(p.now))
            .bind(names(full))
            .bind(position.0)
            .bind(position.1)
            .bind(position.2)
            .bind(position.3)
            .bind(i64::from(size))
            // `?9`: the dispatcher a broadcast's copy must be pinned to.
            .bind(p.dispatcher.0);
        candidates(self, query, patterns).await
    }

    async fn claim_accepted(
        &mut self,
        p: &JobClaimParams,
        seqs: &[i64],
    ) -> Result<Vec<(i64, Job)>> {
        let mut claimed = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(batch::MAX_ROWS) {
            let rows = batch::bucket(chunk.len());
            let mut query = sqlx::query(CLAIM_SEQS.get(rows))
                .bind(p.dispatcher.0)
                .bind(&p.agent);
            for seq in batch::padded(chunk, rows) {
                query = query.bind(seq);
            }
            for r in query.fetch_all(&mut *self.0).await? {
                claimed.push(row::job(&r)?);
            }
        }
        Ok(claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_statements_number_their_parameters() {
        for page in &*WALK {
            assert!(page[0].contains("?9") && !page[0].contains("?10"));
            assert!(page[1].contains("?10") && !page[1].contains("?11"));
            assert!(page[15].contains("?13") && !page[15].contains("?14"));
        }
        assert!(WALK[1][0].contains("?7") && !WALK[0][0].contains("?5"));
        assert!(HEADS[0].contains("?6") && !HEADS[0].contains("?7"));
        assert!(HEADS[15].contains("?10") && !HEADS[15].contains("?11"));
    }
}
