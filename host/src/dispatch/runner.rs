//! Running one claimed job: where a job meets the sandbox.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use super::{AgentSlots, Finished, Shared, pinger};
use crate::model::{
    CapturedOutput, CompositeKind, Failure, FailureKind, Job, RunLimits, RunOutcome, RunRecord,
    RunUsage,
};
use crate::runtime::{JobCall, RunReport};
use crate::store::JobFinishParams;

/// Spawns the run of `job` (already started) on one of `agent`'s slots,
/// which the caller took for it.
pub(super) fn spawn(shared: &Arc<Shared>, agent: &Arc<AgentSlots>, job: Job) {
    shared.running.spawn_on(
        run_job(shared.clone(), agent.clone(), job),
        shared.guests.handle(),
    );
}

/// Runs `job` (already started) under `agent`'s caps and hands the
/// outcome to the completer, which writes it with the run's record in one
/// transaction (a failure's retry policy decides there whether the job
/// goes back to its queue). The agent's slot
/// goes to its next waiting job (or is freed) as soon as the guest is
/// done, before the outcome is written, so the next job runs meanwhile;
/// the job stays held (see [`super::held`]) until its outcome is written.
async fn run_job(shared: Arc<Shared>, agent: Arc<AgentSlots>, job: Job) {
    let span = tracing::info_span!("job", id = %job.id, queue = %job.queue, function = %job.function, attempt = job.attempts);
    async move {
        let began = Instant::now();
        let (outcome, output, run) = if CompositeKind::of_function(&job.function).is_some() {
            let outcome = start_composite(&shared, &job).await;
            (outcome, CapturedOutput::default(), None)
        } else {
            run_guest(&shared, &agent, &job).await
        };
        let handed_on = hand_on_slot(&shared, &agent, began.elapsed());
        if let RunOutcome::Failure(failure) = &outcome
            && failure.kind == FailureKind::Cancelled
        {
            // Stopped because the job completed elsewhere (a cancel) or is
            // no longer this dispatcher's: the store already has its
            // outcome; there is nothing to write but the run's record.
            tracing::info!("job's run stopped: cancelled while it ran");
            if let Some(run) = run {
                shared.runs.record(run).await;
            }
            shared.held.let_go(job.id);
            return;
        }
        // A slot that went on to a job claimed ahead asks the claim loop
        // for more at once, so claims overlap this write. A slot freed with
        // nothing waiting (an idle agent) asks once the outcome is written:
        // SQLite has one writer, and a claim taken first (finding nothing,
        // at idle) would delay the outcome the job's waiter is waiting for.
        if handed_on {
            shared.parts.events.work_available();
        }
        pinger::ping_if_silent(&shared).await;
        let taken_over = shared.taken_over.borrow().clone();
        if let Some(by) = taken_over {
            // Handed back when the id was taken over: the run is not this
            // process's to record, and the id now names another's runs.
            tracing::warn!(holder = %by, "dispatcher id taken over while the job ran; its outcome was dropped");
            if let Some(run) = run {
                shared.runs.record(run).await;
            }
            shared.held.let_go(job.id);
            return;
        }
        if let RunOutcome::Failure(failure) = &outcome {
            tracing::info!(error.type = failure.kind.as_str(), message = %failure.message, "job failed");
        }
        let failed = match &outcome {
            RunOutcome::Failure(failure) => Some(failure.kind),
            _ => None,
        };
        let completes = !matches!(outcome, RunOutcome::Await(_));
        let finish = JobFinishParams {
            id: job.id,
            dispatcher: shared.config.id,
            outcome,
            output,
            now: shared.parts.clock.now(),
            run,
        };
        match shared.completer.finish(finish).await {
            Ok(finished) => {
                let completed = completes && finished == Finished::Written;
                crate::metrics::run_ended(&job.queue, failed, completed);
            }
            Err(error) => {
                // Never a fault (the completer waits those out): the outcome
                // cannot be written at all. The self-check hands the job back.
                tracing::error!(%error, "could not record the job's outcome");
                shared.held.check_soon();
            }
        }
        shared.held.let_go(job.id);
        if !handed_on {
            shared.parts.events.work_available();
        }
    }
    .instrument(span)
    .await
}

/// Gives the slot of a run that took `took` to the agent's next waiting
/// job, unless the dispatcher's id was taken over: the jobs waiting are
/// then another process's, let go unrun. True when the slot went on to a
/// job; false when it was freed.
fn hand_on_slot(shared: &Arc<Shared>, agent: &Arc<AgentSlots>, took: std::time::Duration) -> bool {
    let Some(next) = agent.next(took) else {
        return false;
    };
    if shared.taken_over.borrow().is_some() {
        for job in std::iter::once(next).chain(agent.drain_waiting()) {
            shared.held.let_go(job.id);
        }
        agent.release();
        return false;
    }
    spawn(shared, agent, next);
    true
}

/// A composite's run, done by the host: puts the parts whose turn it is
/// and awaits the postprocess, whose result becomes the composite's.
async fn start_composite(shared: &Shared, job: &Job) -> RunOutcome {
    match shared
        .parts
        .store
        .composite_start(job.id, shared.parts.clock.now())
        .await
    {
        Ok(postprocess) => {
            shared.parts.events.work_available();
            RunOutcome::Await(postprocess)
        }
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
        ended_at: shared.parts.clock.now(),
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
            let running = shared.parts.events.running(job.id);
            let context = shared.parts.contexts.context(job.clone(), running.stop());
            let report = shared
                .parts
                .runtime
                .run(&prepared, call, limits, context)
                .await;
            drop(running);
            let fuel = report.fuel_consumed.unwrap_or(0);
            crate::metrics::guest_ran(&job.queue, report.elapsed, fuel);
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
