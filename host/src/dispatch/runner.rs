//! Running one claimed job: where a job meets the sandbox.

use std::sync::Arc;

use tracing::Instrument;

use super::{AgentSlots, DispatchContext, Shared};
use crate::model::{CapturedOutput, CompositeKind, Failure, FailureKind, Job, RunOutcome};
use crate::runtime::JobCall;
use crate::store::JobFinishParams;

/// Runs `job` (already started) under `agent`'s caps and records the
/// outcome. The agent's slot is freed as soon as the guest is done, before
/// the outcome is written, so the next job can start meanwhile.
pub(super) async fn run_job(shared: Arc<Shared>, agent: Arc<AgentSlots>, job: Job) {
    let span = tracing::info_span!("job", id = %job.id, queue = %job.queue, function = %job.function, attempt = job.attempts);
    async move {
        let (outcome, output) = if CompositeKind::of_function(&job.function).is_some() {
            (start_composite(&shared, &job).await, CapturedOutput::default())
        } else {
            run_guest(&shared, &agent, &job).await
        };
        agent.release();
        shared.service.events().work_available();
        if let RunOutcome::Failure(failure) = &outcome {
            tracing::info!(error.type = failure.kind.as_str(), message = %failure.message, "job failed");
        }
        let finish = JobFinishParams {
            id: job.id,
            dispatcher: shared.config.id,
            outcome,
            output,
            now: shared.service.clock().now(),
        };
        if let Err(error) = shared.completer.finish(finish).await {
            tracing::error!(%error, "could not record the job's outcome");
        }
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

/// Runs a guest job in the sandbox.
async fn run_guest(shared: &Shared, agent: &AgentSlots, job: &Job) -> (RunOutcome, CapturedOutput) {
    match shared.loader.load(&job.module).await {
        Ok(prepared) => {
            let limits = agent.limits_for(&job.limits);
            let call = JobCall {
                function: job.function.clone(),
                args: job.args.clone(),
            };
            let context = Arc::new(DispatchContext::new(shared.service.clone(), job.clone()));
            let report = shared
                .service
                .runtime()
                .run(&prepared, call, limits, context)
                .await;
            (report.outcome, report.output)
        }
        Err(failure) => (RunOutcome::Failure(failure), CapturedOutput::default()),
    }
}
