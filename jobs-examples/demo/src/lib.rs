//! `demo`: zc.async's `increase(value=1)` example, a job with an optional
//! parameter that works with positional and named arguments.

#![deny(missing_docs)]

use wasync_guest::job;

/// `counter + value`, with `value` 1 when omitted: `[5]` → 6,
/// `[5, 10]` → 15, `{"counter": 6, "value": 10}` → 16.
#[job]
pub fn increase(counter: i64, value: Option<i64>) -> i64 {
    counter.wrapping_add(value.unwrap_or(1))
}

wasync_guest::export_jobs!(increase);

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wasync_guest::testing;

    use super::jobs;

    fn increase(args: serde_json::Value) -> Result<wasync_guest::Outcome, wasync_guest::Error> {
        testing::run(jobs(), "increase", args)
    }

    #[test]
    fn positional_and_named() {
        assert_eq!(increase(json!([5])).unwrap().value(), Some(json!(6)));
        assert_eq!(increase(json!([5, 10])).unwrap().value(), Some(json!(15)));
        let named = increase(json!({"counter": 6, "value": 10})).unwrap();
        assert_eq!(named.value(), Some(json!(16)));
        let named = increase(json!({"counter": 6})).unwrap();
        assert_eq!(named.value(), Some(json!(7)));
    }

    #[test]
    fn missing_counter_is_a_bad_argument() {
        let err = increase(json!({"value": 10})).unwrap_err();
        assert_eq!(err.kind, "bad-arguments");
        assert_eq!(err.message, "increase: missing required argument `counter`");
        let err = increase(json!([1, 2, 3])).unwrap_err();
        assert_eq!(err.kind, "bad-arguments");
    }
}
