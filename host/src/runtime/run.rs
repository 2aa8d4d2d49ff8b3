//! Running one job: a fresh store, instantiation from the pre-linked
//! component, the call of `run`, and the outcome.

use std::sync::Arc;
use std::time::Instant;

use super::context::{self, ContextState, JobContext};
use super::http::{HttpUsage, JobHttp};
use super::limits::{self, Deadline, Evidence};
use super::output::TailPipe;
use super::store::{self, StoreSetup};
use super::{JobCall, Limits, Prepared, RunReport, Runtime};
use crate::model::{CapturedOutput, Failure, FailureKind, JobId, RunOutcome};

/// The largest result a job may return, in bytes of JSON text.
pub const RESULT_MAX: usize = 16 << 20;

impl Runtime {
    /// Runs `call` of `prepared` in a fresh store under `limits`, talking
    /// to the outside world through `context`.
    ///
    /// Never fails and never panics on a guest problem: traps, exhaustion
    /// of fuel, memory or time, panics and instantiation errors all come
    /// back as [`RunOutcome::Failure`]. When all slots of the instance pool
    /// are busy, it waits for one.
    ///
    /// It opens no tracing span of its own: the caller runs it inside the
    /// job's (one `job` span per run, whoever runs it).
    pub async fn run(
        &self,
        prepared: &Prepared,
        call: JobCall,
        limits: Limits,
        context: Arc<dyn JobContext>,
    ) -> RunReport {
        let started = Instant::now();
        let config = &self.inner.config;
        let limits = self.effective_limits(limits);
        let stdout = TailPipe::new(config.output_limit_bytes);
        let stderr = TailPipe::new(config.output_limit_bytes);
        let queue = context.job_info().queue;
        let recorder = context.clone();
        let mut spent = Spent::default();
        let (outcome, http) = match self.slots().await {
            Ok(_permit) => {
                // The time limit counts from when the job has a slot.
                let deadline = limits.timeout.map(|timeout| Deadline {
                    at: Instant::now() + timeout,
                    timeout,
                });
                let setup = StoreSetup {
                    context: ContextState::with_put_cap(context.clone(), config.put_cap),
                    stdout: stdout.clone(),
                    stderr: stderr.clone(),
                    memory_bytes: limits.memory_bytes.unwrap_or(config.max_memory_bytes),
                    component_limits: config.component_limits,
                    http: JobHttp::new(&config.http, &queue),
                    fuel: limits.fuel,
                    deadline,
                };
                let stop = async move { context.stop_requested().await };
                self.run_store(prepared, call, setup, &stderr, &mut spent, stop)
                    .await
            }
            Err(failure) => (RunOutcome::Failure(failure), HttpUsage::default()),
        };
        match &outcome {
            RunOutcome::Failure(failure) => limits::log_failure(failure),
            _ => tracing::debug!("job succeeded"),
        }
        if !http.is_empty() {
            record_http(&*recorder, http).await;
        }
        RunReport {
            outcome,
            output: CapturedOutput {
                stdout: stdout.contents(),
                stderr: stderr.contents(),
            },
            fuel_consumed: spent.fuel,
            http,
            elapsed: started.elapsed(),
            limits,
            peak_memory_bytes: spent.peak_memory_bytes,
            output_bytes: stdout.written() + stderr.written() + spent.result_bytes,
        }
    }

    /// The limits a run asked for `asked` gets: each one it leaves out is
    /// the runtime's default, and memory is never above the runtime's
    /// maximum. Every field of the answer is set: no run is unlimited.
    pub fn effective_limits(&self, asked: Limits) -> Limits {
        let config = &self.inner.config;
        Limits {
            fuel: Some(asked.fuel.unwrap_or(config.default_fuel)),
            memory_bytes: Some(
                asked
                    .memory_bytes
                    .unwrap_or(config.default_memory_bytes)
                    .min(config.max_memory_bytes),
            ),
            timeout: Some(asked.timeout.unwrap_or(config.default_timeout)),
        }
    }

    async fn slots(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Failure> {
        self.inner
            .slots
            .acquire()
            .await
            .map_err(|_| Failure::new(FailureKind::HostError, "the runtime is shutting down"))
    }

    async fn run_store(
        &self,
        prepared: &Prepared,
        call: JobCall,
        setup: StoreSetup,
        stderr: &TailPipe,
        spent: &mut Spent,
        stop: impl Future<Output = ()>,
    ) -> (RunOutcome, HttpUsage) {
        let fuel = setup.fuel;
        let deadline = setup.deadline;
        if !wasmtime::Engine::same(prepared.pre.instance_pre().engine(), &self.inner.engine) {
            let failure = Failure::new(
                FailureKind::HostError,
                "the component was prepared by another runtime",
            );
            return (RunOutcome::Failure(failure), HttpUsage::default());
        }
        let mut store = match store::new_store(&self.inner.engine, setup) {
            Ok(store) => store,
            Err(e) => {
                let failure = Failure::new(
                    FailureKind::HostError,
                    format!("cannot create the store: {e:#}"),
                );
                return (RunOutcome::Failure(failure), HttpUsage::default());
            }
        };
        let args = call.args.to_string();
        let mut instantiating = true;
        let result = {
            let store = &mut store;
            let instantiating = &mut instantiating;
            let call = async move {
                let job = prepared.pre.instantiate_async(&mut *store).await?;
                *instantiating = false;
                crate::metrics::instantiated();
                job.call_run(&mut *store, &call.function, &args).await
            };
            let limited = async move {
                match deadline {
                    // The epoch callback stops a computing guest; this
                    // stops one waiting in a host call.
                    Some(deadline) => tokio::time::timeout_at(deadline.at.into(), call)
                        .await
                        .unwrap_or_else(|_| Err(limits::DeadlineExceeded.into())),
                    None => call.await,
                }
            };
            // A computing guest yields every epoch tick, a waiting one at
            // its host call: either way dropping the call stops it.
            tokio::select! {
                result = limited => result,
                () = stop => Err(limits::Stopped.into()),
            }
        };
        spent.fuel = store
            .get_fuel()
            .ok()
            .map(|left| fuel.unwrap_or(u64::MAX).saturating_sub(left));
        spent.peak_memory_bytes = store.data().limiter.peak();
        let mut outcome = match result {
            Ok(Ok(outcome)) => {
                if let context::wit::Outcome::Value(json) = &outcome {
                    spent.result_bytes = json.len() as u64;
                }
                returned(outcome)
            }
            Ok(Err(error)) => guest_error(error),
            Err(error) => {
                let state = store.data();
                let timed_out =
                    state.timed_out || error.downcast_ref::<limits::DeadlineExceeded>().is_some();
                let evidence = Evidence {
                    timed_out: timed_out.then(|| deadline.map(|d| d.timeout)).flatten(),
                    fuel,
                    memory: &state.limiter,
                    panic: state.context.panic_message(),
                    stderr: &stderr.contents(),
                    instantiating,
                };
                RunOutcome::Failure(limits::classify(&error, &evidence))
            }
        };
        if let RunOutcome::Failure(failure) = &mut outcome {
            name_denials(failure, &store.data().denied());
        }
        (outcome, store.data().http.usage())
    }
}

/// What a run consumed, as far as the store shows it.
#[derive(Debug, Default)]
struct Spent {
    fuel: Option<u64>,
    peak_memory_bytes: u64,
    result_bytes: u64,
}

/// Adds a run's HTTP requests to the job's [`context::HTTP_ANNOTATION`],
/// which counts them over all its attempts. A failure to record is
/// logged: the run's outcome stands.
async fn record_http(context: &dyn JobContext, usage: HttpUsage) {
    let name = context::HTTP_ANNOTATION;
    let before = match context.get_annotation(None, name).await {
        Ok(Some(value)) => serde_json::from_value::<HttpUsage>(value).unwrap_or_default(),
        Ok(None) => HttpUsage::default(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the job's HTTP record");
            HttpUsage::default()
        }
    };
    let total = HttpUsage {
        requests: before.requests + usage.requests,
        denied: before.denied + usage.denied,
        response_bytes: before.response_bytes + usage.response_bytes,
    };
    let value = serde_json::to_value(total).unwrap_or_default();
    if let Err(e) = context.set_annotation(None, name, value).await {
        tracing::warn!(error = %e, "cannot record the job's HTTP requests");
    }
}

/// Adds what the sandbox refused to a failure's detail, so that a job
/// that failed after a denial says which capability it was refused.
fn name_denials(failure: &mut Failure, denied: &[String]) {
    if denied.is_empty() {
        return;
    }
    let mut note = String::from("the sandbox denied:");
    for line in denied {
        note.push_str("\n  ");
        note.push_str(line);
    }
    failure.detail = Some(match failure.detail.take() {
        Some(detail) if !detail.is_empty() => format!("{detail}\n\n{note}"),
        _ => note,
    });
}

/// The outcome of a `run` that returned `ok`.
fn returned(outcome: context::wit::Outcome) -> RunOutcome {
    match outcome {
        context::wit::Outcome::Value(json) if json.len() > RESULT_MAX => {
            RunOutcome::Failure(Failure::new(
                FailureKind::ResultTooLarge,
                format!(
                    "the job returned a result of {} bytes; the limit is {RESULT_MAX} bytes",
                    json.len()
                ),
            ))
        }
        context::wit::Outcome::Value(json) => match serde_json::from_str(&json) {
            Ok(value) => RunOutcome::Value(value),
            Err(e) => bad_result(format!(
                "the job returned a value that is not valid JSON: {e}"
            )),
        },
        context::wit::Outcome::AwaitJob(id) => match id.parse::<JobId>() {
            Ok(id) => RunOutcome::Await(id),
            Err(_) => bad_result(format!(
                "the job asked to await `{}`, which is not a job id",
                context::truncate(id, 64)
            )),
        },
    }
}

/// A result the guest got wrong: its fault, reported like its own error.
fn bad_result(message: String) -> RunOutcome {
    let mut failure = Failure::new(FailureKind::GuestError, message);
    failure.guest_kind = Some("invalid-result".into());
    RunOutcome::Failure(failure)
}

/// The `err` of `run`: an error the job reported on purpose.
fn guest_error(error: context::wit::JobError) -> RunOutcome {
    RunOutcome::Failure(Failure {
        kind: FailureKind::GuestError,
        message: error.message,
        detail: error.detail,
        guest_kind: Some(error.kind),
        permanent: error.permanent,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            20 => any::<String>(),
            10 => "[\\[\\]{}\",:0-9a-z\\\\ ]{0,40}",
            1 => Just(format!("\"{}\"", "x".repeat(RESULT_MAX - 2))),
            1 => Just(format!("\"{}\"", "x".repeat(RESULT_MAX))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever a guest returns, the result path gives a value, an
        /// await, or a typed failure: never a panic.
        #[test]
        fn any_result_becomes_a_value_an_await_or_a_typed_failure(text in text(), awaits in any::<bool>()) {
            let len = text.len();
            let outcome = if awaits {
                context::wit::Outcome::AwaitJob(text)
            } else {
                context::wit::Outcome::Value(text)
            };
            match returned(outcome) {
                RunOutcome::Value(_) => prop_assert!(!awaits && len <= RESULT_MAX),
                RunOutcome::Await(_) => prop_assert!(awaits),
                RunOutcome::Failure(failure) if failure.kind == FailureKind::ResultTooLarge => {
                    prop_assert!(!awaits && len > RESULT_MAX);
                    prop_assert!(failure.message.contains(&len.to_string()), "{}", failure.message);
                    prop_assert!(failure.message.contains(&RESULT_MAX.to_string()));
                }
                RunOutcome::Failure(failure) => {
                    prop_assert_eq!(failure.kind, FailureKind::GuestError);
                    prop_assert_eq!(failure.guest_kind.as_deref(), Some("invalid-result"));
                }
            }
        }
    }
}
