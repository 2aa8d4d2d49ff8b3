//! The management tools: cancel a queued job, pause and resume processing
//! per queue or per dispatcher, named jobs, and removal of finished jobs
//! by status.

use serde::Serialize;
use serde_json::Value;

use super::jobs::{PutRequest, validate_args};
use super::names::{NAME_MAX_LEN, queue_from_alias, validate_free_name};
use super::{Error, Result, Service};
use crate::model::{
    DispatcherId, Job, JobName, JobStatus, QueryState, REMOVABLE_STATES, RemovalReport, Timestamp,
};
use crate::store::{JobCancelParams, JobRemoveParams};

/// What is paused, as `GET /v1/processing` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessingView {
    /// Paused queues (`""`: the default queue) and since when.
    pub paused_queues: Vec<PausedQueue>,
    /// Paused dispatchers and since when.
    pub paused_dispatchers: Vec<PausedDispatcher>,
}

/// A paused queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PausedQueue {
    /// The queue.
    pub queue: String,
    /// Since when.
    pub paused_at: Timestamp,
}

/// A paused dispatcher.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PausedDispatcher {
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// Since when.
    pub paused_at: Timestamp,
}

/// A request to register a named job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobNameRequest {
    /// The name.
    pub name: String,
    /// The module, by name or digest (it must exist now).
    pub module: String,
    /// The function.
    pub function: String,
    /// Its default queue (`None`, `""` or `default`: the default queue).
    pub queue: Option<String>,
    /// Default arguments (`null`: none).
    pub args: Value,
}

/// The states removal takes by default: completed and cancelled jobs
/// (failed ones are completed with a failure).
pub const REMOVE_DEFAULT: [QueryState; 2] = [
    QueryState::Status(JobStatus::Completed),
    QueryState::Status(JobStatus::Cancelled),
];

impl Service {
    /// Cancels a job that has not completed: it becomes `cancelled` with a
    /// failure of that kind; a pending one (or one out of its queue) never
    /// runs; a claimed or running one has its run stopped by its
    /// dispatcher (at once in this process, through the store's
    /// notifications or its stop check in another). Jobs awaiting it
    /// complete with its failure; waiters wake at once.
    pub async fn job_cancel(&self, id: crate::model::JobId) -> Result<Job> {
        let now = self.clock().now();
        let report = self.store().job_cancel(JobCancelParams { id, now }).await?;
        let mut done = report.cascaded;
        done.push(id);
        self.events().completed(&done);
        if !report.queues.is_empty() {
            // Its failure callbacks fired: wake this process's dispatcher.
            self.events().work_available();
        }
        Ok(report.job)
    }

    /// Removes finished jobs in `states` (default: completed and
    /// cancelled), of one queue or all, and counts them per state.
    pub async fn jobs_remove(
        &self,
        states: Vec<String>,
        queue: Option<String>,
    ) -> Result<RemovalReport> {
        let states = if states.is_empty() {
            REMOVE_DEFAULT.to_vec()
        } else {
            states
                .iter()
                .map(|s| parse_removable(s))
                .collect::<Result<Vec<_>>>()?
        };
        let queue = queue.map(|q| queue_from_alias(&q).to_owned());
        Ok(self
            .store()
            .job_remove_finished(JobRemoveParams { states, queue })
            .await?)
    }

    /// Pauses a queue: no dispatcher claims from it until it is resumed.
    pub async fn queue_pause(&self, queue: &str) -> Result<()> {
        let now = self.clock().now();
        Ok(self
            .store()
            .queue_pause(queue_from_alias(queue), now)
            .await?)
    }

    /// Resumes a queue; dispatchers look at it again at once.
    pub async fn queue_resume(&self, queue: &str) -> Result<()> {
        self.store().queue_resume(queue_from_alias(queue)).await?;
        self.events().work_available();
        Ok(())
    }

    /// Pauses a dispatcher: it claims nothing until resumed; what it runs
    /// goes on.
    pub async fn dispatcher_pause(&self, id: DispatcherId) -> Result<()> {
        let now = self.clock().now();
        Ok(self.store().dispatcher_pause(id, now).await?)
    }

    /// Resumes a dispatcher; it looks for work again at once.
    pub async fn dispatcher_resume(&self, id: DispatcherId) -> Result<()> {
        self.store().dispatcher_resume(id).await?;
        self.events().agents_changed();
        Ok(())
    }

    /// Everything paused.
    pub async fn processing(&self) -> Result<ProcessingView> {
        let pauses = self.store().pause_list().await?;
        Ok(ProcessingView {
            paused_queues: pauses
                .queues
                .into_iter()
                .map(|(queue, paused_at)| PausedQueue { queue, paused_at })
                .collect(),
            paused_dispatchers: pauses
                .dispatchers
                .into_iter()
                .map(|(dispatcher, paused_at)| PausedDispatcher {
                    dispatcher,
                    paused_at,
                })
                .collect(),
        })
    }

    /// Whether a queue is processed (not paused).
    pub async fn queue_processing(&self, queue: &str) -> Result<bool> {
        let queue = queue_from_alias(queue);
        self.store().queue_get(queue).await?;
        let pauses = self.store().pause_list().await?;
        Ok(!pauses.queues.iter().any(|(q, _)| q == queue))
    }

    /// Whether a dispatcher is processing (not paused).
    pub async fn dispatcher_processing(&self, id: DispatcherId) -> Result<bool> {
        self.store().dispatcher_get(id).await?;
        let pauses = self.store().pause_list().await?;
        Ok(!pauses.dispatchers.iter().any(|(d, _)| *d == id))
    }

    /// Registers (or replaces) a named job. Its module must exist and its
    /// queue too.
    pub async fn job_name_set(&self, request: JobNameRequest) -> Result<JobName> {
        validate_free_name("job name", &request.name, NAME_MAX_LEN)?;
        let function = request.function.trim().to_owned();
        validate_free_name(
            "function name",
            &function,
            super::jobs::FUNCTION_NAME_MAX_LEN,
        )?;
        if request.module.is_empty() {
            return Err(Error::Invalid(
                "`module` is required (a digest or a name)".into(),
            ));
        }
        let queue = queue_from_alias(request.queue.as_deref().unwrap_or("")).to_owned();
        let args = validate_args(request.args)?;
        self.store().module_get(&request.module).await?;
        self.store().queue_get(&queue).await?;
        let now = self.clock().now();
        Ok(self
            .store()
            .job_name_set(&JobName {
                name: request.name,
                module: request.module,
                function,
                queue,
                args,
                created_at: now,
                updated_at: now,
            })
            .await?)
    }

    /// A named job.
    pub async fn job_name_get(&self, name: &str) -> Result<JobName> {
        Ok(self.store().job_name_get(name).await?)
    }

    /// Every named job.
    pub async fn job_name_list(&self) -> Result<Vec<JobName>> {
        Ok(self.store().job_name_list().await?)
    }

    /// Forgets a named job.
    pub async fn job_name_delete(&self, name: &str) -> Result<()> {
        Ok(self.store().job_name_delete(name).await?)
    }

    /// Puts the named job's function
    /// with `args` (`null`: its default arguments), into `queue` or its
    /// default queue. `request` carries the other put options; its
    /// module, function, args and queue are filled in here.
    pub async fn put_by_name(
        &self,
        name: &str,
        args: Value,
        queue: Option<String>,
        mut request: PutRequest,
    ) -> Result<Job> {
        let named = self.store().job_name_get(name).await?;
        request.module = named.module;
        request.function = named.function;
        request.args = if args.is_null() { named.args } else { args };
        request.queue = queue.unwrap_or(named.queue);
        self.put(request).await
    }
}

/// A state removal accepts, or the refusal naming those it does.
fn parse_removable(text: &str) -> Result<QueryState> {
    let state: QueryState = text
        .parse()
        .map_err(|e: crate::model::UnknownState| Error::Invalid(e.to_string()))?;
    if !REMOVABLE_STATES.contains(&state) {
        return Err(Error::Invalid(format!(
            "can't remove jobs with status {text}: only finished jobs can be removed \
             (completed, succeeded, failed, cancelled)"
        )));
    }
    Ok(state)
}
