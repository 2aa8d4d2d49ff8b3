//! The parameters and answers of the store's callback and composite
//! operations (`Store::job_insert_linked`, `callback_add`, `part_add`,
//! `composite_start`, `job_links`).

use std::collections::HashSet;

use async_trait::async_trait;
use tracing::instrument;

use super::broadcast::{self, BroadcastPutParams};
use super::settle::{self, InsertRow, SettleTx};
use super::sql::{JOB_COLUMNS, begin_by, corrupt, job_of, jobs_of, ms};
use super::statement::{Arg, SqlBackend, SqlConn, SqlTx};
use super::{Error, LinkStore, Result};
use crate::model::{
    BROADCAST_FUNCTION, CallbackOn, CompositeArgs, CompositeKind, DispatcherId, Failure, Job,
    JobId, JobLink, JobStatus, LinkedJob, NewJob, Timestamp, Transition,
};

/// Adds a callback to a job.
#[derive(Debug, Clone)]
pub struct CallbackAddParams {
    /// The job whose outcome the callback receives.
    pub job: JobId,
    /// The callback, fully resolved (its queue and module exist).
    pub callback: NewJob,
    /// On which outcome it runs.
    pub on: CallbackOn,
    /// Now.
    pub now: Timestamp,
}

/// Adds a part to a composite that has not put its postprocess yet.
#[derive(Debug, Clone)]
pub struct PartAddParams {
    /// The composite.
    pub composite: JobId,
    /// The part, fully resolved.
    pub part: NewJob,
    /// Callbacks of the part (and theirs), linked already: inserted with
    /// it, so none can miss its outcome.
    pub callbacks: Vec<LinkedJob>,
    /// Now.
    pub now: Timestamp,
}

/// Appends arguments to a held job, putting it once it has enough.
#[derive(Debug, Clone)]
pub struct JobAppendArgsParams {
    /// The held job.
    pub id: JobId,
    /// The values to append to its positional arguments.
    pub values: Vec<serde_json::Value>,
    /// Put it in its queue once it has at least this many arguments.
    pub put_when: u32,
    /// Now.
    pub now: Timestamp,
}

/// A job's callbacks and, for a composite, its parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobLinks {
    /// Its callbacks, in the order added, each with its branch.
    pub callbacks: Vec<(CallbackOn, Job)>,
    /// Its parts, in part order (empty unless it is a composite).
    pub parts: Vec<Job>,
}

/// Each operation in one transaction of the backend, written once.
#[async_trait]
impl<B: SqlBackend> LinkStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn job_insert_linked(&self, jobs: &[LinkedJob], now: Timestamp) -> Result<()> {
        let mut tx = self.transaction().await?;
        insert_linked(&mut tx.conn(), jobs, now).await?;
        tx.commit().await
    }

    #[instrument(level = "debug", skip_all)]
    async fn callback_add(&self, params: CallbackAddParams) -> Result<JobId> {
        let mut tx = self.transaction().await?;
        let id = callback_add(&mut tx.conn(), &params).await?;
        tx.commit().await?;
        Ok(id)
    }

    #[instrument(level = "debug", skip_all)]
    async fn part_add(&self, params: PartAddParams) -> Result<JobId> {
        let mut tx = self.transaction().await?;
        let id = part_add(&mut tx.conn(), &params).await?;
        tx.commit().await?;
        Ok(id)
    }

    #[instrument(level = "debug", skip_all)]
    async fn composite_start(&self, id: JobId, now: Timestamp) -> Result<JobId> {
        let mut tx = self.transaction().await?;
        let postprocess = composite_start(&mut tx.conn(), id, now).await?;
        tx.commit().await?;
        Ok(postprocess)
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_links(&self, id: JobId) -> Result<JobLinks> {
        links_of(&mut self.reads(), id).await
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_append_args(&self, params: JobAppendArgsParams) -> Result<u32> {
        let mut tx = self.transaction().await?;
        let count = append_args(&mut tx.conn(), &params).await?;
        tx.commit().await?;
        Ok(count)
    }

    #[instrument(level = "debug", skip_all)]
    async fn job_broadcast(&self, params: BroadcastPutParams) -> Result<Vec<DispatcherId>> {
        let mut tx = self.transaction().await?;
        let dispatchers = broadcast::put(&mut tx.conn(), &params).await?;
        tx.commit().await?;
        Ok(dispatchers)
    }
}

/// The insert of linked jobs (callbacks, parts, held puts: the rows
/// [`insert_row`] writes) into the columns every backend fills, from the
/// backend's `select` of those columns, in this order, out of its batch
/// parameter.
pub(crate) fn insert_linked_sql(select: &str) -> String {
    format!(
        "INSERT INTO jobs (id, queue, status, module, module_name, function, args, limits, \
           begin_after, scheduled, begin_by_ms, parent, created_at, quota_names, failure, \
           completed_at, callback_of, callback_on, part_of, part_index, retry, token, \
           pinned_to, priority) {select}"
    )
}

/// [`Store::job_insert_linked`](super::Store::job_insert_linked), inside
/// the backend's transaction.
pub(crate) async fn insert_linked<T: SettleTx + ?Sized>(
    tx: &mut T,
    jobs: &[LinkedJob],
    now: Timestamp,
) -> Result<()> {
    let with_callbacks: HashSet<JobId> = jobs
        .iter()
        .filter_map(|linked| match linked.link {
            Some(JobLink::Callback { of, .. }) => Some(of),
            _ => None,
        })
        .collect();
    let mut expired = Vec::new();
    let rows: Vec<InsertRow<'_>> = jobs
        .iter()
        .map(|linked| {
            let job = &linked.job;
            if linked.held {
                return InsertRow {
                    linked,
                    status: JobStatus::New,
                    failure: None,
                    completed_at: None,
                };
            }
            if !job.expired {
                return InsertRow {
                    linked,
                    status: Transition::Put.to(),
                    failure: None,
                    completed_at: None,
                };
            }
            expired.push(job.id);
            let transition = if with_callbacks.contains(&job.id) {
                Transition::Expire.with_callbacks()
            } else {
                Transition::Expire
            };
            InsertRow {
                linked,
                status: transition.to(),
                failure: Some(Failure::not_started()),
                completed_at: Some(job.created_at),
            }
        })
        .collect();
    tx.insert(&rows).await?;
    if !expired.is_empty() {
        settle::settle(tx, expired, now).await?;
    }
    Ok(())
}

/// [`Store::callback_add`](super::Store::callback_add), inside the
/// backend's transaction.
pub(crate) async fn callback_add<T: SettleTx + ?Sized>(
    tx: &mut T,
    params: &CallbackAddParams,
) -> Result<JobId> {
    let (status, _, _) = tx
        .lock(params.job)
        .await?
        .ok_or_else(|| Error::not_found(format!("job {}", params.job)))?;
    let linked = LinkedJob {
        job: params.callback.clone(),
        held: true,
        link: Some(JobLink::Callback {
            of: params.job,
            on: params.on,
        }),
    };
    tx.insert(&[InsertRow {
        linked: &linked,
        status: JobStatus::New,
        failure: None,
        completed_at: None,
    }])
    .await?;
    if matches!(status, JobStatus::Callbacks | JobStatus::Completed) {
        settle::settle_late_callback(tx, params.job, params.now).await?;
    }
    Ok(linked.job.id)
}

/// The composite's postprocess, if `function` and `args` are a composite's.
fn postprocess_of(id: JobId, function: &str, args: serde_json::Value) -> Result<JobId> {
    if CompositeKind::of_function(function).is_none() {
        return Err(Error::Conflict(format!(
            "job {id} is not a serial or parallel composite (its function is `{function}`)"
        )));
    }
    let args: CompositeArgs = serde_json::from_value(args).map_err(|e| Error::Corrupt {
        table: "jobs",
        message: format!("composite {id}: {e}"),
    })?;
    Ok(args.postprocess)
}

/// [`Store::part_add`](super::Store::part_add), inside the backend's
/// transaction.
pub(crate) async fn part_add<T: SettleTx + ?Sized>(
    tx: &mut T,
    params: &PartAddParams,
) -> Result<JobId> {
    let id = params.composite;
    let (status, function, args) = tx
        .lock(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("job {id}")))?;
    let postprocess = postprocess_of(id, &function, args)?;
    let postprocess_status = tx.status_and_args(postprocess).await?.map(|(s, _)| s);
    if matches!(status, JobStatus::Callbacks | JobStatus::Completed)
        || postprocess_status != Some(JobStatus::New)
    {
        return Err(Error::Conflict(format!(
            "composite {id} has already put its postprocess job {postprocess} (all its parts \
             are done): a part can only be added before"
        )));
    }
    let index = tx.next_part_index(id).await?;
    let linked = LinkedJob {
        job: params.part.clone(),
        held: true,
        link: Some(JobLink::Part { of: id, index }),
    };
    let rows: Vec<InsertRow<'_>> = std::iter::once(&linked)
        .chain(&params.callbacks)
        .map(|linked| InsertRow {
            linked,
            status: JobStatus::New,
            failure: None,
            completed_at: None,
        })
        .collect();
    tx.insert(&rows).await?;
    if status == JobStatus::Active {
        settle::move_on(tx, &[id], params.now).await?;
    }
    Ok(linked.job.id)
}

/// [`Store::composite_start`](super::Store::composite_start), inside the
/// backend's transaction.
pub(crate) async fn composite_start<T: SettleTx + ?Sized>(
    tx: &mut T,
    id: JobId,
    now: Timestamp,
) -> Result<JobId> {
    let (status, function, args) = tx
        .lock(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("job {id}")))?;
    let postprocess = postprocess_of(id, &function, args)?;
    if status != JobStatus::Active {
        return Err(Error::Conflict(format!(
            "composite {id} is {status}: only a running composite starts its parts"
        )));
    }
    settle::move_on(tx, &[id], now).await?;
    Ok(postprocess)
}

/// [`Store::job_append_args`](super::Store::job_append_args), inside the
/// backend's transaction.
pub(crate) async fn append_args<T: SettleTx + ?Sized>(
    tx: &mut T,
    params: &JobAppendArgsParams,
) -> Result<u32> {
    let id = params.id;
    let (status, function, args) = tx
        .lock(id)
        .await?
        .ok_or_else(|| Error::not_found(format!("job {id}")))?;
    if status != JobStatus::New
        || function == BROADCAST_FUNCTION
        || !tx.links(&[id]).await?.is_empty()
    {
        return Err(Error::Conflict(format!(
            "job {id} is {status}: arguments can only be appended to a held job (put-held) \
             not yet put"
        )));
    }
    let serde_json::Value::Array(mut items) = args else {
        return Err(Error::Conflict(format!(
            "job {id} has named arguments: values can only be appended to positional ones"
        )));
    };
    items.extend(params.values.iter().cloned());
    let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
    let args = serde_json::Value::Array(items);
    if count >= params.put_when {
        tx.fire(&[(id, args)], params.now).await?;
    } else {
        tx.set_args(id, &args).await?;
    }
    Ok(count)
}

/// [`Store::job_links`](super::Store::job_links): a job's callbacks, in
/// the order added, and its parts, in part order.
pub(crate) async fn links_of<C: SqlConn + ?Sized>(conn: &mut C, id: JobId) -> Result<JobLinks> {
    let sql = conn.dialect().render("SELECT 1 FROM jobs WHERE id = ?1");
    if conn
        .fetch_optional("jobs", &sql, &[Arg::Id(id.0)])
        .await?
        .is_none()
    {
        return Err(Error::not_found(format!("job {id}")));
    }
    let callback_on = JOB_COLUMNS.split(',').count();
    let sql = conn.dialect().render(&format!(
        "SELECT {JOB_COLUMNS}, callback_on FROM jobs WHERE callback_of = ?1 ORDER BY seq"
    ));
    let callbacks = conn
        .fetch_all("jobs", &sql, &[Arg::Id(id.0)])
        .await?
        .iter()
        .map(|r| {
            let on = r
                .text(callback_on)?
                .parse::<CallbackOn>()
                .map_err(|e| corrupt("jobs", e))?;
            Ok((on, job_of(r)?.1))
        })
        .collect::<Result<Vec<_>>>()?;
    let sql = conn.dialect().render(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE part_of = ?1 ORDER BY part_index"
    ));
    let parts = conn.fetch_all("jobs", &sql, &[Arg::Id(id.0)]).await?;
    Ok(JobLinks {
        callbacks,
        parts: jobs_of(&parts)?,
    })
}

/// A domain value as a JSON column's text.
fn text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("domain values serialize to JSON")
}

/// One linked job as the backends' insert statements read it: a JSON
/// object, ids as 32 hex digits (SQLite's `unhex()` and PostgreSQL's
/// `uuid` both read them), JSON columns as text.
pub(crate) fn insert_row(row: &InsertRow<'_>) -> serde_json::Value {
    let hex = |id: JobId| id.0.simple().to_string();
    let job = &row.linked.job;
    let (callback_of, callback_on, part_of, part_index) = match row.linked.link {
        Some(JobLink::Callback { of, on }) => (Some(hex(of)), Some(on.as_str()), None, None),
        Some(JobLink::Part { of, index } | JobLink::Copy { of, index, .. }) => {
            (None, None, Some(hex(of)), Some(index))
        }
        None => (None, None, None, None),
    };
    let pinned_to = match row.linked.link {
        Some(JobLink::Copy { dispatcher, .. }) => Some(dispatcher.0.simple().to_string()),
        _ => None,
    };
    serde_json::json!({
        "id": hex(job.id),
        "queue": job.queue,
        "status": row.status.as_str(),
        "module": job.module.as_str(),
        "module_name": job.module_name,
        "function": job.function,
        "args": job.args.to_string(),
        "limits": (!job.limits.is_empty()).then(|| text(&job.limits)),
        "begin_after": ms(job.begin_after),
        "scheduled": job.scheduled,
        "begin_by_ms": begin_by(job.begin_by_ms),
        "parent": job.parent.map(hex),
        "created_at": ms(job.created_at),
        "quota_names": (!job.quota_names.is_empty()).then(|| text(&job.quota_names)),
        "failure": row.failure.as_ref().map(text),
        "completed_at": row.completed_at.map(ms),
        "callback_of": callback_of,
        "callback_on": callback_on,
        "part_of": part_of,
        "part_index": part_index,
        "retry": job.retry.as_ref().map(text),
        "token": job.token.map(|t| t.0.simple().to_string()),
        "pinned_to": pinned_to,
        "priority": job.priority,
    })
}
