//! Rules for the names users choose: queues, modules, annotations.

use super::{Error, Result};

/// How the default queue (`""`) is written where an empty name cannot be:
/// in URL paths and on the command line. No queue may be named this.
pub const DEFAULT_QUEUE_ALIAS: &str = "default";

/// The longest queue, module or annotation name.
pub const NAME_MAX_LEN: usize = 128;

fn check_name(kind: &str, name: &str) -> Result<()> {
    let valid_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    if name.len() > NAME_MAX_LEN || !valid_start || !valid_chars {
        return Err(Error::Invalid(format!(
            "invalid {kind} name `{name}`: use 1 to {NAME_MAX_LEN} characters from \
             letters, digits and `_ - . : /`, starting with a letter or digit"
        )));
    }
    Ok(())
}

/// Checks a name for a new queue. `""` (the default queue) always exists;
/// [`DEFAULT_QUEUE_ALIAS`] is reserved.
pub fn validate_queue_name(name: &str) -> Result<()> {
    if name == DEFAULT_QUEUE_ALIAS {
        return Err(Error::Invalid(format!(
            "`{DEFAULT_QUEUE_ALIAS}` is reserved: it names the default queue `\"\"`"
        )));
    }
    check_name("queue", name)
}

/// Maps the URL/CLI spelling of a queue to its stored name.
pub fn queue_from_alias(name: &str) -> &str {
    if name == DEFAULT_QUEUE_ALIAS {
        ""
    } else {
        name
    }
}

/// Checks a module name. A name must not look like a digest.
pub fn validate_module_name(name: &str) -> Result<()> {
    if name.starts_with(crate::model::ModuleDigest::PREFIX) {
        return Err(Error::Invalid(format!(
            "invalid module name `{name}`: names cannot start with `sha256:`"
        )));
    }
    check_name("module", name)
}

/// Checks a schedule name (the rules of queue and module names).
pub fn validate_schedule_name(name: &str) -> Result<()> {
    check_name("schedule", name)
}

/// Checks a free-form name (annotations, agents, job functions): 1 to
/// `max` bytes, no control characters (NUL cannot even be stored by
/// PostgreSQL).
pub fn validate_free_name(kind: &str, name: &str, max: usize) -> Result<()> {
    if name.is_empty() || name.len() > max || name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "invalid {kind} `{}`: use 1 to {max} bytes without control characters",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// Checks an annotation name.
pub fn validate_annotation_name(name: &str) -> Result<()> {
    validate_free_name("annotation name", name, NAME_MAX_LEN)
}

/// How messages name a queue: "the default queue", "queue `video`".
pub(super) fn queue_what(queue: &str) -> String {
    if queue.is_empty() {
        "the default queue".to_owned()
    } else {
        format!("queue `{queue}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names() {
        assert!(validate_queue_name("video").is_ok());
        assert!(validate_queue_name("reports.daily-2").is_ok());
        assert!(validate_queue_name("").is_err());
        assert!(validate_queue_name("default").is_err());
        assert!(validate_queue_name("-x").is_err());
        assert!(validate_queue_name("a b").is_err());
        assert!(validate_queue_name(&"a".repeat(129)).is_err());
        assert_eq!(queue_from_alias("default"), "");
        assert_eq!(queue_from_alias("video"), "video");
    }

    #[test]
    fn free_names_refuse_control_characters() {
        assert!(validate_annotation_name("progress %").is_ok());
        assert!(validate_annotation_name("").is_err());
        assert!(validate_annotation_name("a\0b").is_err());
        assert!(validate_free_name("function", "run\n", 256).is_err());
    }

    #[test]
    fn module_names_cannot_look_like_digests() {
        assert!(validate_module_name("hello").is_ok());
        assert!(validate_module_name("sha256:abc").is_err());
    }
}
