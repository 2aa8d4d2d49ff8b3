//! Named jobs: a name registered for a module's function, with a default
//! queue and arguments and the policy its jobs carry (retry, limits,
//! priority, uniqueness, keys in partitioned quotas), and puts by that
//! name.

use super::names::{NAME_MAX_LEN, validate_free_name};
use super::{Put, Putter, Result, Service};
use crate::model::{JobName, JobSpec};

/// The options a named job keeps: the policy of every job put by it.
const NAMED_JOB_KEEPS: &[&str] = &["retry", "limits", "priority", "unique", "quota_keys"];

impl Service {
    /// Registers (or replaces) a named job: `job`'s module (it must exist
    /// and export the function), function, queue (it must exist; `None`:
    /// the default queue), default arguments, and the policy every job
    /// put by the name carries: retry policy, limits, priority,
    /// uniqueness and keys in partitioned quotas (checked now, as a put
    /// checks them: a bad one is refused here, not at each put). It keeps no other option (one given is refused).
    pub async fn job_name_set(&self, name: String, job: JobSpec) -> Result<JobName> {
        validate_free_name("job name", &name, NAME_MAX_LEN)?;
        let job = self
            .check_definition("a named job", NAMED_JOB_KEEPS, job)
            .await?;
        if let Some(unique) = &job.unique {
            unique
                .resolve(
                    job.module_ref(),
                    &job.function,
                    &job.args,
                    self.clock().now(),
                )
                .map_err(|e| super::Error::Invalid(e.0))?;
        }
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

    /// Puts the named job's module and function with `spec`'s options,
    /// each the named job's where the put gives none: arguments (`null`),
    /// queue, retry policy, limits (none requested), priority (unless
    /// `priority_given`), uniqueness and keys in partitioned quotas (none
    /// given). The rest as given.
    pub async fn put_by_name(
        &self,
        name: &str,
        spec: JobSpec,
        priority_given: bool,
        by: &Putter,
    ) -> Result<Put> {
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
            retry: spec.retry.or(named.retry),
            limits: if spec.limits.is_empty() {
                named.limits
            } else {
                spec.limits
            },
            priority: if priority_given {
                spec.priority
            } else {
                named.priority
            },
            unique: spec.unique.or(named.unique),
            quota_keys: if spec.quota_keys.is_empty() {
                named.quota_keys
            } else {
                spec.quota_keys
            },
            ..spec
        };
        self.put_job(spec, by).await
    }
}
