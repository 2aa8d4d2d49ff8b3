//! `failing`: every way a job can fail, for the host's failure tests: a
//! typed error, a permanent error, a panic, a real wasm trap, and a
//! division that refuses zero.

#![deny(missing_docs)]

use std::fmt;

use wasync_guest::job;

/// A typed error whose kind the SDK names after the type and variant
/// (`LookupError::NotFound`).
#[derive(Debug)]
pub enum LookupError {
    /// Nothing is registered under the code.
    NotFound(String),
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotFound(code) => write!(f, "no entry for code {code:?}"),
        }
    }
}

impl std::error::Error for LookupError {}

/// Always fails with `LookupError::NotFound(code)`.
#[job]
pub fn typed_error(code: String) -> Result<String, LookupError> {
    Err(LookupError::NotFound(code))
}

/// Always fails with a permanent error (kind `invalid-input`): the host
/// must not retry it whatever the retry policy.
#[job]
pub fn permanent_error() -> Result<(), wasync_guest::Error> {
    Err(
        wasync_guest::Error::permanent("invalid-input", "this job can never succeed")
            .with_detail("permanent_error always fails, on purpose"),
    )
}

/// Panics with `message`, three named calls deep so that the backtrace
/// shows `panics` → `validate_input` → `explode`.
#[job]
#[inline(never)]
pub fn panics(message: String) -> u32 {
    validate_input(&message)
}

#[inline(never)]
fn validate_input(message: &str) -> u32 {
    explode(std::hint::black_box(message))
}

#[inline(never)]
fn explode(message: &str) -> u32 {
    panic!("{message}")
}

/// Executes a wasm `unreachable` instruction (a trap the SDK cannot see),
/// through `trap` → `corrupt_state` → `hit_unreachable`. Natively, where
/// there is no such instruction, it panics instead.
#[job]
#[inline(never)]
pub fn trap() -> u32 {
    corrupt_state()
}

#[inline(never)]
fn corrupt_state() -> u32 {
    hit_unreachable(std::hint::black_box(7))
}

#[inline(never)]
fn hit_unreachable(code: u32) -> u32 {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = code;
        core::arch::wasm32::unreachable()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        panic!("trap {code}: natively there is no wasm unreachable instruction")
    }
}

/// The error of [`divide`].
#[derive(Debug)]
pub enum MathError {
    /// The divisor was zero.
    DivisionByZero,
    /// The result does not fit an `i64` (`i64::MIN / -1`).
    Overflow,
}

impl fmt::Display for MathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MathError::DivisionByZero => f.write_str("cannot divide by zero"),
            MathError::Overflow => f.write_str("the quotient overflows i64"),
        }
    }
}

impl std::error::Error for MathError {}

/// `a / b`, truncating; an error when `b` is 0.
#[job]
pub fn divide(a: i64, b: i64) -> Result<i64, MathError> {
    match b {
        0 => Err(MathError::DivisionByZero),
        _ => a.checked_div(b).ok_or(MathError::Overflow),
    }
}

/// Puts `typed_error("child")` with a retry policy of `attempts` runs 10 ms
/// apart (`JobRequest::retry`) and returns it to await: the child fails
/// `attempts` times, then this job completes with its failure.
#[job]
pub fn retried_child(attempts: u32) -> Result<wasync_guest::Await, wasync_guest::Error> {
    let child = wasync_guest::put(
        wasync_guest::JobRequest::new("typed_error")
            .arg("child")
            .retry(serde_json::json!({
                "max_attempts": attempts,
                "backoff": {"initial_ms": 10, "increment_ms": 0}
            })),
    )?;
    Ok(wasync_guest::Await(child))
}

wasync_guest::export_jobs!(
    typed_error,
    permanent_error,
    panics,
    trap,
    divide,
    retried_child
);

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wasync_guest::testing::{self, FakeContext};

    use super::jobs;

    #[test]
    fn retried_child_puts_the_child_with_its_policy() {
        let ctx = FakeContext::new();
        let out = ctx.run(jobs(), "retried_child", json!([2])).unwrap();
        let puts = ctx.puts();
        assert_eq!(puts.len(), 1);
        assert_eq!(out.awaited(), Some(&puts[0].id));
        assert_eq!(puts[0].function, "typed_error");
        assert_eq!(puts[0].retry.as_ref().unwrap()["max_attempts"], 2);
    }

    #[test]
    fn typed_error_names_type_and_variant() {
        let e = testing::run(jobs(), "typed_error", json!(["x9"])).unwrap_err();
        assert_eq!(e.kind, "LookupError::NotFound");
        assert_eq!(e.message, "no entry for code \"x9\"");
        assert_eq!(e.detail.as_deref(), Some("NotFound(\"x9\")"));
        assert!(!e.permanent);
    }

    #[test]
    fn permanent_error_is_permanent() {
        let e = testing::run(jobs(), "permanent_error", json!([])).unwrap_err();
        assert_eq!(e.kind, "invalid-input");
        assert!(e.permanent);
    }

    #[test]
    fn panics_report_the_message() {
        let ctx = FakeContext::new();
        let e = ctx.run(jobs(), "panics", json!(["boom"])).unwrap_err();
        assert_eq!(e.kind, "panic");
        assert!(e.message.starts_with("boom (at "), "{}", e.message);
        assert!(e.message.contains("failing/src/lib.rs"), "{}", e.message);
        assert_eq!(ctx.panics(), vec![e.message]);
    }

    #[test]
    fn trap_panics_natively() {
        let e = testing::run(jobs(), "trap", json!([])).unwrap_err();
        assert_eq!(e.kind, "panic");
        assert!(e.message.starts_with("trap 7"), "{}", e.message);
    }

    #[test]
    fn divide() {
        let ok = testing::run(jobs(), "divide", json!([7, 2])).unwrap();
        assert_eq!(ok.value(), Some(json!(3)));
        let e = testing::run(jobs(), "divide", json!([7, 0])).unwrap_err();
        assert_eq!(e.kind, "MathError::DivisionByZero");
        assert_eq!(e.message, "cannot divide by zero");
        let e = testing::run(jobs(), "divide", json!([i64::MIN, -1])).unwrap_err();
        assert_eq!(e.kind, "MathError::Overflow");
    }
}
