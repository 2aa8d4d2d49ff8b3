//! Named jobs: a name registered for a module's function, with a default
//! queue and arguments, and puts by that name.

use serde_json::Value;

use super::jobs::{PutRequest, validate_args};
use super::names::{NAME_MAX_LEN, queue_from_alias, validate_free_name};
use super::{Error, Result, Service};
use crate::model::{Job, JobName};

/// A request to register a named job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobNameRequest {
    /// The name.
    pub name: String,
    /// The module, by name or digest (it must exist now).
    pub module: String,
    /// The function.
    pub function: String,
    /// Its default queue (`None`, `""` or `default`: the default queue).
    pub queue: Option<String>,
    /// Default arguments (`null`: none).
    pub args: Value,
}

impl Service {
    /// Registers (or replaces) a named job. Its module must exist and its
    /// queue too.
    pub async fn job_name_set(&self, request: JobNameRequest) -> Result<JobName> {
        validate_free_name("job name", &request.name, NAME_MAX_LEN)?;
        let function = request.function.trim().to_owned();
        validate_free_name(
            "function name",
            &function,
            super::jobs::FUNCTION_NAME_MAX_LEN,
        )?;
        if request.module.is_empty() {
            return Err(Error::Invalid(
                "`module` is required (a digest or a name)".into(),
            ));
        }
        let queue = queue_from_alias(request.queue.as_deref().unwrap_or("")).to_owned();
        let args = validate_args(request.args)?;
        self.store().module_get(&request.module).await?;
        self.store().queue_get(&queue).await?;
        let now = self.clock().now();
        Ok(self
            .store()
            .job_name_set(&JobName {
                name: request.name,
                module: request.module,
                function,
                queue,
                args,
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

    /// Puts the named job's function
    /// with `args` (`null`: its default arguments), into `queue` or its
    /// default queue. `request` carries the other put options; its
    /// module, function, args and queue are filled in here.
    pub async fn put_by_name(
        &self,
        name: &str,
        args: Value,
        queue: Option<String>,
        mut request: PutRequest,
    ) -> Result<Job> {
        let named = self.store().job_name_get(name).await?;
        request.module = named.module;
        request.function = named.function;
        request.args = if args.is_null() { named.args } else { args };
        request.queue = queue.unwrap_or(named.queue);
        self.put(request).await
    }
}
