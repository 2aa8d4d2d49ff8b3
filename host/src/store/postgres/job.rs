//! `jobs`: puts, reads, pull, remove and put back. Claims
//! and starts are in `claim.rs`, finishes in `finish.rs`.

use std::sync::LazyLock;

use sqlx::PgConnection;

use super::PgStore;
use super::notify;
use super::row::{self, json_text, lit, ms};
use super::tx::PgTx;
use crate::model::{Failure, Job, NewJob, Transition};
use crate::store::Result;
use crate::store::jobs::{INSERTED_COLUMNS, SKIP_DUPLICATES};
use crate::store::puts::{Ids, PutTx};

/// The most jobs one insert statement takes; larger puts take one
/// statement per chunk of this size, in one transaction.
pub(super) const MAX_ROWS: usize = 16_384;

/// Inserts a batch, one array per column, in batch order (`seq` follows
/// it), and announces the queues on commit. The queue and the module are
/// looked up in the statement: a missing one leaves a NULL that the NOT
/// NULL constraint refuses, aborting the whole statement.
pub(super) static INSERT: LazyLock<String> = LazyLock::new(|| {
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
           ORDER BY v.pos \
           {SKIP_DUPLICATES} \
           RETURNING id), \
         sent AS (SELECT pg_notify($13, p) FROM unnest($14::text[]) AS p) \
         SELECT (SELECT count(*) FROM ins), \
           (SELECT coalesce(array_agg(id), '{{}}') FROM ins \
            WHERE (SELECT count(*) FROM ins) < $24), \
           (SELECT count(*) FROM sent)",
        pending = lit(Transition::Put.to()),
        expired = lit(Transition::Expire.to()),
    )
});

/// Inserts one chunk (at most [`MAX_ROWS`] jobs) in one statement, adding
/// the ids inserted to `inserted_ids` (every id of the chunk when none was
/// a held unique key: the statement sends back the ids only when some
/// were skipped).
pub(super) async fn insert_chunk(
    conn: &mut PgConnection,
    channel: &str,
    jobs: &[NewJob],
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
    let (inserted, some, _): (i64, Vec<uuid::Uuid>, i64) = sqlx::query_as(&INSERT)
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
        insert_chunk(self.conn, &self.db.channel, jobs, ids).await
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
        insert_chunk(&mut *self.pool.acquire().await?, &self.channel, jobs, ids).await
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
