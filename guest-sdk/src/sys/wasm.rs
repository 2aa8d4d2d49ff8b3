//! The component side: bindings of the `job` world and the calls of its
//! `context` imports.

use std::collections::BTreeMap;

use crate::request::WireRequest;
use crate::{Error, JobId, JobInfo, Jobs, Outcome};

/// The `wit-bindgen` bindings of `wit/job.wit`, world `job`. The export
/// macro is public so that `export_jobs!` can expand it in the job's crate.
#[doc(hidden)]
#[allow(missing_docs, unsafe_op_in_unsafe_fn)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "job",
        pub_export_macro: true,
        default_bindings_module: "::wasync_guest::__private::bindings",
    });
}

use bindings::wasync::job::context;
use bindings::wasync::job::types as wit;

pub(crate) fn get_job() -> JobInfo {
    let info = context::get_job();
    JobInfo {
        id: JobId::new(info.id),
        queue: info.queue,
        module: info.module,
        module_name: info.module_name,
        function: info.function,
        args: parse_json(info.args),
        attempt: info.attempt,
        annotations: info
            .annotations
            .into_iter()
            .map(|(name, value)| (name, parse_json(value)))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The host hands out valid JSON; should it not, keep the text.
fn parse_json(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

pub(crate) fn set_live_annotation(
    name: &str,
    value: &str,
    job: Option<&str>,
) -> Result<(), String> {
    context::set_live_annotation(name, value, job)
}

pub(crate) fn get_live_annotation(
    name: &str,
    timeout_ms: u32,
    poll_ms: u32,
    job: Option<&str>,
) -> Result<Option<String>, String> {
    context::get_live_annotation(name, timeout_ms, poll_ms, job)
}

pub(crate) fn put(request: &WireRequest<'_>) -> Result<String, String> {
    context::put(&wit_request(request))
}

pub(crate) fn put_many(requests: &[WireRequest<'_>]) -> Result<Vec<(String, bool)>, String> {
    let requests: Vec<wit::JobRequest> = requests.iter().map(wit_request).collect();
    context::put_many(&requests)
        .map(|answers| answers.into_iter().map(|a| (a.id, a.duplicate)).collect())
}

pub(crate) fn add_callback(
    job: &str,
    on: crate::CallbackOn,
    request: &WireRequest<'_>,
) -> Result<String, String> {
    context::add_callback(job, wit_on(on), &wit_request(request))
}

pub(crate) fn put_composite(
    kind: crate::CompositeKind,
    parts: &[WireRequest<'_>],
    postprocess: &WireRequest<'_>,
) -> Result<String, String> {
    let kind = match kind {
        crate::CompositeKind::Serial => wit::CompositeKind::Serial,
        crate::CompositeKind::Parallel => wit::CompositeKind::Parallel,
    };
    let parts: Vec<wit::JobRequest> = parts.iter().map(wit_request).collect();
    context::put_composite(kind, &parts, &wit_request(postprocess))
}

pub(crate) fn add_part(
    composite: &str,
    request: &WireRequest<'_>,
    callbacks: &[(crate::CallbackOn, WireRequest<'_>)],
) -> Result<String, String> {
    let callbacks: Vec<(wit::CallbackOn, wit::JobRequest)> = callbacks
        .iter()
        .map(|(on, request)| (wit_on(*on), wit_request(request)))
        .collect();
    context::add_part(composite, &wit_request(request), &callbacks)
}

fn wit_on(on: crate::CallbackOn) -> wit::CallbackOn {
    match on {
        crate::CallbackOn::Always => wit::CallbackOn::Always,
        crate::CallbackOn::Success => wit::CallbackOn::Success,
        crate::CallbackOn::Failure => wit::CallbackOn::Failure,
    }
}

pub(crate) fn put_held(request: &WireRequest<'_>) -> Result<String, String> {
    context::put_held(&wit_request(request))
}

pub(crate) fn append_args(job: &str, args: &str, put_when: u32) -> Result<u32, String> {
    context::append_args(job, args, put_when)
}

fn wit_request(request: &WireRequest<'_>) -> wit::JobRequest {
    wit::JobRequest {
        module: request.module.map(str::to_owned),
        function: request.function.to_owned(),
        args: request.args.clone(),
        queue: request.queue.map(str::to_owned),
        begin_after_ms: request.begin_after_ms,
        begin_by_ms: request.begin_by_ms,
        quota_names: request
            .quota_names
            .iter()
            .map(|n| (*n).to_owned())
            .collect(),
        retry: request.retry.clone(),
        quota_keys: request
            .quota_keys
            .iter()
            .map(|(q, k)| ((*q).to_owned(), (*k).to_owned()))
            .collect(),
        broadcast: request.broadcast,
        priority: request.priority,
        unique: request.unique.as_ref().map(|u| wit::UniqueRequest {
            key: u.key.map(str::to_owned),
            states: u.states.iter().map(|s| (*s).to_owned()).collect(),
            period_ms: u.period_ms,
        }),
    }
}

pub(crate) fn report_panic(message: &str) {
    context::report_panic(message);
}

/// The body of the component's `run` export, called by the `Guest` impl
/// that `export_jobs!` generates.
pub fn run_export(
    jobs: &Jobs,
    function: String,
    args: String,
) -> Result<wit::Outcome, wit::JobError> {
    match jobs.run(&function, &args) {
        Ok(Outcome::Value(json)) => Ok(wit::Outcome::Value(json)),
        Ok(Outcome::AwaitJob(id)) => Ok(wit::Outcome::AwaitJob(id.into_string())),
        Err(Error {
            kind,
            message,
            detail,
            permanent,
        }) => Err(wit::JobError {
            kind,
            message,
            detail,
            permanent,
        }),
    }
}
