//! Jobs: put, put back, show, list, wait for completion, annotations.

use std::time::Duration;

use serde_json::Value;

use super::names::{queue_from_alias, validate_annotation_name, validate_free_name};
use super::queues::LIST_LIMIT_MAX;
use super::timing::{JobTiming, check_begin_by};
use super::{Error, Result, Service};
use crate::model::{
    Authority, Job, JobId, JobLimits, JobStatus, NewJob, RetryPolicy, ScheduleRun, Scope,
    Timestamp, normalize_quota_names,
};
use crate::store::{AnnotationSetParams, JobListParams, JobPutBackParams};

/// The longest job function name.
pub const FUNCTION_NAME_MAX_LEN: usize = 256;
/// The largest arguments document, in bytes of JSON.
pub const ARGS_MAX_BYTES: usize = 1 << 20;
/// The largest annotation value, in bytes of JSON.
pub const ANNOTATION_VALUE_MAX_BYTES: usize = 64 << 10;

/// A request to put a job, from any caller (HTTP, CLI, a running job).
#[derive(Debug, Clone, PartialEq)]
pub struct PutRequest {
    /// The queue (`""` or `default`: the default queue).
    pub queue: String,
    /// The module, by digest (`sha256:...`) or by name.
    pub module: String,
    /// The job function.
    pub function: String,
    /// A JSON array (positional) or object (named); `null` means none.
    pub args: Value,
    /// Do not start before this time. `None` or a time already past: as
    /// soon as possible, at the end of the queue.
    pub begin_after: Option<Timestamp>,
    /// Fail with `timeout` if not started this many ms after `begin_after`.
    pub begin_by_ms: Option<u64>,
    /// Resource requests.
    pub limits: JobLimits,
    /// Quotas of the queue the job counts against. Each must exist in
    /// the queue ([`Error::Invalid`] naming the first that does not).
    pub quota_names: Vec<String>,
    /// The job putting this one, when a job puts it.
    pub parent: Option<JobId>,
    /// Its retry policy; `None`: its queue's default.
    pub retry: Option<RetryPolicy>,
    /// Its priority: among due jobs of its queue, higher runs first.
    pub priority: i32,
    /// Who puts it: it needs `put` in its queue and a module this
    /// authority sees; the job records the token and acts with it.
    pub authority: Authority,
}

impl PutRequest {
    /// A request for `module`'s `function` with `args`, in the default
    /// queue, as soon as possible.
    pub fn new(module: impl Into<String>, function: impl Into<String>, args: Value) -> Self {
        PutRequest {
            queue: String::new(),
            module: module.into(),
            function: function.into(),
            args,
            begin_after: None,
            begin_by_ms: None,
            limits: JobLimits::default(),
            quota_names: Vec::new(),
            parent: None,
            retry: None,
            priority: 0,
            authority: Authority::Admin,
        }
    }
}

/// One page of a job listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobPage {
    /// The jobs, oldest first.
    pub jobs: Vec<Job>,
    /// The cursor for the next page, if there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<JobId>,
}

/// Checks a job's arguments: an array or an object (`null`: none), at most
/// [`ARGS_MAX_BYTES`] of JSON.
pub(super) fn validate_args(args: Value) -> Result<Value> {
    let args = match args {
        Value::Null => Value::Array(Vec::new()),
        args @ (Value::Array(_) | Value::Object(_)) => args,
        other => {
            return Err(Error::Invalid(format!(
                "`args` must be a JSON array (positional) or object (named arguments), not {}",
                json_type(&other)
            )));
        }
    };
    let size = serde_json::to_vec(&args)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > ARGS_MAX_BYTES {
        return Err(Error::Invalid(format!(
            "`args` is {size} bytes of JSON; the limit is {ARGS_MAX_BYTES}"
        )));
    }
    Ok(args)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Service {
    /// Puts a job into a queue and returns it once it is durably stored.
    /// Wakes this process's dispatcher at once.
    pub async fn put(&self, request: PutRequest) -> Result<Job> {
        super::callbacks::refuse_host_function(&request.function)?;
        let job = self.new_job(request).await?;
        self.insert(job).await
    }

    /// Puts a job for an occurrence of a schedule: [`Service::put`], with
    /// the job linked to the schedule and the occurrence. A job for that
    /// occurrence already put is an [`Error::Conflict`]: no occurrence is
    /// put twice, whatever the number of schedulers.
    pub async fn put_for_schedule(&self, request: PutRequest, run: ScheduleRun) -> Result<Job> {
        let mut job = self.new_job(request).await?;
        job.schedule = Some(run);
        self.insert(job).await
    }

    /// Inserts a validated job through the put batcher and wakes this
    /// process's dispatcher.
    async fn insert(&self, job: NewJob) -> Result<Job> {
        let job = self
            .inner
            .puts
            .insert(job)
            .await
            .ok_or(Error::ShuttingDown)??;
        crate::metrics::job_put(&job.queue);
        self.events().work_available();
        Ok(job)
    }

    /// Validates a put request and resolves its queue and module.
    pub(super) async fn new_job(&self, request: PutRequest) -> Result<NewJob> {
        let (job, queue) = self.resolve_put(request).await?;
        self.check_pending_cap(&queue).await?;
        Ok(job)
    }

    /// [`Service::new_job`] but for the queue's pending cap, which a batch
    /// checks once for all its jobs of a queue: the job and its queue.
    pub(super) async fn resolve_put(
        &self,
        request: PutRequest,
    ) -> Result<(NewJob, crate::model::QueueInfo)> {
        let function = request.function.trim();
        validate_free_name("function name", function, FUNCTION_NAME_MAX_LEN)?;
        let args = validate_args(request.args)?;
        let queue = queue_from_alias(&request.queue).to_owned();
        if !request.authority.allows(Scope::Put, &queue) {
            return Err(Error::forbidden(Scope::Put, &queue));
        }
        if request.module.is_empty() {
            return Err(Error::Invalid(
                "`module` is required (a digest or a name)".into(),
            ));
        }
        let quota_names = normalize_quota_names(request.quota_names).map_err(Error::Invalid)?;
        let begin_by_ms = request.begin_by_ms.map(check_begin_by).transpose()?;
        let (queue_info, module) = tokio::try_join!(
            self.lookup_queue(&queue),
            self.lookup_module(&request.module)
        )?;
        self.check_quota_names(&queue_info.name, &quota_names)
            .await?;
        self.check_module_visible(&request.authority, &module.digest, &request.module)
            .await?;
        let now = self.clock().now();
        let timing = JobTiming::at(request.begin_after, begin_by_ms, now);
        let module_name = (module.digest.as_str() != request.module).then_some(request.module);
        let job = NewJob {
            id: JobId::new(),
            queue: queue_info.name.clone(),
            module: module.digest,
            module_name,
            function: function.to_owned(),
            args,
            limits: request.limits,
            begin_after: timing.begin_after,
            scheduled: timing.scheduled,
            begin_by_ms: timing.begin_by_ms,
            quota_names,
            expired: timing.expired,
            parent: request.parent,
            token: request.authority.token_id(),
            created_at: now,
            schedule: None,
            retry: request.retry,
            priority: request.priority,
        };
        Ok((job, queue_info))
    }

    pub(super) async fn lookup_queue(&self, name: &str) -> Result<crate::model::QueueInfo> {
        if let Some(queue) = self.inner.lookups.queue(name) {
            return Ok(queue);
        }
        let queue = self.store().queue_get(name).await?;
        self.inner.lookups.remember_queue(&queue);
        Ok(queue)
    }

    async fn lookup_module(&self, reference: &str) -> Result<crate::model::ModuleInfo> {
        if let Some(module) = self.inner.lookups.module(reference) {
            return Ok(module);
        }
        let module = self.store().module_get(reference).await?;
        self.inner.lookups.remember_module(reference, &module);
        Ok(module)
    }

    /// Puts a pulled or removed job (status `new`) back, at the end of a
    /// queue (its own queue by default).
    pub async fn put_back(&self, job: JobId, queue: Option<&str>) -> Result<Job> {
        let current = self.store().job_get(job).await?;
        let queue = queue
            .map(queue_from_alias)
            .unwrap_or(&current.queue)
            .to_owned();
        self.store().queue_get(&queue).await?;
        self.check_quota_names(&queue, &current.quota_names).await?;
        let job = self
            .store()
            .job_put_back(JobPutBackParams {
                id: job,
                queue,
                now: self.clock().now(),
            })
            .await?;
        self.events().work_available();
        Ok(job)
    }

    /// A job.
    pub async fn job_get(&self, id: JobId) -> Result<Job> {
        Ok(self.store().job_get(id).await?)
    }

    /// Jobs, oldest first, filtered by queue and statuses, a page at a time.
    pub async fn job_list(
        &self,
        queue: Option<&str>,
        statuses: Vec<JobStatus>,
        after: Option<JobId>,
        limit: u32,
    ) -> Result<JobPage> {
        let limit = limit.clamp(1, LIST_LIMIT_MAX);
        let jobs = self
            .store()
            .job_list(JobListParams {
                queue: queue.map(|q| queue_from_alias(q).to_owned()),
                statuses,
                after,
                limit,
            })
            .await?;
        let next = (jobs.len() == limit as usize)
            .then(|| jobs.last().map(|j| j.id))
            .flatten();
        Ok(JobPage { jobs, next })
    }

    /// Waits up to `timeout` for a job to complete and returns it as it is
    /// then (completed, or still on its way).
    pub async fn job_wait(&self, id: JobId, timeout: Duration) -> Result<Job> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let completed = self.events().on_completion(id);
            let job = self.store().job_get(id).await?;
            let now = tokio::time::Instant::now();
            if job.status.is_terminal() || now >= deadline {
                return Ok(job);
            }
            let pause = (deadline - now).min(self.inner.config.wait_poll);
            let _ = tokio::time::timeout(pause, completed).await;
        }
    }

    /// All annotations of a job, by name.
    pub async fn annotation_list(&self, job: JobId) -> Result<Vec<(String, Value)>> {
        Ok(self.store().annotation_list(job).await?)
    }

    /// One annotation of a job; `None` if it has none by that name.
    pub async fn annotation_get(&self, job: JobId, name: &str) -> Result<Option<Value>> {
        Ok(self.store().annotation_get(job, name).await?)
    }

    /// Sets an annotation of a job, committed at once, visible to every
    /// reader and to the job itself while it runs.
    pub async fn annotation_set(&self, job: JobId, name: &str, value: Value) -> Result<()> {
        validate_annotation_name(name)?;
        let size = serde_json::to_vec(&value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > ANNOTATION_VALUE_MAX_BYTES {
            return Err(Error::Invalid(format!(
                "annotation value is {size} bytes of JSON; the limit is {ANNOTATION_VALUE_MAX_BYTES}"
            )));
        }
        Ok(self
            .store()
            .annotation_set(AnnotationSetParams {
                job,
                name: name.to_owned(),
                value,
                now: self.clock().now(),
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_must_be_an_array_or_an_object() {
        assert_eq!(validate_args(Value::Null).unwrap(), serde_json::json!([]));
        assert!(validate_args(serde_json::json!([1])).is_ok());
        assert!(validate_args(serde_json::json!({"a": 1})).is_ok());
        let error = validate_args(serde_json::json!("x"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a string"), "{error}");
    }
}
