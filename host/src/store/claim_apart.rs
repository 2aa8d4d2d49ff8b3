//! The claim of a queue claimed apart (it has quotas or a rate), written
//! once for both backends over [`ClaimApartTx`]: each backend's `quota.rs`
//! opens the transaction and gives the statements whose plan it tunes (the
//! walk's pages, the keys' first jobs, the claim of the accepted jobs);
//! this module runs the steps, inside that transaction:
//!
//! 1. it reads the queue's quotas ([`QUOTAS`]: on PostgreSQL `FOR UPDATE`,
//!    in name order, so the claims of one queue take turns on every
//!    machine; on SQLite the transaction is `BEGIN IMMEDIATE`, which holds
//!    the write lock from the first read), the slots the plain ones have
//!    taken, the queue's rate window and the keys with pending jobs and
//!    room (statements that start after the lock, so they see every claim
//!    that held it before);
//! 2. it accepts jobs as `quota_claim.rs` says: the keys' first jobs merged
//!    with the walk over the due jobs without a key, page by page, each
//!    statement skipping the jobs that name a quota already full;
//! 3. it counts the accepted jobs' starts in the rate windows they used,
//!    and claims them.

use async_trait::async_trait;

use super::quota::in_flight;
use super::quota_claim::{Accepted, Heads, OrderKey, Page, Quota, Slots, Walk, stored_rate};
use super::sql::{ms, to_u32};
use super::statement::{Arg, Sql, SqlConn};
use super::{JobClaimParams, Result};
use crate::model::Job;

/// A candidate as a backend reads it: its place in the queue order, its
/// quota entries, and what the backend claims it by.
pub(crate) type Candidate<I> = (OrderKey, Vec<String>, I);

/// The statements of a claim apart whose plan each backend tunes, run
/// inside the claim's transaction (each backend's `quota.rs`).
#[async_trait]
pub(crate) trait ClaimApartTx: SqlConn {
    /// What an accepted job is claimed by (SQLite: its `seq`; PostgreSQL:
    /// its id).
    type Id: Send + Sync;
    /// The claim's agent filter and preference, as the statements bind
    /// them.
    type Filters: Send + Sync;

    /// The filters of `p`, prepared once per claim.
    fn filters(p: &JobClaimParams) -> Self::Filters;

    /// The first due jobs (at most `per_key`) of each key of `open`, in
    /// queue order, skipping those that name a quota of `full`, that are
    /// past their deadline, pinned to another dispatcher or filtered out
    /// (PostgreSQL: or locked).
    async fn heads(
        &mut self,
        p: &JobClaimParams,
        filters: &Self::Filters,
        open: &[String],
        per_key: u32,
        full: &[String],
    ) -> Result<Vec<Candidate<Self::Id>>>;

    /// One page of the walk over the due jobs without a key, in queue
    /// order (at most `size`), skipping as [`ClaimApartTx::heads`] does.
    async fn walk(
        &mut self,
        p: &JobClaimParams,
        filters: &Self::Filters,
        page: Page,
        size: u32,
        full: &[String],
    ) -> Result<Vec<Candidate<Self::Id>>>;

    /// Claims the accepted jobs for `p`'s dispatcher and agent.
    async fn claim_accepted(
        &mut self,
        p: &JobClaimParams,
        ids: &[Self::Id],
    ) -> Result<Vec<(i64, Job)>>;
}

/// The queue's quotas (`?1`), locked on PostgreSQL, in name order (so two
/// claims take them in the same order).
pub(crate) static QUOTAS: Sql = Sql::new(|d| {
    let lock = if d.locks_rows() {
        format!(" ORDER BY name{}{}", d.binary_order, d.lock_rows)
    } else {
        String::new()
    };
    format!(
        "SELECT name, size, partitioned, rate_limit, rate_period_ms \
         FROM quotas WHERE queue = ?1{lock}"
    )
});

/// The keys of the queue's partitioned quotas (their `quota_slots`
/// entries) that have pending jobs and fewer than `?2` (the largest size
/// of a partitioned quota) holding a slot, with how many do and their
/// rate window (end, starts).
pub(crate) static OPEN_KEYS: Sql = Sql::new(|_| {
    "SELECT slot, held, rate_until, rate_starts FROM quota_slots \
     WHERE queue = ?1 AND pending > 0 AND held < ?2"
        .to_owned()
});

/// The queue's rate and its window (end, starts); on PostgreSQL it also
/// locks the queue's row, so the claims of a queue with a rate take
/// turns (`NO KEY UPDATE`: puts, which only need the row to exist, are
/// not held up).
pub(crate) static QUEUE_RATE: Sql = Sql::new(|d| {
    format!(
        "SELECT rate_limit, rate_period_ms, rate_until, rate_starts FROM queues WHERE name = ?1{}",
        if d.locks_rows() {
            " FOR NO KEY UPDATE"
        } else {
            ""
        }
    )
});

/// Counts `?3` starts in the queue's window ending at `?2`.
pub(crate) static QUEUE_RATE_COUNT: Sql = Sql::new(|_| {
    "UPDATE queues SET rate_starts = CASE WHEN rate_until = ?2 THEN rate_starts + ?3 ELSE ?3 END, \
     rate_until = ?2 WHERE name = ?1"
        .to_owned()
});

/// Counts `?4` starts in a key's window ending at `?3`.
pub(crate) static KEY_RATE_COUNT: Sql = Sql::new(|_| {
    "UPDATE quota_slots SET rate_starts = CASE WHEN rate_until = ?3 THEN rate_starts + ?4 ELSE ?4 END, \
     rate_until = ?3 WHERE queue = ?1 AND slot = ?2"
        .to_owned()
});
/// Reads, after the claim's lock, the queue's rate window and the keys
/// with pending jobs and room into `slots`; returns the open keys'
/// entries.
async fn read_windows<C: SqlConn + ?Sized>(
    conn: &mut C,
    queue: &str,
    slots: &mut Slots,
) -> Result<Vec<String>> {
    let d = conn.dialect();
    let rate = conn
        .fetch_optional("queues", QUEUE_RATE.text(d), &[Arg::Text(queue)])
        .await?;
    if let Some(r) = rate {
        slots.queue_rate(
            stored_rate(r.opt_int(0)?, r.opt_int(1)?),
            r.int(2)?,
            r.int(3)?,
        );
    }
    let size = slots.partitioned_size();
    let mut open = Vec::new();
    if size > 0 {
        let args = [Arg::Text(queue), Arg::Int(i64::from(size))];
        for r in conn
            .fetch_all("quota_slots", OPEN_KEYS.text(d), &args)
            .await?
        {
            let entry = r.text(0)?;
            let held = to_u32("quota_slots", "held", r.int(1)?)?;
            if slots.open(entry.clone(), held, (r.int(2)?, r.int(3)?)) {
                open.push(entry);
            }
        }
    }
    Ok(open)
}

/// Counts the accepted jobs' starts in the rate windows they used, in the
/// claim's transaction.
async fn count_starts<C: SqlConn + ?Sized>(conn: &mut C, queue: &str, slots: &Slots) -> Result<()> {
    let d = conn.dialect();
    let (queue_count, key_counts) = slots.rate_counts();
    if let Some((end, n)) = queue_count {
        let args = [Arg::Text(queue), Arg::Int(end), Arg::Int(i64::from(n))];
        conn.execute(QUEUE_RATE_COUNT.text(d), &args).await?;
    }
    for (entry, (end, n)) in &key_counts {
        let args = [
            Arg::Text(queue),
            Arg::Text(entry),
            Arg::Int(*end),
            Arg::Int(i64::from(*n)),
        ];
        conn.execute(KEY_RATE_COUNT.text(d), &args).await?;
    }
    Ok(())
}

/// Reads (and on PostgreSQL locks) the queue's quotas.
async fn quotas<C: SqlConn + ?Sized>(conn: &mut C, queue: &str) -> Result<Vec<Quota>> {
    let sql = QUOTAS.text(conn.dialect());
    let rows = conn.fetch_all("quotas", sql, &[Arg::Text(queue)]).await?;
    rows.iter()
        .map(|r| {
            let size = to_u32("quotas", "size", r.int(1)?)?;
            let rate = stored_rate(r.opt_int(3)?, r.opt_int(4)?);
            Ok((r.text(0)?, size, r.bool(2)?, rate))
        })
        .collect()
}

/// Claims up to `limit` jobs of a queue claimed apart, inside the
/// backend's transaction `conn` (the caller commits); see the module doc.
pub(crate) async fn claim<T: ClaimApartTx>(
    conn: &mut T,
    p: &JobClaimParams,
    limit: u32,
) -> Result<Vec<(i64, Job)>> {
    let quotas = quotas(conn, &p.queue).await?;
    let in_flight = in_flight(conn, &p.queue).await?;
    let mut slots = Slots::new(quotas, in_flight.into_iter().map(|(_, n)| n), ms(p.now));
    let filters = T::filters(p);

    let open = read_windows(conn, &p.queue, &mut slots).await?;
    let full = |slots: &Slots| slots.full_names().into_iter().collect::<Vec<_>>();
    let mut heads = Vec::new();
    if !open.is_empty() {
        let per_key = slots.partitioned_size().min(limit);
        heads = conn
            .heads(p, &filters, &open, per_key, &full(&slots))
            .await?;
    }
    let mut heads = Heads::new(heads);

    let mut walk = Walk::new(limit);
    let mut accepted = Accepted::new(limit);
    'walk: while let Some(page) = walk.page() {
        let rows = conn
            .walk(p, &filters, page, walk.size, &full(&slots))
            .await?;
        let read = rows.len();
        for (key, names, id) in rows {
            walk.saw(&key);
            if accepted.offer_heads(&mut slots, &mut heads, Some(&key))
                || accepted.offer(&mut slots, &names, id)
            {
                break 'walk;
            }
        }
        accepted.end_page(&mut walk, read, &mut slots, &mut heads);
    }

    count_starts(conn, &p.queue, &slots).await?;
    conn.claim_accepted(p, &accepted.ids).await
}
