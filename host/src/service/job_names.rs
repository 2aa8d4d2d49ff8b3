//! Named jobs: a name registered for a module's function, with a default
//! queue and arguments, and puts by that name.

use super::names::{NAME_MAX_LEN, validate_free_name};
use super::{Putter, Result, Service};
use crate::model::{Job, JobName, JobSpec};

impl Service {
    /// Registers (or replaces) a named job: `job`'s module (it must exist
    /// and export the function), function, queue (it must exist; `None`:
    /// the default queue) and default arguments. It keeps no other option
    /// (one given is refused).
    pub async fn job_name_set(&self, name: String, job: JobSpec) -> Result<JobName> {
        validate_free_name("job name", &name, NAME_MAX_LEN)?;
        let job = self.check_definition("a named job", &[], job).await?;
        let now = self.clock().now();
        Ok(self
            .store()
            .job_name_set(&JobName {
                name,
                job,
                created_at: now,
                updated_at: now,
            })
            .await?)
    }

    /// A named job.
    pub async fn job_name_get(&self, name: &str) -> Result<JobName> {
        Ok(self.store().job_name_get(name).await?)
    }

    /// Every named job.
    pub async fn job_name_list(&self) -> Result<Vec<JobName>> {
        Ok(self.store().job_name_list().await?)
    }

    /// Forgets a named job.
    pub async fn job_name_delete(&self, name: &str) -> Result<()> {
        Ok(self.store().job_name_delete(name).await?)
    }

    /// Puts the named job's module and function with `spec`'s options:
    /// its arguments (`null`: the named job's), its queue (`None`: the
    /// named job's) and the rest as given.
    pub async fn put_by_name(&self, name: &str, spec: JobSpec, by: &Putter) -> Result<Job> {
        let named = self.store().job_name_get(name).await?.job;
        let spec = JobSpec {
            module: named.module,
            function: named.function,
            args: if spec.args.is_null() {
                named.args
            } else {
                spec.args
            },
            queue: spec.queue.or(named.queue),
            ..spec
        };
        self.put(spec, by).await
    }
}
