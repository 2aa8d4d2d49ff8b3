//! `annotations`: a job's free-form map of live values, written at once
//! (not with the job's outcome) so that watchers on any machine see
//! progress.

use serde_json::Value;
use sqlx::Row as _;

use super::PgStore;
use super::row::{self, json_text, ms, sqlstate};
use crate::model::JobId;
use crate::store::{AnnotationSetParams, Error, Result};

fn no_job(job: JobId) -> Error {
    Error::not_found(format!("job {job}"))
}

/// Sets (inserts or replaces) one annotation of an existing job; the
/// foreign key to `jobs` refuses a job that does not exist.
pub(super) async fn set(db: &PgStore, p: AnnotationSetParams) -> Result<()> {
    let written = sqlx::query(
        "INSERT INTO annotations (job, name, value, updated_at) VALUES ($1, $2, $3::json, $4) \
         ON CONFLICT (job, name) DO UPDATE \
         SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(p.job.0)
    .bind(&p.name)
    .bind(json_text(&p.value))
    .bind(ms(p.now))
    .execute(&db.pool)
    .await;
    match written {
        Ok(_) => Ok(()),
        Err(e) if row::is(&e, sqlstate::FOREIGN_KEY) => Err(no_job(p.job)),
        Err(e) => Err(e.into()),
    }
}

/// One annotation, `None` if the job has none by that name.
pub(super) async fn get(db: &PgStore, job: JobId, name: &str) -> Result<Option<Value>> {
    let row = sqlx::query(
        "SELECT (SELECT value FROM annotations WHERE job = $1 AND name = $2) \
         FROM jobs WHERE id = $1",
    )
    .bind(job.0)
    .bind(name)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| no_job(job))?;
    Ok(row.try_get(0)?)
}

/// Every annotation of a job, by name.
pub(super) async fn list(db: &PgStore, job: JobId) -> Result<Vec<(String, Value)>> {
    let rows = sqlx::query(
        "SELECT a.name, a.value FROM jobs AS j LEFT JOIN annotations AS a ON a.job = j.id \
         WHERE j.id = $1 ORDER BY a.name COLLATE \"C\"",
    )
    .bind(job.0)
    .fetch_all(&db.pool)
    .await?;
    if rows.is_empty() {
        return Err(no_job(job));
    }
    let mut annotations = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(name) = row.try_get::<Option<String>, _>(0)? {
            annotations.push((name, row.try_get(1)?));
        }
    }
    Ok(annotations)
}
