//! Running one claimed job: where a job meets the sandbox.

use std::sync::Arc;

use tracing::Instrument;

use super::{AgentSlots, DispatchContext, Shared, pinger};
use crate::model::{
    CapturedOutput, CompositeKind, Failure, FailureKind, Job, RunLimits, RunOutcome, RunRecord,
    RunUsage,
};
use crate::runtime::{JobCall, RunReport};
use crate::store::{JobFinishParams, JobRetryParams, RetryVerdict};

/// Runs `job` (already started) under `agent`'s caps and records the
/// outcome. The agent's slot is freed as soon as the guest is done, before
/// the outcome is written, so the next job can start meanwhile; the job
/// stays held (see [`super::held`]) until its outcome or retry is written.
pub(super) async fn run_job(shared: Arc<Shared>, agent: Arc<AgentSlots>, job: Job) {
    let span = tracing::info_span!("job", id = %job.id, queue = %job.queue, function = %job.function, attempt = job.attempts);
    async move {
        let (outcome, output, run) = if CompositeKind::of_function(&job.function).is_some() {
            let outcome = start_composite(&shared, &job).await;
            (outcome, CapturedOutput::default(), None)
        } else {
            run_guest(&shared, &agent, &job).await
        };
        agent.release();
        if let Some(run) = run {
            shared.runs.record(run).await;
        }
        if let RunOutcome::Failure(failure) = &outcome
            && failure.kind == FailureKind::Cancelled
        {
            // Stopped because the job completed elsewhere (a cancel) or is
            // no longer this dispatcher's: the store already has its
            // outcome; there is nothing to write.
            tracing::info!("job's run stopped: cancelled while it ran");
            shared.held.let_go(job.id);
            return;
        }
        shared.service.events().work_available();
        pinger::ping_if_silent(&shared).await;
        if let Some(by) = shared.taken_over.borrow().clone() {
            // Handed back when the id was taken over: the run is not this
            // process's to record, and the id now names another's runs.
            tracing::warn!(holder = %by, "dispatcher id taken over while the job ran; its outcome was dropped");
            shared.held.let_go(job.id);
            return;
        }
        if let RunOutcome::Failure(failure) = &outcome {
            tracing::info!(error.type = failure.kind.as_str(), message = %failure.message, "job failed");
        }
        if let RunOutcome::Failure(failure) = &outcome
            && retried(&shared, &job, failure, &output).await
        {
            shared.held.let_go(job.id);
            return;
        }
        let finish = JobFinishParams {
            id: job.id,
            dispatcher: shared.config.id,
            outcome,
            output,
            now: shared.service.clock().now(),
        };
        if let Err(error) = shared.completer.finish(finish).await {
            // Never a fault (the completer waits those out): the outcome
            // cannot be written at all. The self-check hands the job back.
            tracing::error!(%error, "could not record the job's outcome");
            shared.held.check_soon();
        }
        shared.held.let_go(job.id);
    }
    .instrument(span)
    .await
}

/// A composite's run, done by the host: puts the parts whose turn it is
/// and awaits the postprocess (zc.async's `serial`/`parallel` return the
/// postprocess job).
async fn start_composite(shared: &Shared, job: &Job) -> RunOutcome {
    match shared.service.composite_start(job.id).await {
        Ok(postprocess) => RunOutcome::Await(postprocess),
        Err(error) => RunOutcome::Failure(Failure::new(
            FailureKind::HostError,
            format!("could not start composite {}: {error}", job.id),
        )),
    }
}

/// What a run of `job` ran under and consumed, for the record.
fn run_record(shared: &Shared, job: &Job, report: &RunReport) -> RunRecord {
    let limits = report.limits;
    RunRecord {
        job: job.id,
        attempt: job.attempts,
        queue: job.queue.clone(),
        dispatcher: shared.config.id,
        limits: RunLimits {
            fuel: limits.fuel.unwrap_or(u64::MAX),
            memory_bytes: limits.memory_bytes.unwrap_or(u64::MAX),
            timeout_ms: limits.timeout.map_or(u64::MAX, |t| {
                u64::try_from(t.as_millis()).unwrap_or(u64::MAX)
            }),
        },
        usage: RunUsage {
            fuel: report.fuel_consumed.unwrap_or(0),
            peak_memory_bytes: report.peak_memory_bytes,
            wall_ms: u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            output_bytes: report.output_bytes,
        },
        ended_at: shared.service.clock().now(),
    }
}

/// Runs a guest job in the sandbox: its outcome, output and the record of
/// the run (none when the component could not be loaded).
async fn run_guest(
    shared: &Shared,
    agent: &AgentSlots,
    job: &Job,
) -> (RunOutcome, CapturedOutput, Option<RunRecord>) {
    match shared.loader.load(&job.module).await {
        Ok(prepared) => {
            let limits = agent.limits_for(&job.limits);
            let call = JobCall {
                function: job.function.clone(),
                args: job.args.clone(),
            };
            let events = shared.service.events();
            let running = events.running(job.id);
            let context = Arc::new(DispatchContext::new(
                shared.service.clone(),
                job.clone(),
                running.stop(),
            ));
            let report = shared
                .service
                .runtime()
                .run(&prepared, call, limits, context)
                .await;
            drop(running);
            let run = run_record(shared, job, &report);
            (report.outcome, report.output, Some(run))
        }
        Err(failure) => (
            RunOutcome::Failure(failure),
            CapturedOutput::default(),
            None,
        ),
    }
}

/// Asks the store to try the job again after a failed run, as its retry
/// policy says (m01.remote's retry counter and delay). True when the job
/// is taken care of (back in its queue, or no longer this dispatcher's);
/// false when the failure is final and must be recorded as the outcome.
async fn retried(shared: &Shared, job: &Job, failure: &Failure, output: &CapturedOutput) -> bool {
    if failure.permanent {
        // m01.remote's RemoteException: never retried, whatever the policy.
        return false;
    }
    let params = JobRetryParams {
        id: job.id,
        dispatcher: shared.config.id,
        failure: failure.clone(),
        output: output.clone(),
        now: shared.service.clock().now(),
    };
    // Waits out the database's faults: a retry decided is not lost either.
    let store = shared.service.store();
    let verdict = shared
        .service
        .health()
        .through_faults(|| store.job_retry(params.clone()))
        .await;
    match verdict {
        Ok(RetryVerdict::Retried { at, failures }) => {
            shared.service.health().wrote();
            tracing::info!(%at, failures, "job goes back to its queue, as its retry policy says");
            shared.service.events().work_available();
            true
        }
        Ok(RetryVerdict::Final) => false,
        Ok(RetryVerdict::Reassigned) => {
            tracing::warn!("job was reassigned while it ran; its failure was dropped");
            true
        }
        Err(error) => {
            // Better a failure recorded as final than one lost.
            tracing::error!(%error, "could not ask for a retry; recording the failure");
            false
        }
    }
}
