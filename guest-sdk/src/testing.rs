//! Test job functions natively, without wasync: a fake `context` and a
//! runner that calls a job function by name with JSON arguments exactly as
//! the host does (through the `jobs()` registry `export_jobs!` generates).
//!
//! ```
//! use serde_json::json;
//! use wasync_guest::{job, testing::FakeContext, Await, JobRequest};
//!
//! #[job]
//! fn start(n: i64) -> Result<Await, wasync_guest::Error> {
//!     wasync_guest::set_live_annotation("stage", &"started")?;
//!     Ok(Await(wasync_guest::put(JobRequest::new("finish").arg(n))?))
//! }
//!
//! #[job]
//! fn finish(n: i64) -> i64 {
//!     n * 2
//! }
//!
//! wasync_guest::export_jobs!(start, finish);
//!
//! # fn main() {
//! let ctx = FakeContext::new();
//! let outcome = ctx.run(jobs(), "start", json!([21])).unwrap();
//! assert_eq!(ctx.annotation("stage"), Some(json!("started")));
//! let put = &ctx.puts()[0];
//! assert_eq!(outcome.awaited(), Some(&put.id));
//! assert_eq!((put.function.as_str(), &put.args), ("finish", &json!([21])));
//! // Run the job that was put, as a worker would.
//! let second = ctx.run_put(jobs(), put).unwrap();
//! assert_eq!(second.value(), Some(json!(42)));
//! # }
//! ```
//!
//! Differences from the host, on purpose: by default a wait for a live
//! annotation that is absent returns `None` at once, as if the timeout had
//! passed, and is recorded in [`FakeContext::waits`] (see
//! [`FakeContext::with_real_waits`] to block instead); module names are
//! not resolved; no size limits apply, but for the count of a
//! `put_many` ([`PUT_MANY_MAX`](crate::PUT_MANY_MAX), as the host);
//! every put is inserted (uniqueness is the host's). A panic is caught and returned as
//! an [`Error`] of kind `panic` with the message the host would report.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::{Error, JobId, JobInfo, Jobs, Outcome};

mod links;

pub use links::{CallbackRecord, CompositeRecord};

/// Runs job function `function` of `jobs` with `args` (a JSON array or
/// object) in a fresh [`FakeContext`]; see [`FakeContext::run`].
pub fn run(jobs: &Jobs, function: &str, args: Value) -> Result<Outcome, Error> {
    FakeContext::new().run(jobs, function, args)
}

/// A job put through the fake `put`, as the host would have received it.
#[derive(Debug, Clone, PartialEq)]
pub struct PutRecord {
    /// The id the fake gave the new job.
    pub id: JobId,
    /// The job that put it.
    pub parent: JobId,
    /// The job function to call.
    pub function: String,
    /// Its arguments: a JSON array or object.
    pub args: Value,
    /// The module asked for, if any (`None`: the parent's).
    pub module: Option<String>,
    /// The queue asked for, if any (`None`: the parent's).
    pub queue: Option<String>,
    /// Do not start before this time (ms since the Unix epoch), if set.
    pub begin_after_ms: Option<u64>,
    /// Start within this many ms after begin-after, if set.
    pub begin_by_ms: Option<u64>,
    /// The quotas it counts against.
    pub quota_names: Vec<String>,
    /// Its retry policy, if given.
    pub retry: Option<Value>,
    /// Its keys in partitioned quotas, `(quota, key)`.
    pub quota_keys: Vec<(String, String)>,
    /// Put as a broadcast ([`JobRequest::broadcast`](crate::JobRequest::broadcast)).
    pub broadcast: bool,
    /// Its priority (0 unless given).
    pub priority: i32,
    /// Its uniqueness, if asked for (the fake inserts every put: the host
    /// decides duplicates).
    pub unique: Option<crate::Unique>,
}

/// One call of `get_live_annotation` a job made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitRecord {
    /// The job whose annotation was read.
    pub job: JobId,
    /// The annotation's name.
    pub name: String,
    /// The timeout asked for.
    pub timeout: Duration,
    /// The poll interval asked for.
    pub poll: Duration,
    /// Whether a value was returned.
    pub found: bool,
}

/// A fake `context`: in-memory jobs, annotations, puts and panic reports.
///
/// A `FakeContext` is a view as one job (its [`id`](Self::id)) of a state
/// shared by all its clones and [`for_job`](Self::for_job) views, so a
/// test can play several jobs, and threads, against one fake queue.
#[derive(Clone)]
pub struct FakeContext {
    shared: Arc<Shared>,
    job: JobId,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<JobId, JobInfo>,
    /// (job, name) → JSON text.
    annotations: BTreeMap<(JobId, String), String>,
    puts: Vec<PutRecord>,
    callbacks: Vec<links::CallbackRecord>,
    composites: Vec<links::CompositeRecord>,
    /// Jobs made by `put_held` not yet put, with their arguments.
    held: BTreeMap<JobId, Vec<Value>>,
    waits: Vec<WaitRecord>,
    panics: Vec<String>,
    next_id: u64,
    real_waits: bool,
    /// Jobs blocked in a real wait right now.
    waiters: usize,
}

impl State {
    fn fresh_id(&mut self) -> JobId {
        self.next_id += 1;
        JobId::new(format!("0190a5c0-0000-7000-8000-{:012x}", self.next_id))
    }

    fn new_job(&mut self, template: Option<&JobInfo>) -> JobId {
        let id = self.fresh_id();
        let info = JobInfo {
            id: id.clone(),
            queue: template.map(|t| t.queue.clone()).unwrap_or_default(),
            module: template
                .map(|t| t.module.clone())
                .unwrap_or_else(|| format!("sha256:{}", "0".repeat(64))),
            module_name: template.and_then(|t| t.module_name.clone()),
            function: String::new(),
            args: Value::Array(Vec::new()),
            attempt: 1,
            annotations: BTreeMap::new(),
        };
        self.jobs.insert(id.clone(), info);
        id
    }

    fn annotations_of(&self, job: &JobId) -> BTreeMap<String, Value> {
        self.annotations
            .iter()
            .filter(|((j, _), _)| j == job)
            .map(|((_, name), json)| (name.clone(), parse(json)))
            .collect()
    }

    fn known(&self, job: &JobId) -> Result<(), String> {
        if self.jobs.contains_key(job) {
            Ok(())
        } else {
            Err(format!("job {job} does not exist"))
        }
    }
}

impl Default for FakeContext {
    fn default() -> Self {
        FakeContext::new()
    }
}

impl std::fmt::Debug for FakeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeContext")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

impl FakeContext {
    /// A fake queue holding one job (attempt 1, default queue `""`, a zero
    /// module digest), and a view as that job.
    pub fn new() -> Self {
        let shared = Arc::new(Shared::default());
        let job = shared.state.lock().expect("fresh mutex").new_job(None);
        FakeContext { shared, job }
    }

    /// The same fake with this job's info replaced by `info` (the view
    /// follows `info.id`).
    pub fn with_job_info(mut self, info: JobInfo) -> Self {
        let mut state = self.lock();
        state.jobs.remove(&self.job);
        let id = info.id.clone();
        state.jobs.insert(id.clone(), info);
        drop(state);
        self.job = id;
        self
    }

    /// The same fake, but waits for absent live annotations block (up to
    /// their timeout) until another thread sets them, like the host.
    pub fn with_real_waits(self) -> Self {
        self.lock().real_waits = true;
        self
    }

    /// This job's id.
    pub fn id(&self) -> JobId {
        self.job.clone()
    }

    /// This job's info, as `wasync_guest::job()` returns it.
    pub fn job_info(&self) -> JobInfo {
        self.lock().jobs[&self.job].clone()
    }

    /// Adds another job to the fake queue (same queue and module) and
    /// returns its id, e.g. for a job that coordinates with it.
    pub fn add_job(&self) -> JobId {
        let mut state = self.lock();
        let template = state.jobs[&self.job].clone();
        state.new_job(Some(&template))
    }

    /// A view of the same fake as job `job`.
    ///
    /// # Panics
    ///
    /// If the fake has no such job.
    pub fn for_job(&self, job: &JobId) -> FakeContext {
        if let Err(e) = self.lock().known(job) {
            panic!("FakeContext::for_job: {e}");
        }
        FakeContext {
            shared: self.shared.clone(),
            job: job.clone(),
        }
    }

    /// Sets annotation `name` of this job, as someone outside the job
    /// would (waiting readers wake up).
    ///
    /// # Panics
    ///
    /// If `value` cannot be JSON.
    pub fn set_annotation(&self, name: &str, value: impl Serialize) {
        self.set_annotation_on(&self.job.clone(), name, value);
    }

    /// Sets annotation `name` of job `job`, adding the job to the fake if
    /// it is new.
    ///
    /// # Panics
    ///
    /// If `value` cannot be JSON.
    pub fn set_annotation_on(&self, job: &JobId, name: &str, value: impl Serialize) {
        let json = serde_json::to_string(&value).expect("annotation value must be JSON");
        let mut state = self.lock();
        if !state.jobs.contains_key(job) {
            let template = state.jobs[&self.job].clone();
            state.jobs.insert(
                job.clone(),
                JobInfo {
                    id: job.clone(),
                    ..template
                },
            );
        }
        state
            .annotations
            .insert((job.clone(), name.to_owned()), json);
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Annotation `name` of this job, now.
    pub fn annotation(&self, name: &str) -> Option<Value> {
        self.annotation_on(&self.job, name)
    }

    /// Annotation `name` of job `job`, now.
    pub fn annotation_on(&self, job: &JobId, name: &str) -> Option<Value> {
        let state = self.lock();
        state
            .annotations
            .get(&(job.clone(), name.to_owned()))
            .map(|json| parse(json))
    }

    /// Every job put so far, in order.
    pub fn puts(&self) -> Vec<PutRecord> {
        self.lock().puts.clone()
    }

    /// Every `get_live_annotation` call so far, in order.
    pub fn waits(&self) -> Vec<WaitRecord> {
        self.lock().waits.clone()
    }

    /// How many jobs are blocked in a real wait right now (a signal for
    /// tests that set an annotation from another thread).
    pub fn waiters(&self) -> usize {
        self.lock().waiters
    }

    /// Every panic reported so far (the `report-panic` messages).
    pub fn panics(&self) -> Vec<String> {
        self.lock().panics.clone()
    }

    /// Runs job function `function` of `jobs` as this job, with `args` (a
    /// JSON array or object), the way the host runs it: this job's info
    /// gets the function, the arguments and a snapshot of its annotations,
    /// the context calls go to this fake, and the dispatch is the one the
    /// component's `run` export uses. A panic is returned as an error of
    /// kind `panic` whose message is what the host would report.
    pub fn run(&self, jobs: &Jobs, function: &str, args: Value) -> Result<Outcome, Error> {
        let json = serde_json::to_string(&args).expect("a JSON value is JSON");
        self.run_json(jobs, function, &json)
    }

    /// [`run`](Self::run) with the arguments as JSON text, passed to the
    /// job unchanged (to test malformed arguments too).
    pub fn run_json(&self, jobs: &Jobs, function: &str, args: &str) -> Result<Outcome, Error> {
        {
            let mut state = self.lock();
            let annotations = state.annotations_of(&self.job);
            let info = state.jobs.get_mut(&self.job).expect("the job exists");
            info.function = function.to_owned();
            info.args = serde_json::from_str(args).unwrap_or_else(|_| Value::String(args.into()));
            info.annotations = annotations;
        }
        let reported_before = self.lock().panics.len();
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        let result = catch_unwind(AssertUnwindSafe(|| jobs.run(function, args)));
        CURRENT.with(|c| c.replace(previous));
        result.unwrap_or_else(|payload| {
            let reported = self.lock().panics.get(reported_before).cloned();
            let message = reported.unwrap_or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "Box<dyn Any>".to_owned())
            });
            Err(Error::new(Error::PANIC, message))
        })
    }

    /// Runs a job that was put (see [`puts`](Self::puts)) as that job.
    pub fn run_put(&self, jobs: &Jobs, put: &PutRecord) -> Result<Outcome, Error> {
        self.for_job(&put.id)
            .run(jobs, &put.function, put.args.clone())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn live_set(&self, name: &str, json: &str, job: Option<&str>) -> Result<(), String> {
        let job = job.map_or_else(|| self.job.clone(), JobId::new);
        let value: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let mut state = self.lock();
        state.known(&job)?;
        state
            .annotations
            .insert((job, name.to_owned()), value.to_string());
        drop(state);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn live_get(
        &self,
        name: &str,
        timeout_ms: u32,
        poll_ms: u32,
        job: Option<&str>,
    ) -> Result<Option<String>, String> {
        let job = job.map_or_else(|| self.job.clone(), JobId::new);
        let key = (job.clone(), name.to_owned());
        let timeout = Duration::from_millis(timeout_ms.into());
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        state.known(&job)?;
        let mut found = state.annotations.get(&key).cloned();
        while found.is_none() && state.real_waits {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state.waiters += 1;
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.waiters -= 1;
            found = state.annotations.get(&key).cloned();
        }
        state.waits.push(WaitRecord {
            job,
            name: name.to_owned(),
            timeout,
            poll: Duration::from_millis(poll_ms.into()),
            found: found.is_some(),
        });
        Ok(found)
    }

    /// Like the host's `put-many`: a list over
    /// [`PUT_MANY_MAX`](crate::PUT_MANY_MAX) or a broadcast refused, every request checked
    /// before any is recorded, the first refused named by its index. Every
    /// request is inserted (the host decides duplicates).
    fn live_put_many(&self, requests: &[WireRequest<'_>]) -> Result<Vec<(String, bool)>, String> {
        if requests.len() > crate::PUT_MANY_MAX {
            return Err(format!(
                "put-many takes at most {} requests; this list holds {}: split it into several \
                 calls",
                crate::PUT_MANY_MAX,
                requests.len()
            ));
        }
        for (index, request) in requests.iter().enumerate() {
            let checked = if request.broadcast {
                Err(
                    "a request of put-many cannot be a broadcast: put a broadcast on its own, \
                     with `put`"
                        .to_owned(),
                )
            } else {
                checked_args(request).map(drop)
            };
            checked.map_err(|e| format!("item {index}: {e}"))?;
        }
        requests
            .iter()
            .map(|request| self.live_put(request).map(|id| (id, false)))
            .collect()
    }

    fn live_put(&self, request: &WireRequest<'_>) -> Result<String, String> {
        let args = checked_args(request)?;
        let mut state = self.lock();
        let parent = state.jobs[&self.job].clone();
        let id = state.new_job(Some(&parent));
        let info = state.jobs.get_mut(&id).expect("just added");
        info.function = request.function.to_owned();
        info.args = args.clone();
        if let Some(queue) = request.queue {
            info.queue = queue.to_owned();
        }
        match request.module {
            Some(digest) if digest.starts_with("sha256:") => {
                info.module = digest.to_owned();
                info.module_name = None;
            }
            Some(name) => info.module_name = Some(name.to_owned()),
            None => {}
        }
        state.puts.push(PutRecord {
            id: id.clone(),
            parent: self.job.clone(),
            function: request.function.to_owned(),
            args,
            module: request.module.map(str::to_owned),
            queue: request.queue.map(str::to_owned),
            begin_after_ms: request.begin_after_ms,
            begin_by_ms: request.begin_by_ms,
            quota_names: request
                .quota_names
                .iter()
                .map(|n| (*n).to_owned())
                .collect(),
            retry: request.retry.as_deref().map(parse),
            quota_keys: request
                .quota_keys
                .iter()
                .map(|(q, k)| ((*q).to_owned(), (*k).to_owned()))
                .collect(),
            broadcast: request.broadcast,
            priority: request.priority,
            unique: request.unique.as_ref().map(|u| crate::Unique {
                key: u.key.map(str::to_owned),
                states: u.states.iter().map(|s| (*s).to_owned()).collect(),
                period: u.period_ms.map(Duration::from_millis),
            }),
        });
        Ok(id.into_string())
    }
}

/// A request's arguments, if its function is named and they are a JSON
/// array or object (as the host checks them).
fn checked_args(request: &WireRequest<'_>) -> Result<Value, String> {
    if request.function.is_empty() {
        return Err("the function name is empty".to_owned());
    }
    let args: Value = serde_json::from_str(&request.args).map_err(|e| format!("arguments: {e}"))?;
    if !(args.is_array() || args.is_object()) {
        return Err("arguments must be a JSON array or object".to_owned());
    }
    Ok(args)
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or(Value::Null)
}

use crate::request::WireRequest;

thread_local! {
    /// The fake the job running on this thread talks to.
    static CURRENT: RefCell<Option<FakeContext>> = const { RefCell::new(None) };
}

/// The native implementation of the raw `context` calls.
pub(crate) mod sys {
    use super::{CURRENT, FakeContext, WireRequest};
    use crate::JobInfo;

    pub(crate) use super::links::sys::{
        add_callback, add_part, append_args, put_composite, put_held,
    };

    const NOT_INITIALIZED: &str = "not initialized: natively, the context exists only in a job \
                                   run by wasync_guest::testing";

    pub(super) fn current() -> Option<FakeContext> {
        CURRENT.with(|c| c.borrow().clone())
    }

    pub(crate) fn get_job() -> JobInfo {
        current().expect(NOT_INITIALIZED).job_info()
    }

    pub(crate) fn set_live_annotation(
        name: &str,
        value: &str,
        job: Option<&str>,
    ) -> Result<(), String> {
        current().ok_or(NOT_INITIALIZED)?.live_set(name, value, job)
    }

    pub(crate) fn get_live_annotation(
        name: &str,
        timeout_ms: u32,
        poll_ms: u32,
        job: Option<&str>,
    ) -> Result<Option<String>, String> {
        current()
            .ok_or(NOT_INITIALIZED)?
            .live_get(name, timeout_ms, poll_ms, job)
    }

    pub(crate) fn put(request: &WireRequest<'_>) -> Result<String, String> {
        current().ok_or(NOT_INITIALIZED)?.live_put(request)
    }

    pub(crate) fn put_many(requests: &[WireRequest<'_>]) -> Result<Vec<(String, bool)>, String> {
        current().ok_or(NOT_INITIALIZED)?.live_put_many(requests)
    }

    pub(crate) fn report_panic(message: &str) {
        if let Some(ctx) = current() {
            ctx.lock().panics.push(message.to_owned());
        }
    }
}
