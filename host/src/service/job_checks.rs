//! What a put names, checked before anything is stored: its arguments,
//! its function against what its module declares, and a job definition
//! kept to be put later (a named job, a schedule's job).

use serde_json::Value;

use super::callbacks::refuse_host_function;
use super::names::{queue_from_alias, validate_free_name};
use super::timing::check_begin_by;
use super::{Error, Result, Service};
use crate::model::{JobSpec, ModuleInfo, check_quota_keys};

/// The longest job function name.
pub const FUNCTION_NAME_MAX_LEN: usize = 256;
/// The largest arguments document, in bytes of JSON.
pub const ARGS_MAX_BYTES: usize = 1 << 20;
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
