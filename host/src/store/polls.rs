//! The recent polls: which jobs each poll of a dispatcher claimed, kept
//! for the management tools. Written once for both backends; each stores
//! a poll's list of jobs its own way (a JSON array in SQLite, `uuid[]` in
//! PostgreSQL: [`Arg::Ids`]).

use async_trait::async_trait;
use tracing::instrument;

use super::Result;
use super::sql::{corrupt, ms};
use super::statement::{Arg, Sql, SqlBackend, SqlConn, SqlRow, SqlTx};
use crate::clock;
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
pub trait PollStore: Send + Sync + std::fmt::Debug {
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
fn kept(polls: &[PollRecordParams]) -> Vec<(DispatcherId, u32)> {
    let mut bounded: Vec<(DispatcherId, u32)> =
        polls.iter().map(|p| (p.dispatcher, p.keep)).collect();
    bounded.sort();
    bounded.dedup_by_key(|(dispatcher, _)| *dispatcher);
    bounded
}

/// The latest kept poll of a dispatcher (`?1`) that claimed a job (`?2`).
static OF_JOB: Sql = Sql::new(|d| {
    let claimed = if d.locks_rows() {
        "?2 = ANY (jobs)"
    } else {
        "EXISTS (SELECT 1 FROM json_each(polls.jobs) WHERE value = lower(hex(?2)))"
    };
    format!("SELECT id FROM polls WHERE dispatcher = ?1 AND {claimed} ORDER BY id DESC LIMIT 1")
});

fn poll(r: &SqlRow) -> Result<PollRecord> {
    Ok(PollRecord {
        id: r.int(0)?,
        dispatcher: DispatcherId(r.id(1)?),
        queue: r.text(2)?,
        agent: r.text(3)?,
        polled_at: clock::from_millis(r.int(4)?),
        jobs: r.ids(5)?.into_iter().map(JobId).collect(),
    })
}

/// Records polls and trims each dispatcher's records, inside the caller's
/// transaction.
async fn record<C: SqlConn + ?Sized>(tx: &mut C, polls: &[PollRecordParams]) -> Result<Vec<i64>> {
    let d = tx.dialect();
    let insert = d.render(
        "INSERT INTO polls (dispatcher, queue, agent, polled_at, jobs) \
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
    );
    let mut ids = Vec::with_capacity(polls.len());
    for p in polls {
        let jobs: Vec<_> = p.jobs.iter().map(|id| id.0).collect();
        let args = [
            Arg::Id(p.dispatcher.0),
            Arg::Text(&p.queue),
            Arg::Text(&p.agent),
            Arg::Int(ms(p.now)),
            Arg::Ids(&jobs),
        ];
        let row = tx.fetch_optional("polls", &insert, &args).await?;
        ids.push(
            row.ok_or_else(|| corrupt("polls", "no id returned"))?
                .int(0)?,
        );
    }
    let trim = d.render(
        "DELETE FROM polls WHERE dispatcher = ?1 AND id <= \
           (SELECT id FROM polls WHERE dispatcher = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    );
    for (dispatcher, keep) in kept(polls) {
        let args = [Arg::Id(dispatcher.0), Arg::Int(i64::from(keep))];
        tx.execute(&trim, &args).await?;
    }
    Ok(ids)
}

#[async_trait]
impl<B: SqlBackend> PollStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn poll_record_many(&self, polls: &[PollRecordParams]) -> Result<Vec<i64>> {
        if polls.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.transaction().await?;
        let ids = record(&mut tx.conn(), polls).await?;
        tx.commit().await?;
        Ok(ids)
    }

    #[instrument(level = "debug", skip_all)]
    async fn poll_list(&self, dispatcher: DispatcherId, limit: u32) -> Result<Vec<PollRecord>> {
        let mut conn = self.reads();
        let sql = conn.dialect().render(
            "SELECT id, dispatcher, queue, agent, polled_at, jobs FROM polls \
             WHERE dispatcher = ?1 ORDER BY id DESC LIMIT ?2",
        );
        let args = [Arg::Id(dispatcher.0), Arg::Int(i64::from(limit))];
        let rows = conn.fetch_all("polls", &sql, &args).await?;
        rows.iter().map(poll).collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn poll_of_job(&self, dispatcher: DispatcherId, job: JobId) -> Result<Option<i64>> {
        let mut conn = self.reads();
        let args = [Arg::Id(dispatcher.0), Arg::Id(job.0)];
        let row = conn
            .fetch_optional("polls", OF_JOB.text(conn.dialect()), &args)
            .await?;
        row.map(|r| r.int(0)).transpose()
    }
}
