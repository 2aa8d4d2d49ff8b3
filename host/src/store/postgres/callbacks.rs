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
use serde_json::{Value, json};
use sqlx::Row as _;
use uuid::Uuid;

use super::PgStore;
use super::finish;
use super::notify::put_payloads;
use super::row::{self, JOB_COLUMNS, lit, ms, sqlstate};
use super::tx::PgTx;
use crate::model::{
    CallbackOn, Failure, JobId, JobLink, JobStatus, LinkedJob, Timestamp, Transition,
};
use crate::store::links::{self, CallbackAddParams, JobAppendArgsParams, JobLinks, PartAddParams};
use crate::store::settle::{
    CompositeState, InsertRow, Link, Outcome, Part, SettleTx, WaitingCallback,
};
use crate::store::sql::callbacks_pending;
use crate::store::sql::settled_status;
use crate::store::{Error, Result};

const TABLE: &str = "jobs";

static INSERT: &str = "INSERT INTO jobs (id, queue, status, module, module_name, function, args, \
     limits, begin_after, scheduled, begin_by_ms, parent, created_at, quota_names, failure, \
     completed_at, callback_of, callback_on, part_of, part_index, retry, token) \
     SELECT v.id, q.name, v.status, m.digest, v.module_name, v.function, v.args::json, \
       v.limits::json, v.begin_after, v.scheduled, v.begin_by_ms, v.parent, v.created_at, \
       (SELECT array_agg(n) FROM json_array_elements_text(v.quota_names::json) AS n), \
       v.failure::json, v.completed_at, v.callback_of, v.callback_on, v.part_of, v.part_index, \
       v.retry::json, v.token \
     FROM json_to_recordset($1::json) AS v(id uuid, queue text, status text, module text, \
       module_name text, function text, args text, limits text, begin_after int8, \
       scheduled bool, begin_by_ms int8, parent uuid, created_at int8, quota_names text, \
       failure text, completed_at int8, callback_of uuid, callback_on text, part_of uuid, \
       part_index int8, retry text, token uuid) \
     LEFT JOIN queues q ON q.name = v.queue \
     LEFT JOIN modules m ON m.digest = v.module";

static WAITING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT c.id, c.callback_on, c.args::text, p.result::text, p.failure::text \
         FROM jobs AS c JOIN jobs AS p ON p.id = c.callback_of \
         WHERE c.callback_of = ANY($1::uuid[]) AND c.status = {new} ORDER BY c.seq",
        new = lit(JobStatus::New)
    )
});

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

static LINKS: &str = "SELECT id, status, callback_of, part_of FROM jobs \
     WHERE id = ANY($1::uuid[]) AND (callback_of IS NOT NULL OR part_of IS NOT NULL)";

static CALLBACKS_DONE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::CallbacksDone;
    format!(
        "UPDATE jobs SET status = {to} \
         WHERE id = ANY($1::uuid[]) AND status = {from} AND NOT {pending} RETURNING id",
        to = lit(t.to()),
        from = lit(t.from()),
        pending = callbacks_pending("jobs"),
    )
});

static LOCK_MANY: &str = "SELECT id FROM jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE";

static COMPOSITES: LazyLock<String> = LazyLock::new(|| {
    let running = [
        JobStatus::Pending,
        JobStatus::Assigned,
        JobStatus::Active,
        JobStatus::Callbacks,
    ]
    .map(lit)
    .join(", ");
    format!(
        "SELECT c.id, c.function, c.args::text, \
           EXISTS (SELECT 1 FROM jobs AS p WHERE p.part_of = c.id AND p.status IN ({running})), \
           (SELECT p.id FROM jobs AS p WHERE p.part_of = c.id AND p.status = {new} \
            ORDER BY p.part_index LIMIT 1) \
         FROM jobs AS c WHERE c.id = ANY($1::uuid[]) AND c.status = {active}",
        new = lit(JobStatus::New),
        active = lit(JobStatus::Active),
    )
});

static PARTS: &str = "SELECT id, status, result::text, failure::text FROM jobs \
     WHERE part_of = $1 ORDER BY part_index";

fn uuids(ids: &[JobId]) -> Vec<Uuid> {
    ids.iter().map(|id| id.0).collect()
}

fn status(text: String) -> Result<JobStatus> {
    text.parse().map_err(|e| row::corrupt(TABLE, e))
}

fn parse_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| row::corrupt(TABLE, format!("{column}: {e}")))
}

fn outcome(result: Option<String>, failure: Option<String>) -> Result<Outcome> {
    Ok(Outcome {
        result: result.map(|r| parse_json("result", &r)).transpose()?,
        failure: failure
            .map(|f| parse_json::<Failure>("failure", &f))
            .transpose()?,
    })
}

#[async_trait]
impl SettleTx for PgTx<'_> {
    async fn resolve_awaits(&mut self, ids: &[JobId], now: Timestamp) -> Result<Vec<JobId>> {
        let announce = std::mem::take(&mut self.announce);
        let resolved =
            finish::cascade_all(&mut *self.conn, self.db, uuids(ids), announce, ms(now)).await?;
        Ok(resolved.into_iter().collect())
    }

    async fn waiting_callbacks(&mut self, ids: &[JobId]) -> Result<Vec<WaitingCallback>> {
        let rows = sqlx::query(&WAITING)
            .bind(uuids(ids))
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter()
            .map(|r| {
                let on: String = r.try_get(1)?;
                Ok(WaitingCallback {
                    id: JobId(r.try_get(0)?),
                    on: on
                        .parse::<CallbackOn>()
                        .map_err(|e| row::corrupt(TABLE, e))?,
                    args: parse_json("args", &r.try_get::<String, _>(2)?)?,
                    outcome: outcome(r.try_get(3)?, r.try_get(4)?)?,
                })
            })
            .collect()
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

    async fn links(&mut self, ids: &[JobId]) -> Result<Vec<Link>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(LINKS)
            .bind(uuids(ids))
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Link {
                    status: status(r.try_get(1)?)?,
                    callback_of: r.try_get::<Option<Uuid>, _>(2)?.map(JobId),
                    part_of: r.try_get::<Option<Uuid>, _>(3)?.map(JobId),
                })
            })
            .collect()
    }

    async fn callbacks_done(&mut self, ids: &[JobId], _now: Timestamp) -> Result<Vec<JobId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let done: Vec<Uuid> = sqlx::query_scalar(&CALLBACKS_DONE)
            .bind(uuids(ids))
            .fetch_all(&mut *self.conn)
            .await?;
        self.announce.extend(done.iter().copied());
        Ok(done.into_iter().map(JobId).collect())
    }

    async fn composites(&mut self, ids: &[JobId]) -> Result<Vec<CompositeState>> {
        // Lock first, read in a later statement: it sees every part added
        // by a transaction that held the lock before (see the module doc).
        sqlx::query(LOCK_MANY)
            .bind(uuids(ids))
            .execute(&mut *self.conn)
            .await?;
        let rows = sqlx::query(&COMPOSITES)
            .bind(uuids(ids))
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(CompositeState {
                    id: JobId(r.try_get(0)?),
                    function: r.try_get(1)?,
                    args: parse_json("args", &r.try_get::<String, _>(2)?)?,
                    running: r.try_get(3)?,
                    next_new: r.try_get::<Option<Uuid>, _>(4)?.map(JobId),
                })
            })
            .collect()
    }

    async fn parts(&mut self, composite: JobId) -> Result<Vec<Part>> {
        let rows = sqlx::query(PARTS)
            .bind(composite.0)
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Part {
                    id: JobId(r.try_get(0)?),
                    status: status(r.try_get(1)?)?,
                    outcome: outcome(r.try_get(2)?, r.try_get(3)?)?,
                })
            })
            .collect()
    }

    async fn status_and_args(&mut self, id: JobId) -> Result<Option<(JobStatus, Value)>> {
        let row = sqlx::query("SELECT status, args::text FROM jobs WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *self.conn)
            .await?;
        row.map(|r| {
            Ok((
                status(r.try_get(0)?)?,
                parse_json("args", &r.try_get::<String, _>(1)?)?,
            ))
        })
        .transpose()
    }

    async fn lock(&mut self, id: JobId) -> Result<Option<(JobStatus, String, Value)>> {
        let row =
            sqlx::query("SELECT status, function, args::text FROM jobs WHERE id = $1 FOR UPDATE")
                .bind(id.0)
                .fetch_optional(&mut *self.conn)
                .await?;
        row.map(|r| {
            Ok((
                status(r.try_get(0)?)?,
                r.try_get(1)?,
                parse_json("args", &r.try_get::<String, _>(2)?)?,
            ))
        })
        .transpose()
    }

    async fn insert(&mut self, rows: &[InsertRow<'_>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch: Vec<Value> = rows.iter().map(insert_row).collect();
        let inserted = sqlx::query(INSERT)
            .bind(Value::from(batch).to_string())
            .execute(&mut *self.conn)
            .await
            .map_err(missing)?
            .rows_affected();
        debug_assert_eq!(inserted, rows.len() as u64);
        Ok(())
    }

    async fn set_args(&mut self, id: JobId, args: &Value) -> Result<()> {
        sqlx::query("UPDATE jobs SET args = $2::json WHERE id = $1")
            .bind(id.0)
            .bind(args.to_string())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn next_part_index(&mut self, composite: JobId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(max(part_index) + 1, 0)::int8 FROM jobs WHERE part_of = $1",
        )
        .bind(composite.0)
        .fetch_one(&mut *self.conn)
        .await?)
    }
}

fn insert_row(row: &InsertRow<'_>) -> Value {
    let job = &row.linked.job;
    let (callback_of, callback_on, part_of, part_index) = match row.linked.link {
        Some(JobLink::Callback { of, on }) => (Some(of.0), Some(on.as_str()), None, None),
        Some(JobLink::Part { of, index }) => (None, None, Some(of.0), Some(index)),
        None => (None, None, None, None),
    };
    json!({
        "id": job.id.0,
        "queue": job.queue,
        "status": row.status.as_str(),
        "module": job.module.as_str(),
        "module_name": job.module_name,
        "function": job.function,
        "args": job.args.to_string(),
        "limits": (!job.limits.is_empty()).then(|| row::json_text(&job.limits)),
        "begin_after": ms(job.begin_after),
        "scheduled": job.scheduled,
        "begin_by_ms": row::begin_by(job.begin_by_ms),
        "parent": job.parent.map(|p| p.0),
        "created_at": ms(job.created_at),
        "quota_names": (!job.quota_names.is_empty()).then(|| row::json_text(&job.quota_names)),
        "failure": row.failure.as_ref().map(row::json_text),
        "completed_at": row.completed_at.map(ms),
        "callback_of": callback_of,
        "callback_on": callback_on,
        "part_of": part_of,
        "part_index": part_index,
        "retry": job.retry.as_ref().map(row::json_text),
        "token": job.token.map(|t| t.0),
    })
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

impl PgStore {
    pub(super) async fn insert_linked(&self, jobs: &[LinkedJob], now: Timestamp) -> Result<()> {
        let mut tx = self.begin().await?;
        links::insert_linked(&mut PgTx::new(&mut tx, self, Vec::new()), jobs, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn add_callback(&self, params: CallbackAddParams) -> Result<JobId> {
        let mut tx = self.begin().await?;
        let id = links::callback_add(&mut PgTx::new(&mut tx, self, Vec::new()), &params).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn add_part(&self, params: PartAddParams) -> Result<JobId> {
        let mut tx = self.begin().await?;
        let id = links::part_add(&mut PgTx::new(&mut tx, self, Vec::new()), &params).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn start_composite(&self, id: JobId, now: Timestamp) -> Result<JobId> {
        let mut tx = self.begin().await?;
        let postprocess =
            links::composite_start(&mut PgTx::new(&mut tx, self, Vec::new()), id, now).await?;
        tx.commit().await?;
        Ok(postprocess)
    }

    pub(super) async fn append_args(&self, params: JobAppendArgsParams) -> Result<u32> {
        let mut tx = self.begin().await?;
        let count = links::append_args(&mut PgTx::new(&mut tx, self, Vec::new()), &params).await?;
        tx.commit().await?;
        Ok(count)
    }

    pub(super) async fn links_of(&self, id: JobId) -> Result<JobLinks> {
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(Error::not_found(format!("job {id}")));
        }
        let callbacks = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS}, callback_on FROM jobs WHERE callback_of = $1 ORDER BY seq"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let on: String = r.try_get("callback_on")?;
            let on = on
                .parse::<CallbackOn>()
                .map_err(|e| row::corrupt(TABLE, e))?;
            Ok((on, row::job(r)?.1))
        })
        .collect::<Result<Vec<_>>>()?;
        let parts = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE part_of = $1 ORDER BY part_index"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(JobLinks {
            callbacks,
            parts: row::jobs(&parts)?,
        })
    }
}

use tracing::instrument;

use crate::store::LinkStore;

#[async_trait]
impl LinkStore for PgStore {
    #[instrument(level = "debug", skip_all)]
    async fn job_insert_linked(&self, jobs: &[LinkedJob], now: Timestamp) -> Result<()> {
        self.insert_linked(jobs, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn callback_add(&self, params: CallbackAddParams) -> Result<JobId> {
        self.add_callback(params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn part_add(&self, params: PartAddParams) -> Result<JobId> {
        self.add_part(params).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn composite_start(&self, id: JobId, now: Timestamp) -> Result<JobId> {
        self.start_composite(id, now).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_links(&self, id: JobId) -> Result<JobLinks> {
        self.links_of(id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_append_args(&self, params: JobAppendArgsParams) -> Result<u32> {
        self.append_args(params).await
    }
}
