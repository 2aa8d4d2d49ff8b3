//! `jobs`: callbacks and composites, the statements behind
//! `store/settle.rs` and `store/links.rs` (the logic is there, once for
//! both backends). Lists of ids are one JSON parameter (`json_each`): one
//! statement text whatever their length; each list is driven by id or by
//! the partial indexes `jobs_callbacks` and `jobs_parts` (migration 0005).

use std::sync::LazyLock;

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::Row as _;
use uuid::Uuid;

use super::SqliteStore;
use super::finish;
use super::row::{self, JOB_COLUMNS, hex, lit, ms};
use super::tx::SqliteTx;
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

/// The ids of a JSON array of hex ids, as a subquery.
const IDS: &str = "SELECT unhex(value) FROM json_each(?1)";

static INSERT: &str = "INSERT INTO jobs (id, queue, status, module, module_name, function, args, \
     limits, begin_after, scheduled, begin_by_ms, parent, created_at, quota_names, failure, \
     completed_at, callback_of, callback_on, part_of, part_index, retry, token) \
     SELECT unhex(j.value ->> 'id'), \
       (SELECT q.name FROM queues AS q WHERE q.name = j.value ->> 'queue'), \
       j.value ->> 'status', j.value ->> 'module', j.value ->> 'module_name', \
       j.value ->> 'function', j.value ->> 'args', j.value ->> 'limits', \
       j.value ->> 'begin_after', j.value ->> 'scheduled', j.value ->> 'begin_by_ms', \
       unhex(j.value ->> 'parent'), j.value ->> 'created_at', j.value ->> 'quota_names', \
       j.value ->> 'failure', j.value ->> 'completed_at', unhex(j.value ->> 'callback_of'), \
       j.value ->> 'callback_on', unhex(j.value ->> 'part_of'), j.value ->> 'part_index', \
       j.value ->> 'retry', unhex(j.value ->> 'token') \
     FROM json_each(?1) AS j ORDER BY j.key";

static WAITING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT c.id, c.callback_on, c.args, p.result, p.failure \
         FROM jobs AS c JOIN jobs AS p ON p.id = c.callback_of \
         WHERE c.callback_of IN ({IDS}) AND c.status = {new} ORDER BY c.seq",
        new = lit(JobStatus::New)
    )
});

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

static LINKS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, status, callback_of, part_of FROM jobs \
         WHERE id IN ({IDS}) AND (callback_of IS NOT NULL OR part_of IS NOT NULL)"
    )
});

static CALLBACKS_DONE: LazyLock<String> = LazyLock::new(|| {
    let t = Transition::CallbacksDone;
    format!(
        "UPDATE jobs SET status = {to} \
         WHERE id IN ({IDS}) AND status = {from} AND NOT {pending} RETURNING id",
        to = lit(t.to()),
        from = lit(t.from()),
        pending = callbacks_pending("jobs"),
    )
});

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
        "SELECT c.id, c.function, c.args, \
           EXISTS (SELECT 1 FROM jobs AS p WHERE p.part_of = c.id AND p.status IN ({running})), \
           (SELECT p.id FROM jobs AS p WHERE p.part_of = c.id AND p.status = {new} \
            ORDER BY p.part_index LIMIT 1) \
         FROM jobs AS c WHERE c.id IN ({IDS}) AND c.status = {active}",
        new = lit(JobStatus::New),
        active = lit(JobStatus::Active),
    )
});

static PARTS: &str =
    "SELECT id, status, result, failure FROM jobs WHERE part_of = ?1 ORDER BY part_index";

fn id_list(ids: &[JobId]) -> String {
    Value::from(ids.iter().map(|id| hex(id.0)).collect::<Vec<_>>()).to_string()
}

fn status(text: String) -> Result<JobStatus> {
    text.parse().map_err(|e| row::corrupt("jobs", e))
}

fn outcome(result: Option<String>, failure: Option<String>) -> Result<Outcome> {
    Ok(Outcome {
        result: result.map(|r| row::json(TABLE, "result", &r)).transpose()?,
        failure: failure
            .map(|f| row::json::<Failure>(TABLE, "failure", &f))
            .transpose()?,
    })
}

const TABLE: &str = "jobs";

#[async_trait]
impl SettleTx for SqliteTx<'_> {
    async fn resolve_awaits(&mut self, ids: &[JobId], now: Timestamp) -> Result<Vec<JobId>> {
        Ok(finish::cascade(self.0, ids, now)
            .await?
            .into_iter()
            .collect())
    }

    async fn waiting_callbacks(&mut self, ids: &[JobId]) -> Result<Vec<WaitingCallback>> {
        let rows = sqlx::query(&WAITING)
            .bind(id_list(ids))
            .fetch_all(&mut **self.0)
            .await?;
        rows.iter()
            .map(|r| {
                let on: String = r.try_get(1)?;
                Ok(WaitingCallback {
                    id: JobId(r.try_get(0)?),
                    on: on
                        .parse::<CallbackOn>()
                        .map_err(|e| row::corrupt(TABLE, e))?,
                    args: row::json(TABLE, "args", &r.try_get::<String, _>(2)?)?,
                    outcome: outcome(r.try_get(3)?, r.try_get(4)?)?,
                })
            })
            .collect()
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
            .fetch_all(&mut **self.0)
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
            .fetch_all(&mut **self.0)
            .await?;
        Ok(ids.into_iter().map(JobId).collect())
    }

    async fn links(&mut self, ids: &[JobId]) -> Result<Vec<Link>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&LINKS)
            .bind(id_list(ids))
            .fetch_all(&mut **self.0)
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
            .bind(id_list(ids))
            .fetch_all(&mut **self.0)
            .await?;
        Ok(done.into_iter().map(JobId).collect())
    }

    async fn composites(&mut self, ids: &[JobId]) -> Result<Vec<CompositeState>> {
        let rows = sqlx::query(&COMPOSITES)
            .bind(id_list(ids))
            .fetch_all(&mut **self.0)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(CompositeState {
                    id: JobId(r.try_get(0)?),
                    function: r.try_get(1)?,
                    args: row::json(TABLE, "args", &r.try_get::<String, _>(2)?)?,
                    running: r.try_get(3)?,
                    next_new: r.try_get::<Option<Uuid>, _>(4)?.map(JobId),
                })
            })
            .collect()
    }

    async fn parts(&mut self, composite: JobId) -> Result<Vec<Part>> {
        let rows = sqlx::query(PARTS)
            .bind(composite.0)
            .fetch_all(&mut **self.0)
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
        Ok(self.lock(id).await?.map(|(status, _, args)| (status, args)))
    }

    /// SQLite has no row locks: the transaction (`BEGIN IMMEDIATE`)
    /// already holds the database's one write lock.
    async fn lock(&mut self, id: JobId) -> Result<Option<(JobStatus, String, Value)>> {
        let row = sqlx::query("SELECT status, function, args FROM jobs WHERE id = ?1")
            .bind(id.0)
            .fetch_optional(&mut **self.0)
            .await?;
        row.map(|r| {
            Ok((
                status(r.try_get(0)?)?,
                r.try_get(1)?,
                row::json(TABLE, "args", &r.try_get::<String, _>(2)?)?,
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
            .execute(&mut **self.0)
            .await
            .map_err(|e| missing_queue(e, rows))?
            .rows_affected();
        debug_assert_eq!(inserted, rows.len() as u64);
        Ok(())
    }

    async fn set_args(&mut self, id: JobId, args: &Value) -> Result<()> {
        sqlx::query("UPDATE jobs SET args = ?2 WHERE id = ?1")
            .bind(id.0)
            .bind(args.to_string())
            .execute(&mut **self.0)
            .await?;
        Ok(())
    }

    async fn next_part_index(&mut self, composite: JobId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(max(part_index) + 1, 0) FROM jobs WHERE part_of = ?1",
        )
        .bind(composite.0)
        .fetch_one(&mut **self.0)
        .await?)
    }
}

/// One job of [`INSERT`]'s JSON parameter.
fn insert_row(row: &InsertRow<'_>) -> Value {
    let job = &row.linked.job;
    let (callback_of, callback_on, part_of, part_index) = match row.linked.link {
        Some(JobLink::Callback { of, on }) => (Some(hex(of.0)), Some(on.as_str()), None, None),
        Some(JobLink::Part { of, index }) => (None, None, Some(hex(of.0)), Some(index)),
        None => (None, None, None, None),
    };
    json!({
        "id": hex(job.id.0),
        "queue": job.queue,
        "status": row.status.as_str(),
        "module": job.module.as_str(),
        "module_name": job.module_name,
        "function": job.function,
        "args": job.args.to_string(),
        "limits": (!job.limits.is_empty()).then(|| serde_json::to_string(&job.limits).expect("limits serialize")),
        "begin_after": ms(job.begin_after),
        "scheduled": job.scheduled,
        "begin_by_ms": row::begin_by(job.begin_by_ms),
        "parent": job.parent.map(|p| hex(p.0)),
        "created_at": ms(job.created_at),
        "quota_names": row::quota_names(&job.quota_names),
        "failure": row.failure.as_ref().map(super::job::job_failure_text),
        "completed_at": row.completed_at.map(ms),
        "callback_of": callback_of,
        "callback_on": callback_on,
        "part_of": part_of,
        "part_index": part_index,
        "retry": super::job::retry_text(job.retry.as_ref()),
        "token": job.token.map(|t| hex(t.0)),
    })
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

impl SqliteStore {
    pub(super) async fn insert_linked(&self, jobs: &[LinkedJob], now: Timestamp) -> Result<()> {
        let mut tx = self.begin().await?;
        links::insert_linked(&mut SqliteTx(&mut tx), jobs, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn add_callback(&self, params: CallbackAddParams) -> Result<JobId> {
        let mut tx = self.begin().await?;
        let id = links::callback_add(&mut SqliteTx(&mut tx), &params).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn add_part(&self, params: PartAddParams) -> Result<JobId> {
        let mut tx = self.begin().await?;
        let id = links::part_add(&mut SqliteTx(&mut tx), &params).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn start_composite(&self, id: JobId, now: Timestamp) -> Result<JobId> {
        let mut tx = self.begin().await?;
        let postprocess = links::composite_start(&mut SqliteTx(&mut tx), id, now).await?;
        tx.commit().await?;
        Ok(postprocess)
    }

    pub(super) async fn append_args(&self, params: JobAppendArgsParams) -> Result<u32> {
        let mut tx = self.begin().await?;
        let count = links::append_args(&mut SqliteTx(&mut tx), &params).await?;
        tx.commit().await?;
        Ok(count)
    }

    pub(super) async fn links_of(&self, id: JobId) -> Result<JobLinks> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM jobs WHERE id = ?1")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?;
        if exists.is_none() {
            return Err(Error::not_found(format!("job {id}")));
        }
        let callbacks = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS}, callback_on FROM jobs WHERE callback_of = ?1 ORDER BY seq"
        ))
        .bind(id.0)
        .fetch_all(&self.reader)
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
            "SELECT {JOB_COLUMNS} FROM jobs WHERE part_of = ?1 ORDER BY part_index"
        ))
        .bind(id.0)
        .fetch_all(&self.reader)
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
impl LinkStore for SqliteStore {
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
