//! Jobs: put, put back, show, list, wait for completion, annotations.

use std::time::Duration;

use serde_json::Value;

use super::callbacks::refuse_host_function;
use super::names::{queue_from_alias, validate_annotation_name, validate_free_name};
use super::queues::LIST_LIMIT_MAX;
use super::timing::{JobTiming, check_begin_by};
use super::{Error, Result, Service};
use crate::model::{
    Authority, CallbackSpec, HOST_FUNCTION_PREFIX, Job, JobId, JobSpec, JobStatus, LinkedJob,
    ModuleInfo, NewJob, ScheduleRun, Scope, check_quota_keys, normalize_quota_names,
    stored_quota_names,
};
use crate::store::{AnnotationSetParams, JobListParams, JobPutBackParams};

/// The longest job function name.
pub const FUNCTION_NAME_MAX_LEN: usize = 256;
/// The largest arguments document, in bytes of JSON.
pub const ARGS_MAX_BYTES: usize = 1 << 20;
/// The largest annotation value, in bytes of JSON.
pub const ANNOTATION_VALUE_MAX_BYTES: usize = 64 << 10;

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

/// Refuses a function `module` (put as `reference`) does not declare, when
/// it declares its functions (a component without the `wasync-functions`
/// section declares none, and its puts are not checked). Reads only the
/// module's record, which the service's lookups keep: a put compiles
/// nothing.
pub(super) fn check_function(module: &ModuleInfo, reference: &str, function: &str) -> Result<()> {
    let functions: Vec<&str> = module.functions().collect();
    if functions.is_empty() || functions.contains(&function) {
        return Ok(());
    }
    Err(Error::UnknownFunction {
        module: reference.to_owned(),
        function: function.to_owned(),
        functions: functions.into_iter().map(str::to_owned).collect(),
    })
}

/// Refuses positional `args` (a JSON array) whose length is outside what
/// `function` of `module` takes, when the module declares it (the
/// `wasync-signatures` section). The rule is the guest SDK's at run time:
/// no more than its parameters, none of its required ones left out.
/// Named arguments (an object) are not checked here.
pub(super) fn check_arguments(
    module: &ModuleInfo,
    reference: &str,
    function: &str,
    args: &Value,
) -> Result<()> {
    let (Value::Array(list), Some(arity)) = (args, module.arity(function)) else {
        return Ok(());
    };
    if arity.accepts(list.len()) {
        return Ok(());
    }
    Err(Error::BadArguments {
        module: reference.to_owned(),
        function: function.to_owned(),
        arity,
        given: list.len(),
    })
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
        let job = self
            .inner
            .puts
            .insert(job)
            .await
            .ok_or(Error::ShuttingDown)??;
        let duplicate = job.id != id;
        if !duplicate {
            crate::metrics::job_put(&job.queue);
            self.events().work_available();
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

    /// Checks a job definition kept to be put later (a named job, a
    /// schedule's job) as a put would, without putting it: its module
    /// exists and exports its function, its queue exists; its function,
    /// arguments and `begin_by` are well formed. Returns it normalised
    /// (queue and module named, arguments an array or an object). Options
    /// such a definition does not keep (any not in `keeps`) are refused,
    /// naming them: none is dropped silently. Its `quota_keys` follow a
    /// put's rules: each a partitioned quota of its queue (422
    /// `quota_mismatch` for a plain one, 400 for an unknown one).
    pub(super) async fn check_definition(
        &self,
        what: &str,
        keeps: &[&str],
        spec: JobSpec,
    ) -> Result<JobSpec> {
        if let Some(field) = spec.options_set().into_iter().find(|f| !keeps.contains(f)) {
            return Err(Error::Invalid(format!("{what} takes no `{field}`")));
        }
        let function = spec.function.trim().to_owned();
        validate_free_name("function name", &function, FUNCTION_NAME_MAX_LEN)?;
        refuse_host_function(&function)?;
        let reference = spec.module.unwrap_or_default();
        if reference.is_empty() {
            return Err(Error::Invalid(
                "`module` is required (a digest or a name)".into(),
            ));
        }
        let queue = queue_from_alias(spec.queue.as_deref().unwrap_or_default()).to_owned();
        self.store().queue_get(&queue).await?;
        check_quota_keys(&spec.quota_keys).map_err(Error::Invalid)?;
        self.check_quota_names(&queue, &[], &spec.quota_keys)
            .await?;
        let module = self.store().module_get(&reference).await?;
        check_function(&module, &reference, &function)?;
        let args = validate_args(spec.args)?;
        check_arguments(&module, &reference, &function, &args)?;
        Ok(JobSpec {
            module: Some(reference),
            function,
            args,
            queue: Some(queue),
            begin_by_ms: spec.begin_by_ms.map(check_begin_by).transpose()?,
            ..spec
        })
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
    use serde_json::json;

    #[test]
    fn only_a_module_that_declares_its_functions_has_them_checked() {
        let module = |exports: &[&str]| ModuleInfo {
            digest: crate::model::ModuleDigest::of(b"m"),
            name: None,
            size: 1,
            exports: exports.iter().map(|e| (*e).to_owned()).collect(),
            created_at: crate::model::Timestamp::UNIX_EPOCH,
        };
        let undeclared = module(&["run: func(function: string, args: string)"]);
        assert!(check_function(&undeclared, "m", "anything").is_ok());
        let declared = module(&["run: func()", "function add", "function echo"]);
        assert!(check_function(&declared, "m", "add").is_ok());
        let error = check_function(&declared, "m", "ad").unwrap_err();
        assert_eq!(
            error.to_string(),
            "module `m` has no job function `ad`; its functions: add, echo"
        );
    }

    #[test]
    fn positional_arguments_are_checked_against_the_declared_arity() {
        let module = |exports: &[&str]| ModuleInfo {
            digest: crate::model::ModuleDigest::of(b"m"),
            name: None,
            size: 1,
            exports: exports.iter().map(|e| (*e).to_owned()).collect(),
            created_at: crate::model::Timestamp::UNIX_EPOCH,
        };
        let undeclared = module(&["function add"]);
        assert!(check_arguments(&undeclared, "m", "add", &json!([1, 2, 3])).is_ok());
        let declared = module(&[
            "function add",
            "arguments add: 2",
            "arguments echo: 1",
            "arguments increase: 1 to 3",
        ]);
        for (function, args) in [
            ("add", json!([1, 2])),
            ("increase", json!([1])),
            ("increase", json!([1, null, "x"])),
            // Named arguments are the guest's to bind.
            ("add", json!({"a": 1})),
        ] {
            assert!(
                check_arguments(&declared, "m", function, &args).is_ok(),
                "{function} {args}"
            );
        }
        for (function, args, message) in [
            (
                "add",
                json!([1, 2, 3]),
                "job function `add` of module `m` takes 2 positional arguments; 3 were given",
            ),
            (
                "echo",
                json!([]),
                "job function `echo` of module `m` takes 1 positional argument; 0 were given",
            ),
            (
                "increase",
                json!([1, 2, 3, 4]),
                "job function `increase` of module `m` takes 1 to 3 positional arguments; 4 were given",
            ),
            (
                "add",
                json!([1]),
                "job function `add` of module `m` takes 2 positional arguments; 1 was given",
            ),
        ] {
            let error = check_arguments(&declared, "m", function, &args).unwrap_err();
            assert_eq!(error.to_string(), message);
        }
    }

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
