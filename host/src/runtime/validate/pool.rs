//! The compiler's refusals over the pooling allocator's per-component
//! limits (core instances, memories, tables, instance bytes). wasmtime
//! says only that a maximum is exceeded; the refusal names the server
//! setting that raises it and the component's figure, so the uploader
//! knows whether to shrink the component or ask for a larger limit.

use super::super::ComponentLimits;
use super::ValidationError;

/// The compiler's refusal of a component: over a per-component limit of
/// the pooling allocator (named, with the component's figure), or invalid.
pub(crate) fn compile_error(error: &wasmtime::Error, limits: &ComponentLimits) -> ValidationError {
    let message = format!("{error:#}");
    // wasmtime: "The component transitively contains 38 core module
    // instances, which exceeds the configured maximum of 20 in the pooling
    // allocator" (likewise "Wasm linear memories", "tables").
    let counted = [
        (
            "core module instances",
            "core instances",
            limits.core_instances,
            "max_core_instances_per_component",
        ),
        (
            "Wasm linear memories",
            "linear memories",
            limits.memories,
            "max_memories_per_component",
        ),
        (
            "tables, which exceeds",
            "tables",
            limits.tables,
            "max_tables_per_component",
        ),
    ];
    // wasmtime: "instance allocation for this module requires 1280332
    // bytes which exceeds the configured maximum of 1048576 bytes" (or
    // "for this component requires ...").
    if let Some(at) = message.find("instance allocation for this ") {
        let found = message[at..]
            .split_once("requires ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        if let Some(found) = found {
            return ValidationError::OverLimit {
                what: "bytes of instance state (about 32 per function)",
                found,
                limit: limits.instance_bytes as u64,
                setting: "max_instance_bytes",
            };
        }
    }
    for (marker, what, limit, setting) in counted {
        let Some(at) = message.find(marker) else {
            continue;
        };
        let found = message[..at]
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok());
        if let Some(found) = found {
            return ValidationError::OverLimit {
                what,
                found,
                limit: limit.into(),
                setting,
            };
        }
    }
    ValidationError::Invalid(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_limit_errors_name_the_setting_and_the_figure() {
        let limits = ComponentLimits::default();
        for (wasmtime_says, what, setting) in [
            (
                "The component transitively contains 38 core module instances, which exceeds the configured maximum of 20 in the pooling allocator",
                "core instances",
                "max_core_instances_per_component",
            ),
            (
                "The component transitively contains 3 Wasm linear memories, which exceeds the configured maximum of 2 in the pooling allocator",
                "linear memories",
                "max_memories_per_component",
            ),
            (
                "The component transitively contains 17 tables, which exceeds the configured maximum of 16 in the pooling allocator",
                "tables",
                "max_tables_per_component",
            ),
        ] {
            let err = compile_error(&wasmtime::Error::msg(wasmtime_says), &limits);
            let ValidationError::OverLimit {
                what: w,
                setting: s,
                found,
                ..
            } = &err
            else {
                panic!("{err:?}");
            };
            assert_eq!((*w, *s), (what, setting));
            assert!(wasmtime_says.contains(&format!(" {found} ")));
        }
        let size = compile_error(
            &wasmtime::Error::msg(
                "module instance size does not fit in pooling allocator requirements: instance \
                 allocation for this module requires 1280332 bytes which exceeds the configured \
                 maximum of 1048576 bytes",
            ),
            &limits,
        );
        assert!(
            matches!(
                &size,
                ValidationError::OverLimit {
                    found: 1280332,
                    setting: "max_instance_bytes",
                    ..
                }
            ),
            "{size:?}"
        );
        let other = compile_error(&wasmtime::Error::msg("bad magic"), &limits);
        assert_eq!(other, ValidationError::Invalid("bad magic".into()));
    }
}
