//! What the arguments of a job's `context` imports must be: annotation
//! names and values, job ids, put requests; and the wait of
//! `get-live-annotation`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::wtypes;
use super::{
    ANNOTATION_NAME_MAX, ANNOTATION_VALUE_MAX, POLL_MIN, PUT_ARGS_MAX, RESERVED_ANNOTATION_PREFIX,
};
use crate::model::{CallbackOn, JobId, JobSpec, JobStatus, UniqueSpec};

pub(super) fn callback_on(on: wtypes::CallbackOn) -> CallbackOn {
    match on {
        wtypes::CallbackOn::Always => CallbackOn::Always,
        wtypes::CallbackOn::Success => CallbackOn::Success,
        wtypes::CallbackOn::Failure => CallbackOn::Failure,
    }
}

/// Reads with `read` until it finds a value or `timeout` has passed,
/// sleeping `min(max(poll, POLL_MIN), time left)` between reads.
pub(super) async fn wait_for_annotation<F, Fut>(
    mut read: F,
    timeout: Duration,
    poll: Duration,
) -> Result<Option<serde_json::Value>, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<serde_json::Value>, String>>,
{
    let poll = poll.max(POLL_MIN);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = read().await? {
            return Ok(Some(value));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

pub(super) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("annotation name is empty".into())
    } else if name.len() > ANNOTATION_NAME_MAX {
        Err(format!(
            "annotation name is {} bytes long; the limit is {ANNOTATION_NAME_MAX}",
            name.len()
        ))
    } else {
        Ok(())
    }
}

pub(super) fn check_not_reserved(name: &str) -> Result<(), String> {
    if name.starts_with(RESERVED_ANNOTATION_PREFIX) {
        Err(format!(
            "annotation names starting with `{RESERVED_ANNOTATION_PREFIX}` are written by wasync only"
        ))
    } else {
        Ok(())
    }
}

pub(super) fn parse_job(job: Option<&str>) -> Result<Option<JobId>, String> {
    job.map(|text| {
        text.parse::<JobId>()
            .map_err(|_| format!("`{}` is not a job id", truncate(text.to_owned(), 64)))
    })
    .transpose()
}

pub(super) fn parse_value(value: &str) -> Result<serde_json::Value, String> {
    if value.len() > ANNOTATION_VALUE_MAX {
        return Err(format!(
            "annotation value is {} bytes long; the limit is {ANNOTATION_VALUE_MAX}",
            value.len()
        ));
    }
    serde_json::from_str(value).map_err(|e| format!("annotation value is not valid JSON: {e}"))
}

/// A running job's `job-request`, as the one [`JobSpec`]: its function
/// named, its arguments a JSON array or object of at most
/// [`PUT_ARGS_MAX`] bytes, its times and retry policy understood (the
/// message of an error names what is wrong). `module` and `queue` left
/// `none` stay `None`: the context makes them the running job's.
impl TryFrom<wtypes::JobRequest> for JobSpec {
    type Error = String;

    fn try_from(request: wtypes::JobRequest) -> Result<JobSpec, String> {
        if request.function.is_empty() {
            return Err("the function name is empty".into());
        }
        if request.args.len() > PUT_ARGS_MAX {
            return Err(format!(
                "the arguments are {} bytes long; the limit is {PUT_ARGS_MAX}",
                request.args.len()
            ));
        }
        let args: serde_json::Value = serde_json::from_str(&request.args)
            .map_err(|e| format!("the arguments are not valid JSON: {e}"))?;
        if !(args.is_array() || args.is_object()) {
            return Err("the arguments must be a JSON array or object".into());
        }
        let begin_after = request
            .begin_after_ms
            .map(|ms| {
                i64::try_from(ms)
                    .ok()
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .ok_or_else(|| format!("begin-after-ms {ms} is out of range"))
            })
            .transpose()?;
        let retry = request
            .retry
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| format!("the retry policy is not valid JSON: {e}"))
                    .and_then(|value| crate::model::RetryPolicy::from_json(&value))
            })
            .transpose()?;
        let unique = request.unique.map(unique_spec).transpose()?;
        Ok(JobSpec {
            module: request.module,
            function: request.function,
            args,
            queue: request.queue,
            limits: Default::default(),
            begin_after,
            begin_by_ms: request.begin_by_ms,
            quota_names: request.quota_names,
            retry,
            priority: request.priority,
            callbacks: Vec::new(),
            quota_keys: request.quota_keys.into_iter().collect(),
            broadcast: request.broadcast,
            unique,
        })
    }
}

/// A `unique-request` as the model's [`UniqueSpec`]: its states named as
/// the API names them (checked further at put).
fn unique_spec(request: wtypes::UniqueRequest) -> Result<UniqueSpec, String> {
    let states = request
        .states
        .iter()
        .map(|name| {
            name.parse::<JobStatus>()
                .map_err(|e| format!("unique: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UniqueSpec {
        key: request.key,
        states,
        period_ms: request.period_ms,
    })
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
