//! The `context` imports of a job run by the dispatcher, backed by the
//! service: annotations are committed at once and read fresh; a put goes
//! through the same validation and group commit as any other put.

use async_trait::async_trait;
use serde_json::Value;

use crate::model::{Job, JobId};
use crate::runtime::{JobContext, JobInfo, PutRequest as GuestPutRequest};
use crate::service::{PutRequest, Service};

/// The context of one running job.
#[derive(Debug)]
pub struct DispatchContext {
    service: Service,
    job: Job,
}

impl DispatchContext {
    /// The context of `job` (as started: its attempt already counted).
    pub fn new(service: Service, job: Job) -> Self {
        DispatchContext { service, job }
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
        let put = PutRequest {
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
        };
        self.service
            .put(put)
            .await
            .map(|job| job.id)
            .map_err(|e| e.to_string())
    }
}
