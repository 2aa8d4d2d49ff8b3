//! `annotations`: a job's free-form map of live values, written at once
//! (not with the job's outcome) so that watchers see progress.

use serde_json::Value;
use sqlx::Row as _;

use super::SqliteStore;
use super::row::{json, ms};
use crate::model::JobId;
use crate::store::{AnnotationSetParams, Error, Result};

const T: &str = "annotations";

fn no_job(job: JobId) -> Error {
    Error::not_found(format!("job {job}"))
}

/// Sets (inserts or replaces) one annotation of an existing job.
pub(super) async fn set(db: &SqliteStore, p: AnnotationSetParams) -> Result<()> {
    let value = serde_json::to_string(&p.value).map_err(|e| super::row::corrupt(T, e))?;
    let written = sqlx::query(
        "INSERT INTO annotations (job, name, value, updated_at) \
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1) \
         ON CONFLICT (job, name) DO UPDATE \
         SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(p.job.0)
    .bind(&p.name)
    .bind(value)
    .bind(ms(p.now))
    .execute(&db.writer)
    .await?
    .rows_affected();
    if written == 0 {
        return Err(no_job(p.job));
    }
    Ok(())
}

/// One annotation, `None` if the job has none by that name.
pub(super) async fn get(db: &SqliteStore, job: JobId, name: &str) -> Result<Option<Value>> {
    let row = sqlx::query(
        "SELECT (SELECT value FROM annotations WHERE job = ?1 AND name = ?2) \
         FROM jobs WHERE id = ?1",
    )
    .bind(job.0)
    .bind(name)
    .fetch_optional(&db.reader)
    .await?
    .ok_or_else(|| no_job(job))?;
    row.try_get::<Option<String>, _>(0)?
        .map(|v| json(T, "value", &v))
        .transpose()
}

/// Every annotation of a job, by name.
pub(super) async fn list(db: &SqliteStore, job: JobId) -> Result<Vec<(String, Value)>> {
    let rows = sqlx::query(
        "SELECT a.name, a.value FROM jobs AS j LEFT JOIN annotations AS a ON a.job = j.id \
         WHERE j.id = ?1 ORDER BY a.name",
    )
    .bind(job.0)
    .fetch_all(&db.reader)
    .await?;
    if rows.is_empty() {
        return Err(no_job(job));
    }
    let mut annotations = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(name) = row.try_get::<Option<String>, _>(0)? {
            let value: String = row.try_get(1)?;
            annotations.push((name, json(T, "value", &value)?));
        }
    }
    Ok(annotations)
}
