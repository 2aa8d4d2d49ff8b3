//! What the arguments of an import call weigh: the strings and lists
//! counted against [`ARGUMENT_MAX`], and the trap of a call over it.

use super::{ARGUMENT_MAX, wtypes};

/// A guest called an import with more than [`ARGUMENT_MAX`] bytes of
/// arguments: the run stops (failure kind `argument-too-large`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the job called `{import}` with {size} bytes of arguments; the limit is {cap} bytes")]
pub struct ArgumentTooLarge {
    /// The import.
    pub import: &'static str,
    /// The bytes of its arguments.
    pub size: usize,
    /// The cap.
    pub cap: usize,
}

/// Stops the run when `size` bytes of arguments of `import` are over
/// [`ARGUMENT_MAX`].
pub(super) fn check_size(import: &'static str, size: usize) -> wasmtime::Result<()> {
    if size > ARGUMENT_MAX {
        return Err(ArgumentTooLarge {
            import,
            size,
            cap: ARGUMENT_MAX,
        }
        .into());
    }
    Ok(())
}

/// The bytes of a job request's strings and lists.
pub(super) fn request_size(request: &wtypes::JobRequest) -> usize {
    request.function.len()
        + request.args.len()
        + request.module.as_ref().map_or(0, String::len)
        + request.queue.as_ref().map_or(0, String::len)
        + request.retry.as_ref().map_or(0, String::len)
        + request.quota_names.iter().map(String::len).sum::<usize>()
        + request
            .quota_keys
            .iter()
            .map(|(q, k)| q.len() + k.len())
            .sum::<usize>()
        + request.unique.as_ref().map_or(0, |u| {
            option_size(&u.key) + u.states.iter().map(String::len).sum::<usize>()
        })
}

pub(super) fn option_size(text: &Option<String>) -> usize {
    text.as_ref().map_or(0, String::len)
}
