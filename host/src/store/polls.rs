//! The recent polls: which jobs each poll of a dispatcher claimed, kept
//! for the management tools. Each backend stores a poll's list of jobs its
//! own way (a JSON array in SQLite, `uuid[]` in PostgreSQL), so each
//! implements [`PollStore`] in its `polls.rs`.

use async_trait::async_trait;

use super::Result;
use crate::model::{DispatcherId, JobId, PollRecord, Timestamp};

/// Records a poll that claimed jobs.
#[derive(Debug, Clone)]
pub struct PollRecordParams {
    /// The dispatcher.
    pub dispatcher: DispatcherId,
    /// The queue.
    pub queue: String,
    /// The agent.
    pub agent: String,
    /// The jobs claimed.
    pub jobs: Vec<JobId>,
    /// When.
    pub now: Timestamp,
    /// How many records the dispatcher keeps: older ones are deleted.
    pub keep: u32,
}

/// The recent polls of each dispatcher.
#[async_trait]
pub trait PollStore: Send + Sync {
    /// Records polls that claimed jobs, in order, in one transaction,
    /// deleting each dispatcher's records beyond the latest `keep`.
    /// Returns their ids.
    async fn poll_record_many(&self, polls: &[PollRecordParams]) -> Result<Vec<i64>>;
    /// A dispatcher's latest poll records, latest first.
    async fn poll_list(&self, dispatcher: DispatcherId, limit: u32) -> Result<Vec<PollRecord>>;
    /// The id of the latest kept poll of `dispatcher` that claimed `job`.
    async fn poll_of_job(&self, dispatcher: DispatcherId, job: JobId) -> Result<Option<i64>>;
}

/// Of each dispatcher among `polls`, how many records it keeps (the
/// first `keep` asked for it), by dispatcher.
pub(crate) fn kept(polls: &[PollRecordParams]) -> Vec<(DispatcherId, u32)> {
    let mut bounded: Vec<(DispatcherId, u32)> =
        polls.iter().map(|p| (p.dispatcher, p.keep)).collect();
    bounded.sort();
    bounded.dedup_by_key(|(dispatcher, _)| *dispatcher);
    bounded
}
