//! The `wasync:job/context` host imports: what a running job may do outside
//! its sandbox.
//!
//! The runtime knows nothing of the database. A job reaches the outside
//! world only through [`JobContext`], which the dispatcher implements
//! against the queue and `wasync run` implements in memory. This module
//! turns the WIT calls into calls of that trait, validating what the guest
//! sends at the boundary:
//!
//! - annotation names are at most [`ANNOTATION_NAME_MAX`] bytes and not
//!   empty, annotation values at most [`ANNOTATION_VALUE_MAX`] bytes of
//!   valid JSON;
//! - `put` arguments must be a JSON array or object, at most
//!   [`PUT_ARGS_MAX`] bytes, and the function name must not be empty;
//! - `put-many` takes at most [`PUT_MANY_MAX`] requests, each checked as
//!   `put` checks it (`context/put_many.rs`);
//! - a panic message is kept up to [`PANIC_MESSAGE_MAX`] bytes;
//! - whatever the import, its arguments together are at most
//!   [`ARGUMENT_MAX`] bytes: a call over that cap stops the run with an
//!   [`ArgumentTooLarge`] error (failure kind `argument-too-large`). The
//!   caps above answer the guest with an error it can handle; this one
//!   ends the run, since no import has a use for that much data.
//!
//! `get-live-annotation` waits here, in one place: while the annotation is
//! absent it re-checks every `min(poll, time left)`, where `poll` is never
//! below [`POLL_MIN`] (a guest asking for 0 or 1 ms polls is clamped, so it
//! cannot turn a wait into a busy loop against the database). Waiting is a
//! `tokio::time::sleep`: it holds no OS thread.
//!
//! The shape follows `wasmtime-wasi-config`: a private bindgen module, a
//! state struct ([`ContextState`]) kept in the store, a borrowed view
//! implementing the generated `Host` trait, and [`add_to_linker`].

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasData, Linker};

use crate::model::{CallbackSpec, CompositeKind, JobId, JobSpec, ModuleDigest};

/// The largest annotation name accepted, in bytes.
pub const ANNOTATION_NAME_MAX: usize = 256;
/// The largest annotation value accepted, in bytes of JSON text.
pub const ANNOTATION_VALUE_MAX: usize = 64 * 1024;
/// The largest arguments of a job put from a job, in bytes of JSON text.
pub const PUT_ARGS_MAX: usize = 1024 * 1024;
/// The longest panic message kept, in bytes.
pub const PANIC_MESSAGE_MAX: usize = 16 * 1024;
/// The most bytes the arguments of one import call may hold together
/// (strings and lists): 16 MiB.
pub const ARGUMENT_MAX: usize = 16 << 20;
/// The shortest interval between two checks of `get-live-annotation`.
pub const POLL_MIN: Duration = Duration::from_millis(10);
/// The most requests one `put-many` takes: the service's batch maximum
/// (`service::PUT_MANY_MAX`, which `POST /v1/jobs/batch` takes; the
/// runtime does not depend on the service, so `dispatch/context.rs`
/// asserts at compile time that the two are equal).
pub const PUT_MANY_MAX: usize = 10_000;

/// What a running job may do outside its sandbox.
///
/// Errors are plain text: they go back to the guest as the `err` of the
/// WIT call.
#[async_trait::async_trait]
pub trait JobContext: Send + Sync {
    /// The running job: who it is and what it was called with. Cheap and
    /// synchronous (the run reads its queue); `get-job` fills in the
    /// annotations from [`JobContext::annotations`].
    fn job_info(&self) -> JobInfo;
    /// The job's annotations now, by name, for `get-job`. By default those
    /// [`JobContext::job_info`] carries; a context backed by a database
    /// reads them only when a job asks.
    async fn annotations(&self) -> Result<Vec<(String, serde_json::Value)>, String> {
        Ok(self.job_info().annotations)
    }
    /// The fan-out cap of the job's queue, if the queue sets one: the most
    /// jobs this run may put, instead of the server's `job_put_cap`. Asked
    /// once a run, at its first put. By default none.
    async fn queue_put_cap(&self) -> Option<u64> {
        None
    }
    /// Sets an annotation on this job (`job == None`) or another, committed
    /// at once.
    async fn set_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
        value: serde_json::Value,
    ) -> Result<(), String>;
    /// Reads an annotation now (no waiting); `Ok(None)` when absent, `Err`
    /// when the job is unknown.
    async fn get_annotation(
        &self,
        job: Option<JobId>,
        name: &str,
    ) -> Result<Option<serde_json::Value>, String>;
    /// Puts a new job (`put`), returns its id.
    async fn put(&self, spec: JobSpec) -> Result<JobId, String>;
    /// Puts every job of `specs` all or none, in one transaction
    /// (`put-many`), and answers one [`PutAnswer`] per spec in the order
    /// given. Called with 1 to [`PUT_MANY_MAX`] specs, each converted as
    /// `put` converts its request. An error names the first spec refused
    /// (`item 3: ...`). By default refused.
    async fn put_many(&self, specs: Vec<JobSpec>) -> Result<Vec<PutAnswer>, String> {
        let _ = specs;
        Err("put-many is not available in this context".into())
    }
    /// Adds a callback to a job (`add-callback`), returns the callback's
    /// id. By default refused: a context without a queue has no callbacks.
    async fn add_callback(&self, job: JobId, callback: CallbackSpec) -> Result<JobId, String> {
        let _ = (job, callback);
        Err("callbacks are not available in this context".into())
    }
    /// Puts a composite (`put-composite`), returns its id. By default
    /// refused.
    async fn put_composite(
        &self,
        kind: CompositeKind,
        parts: Vec<JobSpec>,
        postprocess: JobSpec,
    ) -> Result<JobId, String> {
        let _ = (kind, parts, postprocess);
        Err("composites are not available in this context".into())
    }
    /// Adds a part to a composite with callbacks of its own (its
    /// `callbacks`; `add-part`), returns the part's id. By default refused.
    async fn add_part(&self, composite: JobId, part: JobSpec) -> Result<JobId, String> {
        let _ = (composite, part);
        Err("composites are not available in this context".into())
    }
    /// Creates a held job (`put-held`). By default refused.
    async fn put_held(&self, spec: JobSpec) -> Result<JobId, String> {
        let _ = spec;
        Err("held jobs are not available in this context".into())
    }
    /// Resolves when the run must stop: the job was cancelled (or is no
    /// longer this process's) while it runs. The runtime then stops the
    /// guest, whatever it is doing, and the run fails with kind
    /// `cancelled`. By default never.
    async fn stop_requested(&self) {
        std::future::pending::<()>().await
    }
    /// Appends arguments to a held job (`append-args`). By default refused.
    async fn append_args(
        &self,
        job: JobId,
        values: Vec<serde_json::Value>,
        put_when: u32,
    ) -> Result<u32, String> {
        let _ = (job, values, put_when);
        Err("held jobs are not available in this context".into())
    }
}

/// What a running job learns about itself (`get-job`).
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// Its queue (`""` is the default queue).
    pub queue: String,
    /// The module it runs.
    pub module: ModuleDigest,
    /// The module's name, when the job was put by name.
    pub module_name: Option<String>,
    /// The job function.
    pub function: String,
    /// Its arguments: a JSON array or object.
    pub args: serde_json::Value,
    /// 1 for the first run, higher after retries.
    pub attempt: u32,
    /// The annotations it had when it started, sorted by name.
    pub annotations: Vec<(String, serde_json::Value)>,
}

/// What `put-many` answers for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutAnswer {
    /// The job put, or (`duplicate`) the job holding its uniqueness key.
    pub id: JobId,
    /// True when nothing was inserted: the request's uniqueness key was
    /// held, by a job already there or an earlier request of the list.
    pub duplicate: bool,
}

mod gen_ {
    wasmtime::component::bindgen!({
        path: "../wit/job.wit",
        world: "job",
        imports: { default: async | trappable | tracing },
        exports: { default: async },
    });
}

pub(crate) use gen_::JobPre;
pub(crate) use gen_::wasync::job::types as wit;

/// Per-store state of the `context` imports.
pub struct ContextState {
    context: Arc<dyn JobContext>,
    /// The message of `report-panic`, if the guest called it.
    panic_message: Option<String>,
    /// The most jobs this run may put unless its queue sets a cap (the
    /// server's fan-out cap).
    put_cap: u64,
    /// The queue's fan-out cap, once asked (at the first put).
    queue_put_cap: Option<Option<u64>>,
    /// The jobs it has put so far.
    puts: u64,
}

impl ContextState {
    /// State for a job whose outside world is `context`, allowed to put
    /// [`crate::runtime::PUT_CAP_DEFAULT`] jobs.
    pub fn new(context: Arc<dyn JobContext>) -> Self {
        Self::with_put_cap(context, super::PUT_CAP_DEFAULT)
    }

    /// State for a job allowed to put at most `put_cap` jobs.
    pub fn with_put_cap(context: Arc<dyn JobContext>, put_cap: u64) -> Self {
        ContextState {
            context,
            panic_message: None,
            put_cap,
            queue_put_cap: None,
            puts: 0,
        }
    }

    /// Whether `n` more jobs fit under the fan-out cap (the queue's if it
    /// sets one, else the server's); the guest's error naming the cap if
    /// not.
    async fn room_for(&mut self, n: usize) -> Result<(), String> {
        if self.queue_put_cap.is_none() {
            self.queue_put_cap = Some(self.context.queue_put_cap().await);
        }
        let (cap, whose) = match self.queue_put_cap.flatten() {
            Some(cap) => (cap, "its queue's `put_cap`"),
            None => (self.put_cap, "the server's `job_put_cap`"),
        };
        if self.puts.saturating_add(n as u64) > cap {
            return Err(format!(
                "this run has put {} jobs; one run may put at most {cap} (the fan-out cap: \
                 {whose})",
                self.puts
            ));
        }
        Ok(())
    }

    /// Counts `n` jobs put, when the put succeeded.
    fn count_puts<T>(&mut self, n: usize, answer: &Result<T, String>) {
        if answer.is_ok() {
            self.puts = self.puts.saturating_add(n as u64);
        }
    }

    /// The message the guest gave to `report-panic`, if it did.
    pub fn panic_message(&self) -> Option<&str> {
        self.panic_message.as_deref()
    }
}

/// A borrowed view of [`ContextState`]: what the generated `Host` traits
/// are implemented on.
pub struct ContextView<'a> {
    state: &'a mut ContextState,
}

impl<'a> ContextView<'a> {
    /// A view of `state`.
    pub fn new(state: &'a mut ContextState) -> Self {
        ContextView { state }
    }
}

struct HasContext;

impl HasData for HasContext {
    type Data<'a> = ContextView<'a>;
}

/// Adds `wasync:job/context` and `wasync:job/types` to `linker`; `view`
/// finds the [`ContextState`] in the store's data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> ContextView<'_>,
) -> wasmtime::Result<()> {
    gen_::wasync::job::context::add_to_linker::<T, HasContext>(linker, view)?;
    gen_::wasync::job::types::add_to_linker::<T, HasContext>(linker, view)?;
    Ok(())
}

use gen_::wasync::job::context;
use gen_::wasync::job::types as wtypes;

impl wtypes::Host for ContextView<'_> {}

impl context::Host for ContextView<'_> {
    async fn get_job(&mut self) -> wasmtime::Result<wtypes::JobInfo> {
        let mut info = self.state.context.job_info();
        if let Ok(annotations) = self.state.context.annotations().await {
            info.annotations = annotations;
        }
        Ok(wtypes::JobInfo {
            id: info.id.to_string(),
            queue: info.queue,
            module: info.module.to_string(),
            module_name: info.module_name,
            function: info.function,
            args: info.args.to_string(),
            attempt: info.attempt,
            annotations: info
                .annotations
                .into_iter()
                .map(|(name, value)| (name, value.to_string()))
                .collect(),
        })
    }

    async fn set_live_annotation(
        &mut self,
        name: String,
        value: String,
        job: Option<String>,
    ) -> wasmtime::Result<Result<(), String>> {
        check_size(
            "set-live-annotation",
            name.len() + value.len() + option_size(&job),
        )?;
        let checked = check_name(&name)
            .and_then(|()| check_not_reserved(&name))
            .and_then(|()| parse_job(job.as_deref()))
            .and_then(|job| Ok((job, parse_value(&value)?)));
        let (job, value) = match checked {
            Ok(ok) => ok,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self.state.context.set_annotation(job, &name, value).await)
    }

    async fn get_live_annotation(
        &mut self,
        name: String,
        timeout_ms: u32,
        poll_ms: u32,
        job: Option<String>,
    ) -> wasmtime::Result<Result<Option<String>, String>> {
        check_size("get-live-annotation", name.len() + option_size(&job))?;
        let job = match check_name(&name).and_then(|()| parse_job(job.as_deref())) {
            Ok(job) => job,
            Err(e) => return Ok(Err(e)),
        };
        let context = &self.state.context;
        let found = wait_for_annotation(
            || context.get_annotation(job, &name),
            Duration::from_millis(timeout_ms.into()),
            Duration::from_millis(poll_ms.into()),
        )
        .await;
        Ok(found.map(|value| value.map(|v| v.to_string())))
    }

    async fn put(
        &mut self,
        request: wtypes::JobRequest,
    ) -> wasmtime::Result<Result<String, String>> {
        check_size("put", request_size(&request))?;
        let spec = match self
            .state
            .room_for(1)
            .await
            .and_then(|()| JobSpec::try_from(request))
        {
            Ok(spec) => spec,
            Err(e) => return Ok(Err(e)),
        };
        let answer = self.state.context.put(spec).await;
        self.state.count_puts(1, &answer);
        Ok(answer.map(|id| id.to_string()))
    }

    async fn put_many(
        &mut self,
        requests: Vec<wtypes::JobRequest>,
    ) -> wasmtime::Result<Result<Vec<wtypes::PutAnswer>, String>> {
        self.put_many_checked(requests).await
    }

    async fn add_callback(
        &mut self,
        job: String,
        on: wtypes::CallbackOn,
        callback: wtypes::JobRequest,
    ) -> wasmtime::Result<Result<String, String>> {
        check_size("add-callback", job.len() + request_size(&callback))?;
        let checked = self
            .state
            .room_for(1)
            .await
            .and_then(|()| parse_job(Some(&job)))
            .and_then(|job| Ok((job, JobSpec::try_from(callback)?)));
        let (job, spec) = match checked {
            Ok((Some(job), spec)) => (job, spec),
            Ok((None, _)) => unreachable!("a job was given"),
            Err(e) => return Ok(Err(e)),
        };
        let callback = CallbackSpec {
            on: callback_on(on),
            job: spec,
        };
        let answer = self.state.context.add_callback(job, callback).await;
        self.state.count_puts(1, &answer);
        Ok(answer.map(|id| id.to_string()))
    }

    async fn put_composite(
        &mut self,
        kind: wtypes::CompositeKind,
        parts: Vec<wtypes::JobRequest>,
        postprocess: wtypes::JobRequest,
    ) -> wasmtime::Result<Result<String, String>> {
        check_size(
            "put-composite",
            parts.iter().map(request_size).sum::<usize>() + request_size(&postprocess),
        )?;
        let jobs = parts.len() + 2;
        if let Err(e) = self.state.room_for(jobs).await {
            return Ok(Err(e));
        }
        let checked = parts
            .into_iter()
            .map(JobSpec::try_from)
            .collect::<Result<Vec<_>, _>>()
            .and_then(|parts| Ok((parts, JobSpec::try_from(postprocess)?)));
        let (parts, postprocess) = match checked {
            Ok(checked) => checked,
            Err(e) => return Ok(Err(e)),
        };
        let kind = match kind {
            wtypes::CompositeKind::Serial => CompositeKind::Serial,
            wtypes::CompositeKind::Parallel => CompositeKind::Parallel,
        };
        let answer = self
            .state
            .context
            .put_composite(kind, parts, postprocess)
            .await;
        self.state.count_puts(jobs, &answer);
        Ok(answer.map(|id| id.to_string()))
    }

    async fn add_part(
        &mut self,
        composite: String,
        part: wtypes::JobRequest,
        callbacks: Vec<(wtypes::CallbackOn, wtypes::JobRequest)>,
    ) -> wasmtime::Result<Result<String, String>> {
        check_size(
            "add-part",
            composite.len()
                + request_size(&part)
                + callbacks
                    .iter()
                    .map(|(_, r)| request_size(r))
                    .sum::<usize>(),
        )?;
        let jobs = 1 + callbacks.len();
        if let Err(e) = self.state.room_for(jobs).await {
            return Ok(Err(e));
        }
        let checked = parse_job(Some(&composite)).and_then(|job| {
            let callbacks = callbacks
                .into_iter()
                .map(|(on, request)| {
                    Ok(CallbackSpec {
                        on: callback_on(on),
                        job: JobSpec::try_from(request)?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let part = JobSpec {
                callbacks,
                ..JobSpec::try_from(part)?
            };
            Ok((job, part))
        });
        let (composite, part) = match checked {
            Ok((Some(composite), part)) => (composite, part),
            Ok((None, _)) => unreachable!("a job was given"),
            Err(e) => return Ok(Err(e)),
        };
        let answer = self.state.context.add_part(composite, part).await;
        self.state.count_puts(jobs, &answer);
        Ok(answer.map(|id| id.to_string()))
    }

    async fn put_held(
        &mut self,
        request: wtypes::JobRequest,
    ) -> wasmtime::Result<Result<String, String>> {
        check_size("put-held", request_size(&request))?;
        let spec = match self
            .state
            .room_for(1)
            .await
            .and_then(|()| JobSpec::try_from(request))
        {
            Ok(spec) => spec,
            Err(e) => return Ok(Err(e)),
        };
        let answer = self.state.context.put_held(spec).await;
        self.state.count_puts(1, &answer);
        Ok(answer.map(|id| id.to_string()))
    }

    async fn append_args(
        &mut self,
        job: String,
        args: String,
        put_when: u32,
    ) -> wasmtime::Result<Result<u32, String>> {
        check_size("append-args", job.len() + args.len())?;
        let job = match parse_job(Some(&job)) {
            Ok(Some(job)) => job,
            Ok(None) => unreachable!("a job was given"),
            Err(e) => return Ok(Err(e)),
        };
        if args.len() > PUT_ARGS_MAX {
            return Ok(Err(format!(
                "the arguments are {} bytes long; the limit is {PUT_ARGS_MAX}",
                args.len()
            )));
        }
        let values = match serde_json::from_str::<serde_json::Value>(&args) {
            Ok(serde_json::Value::Array(values)) => values,
            Ok(_) => return Ok(Err("the arguments to append must be a JSON array".into())),
            Err(e) => return Ok(Err(format!("the arguments are not valid JSON: {e}"))),
        };
        Ok(self.state.context.append_args(job, values, put_when).await)
    }

    async fn report_panic(&mut self, message: String) -> wasmtime::Result<()> {
        check_size("report-panic", message.len())?;
        self.state.panic_message = Some(truncate(message, PANIC_MESSAGE_MAX));
        Ok(())
    }
}

/// Annotations whose names start with this are written by the host (the
/// HTTP record, [`HTTP_ANNOTATION`]); a job may read but not set them.
pub const RESERVED_ANNOTATION_PREFIX: &str = "wasync.";
/// The annotation in which the host counts a job's outgoing HTTP requests.
pub const HTTP_ANNOTATION: &str = "wasync.http";

mod checks;
mod put_many;
mod size;
pub(crate) use checks::truncate;
use checks::{
    callback_on, check_name, check_not_reserved, parse_job, parse_value, wait_for_annotation,
};
pub use size::ArgumentTooLarge;
use size::{check_size, option_size, request_size};

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
