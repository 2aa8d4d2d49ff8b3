//! Callbacks and composites (`@serial`, `@parallel`), as the API, the CLI and running jobs ask for
//! them: validation and defaults here, the links and their firing in the
//! store (`store/settle.rs`). `docs/callbacks.md` describes them.

use serde_json::json;

use super::jobs::ArgsGiven;
use super::{Error, Putter, Result, Service};
use crate::model::{
    CallbackSpec, CompositeArgs, CompositeKind, HOST_FUNCTION_PREFIX, Job, JobId, JobLink, JobSpec,
    LinkedJob, NewJob, RetryPreset,
};
use crate::store::{CallbackAddParams, JobAppendArgsParams, JobLinks, PartAddParams};

/// A `serial` or `parallel` composite to put.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeRequest {
    /// One part after another, or all at once.
    pub kind: CompositeKind,
    /// The composite itself: its queue, `begin_after`, `begin_by`, quota
    /// names and callbacks (`module`, `function` and `args` are ignored:
    /// the composite runs the host's function and is claimed like its
    /// postprocess).
    pub composite: JobSpec,
    /// The parts, in order.
    pub parts: Vec<JobSpec>,
    /// The job called with the parts' outcomes once they are done; its
    /// result is the composite's.
    pub postprocess: JobSpec,
}

/// The single place where the options of a held job (a callback, a part,
/// a postprocess, a held put) are settled before it is held.
fn held_job_options(job: NewJob) -> NewJob {
    // Due when fired, not at put: `begin_after` is set when it fires, and
    // a deadline then counts from that moment.
    NewJob {
        expired: false,
        scheduled: false,
        ..job
    }
}

/// The options of a callback job, and of a composite's postprocess (the
/// callback that gathers its parts): a held job's, and, unless the request
/// names a policy, `forever` (interruptions are retried forever), so that
/// a callback is never lost to a dead dispatcher.
fn callback_job_options(job: NewJob) -> NewJob {
    let job = held_job_options(job);
    NewJob {
        retry: job.retry.or(Some(RetryPreset::Forever.policy())),
        ..job
    }
}

/// Refuses the host's own function names (composites) in a put.
pub(super) fn refuse_host_function(function: &str) -> Result<()> {
    if function.trim_start().starts_with(HOST_FUNCTION_PREFIX) {
        return Err(Error::Invalid(format!(
            "function `{function}`: names starting with `{HOST_FUNCTION_PREFIX}` are the host's \
             own (composites are put with POST /v1/composites)"
        )));
    }
    Ok(())
}

impl Service {
    /// Resolves `callbacks` of job `of` (and theirs, depth first) into
    /// held jobs.
    pub(super) async fn hold_callbacks(
        &self,
        of: JobId,
        callbacks: Vec<CallbackSpec>,
        by: &Putter,
        linked: &mut Vec<LinkedJob>,
    ) -> Result<()> {
        let mut todo: Vec<(JobId, CallbackSpec)> = callbacks.into_iter().map(|c| (of, c)).collect();
        todo.reverse();
        while let Some((of, mut callback)) = todo.pop() {
            let nested = std::mem::take(&mut callback.job.callbacks);
            let job = callback_job_options(
                self.new_linked_job(callback.job, by, ArgsGiven::OutcomeAdded)
                    .await?,
            );
            let id = job.id;
            linked.push(LinkedJob {
                job,
                held: true,
                link: Some(JobLink::Callback {
                    of,
                    on: callback.on,
                }),
            });
            todo.extend(nested.into_iter().rev().map(|c| (id, c)));
        }
        Ok(())
    }

    async fn new_linked_job(&self, spec: JobSpec, by: &Putter, given: ArgsGiven) -> Result<NewJob> {
        refuse_host_function(&spec.function)?;
        super::broadcast::refuse_broadcast(&spec, "a callback, a part or a postprocess")?;
        self.new_job(spec, by, given).await
    }

    /// Adds a callback (and its own callbacks) to a job: it runs once the
    /// job has its outcome, at once if it already has. Returns the
    /// callback job.
    pub async fn callback_add(
        &self,
        job: JobId,
        mut callback: CallbackSpec,
        by: &Putter,
    ) -> Result<Job> {
        let nested = std::mem::take(&mut callback.job.callbacks);
        let new = callback_job_options(
            self.new_linked_job(callback.job, by, ArgsGiven::OutcomeAdded)
                .await?,
        );
        let id = self
            .store()
            .callback_add(CallbackAddParams {
                job,
                callback: new,
                on: callback.on,
                now: self.clock().now(),
            })
            .await?;
        for nested in nested {
            Box::pin(self.callback_add(id, nested, by)).await?;
        }
        self.events().work_available();
        self.job_get(id).await
    }

    /// Puts a composite with its parts, its postprocess and its callbacks,
    /// in one transaction; returns the composite.
    pub async fn composite_put(&self, request: CompositeRequest, by: &Putter) -> Result<Job> {
        let postprocess = callback_job_options(
            self.new_linked_job(request.postprocess, by, ArgsGiven::OutcomesAdded)
                .await?,
        );
        let mut composite = request.composite;
        super::broadcast::refuse_broadcast(&composite, "a composite")?;
        let callbacks = std::mem::take(&mut composite.callbacks);
        composite.module = Some(postprocess.module.to_string());
        composite.function = request.kind.function().to_owned();
        composite.args = json!(CompositeArgs {
            postprocess: postprocess.id
        });
        let composite = self
            .new_job(composite, by, ArgsGiven::OutcomesAdded)
            .await?;
        let id = composite.id;
        let mut linked = vec![
            LinkedJob {
                job: composite,
                held: false,
                link: None,
            },
            LinkedJob {
                job: postprocess,
                held: true,
                link: None,
            },
        ];
        for (index, part) in request.parts.into_iter().enumerate() {
            linked.push(LinkedJob {
                job: held_job_options(
                    self.new_linked_job(part, by, ArgsGiven::OutcomesAdded)
                        .await?,
                ),
                held: true,
                link: Some(JobLink::Part {
                    of: id,
                    index: index as i64,
                }),
            });
        }
        self.hold_callbacks(id, callbacks, by, &mut linked).await?;
        self.insert_linked(&linked).await?;
        self.job_get(id).await
    }

    /// Adds a part to a composite, last: before it starts, by a part while it runs, or
    /// by a callback of a part before that part begins. Refused once the
    /// composite has put its postprocess.
    /// The part's callbacks are added with it, in one transaction: none
    /// can miss its outcome, even in a `parallel` that puts it at once.
    pub async fn part_add(&self, composite: JobId, mut part: JobSpec, by: &Putter) -> Result<Job> {
        let callbacks = std::mem::take(&mut part.callbacks);
        let part = held_job_options(
            self.new_linked_job(part, by, ArgsGiven::OutcomesAdded)
                .await?,
        );
        let mut linked = Vec::new();
        self.hold_callbacks(part.id, callbacks, by, &mut linked)
            .await?;
        let id = self
            .store()
            .part_add(PartAddParams {
                composite,
                part,
                callbacks: linked,
                now: self.clock().now(),
            })
            .await?;
        self.events().work_available();
        self.job_get(id).await
    }

    /// Creates a job held in no queue (status `new`):
    /// [`Service::append_args`] puts it.
    pub async fn put_held(&self, spec: JobSpec, by: &Putter) -> Result<Job> {
        let job = held_job_options(
            self.new_linked_job(spec, by, ArgsGiven::OutcomesAdded)
                .await?,
        );
        let id = job.id;
        let linked = [LinkedJob {
            job,
            held: true,
            link: None,
        }];
        self.store()
            .job_insert_linked(&linked, self.clock().now())
            .await?;
        self.job_get(id).await
    }

    /// Appends `values` to a held job's positional arguments and puts it
    /// once it has `put_when` of them (atomically); returns how many it
    /// has.
    pub async fn append_args(
        &self,
        job: JobId,
        values: Vec<serde_json::Value>,
        put_when: u32,
    ) -> Result<u32> {
        let count = self
            .store()
            .job_append_args(JobAppendArgsParams {
                id: job,
                values,
                put_when,
                now: self.clock().now(),
            })
            .await?;
        if count >= put_when {
            self.events().work_available();
        }
        Ok(count)
    }

    /// A job's callbacks and, for a composite, its parts.
    pub async fn job_links(&self, job: JobId) -> Result<JobLinks> {
        Ok(self.store().job_links(job).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModuleDigest, ModuleInfo, Timestamp};
    use crate::store::conformance::kit::new_job;

    fn job() -> NewJob {
        let module = ModuleInfo {
            digest: ModuleDigest::of(b"callback"),
            name: None,
            size: 8,
            exports: Vec::new(),
            created_at: Timestamp::UNIX_EPOCH,
        };
        new_job("", &module, "f", Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn callbacks_retry_interruptions_forever_unless_told_otherwise() {
        let callback = callback_job_options(job());
        assert_eq!(callback.retry, Some(RetryPreset::Forever.policy()));
        let never = RetryPreset::Never.policy();
        let told = callback_job_options(NewJob {
            retry: Some(never.clone()),
            ..job()
        });
        assert_eq!(told.retry, Some(never));
        // Parts and held puts keep the queue's default.
        assert_eq!(held_job_options(job()).retry, None);
    }
}
