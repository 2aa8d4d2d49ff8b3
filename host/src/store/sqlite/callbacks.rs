//! `jobs`: callbacks and composites, the statements behind
//! `store/settle.rs` and `store/links.rs` (the logic is there, once for
//! both backends). Lists of ids are one JSON parameter (`json_each`): one
//! statement text whatever their length; each list is driven by id or by
//! the partial indexes `jobs_callbacks` and `jobs_parts` (migration 0005).

use std::sync::LazyLock;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::finish;
use super::row::{hex, lit, ms};
use super::tx::SqliteTx;
use crate::model::{JobId, Timestamp, Transition};
use crate::store::links::{self};
use crate::store::settle::{InsertRow, Outcome, SettleTx};
use crate::store::sql::settled_status;
use crate::store::{Error, Result};

/// What the batch parameter's linked jobs give for each column.
const SELECT_LINKED: &str = "SELECT unhex(j.value ->> 'id'), \
       (SELECT q.name FROM queues AS q WHERE q.name = j.value ->> 'queue'), \
       j.value ->> 'status', j.value ->> 'module', j.value ->> 'module_name', \
       j.value ->> 'function', j.value ->> 'args', j.value ->> 'limits', \
       j.value ->> 'begin_after', j.value ->> 'scheduled', j.value ->> 'begin_by_ms', \
       unhex(j.value ->> 'parent'), j.value ->> 'created_at', j.value ->> 'quota_names', \
       j.value ->> 'failure', j.value ->> 'completed_at', unhex(j.value ->> 'callback_of'), \
       j.value ->> 'callback_on', unhex(j.value ->> 'part_of'), j.value ->> 'part_index', \
       j.value ->> 'retry', unhex(j.value ->> 'token'), unhex(j.value ->> 'pinned_to'), \
       j.value ->> 'priority' \
     FROM json_each(?1) AS j ORDER BY j.key";

static INSERT: LazyLock<String> = LazyLock::new(|| links::insert_linked_sql(SELECT_LINKED));

static FIRE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::Fire;
    // The batch is a materialized CTE, the update driven by id: with
    // `UPDATE … FROM json_each(…)` SQLite may scan `jobs` for every row of
    // the batch (measured: a 1,000-part `parallel` took seconds to start).
    format!(
        "WITH b (id, args) AS MATERIALIZED ( \
           SELECT unhex(value ->> 'id'), value ->> 'args' FROM json_each(?1)) \
         UPDATE jobs SET status = {to}, \
           args = (SELECT b.args FROM b WHERE b.id = jobs.id), \
           begin_after = ?2, scheduled = 0 \
         WHERE jobs.id IN (SELECT b.id FROM b) AND jobs.status = {from} \
         RETURNING jobs.queue",
        to = lit(t.to()),
        from = lit(t.from()),
    )
});

static PASS_THROUGH: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::PassThrough;
    format!(
        "WITH b (id, result, failure) AS MATERIALIZED ( \
           SELECT unhex(value ->> 'id'), value ->> 'result', value ->> 'failure' \
           FROM json_each(?1)) \
         UPDATE jobs SET status = {status}, \
           result = (SELECT b.result FROM b WHERE b.id = jobs.id), \
           failure = (SELECT b.failure FROM b WHERE b.id = jobs.id), completed_at = ?2 \
         WHERE jobs.id IN (SELECT b.id FROM b) AND jobs.status = {from} \
         RETURNING jobs.id",
        status = settled_status(t, "jobs"),
        from = lit(t.from()),
    )
});

#[async_trait]
impl SettleTx for SqliteTx<'_> {
    async fn resolve_awaits(&mut self, ids: &[JobId], now: Timestamp) -> Result<Vec<JobId>> {
        Ok(finish::cascade(self.0, ids, now)
            .await?
            .into_iter()
            .collect())
    }

    async fn fire(&mut self, jobs: &[(JobId, Value)], now: Timestamp) -> Result<Vec<String>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let batch: Vec<Value> = jobs
            .iter()
            .map(|(id, args)| json!({"id": hex(id.0), "args": args.to_string()}))
            .collect();
        let queues = sqlx::query_scalar(&FIRE)
            .bind(Value::from(batch).to_string())
            .bind(ms(now))
            .fetch_all(&mut *self.0)
            .await?;
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
        let batch: Vec<Value> = jobs
            .iter()
            .map(|(id, o)| {
                json!({
                    "id": hex(id.0),
                    "result": o.result.as_ref().map(Value::to_string),
                    "failure": o.failure.as_ref().map(super::job::job_failure_text),
                })
            })
            .collect();
        let ids: Vec<Uuid> = sqlx::query_scalar(&PASS_THROUGH)
            .bind(Value::from(batch).to_string())
            .bind(ms(now))
            .fetch_all(&mut *self.0)
            .await?;
        Ok(ids.into_iter().map(JobId).collect())
    }

    async fn insert(&mut self, rows: &[InsertRow<'_>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch: Vec<Value> = rows.iter().map(links::insert_row).collect();
        let inserted = sqlx::query(&INSERT)
            .bind(Value::from(batch).to_string())
            .execute(&mut *self.0)
            .await
            .map_err(|e| missing_queue(e, rows))?
            .rows_affected();
        debug_assert_eq!(inserted, rows.len() as u64);
        Ok(())
    }
}

/// A missing queue leaves `queue` NULL (the NOT NULL constraint refuses
/// the insert), as in `job_insert_many`.
fn missing_queue(error: sqlx::Error, rows: &[InsertRow<'_>]) -> Error {
    let message = error.as_database_error().map(|e| e.message().to_owned());
    match message {
        Some(m) if m.contains("NOT NULL constraint failed: jobs.queue") => {
            let queues: Vec<&str> = rows.iter().map(|r| r.linked.job.queue.as_str()).collect();
            Error::not_found(format!("queue among {queues:?}"))
        }
        Some(m) if m.contains("FOREIGN KEY") => Error::not_found("module"),
        _ => error.into(),
    }
}
