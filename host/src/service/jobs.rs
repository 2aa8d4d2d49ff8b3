//! Jobs put: a put (on its own, with callbacks, for a schedule's
//! occurrence), the one place a [`JobSpec`] becomes a [`NewJob`], and the
//! put back of a pulled job. Checks of what a put names are in
//! `job_checks.rs`; reads in `job_reads.rs`; annotations in
//! `annotations.rs`.

use serde_json::Value;

use super::callbacks::refuse_host_function;
use super::job_checks::{FUNCTION_NAME_MAX_LEN, check_arguments, check_function, validate_args};
use super::names::{queue_from_alias, validate_free_name};
use super::timing::{JobTiming, check_begin_by};
use super::{Error, Result, Service};
use crate::model::{
    Authority, CallbackSpec, HOST_FUNCTION_PREFIX, Job, JobId, JobSpec, LinkedJob, NewJob,
    ScheduleRun, Scope, check_quota_keys, normalize_quota_names, stored_quota_names,
};
use crate::store::JobPutBackParams;

/// Who puts a job: the authority it is checked against (it needs `put`
/// in the job's queue and a module this authority sees; the job records
/// the token and acts with it), and the running job putting it, if one
/// does.
#[derive(Debug, Clone, PartialEq)]
pub struct Putter {
    /// Whose authority.
    pub authority: Authority,
    /// The job putting it from inside its run.
    pub parent: Option<JobId>,
}

impl Putter {
    /// A put with `authority`, not from a running job.
    pub fn with(authority: Authority) -> Self {
        Putter {
            authority,
            parent: None,
        }
    }

    /// A put with the admin's authority (the CLI on the database, tests).
    pub fn admin() -> Self {
        Putter::with(Authority::Admin)
    }
}

/// Whether a put's `args` are all its function will be called with, so
/// that their count can be checked against the function's declared range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArgsGiven {
    /// A job run with its `args` as given.
    All,
    /// A callback: when it fires, the outcome of the job it waited on is
    /// added to its `args` (`model::links::with_outcome`), so it must take
    /// one more.
    OutcomeAdded,
    /// A composite, its postprocess and parts, a held put: arguments are
    /// added later (the parts' outcomes, `append_args`), as many as a put
    /// cannot know; not checked.
    OutcomesAdded,
}

/// The answer to a put: the job, and whether it is one already there
/// (a unique put whose key a job of the queue held: nothing was inserted
/// and `job` is that job).
#[derive(Debug, Clone, PartialEq)]
pub struct Put {
    /// The job put, or the one holding the put's uniqueness key.
    pub job: Job,
    /// True when nothing was inserted: `job` was already there.
    pub duplicate: bool,
}

impl Service {
    /// Puts a job into a queue and returns it once it is durably stored
    /// (with its callbacks, held, in the same transaction when it has
    /// some). Wakes this process's dispatcher at once. A broadcast
    /// (`spec.broadcast`) is put as one copy per live dispatcher,
    /// gathered by the job returned (`service/broadcast.rs`).
    pub async fn put(&self, spec: JobSpec, by: &Putter) -> Result<Job> {
        Ok(self.put_job(spec, by).await?.job)
    }

    /// [`Service::put`], saying whether the job was already there: a
    /// put carrying `unique` whose key a job of its queue holds inserts
    /// nothing and answers with that job. A unique put takes no
    /// callbacks (they would hang on a job the put may not create).
    pub async fn put_job(&self, mut spec: JobSpec, by: &Putter) -> Result<Put> {
        refuse_host_function(&spec.function)?;
        if spec.broadcast {
            if spec.unique.is_some() {
                // Its copies would share the key in one queue: one would
                // answer for all.
                return Err(Error::Invalid("a broadcast put takes no `unique`".into()));
            }
            return Ok(Put {
                job: self.broadcast_put(spec, by).await?,
                duplicate: false,
            });
        }
        let callbacks = std::mem::take(&mut spec.callbacks);
        if spec.unique.is_some() && !callbacks.is_empty() {
            return Err(Error::Invalid(
                "a unique put takes no `callbacks`: add them to the job it answers with \
                 (POST /v1/jobs/{id}/callbacks)"
                    .into(),
            ));
        }
        let (module, queue) = (spec.module_ref().to_owned(), spec.queue_ref().to_owned());
        let priority = spec.priority;
        let job = self.new_job(spec, by, ArgsGiven::All).await?;
        if callbacks.is_empty() {
            return self.insert(job).await;
        }
        let id = job.id;
        let mut linked = vec![LinkedJob {
            job,
            held: false,
            link: None,
        }];
        let callbacks = callbacks
            .into_iter()
            .map(|c| CallbackSpec {
                on: c.on,
                job: c.job.or_inherit_priority(priority),
            })
            .map(|c| c.or_inherit(&module, &queue))
            .collect();
        self.hold_callbacks(id, callbacks, by, &mut linked).await?;
        self.insert_linked(&linked).await?;
        Ok(Put {
            job: self.job_get(id).await?,
            duplicate: false,
        })
    }

    /// Puts a job for an occurrence of a schedule: [`Service::put`], with
    /// the job linked to the schedule and the occurrence. A job for that
    /// occurrence already put is an [`Error::Conflict`]: no occurrence is
    /// put twice, whatever the number of schedulers.
    pub async fn put_for_schedule(
        &self,
        spec: JobSpec,
        by: &Putter,
        run: ScheduleRun,
    ) -> Result<Job> {
        let mut job = self.new_job(spec, by, ArgsGiven::All).await?;
        job.schedule = Some(run);
        Ok(self.insert(job).await?.job)
    }

    /// Inserts a validated job through the put batcher and wakes this
    /// process's dispatcher (unless the job was a duplicate).
    async fn insert(&self, job: NewJob) -> Result<Put> {
        let id = job.id;
        let put = self
            .inner
            .puts
            .insert(job)
            .await
            .ok_or(Error::ShuttingDown)??;
        let (job, started) = (put.job, put.started);
        let duplicate = job.id != id;
        if !duplicate {
            crate::metrics::job_put(&job.queue);
            // A job its put's commit started needs no claim.
            if !started {
                self.events().work_available();
            }
        }
        Ok(Put { job, duplicate })
    }

    /// Inserts jobs with their links in one transaction (the first is the
    /// one put; the others held) and wakes this process's dispatcher.
    pub(super) async fn insert_linked(&self, linked: &[LinkedJob]) -> Result<()> {
        self.store()
            .job_insert_linked(linked, self.clock().now())
            .await?;
        if let Some(first) = linked.first().filter(|first| !first.held) {
            crate::metrics::job_put(&first.job.queue);
        }
        self.events().work_available();
        Ok(())
    }

    /// Validates a spec and resolves its queue and module.
    pub(super) async fn new_job(
        &self,
        spec: JobSpec,
        by: &Putter,
        given: ArgsGiven,
    ) -> Result<NewJob> {
        let (job, queue) = self.resolve_put(spec, by, given).await?;
        self.check_pending_cap(&queue).await?;
        Ok(job)
    }

    /// The one place a [`JobSpec`] becomes a [`NewJob`]: checks it (scope,
    /// function, arguments, quotas, timing; the module exists, is visible
    /// to the putter and exports the function), without the queue's
    /// pending cap, which a batch checks once for all its jobs of a queue.
    /// Its callbacks are not looked at: see [`Service::put`].
    pub(super) async fn resolve_put(
        &self,
        spec: JobSpec,
        by: &Putter,
        given: ArgsGiven,
    ) -> Result<(NewJob, crate::model::QueueInfo)> {
        let function = spec.function.trim();
        validate_free_name("function name", function, FUNCTION_NAME_MAX_LEN)?;
        let args = validate_args(spec.args)?;
        let queue = queue_from_alias(spec.queue.as_deref().unwrap_or_default()).to_owned();
        if !by.authority.allows(Scope::Put, &queue) {
            return Err(Error::forbidden(Scope::Put, &queue));
        }
        let reference = spec.module.unwrap_or_default();
        if reference.is_empty() {
            return Err(Error::Invalid(
                "`module` is required (a digest or a name)".into(),
            ));
        }
        let quota_names = normalize_quota_names(spec.quota_names).map_err(Error::Invalid)?;
        check_quota_keys(&spec.quota_keys).map_err(Error::Invalid)?;
        let begin_by_ms = spec.begin_by_ms.map(check_begin_by).transpose()?;
        let (queue_info, module) =
            tokio::try_join!(self.lookup_queue(&queue), self.lookup_module(&reference))?;
        if !function.starts_with(HOST_FUNCTION_PREFIX) {
            check_function(&module, &reference, function)?;
            match given {
                ArgsGiven::All => check_arguments(&module, &reference, function, &args)?,
                ArgsGiven::OutcomeAdded => {
                    let fired = crate::model::with_outcome(args.clone(), Value::Null);
                    check_arguments(&module, &reference, function, &fired)?;
                }
                ArgsGiven::OutcomesAdded => {}
            }
        }
        self.check_quota_names(&queue_info.name, &quota_names, &spec.quota_keys)
            .await?;
        let quota_names = stored_quota_names(&quota_names, &spec.quota_keys);
        self.check_module_visible(&by.authority, &module.digest, &reference)
            .await?;
        let now = self.clock().now();
        if spec.unique.is_some() && given != ArgsGiven::All {
            return Err(Error::Invalid(
                "`unique` is for a job put on its own: a callback, a composite or its part \
                 takes none"
                    .into(),
            ));
        }
        let unique = spec
            .unique
            .map(|u| u.resolve(&reference, function, &args, now))
            .transpose()
            .map_err(|e| Error::Invalid(e.0))?;
        let timing = JobTiming::at(spec.begin_after, begin_by_ms, now);
        let module_name = (module.digest.as_str() != reference).then_some(reference);
        let job = NewJob {
            id: JobId::new(),
            queue: queue_info.name.clone(),
            module: module.digest,
            module_name,
            function: function.to_owned(),
            args,
            limits: spec.limits,
            begin_after: timing.begin_after,
            scheduled: timing.scheduled,
            begin_by_ms: timing.begin_by_ms,
            quota_names,
            expired: timing.expired,
            parent: by.parent,
            token: by.authority.token_id(),
            created_at: now,
            schedule: None,
            retry: spec.retry,
            priority: spec.priority,
            unique,
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
        Service::refuse_broadcast_put_back(&current)?;
        let queue = queue
            .map(queue_from_alias)
            .unwrap_or(&current.queue)
            .to_owned();
        self.store().queue_get(&queue).await?;
        self.check_quota_names(&queue, &current.quota_names, &current.quota_keys)
            .await?;
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
}
