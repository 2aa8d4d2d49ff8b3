//! `jobs`: callbacks and composites, the statements behind
//! `store/settle.rs` and `store/links.rs` (the logic is there, once for
//! both backends). Lists are arrays (`unnest`), batch writes compare each
//! job with columns of a `MATERIALIZED` batch, as the finish does (see
//! `finish.rs` for why).
//!
//! Races between machines: a callback or a part added to a job takes the
//! job's row lock (`FOR UPDATE`) before reading its status, and moving a
//! composite on locks the composite first and reads its parts in a later
//! statement: a part added and the last part completing take turns, so
//! the postprocess never misses a part, nor a part its turn.

use std::sync::LazyLock;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::finish;
use super::notify::put_payloads;
use super::row::{self, lit, ms, sqlstate};
use super::tx::PgTx;
use crate::model::{JobId, Timestamp, Transition};
use crate::store::links::{self};
use crate::store::settle::{InsertRow, Outcome, SettleTx};
use crate::store::sql::settled_status;
use crate::store::{Error, Result};

/// What the batch parameter's linked jobs give for each column.
const SELECT_LINKED: &str = "SELECT v.id, q.name, v.status, m.digest, v.module_name, \
       v.function, v.args::json, v.limits::json, v.begin_after, v.scheduled, v.begin_by_ms, \
       v.parent, v.created_at, \
       (SELECT array_agg(n) FROM json_array_elements_text(v.quota_names::json) AS n), \
       v.failure::json, v.completed_at, v.callback_of, v.callback_on, v.part_of, v.part_index, \
       v.retry::json, v.token, v.pinned_to, v.priority \
     FROM json_to_recordset($1::json) AS v(id uuid, queue text, status text, module text, \
       module_name text, function text, args text, limits text, begin_after int8, \
       scheduled bool, begin_by_ms int8, parent uuid, created_at int8, quota_names text, \
       failure text, completed_at int8, callback_of uuid, callback_on text, part_of uuid, \
       part_index int8, retry text, token uuid, pinned_to uuid, priority int4) \
     LEFT JOIN queues q ON q.name = v.queue \
     LEFT JOIN modules m ON m.digest = v.module";

static INSERT: LazyLock<String> = LazyLock::new(|| links::insert_linked_sql(SELECT_LINKED));

static FIRE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Fire;
    format!(
        "WITH b AS MATERIALIZED (SELECT *, {from}::text AS expected \
           FROM unnest($1::uuid[], $2::text[]) AS u(id, args)) \
         UPDATE jobs SET status = {to}, args = b.args::json, begin_after = $3, scheduled = false \
         FROM b WHERE jobs.id = b.id AND jobs.status = b.expected \
         RETURNING jobs.queue",
        to = lit(t.to()),
        from = lit(t.from()),
    )
});

static PASS_THROUGH: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::PassThrough;
    format!(
        "WITH b AS MATERIALIZED (SELECT *, {from}::text AS expected \
           FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(id, result, failure)) \
         UPDATE jobs SET status = {status}, result = b.result::json, \
           failure = b.failure::json, completed_at = $4 \
         FROM b WHERE jobs.id = b.id AND jobs.status = b.expected \
         RETURNING jobs.id",
        status = settled_status(t, "jobs"),
        from = lit(t.from()),
    )
});

fn uuids(ids: &[JobId]) -> Vec<Uuid> {
    ids.iter().map(|id| id.0).collect()
}

#[async_trait]
impl SettleTx for PgTx<'_> {
    async fn resolve_awaits(&mut self, ids: &[JobId], now: Timestamp) -> Result<Vec<JobId>> {
        let announce = std::mem::take(&mut self.announce);
        let resolved =
            finish::cascade_all(&mut *self.conn, self.db, uuids(ids), announce, ms(now)).await?;
        Ok(resolved.into_iter().collect())
    }

    async fn fire(&mut self, jobs: &[(JobId, Value)], now: Timestamp) -> Result<Vec<String>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = jobs.iter().map(|(id, _)| id.0).collect();
        let args: Vec<String> = jobs.iter().map(|(_, args)| args.to_string()).collect();
        let queues: Vec<String> = sqlx::query_scalar(&FIRE)
            .bind(ids)
            .bind(args)
            .bind(ms(now))
            .fetch_all(&mut *self.conn)
            .await?;
        let payloads = put_payloads(queues.iter().map(String::as_str));
        if !payloads.is_empty() {
            sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                .bind(&*self.db.channel)
                .bind(payloads)
                .execute(&mut *self.conn)
                .await?;
        }
        Ok(queues)
    }

    async fn pass_through(
        &mut self,
        jobs: &[(JobId, Outcome)],
        now: Timestamp,
    ) -> Result<Vec<JobId>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = jobs.iter().map(|(id, _)| id.0).collect();
        let results: Vec<Option<String>> = jobs
            .iter()
            .map(|(_, o)| o.result.as_ref().map(row::json_text))
            .collect();
        let failures: Vec<Option<String>> = jobs
            .iter()
            .map(|(_, o)| o.failure.as_ref().map(row::json_text))
            .collect();
        let done: Vec<Uuid> = sqlx::query_scalar(&PASS_THROUGH)
            .bind(ids)
            .bind(results)
            .bind(failures)
            .bind(ms(now))
            .fetch_all(&mut *self.conn)
            .await?;
        self.announce.extend(done.iter().copied());
        Ok(done.into_iter().map(JobId).collect())
    }

    async fn insert(&mut self, rows: &[InsertRow<'_>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch: Vec<Value> = rows.iter().map(links::insert_row).collect();
        let inserted = sqlx::query(&INSERT)
            .bind(Value::from(batch).to_string())
            .execute(&mut *self.conn)
            .await
            .map_err(missing)?
            .rows_affected();
        debug_assert_eq!(inserted, rows.len() as u64);
        Ok(())
    }
}

/// A missing queue or module leaves a NULL that NOT NULL refuses.
fn missing(error: sqlx::Error) -> Error {
    if row::is(&error, sqlstate::NOT_NULL) {
        let column = row::db_error(&error).and_then(|(_, c)| c);
        return Error::not_found(format!(
            "the {} of a job",
            column.as_deref().unwrap_or("queue or module")
        ));
    }
    error.into()
}
