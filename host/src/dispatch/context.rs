//! The `context` imports of a job run by the dispatcher, backed by the
//! service: annotations are committed at once and read fresh; a put goes
//! through the same validation and group commit as any other put.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::model::{CallbackOn, CompositeKind, Job, JobId};
use crate::runtime::{JobContext, JobInfo, PutRequest as GuestPutRequest};
use crate::service::{CallbackRequest, CompositeRequest, PutRequest, Service};

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
}

impl DispatchContext {
    /// The context of `job` (as started: its attempt already counted),
    /// whose run stops when `stop` is cancelled.
    pub fn new(service: Service, job: Job, stop: CancellationToken) -> Self {
        DispatchContext { service, job, stop }
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
        self.service
            .annotation_set(job.unwrap_or(self.job.id), name, value)
            .await
            .map_err(|e| e.to_string())
    }

    async fn get_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
    ) -> Result<Option<Value>, String> {
        self.service
            .annotation_get(job.unwrap_or(self.job.id), name)
            .await
            .map_err(|e| e.to_string())
    }

    async fn put(&self, request: GuestPutRequest) -> Result<JobId, String> {
        self.service
            .put(self.request(request))
            .await
            .map(|job| job.id)
            .map_err(|e| e.to_string())
    }

    async fn add_callback(
        &self,
        job: JobId,
        on: CallbackOn,
        request: GuestPutRequest,
    ) -> Result<JobId, String> {
        let callback = CallbackRequest {
            on,
            request: self.request(request),
            callbacks: Vec::new(),
        };
        self.service
            .callback_add(job, callback)
            .await
            .map(|job| job.id)
            .map_err(|e| e.to_string())
    }

    async fn put_composite(
        &self,
        kind: CompositeKind,
        parts: Vec<GuestPutRequest>,
        postprocess: GuestPutRequest,
    ) -> Result<JobId, String> {
        let postprocess = self.request(postprocess);
        let composite = PutRequest {
            function: String::new(),
            args: Value::Null,
            ..postprocess.clone()
        };
        let request = CompositeRequest {
            kind,
            composite,
            parts: parts.into_iter().map(|p| self.request(p)).collect(),
            postprocess,
            callbacks: Vec::new(),
        };
        self.service
            .composite_put(request)
            .await
            .map(|job| job.id)
            .map_err(|e| e.to_string())
    }

    async fn add_part(
        &self,
        composite: JobId,
        part: GuestPutRequest,
        callbacks: Vec<(CallbackOn, GuestPutRequest)>,
    ) -> Result<JobId, String> {
        let callbacks = callbacks
            .into_iter()
            .map(|(on, request)| CallbackRequest {
                on,
                request: self.request(request),
                callbacks: Vec::new(),
            })
            .collect();
        self.service
            .part_add(composite, self.request(part), callbacks)
            .await
            .map(|job| job.id)
            .map_err(|e| e.to_string())
    }

    async fn put_held(&self, request: GuestPutRequest) -> Result<JobId, String> {
        self.service
            .put_held(self.request(request))
            .await
            .map(|job| job.id)
            .map_err(|e| e.to_string())
    }

    async fn append_args(
        &self,
        job: JobId,
        values: Vec<Value>,
        put_when: u32,
    ) -> Result<u32, String> {
        self.service
            .append_args(job, values, put_when)
            .await
            .map_err(|e| e.to_string())
    }
}

impl DispatchContext {
    /// A guest's request as the service takes it: by default in this
    /// job's module and queue, put by this job.
    fn request(&self, request: GuestPutRequest) -> PutRequest {
        PutRequest {
            queue: request.queue.unwrap_or_else(|| self.job.queue.clone()),
            module: request
                .module
                .unwrap_or_else(|| self.job.module.to_string()),
            function: request.function,
            args: request.args,
            begin_after: request.begin_after,
            begin_by_ms: request.begin_by_ms,
            limits: Default::default(),
            quota_names: request.quota_names,
            parent: Some(self.job.id),
            retry: request.retry,
        }
    }
}
