//! The `context` imports of a job run by the dispatcher, backed by the
//! service: annotations are committed at once and read fresh; a put goes
//! through the same validation and group commit as any other put. A job
//! acts with the authority of the put that created it (its token, looked
//! up once, when first needed): it puts, reads and annotates only in
//! queues that token may use, and any other job or queue answers "not
//! found", exactly as one that does not exist.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::model::{Authority, CallbackSpec, CompositeKind, Job, JobId, JobSpec, Scope};
use crate::runtime::{JobContext, JobInfo, PutAnswer};
use crate::service::{self, BatchError, CompositeRequest, Putter, Service};

// The runtime caps `put-many` without knowing the service: its cap must
// be the service's batch maximum, or a list the runtime lets through
// would meet the service's refusal (worded for the HTTP API).
const _: () = assert!(crate::runtime::PUT_MANY_MAX == service::PUT_MANY_MAX);

/// Makes the context of each job a dispatcher runs: the one thing the
/// dispatcher needs from the layer above it, handed to it as a part
/// ([`super::DispatchParts::contexts`]).
pub trait JobContexts: Send + Sync + std::fmt::Debug {
    /// The context of `job` (as started: its attempt already counted),
    /// whose run stops when `stop` is cancelled.
    fn context(&self, job: Job, stop: CancellationToken) -> Arc<dyn JobContext>;
}

/// A running job's calls go through the service, as any other caller's.
impl JobContexts for Service {
    fn context(&self, job: Job, stop: CancellationToken) -> Arc<dyn JobContext> {
        Arc::new(DispatchContext::new(self.clone(), job, stop))
    }
}

/// The context of one running job.
#[derive(Debug)]
pub struct DispatchContext {
    service: Service,
    job: Job,
    stop: CancellationToken,
    authority: tokio::sync::OnceCell<Authority>,
}

impl DispatchContext {
    /// The context of `job` (as started: its attempt already counted),
    /// whose run stops when `stop` is cancelled.
    pub fn new(service: Service, job: Job, stop: CancellationToken) -> Self {
        DispatchContext {
            service,
            job,
            stop,
            authority: tokio::sync::OnceCell::new(),
        }
    }

    /// The authority this job acts with: its put's token.
    async fn authority(&self) -> Result<&Authority, String> {
        self.authority
            .get_or_try_init(|| self.service.job_authority(self.job.id))
            .await
            .map_err(|e| e.to_string())
    }

    /// `job` (default: this one) if this job may act on it with `scope`
    /// (its own job always); "not found" otherwise, as for a job that
    /// does not exist.
    async fn reach(&self, job: Option<JobId>, scope: Scope) -> Result<JobId, String> {
        let id = job.unwrap_or(self.job.id);
        if id == self.job.id {
            return Ok(id);
        }
        let authority = self.authority().await?;
        if *authority == Authority::Admin {
            return Ok(id);
        }
        let other = self.service.job_get(id).await.map_err(|e| e.to_string())?;
        if authority.allows(Scope::Read, &other.queue) && authority.allows(scope, &other.queue) {
            Ok(id)
        } else {
            Err(service::Error::not_found(format!("job {id}")).to_string())
        }
    }
}

/// A service error as the guest sees it: a queue its token may not use is
/// one that does not exist.
fn guest_error(error: service::Error) -> String {
    match error {
        service::Error::Forbidden {
            queue: Some(queue), ..
        } if queue.is_empty() => service::Error::not_found("the default queue").to_string(),
        service::Error::Forbidden {
            queue: Some(queue), ..
        } => service::Error::not_found(format!("queue `{queue}`")).to_string(),
        other => other.to_string(),
    }
}

/// A refused batch as the guest sees it: the item's error, naming it.
fn guest_batch_error(error: BatchError) -> String {
    match error.index {
        Some(index) => format!("item {index}: {}", guest_error(error.error)),
        None => guest_error(error.error),
    }
}

#[async_trait]
impl JobContext for DispatchContext {
    fn job_info(&self) -> JobInfo {
        JobInfo {
            id: self.job.id,
            queue: self.job.queue.clone(),
            module: self.job.module.clone(),
            module_name: self.job.module_name.clone(),
            function: self.job.function.clone(),
            args: self.job.args.clone(),
            attempt: self.job.attempts,
            // Read only when the job asks (`annotations`): most jobs never
            // do, and a read per job would cost every job a statement.
            annotations: Vec::new(),
        }
    }

    async fn stop_requested(&self) {
        self.stop.cancelled().await
    }

    async fn annotations(&self) -> Result<Vec<(String, Value)>, String> {
        self.service
            .annotation_list(self.job.id)
            .await
            .map_err(|e| e.to_string())
    }

    async fn set_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
        value: Value,
    ) -> Result<(), String> {
        let job = self.reach(job, Scope::Put).await?;
        self.service
            .annotation_set(job, name, value)
            .await
            .map_err(|e| e.to_string())
    }

    async fn get_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
    ) -> Result<Option<Value>, String> {
        let job = self.reach(job, Scope::Read).await?;
        self.service
            .annotation_get(job, name)
            .await
            .map_err(|e| e.to_string())
    }

    async fn queue_put_cap(&self) -> Option<u64> {
        // A queue gone meanwhile (or a database fault) leaves the
        // server's cap in force: the put itself then answers.
        self.service
            .queue_put_cap(&self.job.queue)
            .await
            .ok()
            .flatten()
    }

    async fn put(&self, spec: JobSpec) -> Result<JobId, String> {
        self.service
            .put(self.inherit(spec), &self.putter().await?)
            .await
            .map(|job| job.id)
            .map_err(guest_error)
    }

    async fn put_many(&self, specs: Vec<JobSpec>) -> Result<Vec<PutAnswer>, String> {
        let specs = specs.into_iter().map(|spec| self.inherit(spec)).collect();
        let puts = self
            .service
            .put_many(specs, &self.putter().await?)
            .await
            .map_err(guest_batch_error)?;
        Ok(puts
            .into_iter()
            .map(|put| PutAnswer {
                id: put.job.id,
                duplicate: put.duplicate,
            })
            .collect())
    }

    async fn add_callback(&self, job: JobId, callback: CallbackSpec) -> Result<JobId, String> {
        let job = self.reach(Some(job), Scope::Put).await?;
        // As over HTTP (`POST /v1/jobs/{id}/callbacks`): a callback that
        // sets no priority takes that of the job it hangs on.
        let priority = self.priority_of(job).await?;
        let callback = CallbackSpec {
            on: callback.on,
            job: self.inherit(callback.job).or_inherit_priority(priority),
        };
        self.service
            .callback_add(job, callback, &self.putter().await?)
            .await
            .map(|job| job.id)
            .map_err(guest_error)
    }

    async fn put_composite(
        &self,
        kind: CompositeKind,
        parts: Vec<JobSpec>,
        postprocess: JobSpec,
    ) -> Result<JobId, String> {
        let postprocess = self.inherit(postprocess);
        let composite = JobSpec {
            function: String::new(),
            args: Value::Null,
            ..postprocess.clone()
        };
        // The composite has its postprocess's priority; its parts take
        // it unless they set their own, as over HTTP (`POST /v1/composites`).
        let priority = composite.priority;
        let request = CompositeRequest {
            kind,
            composite,
            parts: parts
                .into_iter()
                .map(|part| self.inherit(part).or_inherit_priority(priority))
                .collect(),
            postprocess,
        };
        self.service
            .composite_put(request, &self.putter().await?)
            .await
            .map(|job| job.id)
            .map_err(guest_error)
    }

    async fn add_part(&self, composite: JobId, part: JobSpec) -> Result<JobId, String> {
        let composite = self.reach(Some(composite), Scope::Put).await?;
        // As over HTTP (`POST /v1/jobs/{id}/parts`): the part, and its
        // callbacks, take the composite's priority unless they set one.
        let priority = self.priority_of(composite).await?;
        let part = self.inherit(part).or_inherit_priority(priority);
        self.service
            .part_add(composite, part, &self.putter().await?)
            .await
            .map(|job| job.id)
            .map_err(guest_error)
    }

    async fn put_held(&self, spec: JobSpec) -> Result<JobId, String> {
        self.service
            .put_held(self.inherit(spec), &self.putter().await?)
            .await
            .map(|job| job.id)
            .map_err(guest_error)
    }

    async fn append_args(
        &self,
        job: JobId,
        values: Vec<Value>,
        put_when: u32,
    ) -> Result<u32, String> {
        let job = self.reach(Some(job), Scope::Put).await?;
        self.service
            .append_args(job, values, put_when)
            .await
            .map_err(|e| e.to_string())
    }
}

impl DispatchContext {
    /// A guest's spec with this job's module and queue where it names
    /// none (its callbacks' too).
    fn inherit(&self, spec: JobSpec) -> JobSpec {
        spec.or_inherit(self.job.module.as_str(), &self.job.queue)
    }

    /// The priority of `job` now (a job this one may reach), which a
    /// callback or part hung on it takes unless it sets its own.
    async fn priority_of(&self, job: JobId) -> Result<i32, String> {
        self.service
            .job_get(job)
            .await
            .map(|job| job.priority)
            .map_err(guest_error)
    }

    /// This job as the putter of the jobs it puts: with its authority.
    async fn putter(&self) -> Result<Putter, String> {
        Ok(Putter {
            authority: self.authority().await?.clone(),
            parent: Some(self.job.id),
        })
    }
}
