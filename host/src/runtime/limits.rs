//! Fuel, memory and deadlines, and how a run that hit one is classified.
//!
//! Every failure of a run goes through [`classify`], which picks the
//! [`FailureKind`] in this order: a stop asked for (`cancelled`), an
//! import argument over its cap
//! (`argument-too-large`), the wall-clock deadline (`timeout`), fuel
//! (`out-of-fuel`), a memory growth the limiter denied (`memory-limit`:
//! guests usually abort on a failed allocation rather than trap on it), a
//! panic the guest reported (`panic`), then any other `trap`. The kind is
//! logged as the stable `error.type` field.

use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, Trap, WasmBacktrace};

use super::ComponentLimits;
use super::context::ArgumentTooLarge;
use crate::model::{Failure, FailureKind};

/// How much of the stderr tail goes into a failure's detail.
const DETAIL_STDERR_MAX: usize = 8 * 1024;
/// The size counted for one table element.
const TABLE_ELEMENT_BYTES: u64 = 8;

/// The limits of one run. Each one left `None` is the runtime's default
/// ([`RuntimeConfig`](super::RuntimeConfig)): a run always has a fuel
/// budget, a memory limit and a time limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// The fuel budget (roughly, wasm instructions). `None`: the runtime's
    /// default.
    pub fuel: Option<u64>,
    /// Memory limit in bytes: linear memories and tables together. `None`:
    /// the runtime's default. Capped at the runtime's maximum.
    pub memory_bytes: Option<u64>,
    /// Wall-clock limit of the run. `None`: the runtime's default.
    #[serde(rename = "timeout_ms", serialize_with = "as_millis")]
    pub timeout: Option<Duration>,
}

fn as_millis<S: serde::Serializer>(timeout: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match timeout {
        Some(t) => s.serialize_some(&u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        None => s.serialize_none(),
    }
}

/// The store's resource limiter: a byte budget for all linear memories and
/// tables of a job, plus counts of instances, memories and tables. It
/// remembers a denied growth so the failure reads `memory-limit`.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    counts: ComponentLimits,
    limit: u64,
    used: u64,
    peak: u64,
    last_grant: u64,
    denied: Option<u64>,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes and the instance, memory and table
    /// counts of `counts`.
    pub(crate) fn new(limit: u64, counts: ComponentLimits) -> Self {
        MemoryLimiter {
            counts,
            limit,
            used: 0,
            peak: 0,
            last_grant: 0,
            denied: None,
        }
    }

    /// The total the guest asked for when a growth was denied, if one was.
    pub(crate) fn denied(&self) -> Option<u64> {
        self.denied
    }

    /// The byte budget.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// The most bytes the job held at once.
    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }

    fn grow(&mut self, current: u64, desired: u64) -> bool {
        let delta = desired.saturating_sub(current);
        let total = self.used.saturating_add(delta);
        if total > self.limit {
            self.denied = Some(total);
            false
        } else {
            self.used = total;
            self.peak = self.peak.max(total);
            self.last_grant = delta;
            true
        }
    }

    fn grow_failed(&mut self) {
        self.used -= std::mem::take(&mut self.last_grant);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            // Past the memory's own declared maximum: not our limit.
            return Ok(false);
        }
        Ok(self.grow(current as u64, desired as u64))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        Ok(self.grow(
            current as u64 * TABLE_ELEMENT_BYTES,
            desired as u64 * TABLE_ELEMENT_BYTES,
        ))
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn instances(&self) -> usize {
        self.counts.core_instances as usize
    }

    fn tables(&self) -> usize {
        self.counts.tables as usize
    }

    fn memories(&self) -> usize {
        self.counts.memories as usize
    }
}

/// The error the epoch callback raises when the deadline has passed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the job ran past its deadline")]
pub(crate) struct DeadlineExceeded;

/// The error a run ends with when its context asked it to stop
/// ([`JobContext::stop_requested`](super::JobContext::stop_requested)).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the job was cancelled while it ran: its run was stopped")]
pub(crate) struct Stopped;

/// The wall-clock deadline of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    /// When the run must end.
    pub at: Instant,
    /// The limit it was given.
    pub timeout: Duration,
}

/// What [`classify`] knows about the end of a run besides the error.
#[derive(Debug)]
pub(crate) struct Evidence<'a> {
    /// The deadline was reached (by the epoch callback or the async
    /// timeout).
    pub timed_out: Option<Duration>,
    /// The fuel budget, if limited.
    pub fuel: Option<u64>,
    /// The limiter's view.
    pub memory: &'a MemoryLimiter,
    /// The message of `report-panic`.
    pub panic: Option<&'a str>,
    /// The tail of stderr.
    pub stderr: &'a str,
    /// The error came from instantiating, not from the call.
    pub instantiating: bool,
}

/// Turns the error of an instantiation or a call into a failure.
pub(crate) fn classify(error: &wasmtime::Error, evidence: &Evidence<'_>) -> Failure {
    let trap = error.downcast_ref::<Trap>().copied();
    let (kind, message) = if error.downcast_ref::<Stopped>().is_some() {
        (FailureKind::Cancelled, Stopped.to_string())
    } else if let Some(too_large) = error.downcast_ref::<ArgumentTooLarge>() {
        (FailureKind::ArgumentTooLarge, too_large.to_string())
    } else if let Some(timeout) = evidence.timed_out {
        (
            FailureKind::Timeout,
            format!(
                "the job ran longer than its limit of {}",
                humantime::format_duration(timeout)
            ),
        )
    } else if error.downcast_ref::<DeadlineExceeded>().is_some() {
        (FailureKind::Timeout, DeadlineExceeded.to_string())
    } else if trap == Some(Trap::OutOfFuel) {
        let budget = evidence.fuel.map_or(String::new(), |f| format!(" of {f}"));
        (
            FailureKind::OutOfFuel,
            format!("the job used up its fuel budget{budget}"),
        )
    } else if let Some(asked) = evidence.memory.denied() {
        (
            FailureKind::MemoryLimit,
            format!(
                "the job needed more than its memory limit of {} bytes (it asked for {asked} bytes in all)",
                evidence.memory.limit()
            ),
        )
    } else if let Some(message) = evidence.panic {
        (FailureKind::Panic, message.to_owned())
    } else if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        (
            FailureKind::Trap,
            format!("the job called exit({})", exit.0),
        )
    } else if let Some(trap) = trap {
        (FailureKind::Trap, format!("the job trapped: {trap}"))
    } else if evidence.instantiating {
        (
            FailureKind::HostError,
            format!("cannot instantiate the job: {error}"),
        )
    } else {
        (
            FailureKind::Trap,
            format!("the job failed in a host call: {error}"),
        )
    };
    let mut failure = Failure::new(kind, message);
    failure.detail = detail(error, evidence.stderr);
    failure
}

/// The wasm backtrace and the end of stderr, when there are any.
pub(crate) fn detail(error: &wasmtime::Error, stderr: &str) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(backtrace) = error.downcast_ref::<WasmBacktrace>() {
        parts.push(backtrace.to_string().trim_end().to_owned());
    }
    let stderr = stderr.trim_end();
    if !stderr.is_empty() {
        let start = stderr.len().saturating_sub(DETAIL_STDERR_MAX);
        let start = (start..stderr.len())
            .find(|&i| stderr.is_char_boundary(i))
            .unwrap_or(stderr.len());
        parts.push(format!("stderr:\n{}", &stderr[start..]));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Logs how a run ended, with the stable `error.type`.
pub(crate) fn log_failure(failure: &Failure) {
    tracing::warn!(
        error.type = failure.kind.as_str(),
        error.message = %failure.message,
        "job failed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_counts_all_memories_and_tables_together() {
        let mut limiter = MemoryLimiter::new(100, ComponentLimits::default());
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.table_growing(0, 5, None).unwrap()); // 40 bytes
        assert_eq!(limiter.denied(), None);
        assert!(!limiter.memory_growing(60, 61, None).unwrap());
        assert_eq!(limiter.denied(), Some(101));
        assert_eq!(limiter.peak(), 100);
        // A denial by the memory's own maximum is not ours.
        let mut limiter = MemoryLimiter::new(100, ComponentLimits::default());
        assert!(!limiter.memory_growing(0, 50, Some(10)).unwrap());
        assert_eq!(limiter.denied(), None);
        // A granted growth that then fails gives its bytes back.
        assert!(limiter.memory_growing(0, 80, None).unwrap());
        limiter
            .memory_grow_failed(wasmtime::Error::msg("no"))
            .unwrap();
        assert!(limiter.memory_growing(0, 90, None).unwrap());
    }

    #[test]
    fn kinds_are_picked_in_order() {
        let limiter = MemoryLimiter::new(10, ComponentLimits::default());
        let evidence = |panic| Evidence {
            timed_out: None,
            fuel: Some(5),
            memory: &limiter,
            panic,
            stderr: "",
            instantiating: false,
        };
        let fuel = wasmtime::Error::from(Trap::OutOfFuel);
        let failure = classify(&fuel, &evidence(None));
        assert_eq!(failure.kind, FailureKind::OutOfFuel);
        assert!(failure.message.contains("of 5"));
        let unreachable = wasmtime::Error::from(Trap::UnreachableCodeReached);
        assert_eq!(
            classify(&unreachable, &evidence(None)).kind,
            FailureKind::Trap
        );
        let panic = classify(&unreachable, &evidence(Some("boom")));
        assert_eq!(
            (panic.kind, panic.message.as_str()),
            (FailureKind::Panic, "boom")
        );
        let deadline = wasmtime::Error::from(DeadlineExceeded);
        assert_eq!(
            classify(&deadline, &evidence(None)).kind,
            FailureKind::Timeout
        );
        let too_large = wasmtime::Error::from(ArgumentTooLarge {
            import: "put",
            size: 20,
            cap: 10,
        });
        let failure = classify(&too_large, &evidence(Some("boom")));
        assert_eq!(failure.kind, FailureKind::ArgumentTooLarge);
        assert!(
            failure.message.contains("`put` with 20 bytes"),
            "{failure:?}"
        );
        let stopped = classify(&wasmtime::Error::from(Stopped), &evidence(None));
        assert_eq!(stopped.kind, FailureKind::Cancelled);
        let host = wasmtime::Error::msg("pool exhausted");
        let mut e = evidence(None);
        e.instantiating = true;
        assert_eq!(classify(&host, &e).kind, FailureKind::HostError);
        e.stderr = "line 1\nline 2\n";
        assert_eq!(
            classify(&host, &e).detail.as_deref(),
            Some("stderr:\nline 1\nline 2")
        );
    }
}
