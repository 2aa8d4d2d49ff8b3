//! A job context for the benches that run guests straight in the sandbox.

use std::sync::Arc;

use serde_json::Value;
use wasync::model::{JobId, JobSpec, ModuleDigest};
use wasync::runtime::{JobContext, JobInfo};

/// A context for jobs that never call it (hello, hash, the polyglot
/// hellos): each call fails.
pub struct Quiet(pub JobInfo);

#[async_trait::async_trait]
impl JobContext for Quiet {
    fn job_info(&self) -> JobInfo {
        self.0.clone()
    }
    async fn set_annotation(&self, _: Option<JobId>, _: &str, _: Value) -> Result<(), String> {
        Err("not in a benchmark".into())
    }
    async fn get_annotation(&self, _: Option<JobId>, _: &str) -> Result<Option<Value>, String> {
        Err("not in a benchmark".into())
    }
    async fn put(&self, _: JobSpec) -> Result<JobId, String> {
        Err("not in a benchmark".into())
    }
}

/// A quiet context for a first attempt of `function(args)` of `module`.
pub fn context(module: &ModuleDigest, function: &str, args: Value) -> Arc<dyn JobContext> {
    Arc::new(Quiet(JobInfo {
        id: JobId::new(),
        queue: String::new(),
        module: module.clone(),
        module_name: None,
        function: function.into(),
        args,
        attempt: 1,
        annotations: Vec::new(),
    }))
}
