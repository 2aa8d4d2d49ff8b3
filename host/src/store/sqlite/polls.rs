//! The recent polls on SQLite ([`PollStore`]): a poll's jobs as a JSON array of ids.

use async_trait::async_trait;
use sqlx::Row as _;
use tracing::instrument;
use uuid::Uuid;

use super::SqliteStore;
use super::row::{self, hex, ms};
use crate::clock;
use crate::model::{DispatcherId, JobId, PollRecord};
use crate::store::Result;
use crate::store::polls::{self, PollRecordParams, PollStore};

#[async_trait]
impl PollStore for SqliteStore {
    #[instrument(level = "debug", skip_all)]
    async fn poll_record_many(&self, polls: &[PollRecordParams]) -> Result<Vec<i64>> {
        if polls.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let mut ids = Vec::with_capacity(polls.len());
        for p in polls {
            let jobs: Vec<String> = p.jobs.iter().map(|id| hex(id.0)).collect();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO polls (dispatcher, queue, agent, polled_at, jobs) \
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            )
            .bind(p.dispatcher.0)
            .bind(&p.queue)
            .bind(&p.agent)
            .bind(ms(p.now))
            .bind(serde_json::Value::from(jobs).to_string())
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        for (dispatcher, keep) in polls::kept(polls) {
            sqlx::query(
                "DELETE FROM polls WHERE dispatcher = ?1 AND id <= \
                   (SELECT id FROM polls WHERE dispatcher = ?1 ORDER BY id DESC \
                    LIMIT 1 OFFSET ?2)",
            )
            .bind(dispatcher.0)
            .bind(i64::from(keep))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    #[instrument(level = "debug", skip_all)]
    async fn poll_list(&self, dispatcher: DispatcherId, limit: u32) -> Result<Vec<PollRecord>> {
        let rows = sqlx::query(
            "SELECT id, dispatcher, queue, agent, polled_at, jobs FROM polls \
             WHERE dispatcher = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(dispatcher.0)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let ids: Vec<String> = row::json("polls", "jobs", &r.try_get::<String, _>(5)?)?;
                let jobs = ids
                    .iter()
                    .map(|id| {
                        Uuid::parse_str(id)
                            .map(JobId)
                            .map_err(|e| row::corrupt("polls", e))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(PollRecord {
                    id: r.try_get(0)?,
                    dispatcher: DispatcherId(r.try_get(1)?),
                    queue: r.try_get(2)?,
                    agent: r.try_get(3)?,
                    polled_at: clock::from_millis(r.try_get(4)?),
                    jobs,
                })
            })
            .collect()
    }

    #[instrument(level = "debug", skip_all)]
    async fn poll_of_job(&self, dispatcher: DispatcherId, job: JobId) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM polls WHERE dispatcher = ?1 \
               AND EXISTS (SELECT 1 FROM json_each(polls.jobs) WHERE value = ?2) \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(dispatcher.0)
        .bind(hex(job.0))
        .fetch_optional(&self.reader)
        .await?)
    }
}
