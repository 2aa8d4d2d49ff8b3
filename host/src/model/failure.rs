//! Failures: why a job did not produce a value.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The category of a failure. The names are stable: they are stored,
/// shown in the API and logged as `error.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The job returned an error on purpose (the `err` of `run`).
    GuestError,
    /// The guest panicked; the message is the panic message.
    Panic,
    /// The guest trapped (unreachable, out-of-bounds access, ...).
    Trap,
    /// The guest used up its fuel budget.
    OutOfFuel,
    /// The guest asked for more memory (or tables, or instances) than its
    /// limit allows.
    MemoryLimit,
    /// The guest ran past its wall-clock deadline, or the job was not
    /// started before its `begin_by`.
    Timeout,
    /// The run was cut short by its dispatcher stopping or dying.
    Interrupted,
    /// The job was given up on (e.g. too many interruptions).
    Aborted,
    /// The host could not run the job at all (module missing or invalid,
    /// instantiation refused).
    HostError,
    /// The job was cancelled: before it ran, or while it ran (the run was
    /// stopped). Its status is `cancelled`.
    Cancelled,
    /// The job returned a result larger than the result cap.
    ResultTooLarge,
    /// The job called a host import with an argument larger than the
    /// import argument cap.
    ArgumentTooLarge,
}

impl FailureKind {
    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::GuestError => "guest-error",
            FailureKind::Panic => "panic",
            FailureKind::Trap => "trap",
            FailureKind::OutOfFuel => "out-of-fuel",
            FailureKind::MemoryLimit => "memory-limit",
            FailureKind::Timeout => "timeout",
            FailureKind::Interrupted => "interrupted",
            FailureKind::Aborted => "aborted",
            FailureKind::HostError => "host-error",
            FailureKind::Cancelled => "cancelled",
            FailureKind::ResultTooLarge => "result-too-large",
            FailureKind::ArgumentTooLarge => "argument-too-large",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job failed: enough for a user to debug it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    /// The category.
    pub kind: FailureKind,
    /// One line saying what went wrong.
    pub message: String,
    /// The rest: the guest's wasm backtrace with function names, the tail
    /// of its stderr, the guest's own detail for a `guest-error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a `guest-error`: the author's name for the kind of error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_kind: Option<String>,
    /// For a `guest-error`: the guest said retrying cannot help.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub permanent: bool,
}

impl Failure {
    /// A failure with no detail.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            detail: None,
            guest_kind: None,
            permanent: false,
        }
    }

    /// The failure of a job whose `begin_by` passed before it started,
    /// found when a dispatcher looked for work: it was never run.
    pub fn not_started() -> Self {
        Failure::new(
            FailureKind::Timeout,
            "not started by its deadline (begin_after + begin_by): the job was not run",
        )
    }

    /// The failure of a cancelled job: it was never run. Jobs awaiting it complete with it.
    pub fn cancelled() -> Self {
        Failure::new(FailureKind::Cancelled, "cancelled before it ran")
    }

    /// The failure of a job cancelled while a dispatcher held it: its run
    /// (if it had started) was stopped.
    pub fn cancelled_while_held() -> Self {
        Failure::new(
            FailureKind::Cancelled,
            "cancelled while a dispatcher held it: its run was stopped",
        )
    }

    /// The same failure with `detail`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_kebab_case() {
        let f = Failure::new(FailureKind::OutOfFuel, "fuel exhausted");
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "out-of-fuel", "message": "fuel exhausted"})
        );
        assert_eq!(FailureKind::GuestError.as_str(), "guest-error");
        let back: Failure = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
    }
}
