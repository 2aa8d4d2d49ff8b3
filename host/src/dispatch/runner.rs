//! Running one claimed job: where a job meets the sandbox.

use std::sync::Arc;

use tracing::Instrument;

use super::{AgentSlots, DispatchContext, Shared};
use crate::model::{CapturedOutput, Job, RunOutcome};
use crate::runtime::JobCall;
use crate::store::JobFinishParams;

/// Runs `job` (already started) under `agent`'s caps and records the
/// outcome. The agent's slot is freed as soon as the guest is done, before
/// the outcome is written, so the next job can start meanwhile.
pub(super) async fn run_job(shared: Arc<Shared>, agent: Arc<AgentSlots>, job: Job) {
    let span = tracing::info_span!("job", id = %job.id, queue = %job.queue, function = %job.function, attempt = job.attempts);
    async move {
        let (outcome, output) = match shared.loader.load(&job.module).await {
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
