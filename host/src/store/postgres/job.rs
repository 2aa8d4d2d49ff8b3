//! `jobs`: puts, reads, pull, remove and put back. Claims
//! and starts are in `claim.rs`, finishes in `finish.rs`.

use std::sync::LazyLock;

use sqlx::PgConnection;

use super::PgStore;
use super::notify;
use super::row::{self, json_text, lit, ms};
use super::tx::PgTx;
use crate::model::{Failure, Job, NewJob, Transition, state_bit};
use crate::store::Result;
use crate::store::jobs::{INSERTED_COLUMNS, SKIP_DUPLICATES};
use crate::store::puts::{Ids, PutTx};
use crate::store::unique::IN_STATES;

/// The most jobs one insert statement takes; larger puts take one
/// statement per chunk of this size, in one transaction.
pub(super) const MAX_ROWS: usize = 16_384;

/// Inserts a batch, one array per column, in batch order (`seq` follows
/// it), and announces the queues on commit. The queue and the module are
/// looked up in the statement: a missing one leaves a NULL that the NOT
/// NULL constraint refuses, aborting the whole statement. `held` is how
/// a job whose uniqueness key is held is skipped ([`Held`]).
fn insert_sql(held: &str) -> String {
    format!(
        "WITH ins AS ( \
           INSERT INTO jobs ({INSERTED_COLUMNS}) \
           SELECT v.id, q.name, \
             CASE WHEN v.failure IS NULL THEN {pending} ELSE {expired} END, \
             m.digest, v.module_name, v.function, v.args::json, \
             v.limits::json, v.begin_after, v.scheduled, v.begin_by_ms, v.parent, v.created_at, \
             (SELECT array_agg(n) FROM json_array_elements_text(v.quota_names::json) AS n), \
             v.failure::json, CASE WHEN v.failure IS NULL THEN NULL ELSE v.created_at END, \
             v.schedule_id, v.occurrence, v.retry::json, v.token, v.priority, v.unique_key, \
             v.unique_states, v.unique_derived \
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::int8[], $9::bool[], $10::int8[], $11::uuid[], $12::int8[], \
             $15::text[], $16::text[], $17::uuid[], $18::int8[], $19::text[], $20::uuid[], \
             $21::int4[], $22::text[], $23::int8[], $25::int8[]) \
             WITH ORDINALITY AS v(id, queue, module, module_name, function, args, limits, \
               begin_after, scheduled, begin_by_ms, parent, created_at, quota_names, failure, \
               schedule_id, occurrence, retry, token, priority, unique_key, unique_states, \
               unique_derived, pos) \
           LEFT JOIN queues q ON q.name = v.queue \
           LEFT JOIN modules m ON m.digest = v.module \
           {held} \
           RETURNING id), \
         sent AS (SELECT pg_notify($13, p) FROM unnest($14::text[]) AS p) \
         SELECT (SELECT count(*) FROM ins), \
           (SELECT coalesce(array_agg(id), '{{}}') FROM ins \
            WHERE (SELECT count(*) FROM ins) < $24), \
           (SELECT count(*) FROM sent)",
        pending = lit(Transition::Put.to()),
        expired = lit(Transition::Expire.to()),
    )
}

/// How an insert skips a job whose uniqueness key `jobs_unique` holds.
///
/// `ON CONFLICT` makes PostgreSQL insert every row of the statement
/// speculatively (a token, then a confirm record per row, ~19% more WAL
/// and ~40% more time on a bulk insert), keyed or not. So a chunk without
/// keys has no conflict clause at all, and a chunk with keys first reads
/// the index for held keys; only a chunk whose keys repeat inside it, or
/// that lost a race for a key between that read and its insert, takes
/// `ON CONFLICT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// No job of the chunk has a key: nothing to skip.
    NoKeys,
    /// Jobs whose key is held when the statement reads are left out;
    /// a key taken after that read fails the statement on `jobs_unique`.
    LeftOut,
    /// `ON CONFLICT … DO NOTHING`: exact whatever runs at the same time.
    Skipped,
}

impl Held {
    /// How a chunk of `jobs` alone in its statement's transaction skips
    /// held keys: [`Held::Skipped`] is needed only for keys repeated
    /// inside the chunk (the statement's read cannot see its own rows).
    fn for_chunk(jobs: &[NewJob]) -> Held {
        let mut keys = std::collections::HashSet::new();
        let mut any = false;
        for job in jobs {
            if let Some(unique) = &job.unique {
                any = true;
                if !keys.insert((job.queue.as_str(), unique.key.as_str())) {
                    return Held::Skipped;
                }
            }
        }
        if any { Held::LeftOut } else { Held::NoKeys }
    }

    /// How a chunk of `jobs` inside a larger transaction skips held keys:
    /// a failed statement aborts the transaction, so a chunk with keys
    /// cannot be tried again and skips them as it goes.
    pub(super) fn in_transaction(jobs: &[NewJob]) -> Held {
        match Held::for_chunk(jobs) {
            Held::NoKeys => Held::NoKeys,
            Held::LeftOut | Held::Skipped => Held::Skipped,
        }
    }

    fn statement(self) -> &'static str {
        &INSERT[self as usize]
    }
}

/// The insert statement for each [`Held`], in its order.
pub(super) static INSERT: LazyLock<[String; 3]> = LazyLock::new(|| {
    [
        insert_sql("ORDER BY v.pos"),
        // A job is left out only if it would enter `jobs_unique` itself
        // (its first status, pending or expired, is one of its key's
        // states), as `ON CONFLICT` skips only then. `OFFSET 0` keeps the
        // read a probe of `jobs_unique` per keyed job: PostgreSQL does not
        // turn such a subquery into an anti-join, which for a large batch
        // could plan a scan of `jobs`.
        insert_sql(&format!(
            "WHERE v.unique_key IS NULL \
               OR (v.unique_states & CASE WHEN v.failure IS NULL THEN {pending} \
                   ELSE {expired} END) = 0 \
               OR NOT EXISTS (SELECT 1 FROM jobs h \
                 WHERE h.queue = v.queue AND h.unique_key = v.unique_key \
                 AND {IN_STATES} OFFSET 0) \
             ORDER BY v.pos",
            pending = state_bit(Transition::Put.to()),
            expired = state_bit(Transition::Expire.to()),
        )),
        insert_sql(&format!("ORDER BY v.pos {SKIP_DUPLICATES}")),
    ]
});

/// Inserts one chunk (at most [`MAX_ROWS`] jobs) in a statement that
/// commits on its own, adding the ids inserted to `inserted_ids`. A chunk
/// that lost a race for a key (a [`Held::LeftOut`] statement failing on
/// `jobs_unique`) is inserted again with [`Held::Skipped`]: the failed
/// statement wrote nothing.
async fn insert_chunk_alone(
    conn: &mut PgConnection,
    channel: &str,
    jobs: &[NewJob],
    inserted_ids: &mut Vec<uuid::Uuid>,
) -> Result<(), sqlx::Error> {
    let held = Held::for_chunk(jobs);
    match insert_chunk(conn, channel, jobs, held, inserted_ids).await {
        Err(e) if held == Held::LeftOut && row::names(&e, row::sqlstate::UNIQUE, "jobs_unique") => {
            insert_chunk(conn, channel, jobs, Held::Skipped, inserted_ids).await
        }
        done => done,
    }
}

/// Inserts one chunk (at most [`MAX_ROWS`] jobs) in one statement, adding
/// the ids inserted to `inserted_ids` (every id of the chunk when none was
/// a held unique key: the statement sends back the ids only when some
/// were skipped).
pub(super) async fn insert_chunk(
    conn: &mut PgConnection,
    channel: &str,
    jobs: &[NewJob],
    held: Held,
    inserted_ids: &mut Vec<uuid::Uuid>,
) -> Result<(), sqlx::Error> {
    let n = jobs.len();
    let (mut ids, mut queues, mut modules, mut names) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut functions, mut args, mut limits, mut begin_after) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut scheduled, mut begin_by_ms, mut parents, mut created_at) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut quota_names, mut failures) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut schedule_ids, mut occurrences) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut retries, mut tokens) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut priorities = Vec::with_capacity(n);
    let (mut unique_keys, mut unique_states) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut unique_derived = Vec::with_capacity(n);
    let expired = json_text(&Failure::not_started());
    for job in jobs {
        ids.push(job.id.0);
        queues.push(job.queue.as_str());
        modules.push(job.module.as_str());
        names.push(job.module_name.as_deref());
        functions.push(job.function.as_str());
        args.push(json_text(&job.args));
        limits.push((!job.limits.is_empty()).then(|| json_text(&job.limits)));
        begin_after.push(ms(job.begin_after));
        scheduled.push(job.scheduled);
        begin_by_ms.push(row::begin_by(job.begin_by_ms));
        parents.push(job.parent.map(|p| p.0));
        created_at.push(ms(job.created_at));
        quota_names.push((!job.quota_names.is_empty()).then(|| json_text(&job.quota_names)));
        failures.push(job.expired.then_some(expired.as_str()));
        schedule_ids.push(job.schedule.map(|run| run.schedule_id.0));
        occurrences.push(job.schedule.map(|run| ms(run.occurrence)));
        retries.push(job.retry.as_ref().map(json_text));
        tokens.push(job.token.map(|t| t.0));
        priorities.push(job.priority);
        unique_keys.push(job.unique.as_ref().map(|u| u.key.as_str()));
        unique_states.push(job.unique.as_ref().map_or(0, |u| u.states));
        unique_derived.push(crate::store::unique::derived_column(job));
    }
    let payloads = notify::put_payloads(queues.iter().copied());
    let all: Vec<uuid::Uuid> = ids.clone();
    let (inserted, some, _): (i64, Vec<uuid::Uuid>, i64) = sqlx::query_as(held.statement())
        .bind(ids)
        .bind(queues)
        .bind(modules)
        .bind(names)
        .bind(functions)
        .bind(args)
        .bind(limits)
        .bind(begin_after)
        .bind(scheduled)
        .bind(begin_by_ms)
        .bind(parents)
        .bind(created_at)
        .bind(channel)
        .bind(payloads)
        .bind(quota_names)
        .bind(failures)
        .bind(schedule_ids)
        .bind(occurrences)
        .bind(retries)
        .bind(tokens)
        .bind(priorities)
        .bind(unique_keys)
        .bind(unique_states)
        .bind(n as i64)
        .bind(unique_derived)
        .fetch_one(&mut *conn)
        .await?;
    inserted_ids.extend(if inserted == n as i64 { all } else { some });
    Ok(())
}

/// A put's statements in a write transaction (the insert's steps are
/// written once, in `store/puts.rs`).
#[async_trait]
impl PutTx for PgTx<'_> {
    async fn insert_chunk(&mut self, jobs: &[NewJob], ids: &mut Ids) -> Result<(), sqlx::Error> {
        let held = Held::in_transaction(jobs);
        insert_chunk(self.conn, &self.db.channel, jobs, held, ids).await
    }

    async fn claim_in_one_statement(&mut self, params: &JobClaimParams) -> Result<Vec<(i64, Job)>> {
        super::claim::claim_in_one_statement(&mut *self.conn, params).await
    }
}

use async_trait::async_trait;

use super::claim::{claim_in_one_statement, start_many};
use super::finish::finish_many;
use crate::store::jobs::TunedJobs;
use crate::store::{FinishReport, JobClaimParams, JobFinishParams, JobStartParams, JobStarted};

/// The job statements this backend tunes; the rest of [`JobStore`] and
/// [`ClaimStore`] is written once over them (`store/jobs.rs`).
///
/// [`JobStore`]: crate::store::JobStore
/// [`ClaimStore`]: crate::store::ClaimStore
#[async_trait]
impl TunedJobs for PgStore {
    fn insert_rows_max(&self) -> usize {
        MAX_ROWS
    }

    async fn insert_alone(&self, jobs: &[NewJob], ids: &mut Ids) -> Result<(), sqlx::Error> {
        insert_chunk_alone(&mut *self.pool.acquire().await?, &self.channel, jobs, ids).await
    }

    async fn claim_alone(&self, params: &JobClaimParams) -> Result<Vec<(i64, Job)>> {
        claim_in_one_statement(&self.pool, params).await
    }

    async fn claim_apart(&self, params: &JobClaimParams, limit: u32) -> Result<Vec<(i64, Job)>> {
        super::quota::claim(self, params, limit).await
    }

    async fn start_jobs(&self, params: JobStartParams) -> Result<Vec<JobStarted>> {
        start_many(self, params).await
    }

    async fn finish_jobs(&self, params: &[JobFinishParams]) -> Result<FinishReport> {
        finish_many(self, params).await
    }
}
