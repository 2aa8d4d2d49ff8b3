//! What a component must export: the `run` entry point with exactly the
//! type of the `job` world (checked on the compiled component, with
//! wasmtime's types, so what is accepted is what the runtime can call),
//! and the job functions and their arities that a guest SDK may declare in
//! custom sections, read here so the host can list them and check
//! arguments before a job is put.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};

use super::super::describe;
use super::ValidationError;
use crate::model::Arity;

/// The name of the job entry point a component must export.
pub const ENTRY_POINT: &str = "run";
/// Its WIT signature, as the `job` world declares it.
pub const ENTRY_POINT_SIGNATURE: &str =
    "run: func(function: string, args: string) -> result<outcome, job-error>";

/// The custom section in which a guest SDK may list the job functions of a
/// component: a JSON array of strings, or names separated by newlines or
/// NUL bytes (what `#[link_section]` statics concatenate to).
pub const FUNCTIONS_SECTION: &str = "wasync-functions";

/// The custom section in which a guest SDK may declare how many positional
/// arguments each job function takes: a JSON object
/// `{"name": {"min": M, "max": N}, ...}` (`max` left out: no upper bound).
/// Several objects in a row (sections concatenated by the linker) are
/// merged; a function it does not name is not checked. The Rust SDK's
/// `export_jobs!` writes it (see docs/languages.md).
pub const SIGNATURES_SECTION: &str = "wasync-signatures";

pub(super) fn parse_functions(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let trimmed = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if trimmed.starts_with('[')
        && let Ok(names) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return names;
    }
    text.split(['\n', '\0'])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The arities a [`SIGNATURES_SECTION`] declares: JSON objects, one after
/// another (NUL padding and whitespace between them ignored). A `min`
/// above `max` is refused: no argument list could fit.
pub(super) fn parse_signatures(data: &[u8]) -> Result<Vec<(String, Arity)>, ValidationError> {
    let bad = |message: String| ValidationError::BadSignatures(message);
    let text = std::str::from_utf8(data).map_err(|e| bad(e.to_string()))?;
    let text = text.replace('\0', " ");
    let mut declared = Vec::new();
    let objects = serde_json::Deserializer::from_str(&text)
        .into_iter::<std::collections::BTreeMap<String, Arity>>();
    for object in objects {
        for (function, arity) in object.map_err(|e| bad(e.to_string()))? {
            if arity.max.is_some_and(|max| arity.min > max) {
                return Err(bad(format!(
                    "`{function}` declares min {} above max {}",
                    arity.min,
                    arity.max.unwrap_or_default()
                )));
            }
            declared.push((function, arity));
        }
    }
    Ok(declared)
}

/// Checks the type of `run` on the compiled component.
pub(crate) fn check_entry_point(
    engine: &Engine,
    component: &Component,
) -> Result<(), ValidationError> {
    let ty = component.component_type();
    let Some(run) = ty.get_export(engine, ENTRY_POINT) else {
        return Err(ValidationError::MissingEntryPoint);
    };
    match &run.ty {
        ComponentItem::ComponentFunc(func) if is_entry_point(func) => Ok(()),
        item => Err(ValidationError::WrongEntryPointType {
            found: describe::describe_item(ENTRY_POINT, item),
        }),
    }
}

pub(in crate::runtime) fn is_entry_point(func: &ComponentFunc) -> bool {
    let params: Vec<Type> = func.params().map(|(_, ty)| ty).collect();
    let results: Vec<Type> = func.results().collect();
    if func.async_() || params != [Type::String, Type::String] || results.len() != 1 {
        return false;
    }
    let Type::Result(result) = &results[0] else {
        return false;
    };
    let ok_is_outcome = matches!(result.ok(), Some(Type::Variant(v)) if {
        let cases: Vec<_> = v.cases().map(|c| (c.name.to_owned(), c.ty)).collect();
        cases == [("value".to_owned(), Some(Type::String)), ("await-job".to_owned(), Some(Type::String))]
    });
    let err_is_job_error = matches!(result.err(), Some(Type::Record(r)) if {
        let fields: Vec<_> = r.fields().map(|f| (f.name.to_owned(), f.ty)).collect();
        fields.len() == 4
            && fields[0] == ("kind".to_owned(), Type::String)
            && fields[1] == ("message".to_owned(), Type::String)
            && fields[2].0 == "detail"
            && matches!(&fields[2].1, Type::Option(o) if o.ty() == Type::String)
            && fields[3] == ("permanent".to_owned(), Type::Bool)
    });
    ok_is_outcome && err_is_job_error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_functions_section_takes_json_or_separated_names() {
        assert_eq!(parse_functions(br#"["a","b"]"#), ["a", "b"]);
        assert_eq!(
            parse_functions(b"add\necho\n\0hello\0"),
            ["add", "echo", "hello"]
        );
        assert!(parse_functions(b"").is_empty());
    }

    #[test]
    fn the_signatures_section_declares_arities() {
        let arity = |min, max| Arity { min, max };
        assert_eq!(
            parse_signatures(br#"{"add":{"min":2,"max":2},"increase":{"min":1,"max":3}}"#).unwrap(),
            [
                ("add".to_owned(), arity(2, Some(2))),
                ("increase".to_owned(), arity(1, Some(3)))
            ]
        );
        // Concatenated sections, NUL padding, no upper bound.
        assert_eq!(
            parse_signatures(b"{\"a\":{\"min\":0}}\0\0{}\n{\"b\":{\"min\":1,\"max\":1}}").unwrap(),
            [
                ("a".to_owned(), arity(0, None)),
                ("b".to_owned(), arity(1, Some(1)))
            ]
        );
        assert!(parse_signatures(b"").unwrap().is_empty());
        for bad in [
            &br#"{"add":{"min":3,"max":2}}"#[..],
            br#"{"add":{"min":-1}}"#,
            br#"{"add":{"max":2}}"#,
            br#"{"add":{"min":1,"arity":2}}"#,
            br#"["add"]"#,
            br#"{"add":"#,
            b"\xff",
        ] {
            let err = parse_signatures(bad).unwrap_err();
            assert!(
                err.to_string().contains(SIGNATURES_SECTION),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
