//! `annotations`: a job's free-form map of live values, written at once
//! (not with the job's outcome) so that watchers on any machine see
//! progress. Written once for both backends.

use async_trait::async_trait;
use serde_json::Value;
use tracing::instrument;

use super::sql::ms;
use super::statement::{Arg, Sql, SqlBackend, SqlConn};
use super::{Error, Result};
use crate::model::{JobId, Timestamp};

/// Sets one annotation.
#[derive(Debug, Clone)]
pub struct AnnotationSetParams {
    /// The job.
    pub job: JobId,
    /// The annotation's name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// Now.
    pub now: Timestamp,
}

/// Annotations.
#[async_trait]
pub trait AnnotationStore: Send + Sync + std::fmt::Debug {
    /// Sets an annotation, committed at once. [`Error::NotFound`] if the
    /// job does not exist.
    async fn annotation_set(&self, params: AnnotationSetParams) -> Result<()>;
    /// One annotation; `None` if absent. [`Error::NotFound`] if the job
    /// does not exist.
    async fn annotation_get(&self, job: JobId, name: &str) -> Result<Option<Value>>;
    /// All annotations of a job, by name. [`Error::NotFound`] if the job
    /// does not exist.
    async fn annotation_list(&self, job: JobId) -> Result<Vec<(String, Value)>>;
}

fn no_job(job: JobId) -> Error {
    Error::not_found(format!("job {job}"))
}

/// Sets (inserts or replaces) one annotation of an existing job: a job
/// that does not exist writes nothing (or, deleted meanwhile, fails the
/// foreign key).
static SET: Sql = Sql::new(|d| {
    format!(
        "INSERT INTO annotations (job, name, value, updated_at) \
         SELECT ?1, ?2, ?3{json}, ?4 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1) \
         ON CONFLICT (job, name) DO UPDATE \
         SET value = excluded.value, updated_at = excluded.updated_at",
        json = d.json
    )
});

/// One annotation, in a row that exists only if the job does.
static GET: Sql = Sql::new(|_| {
    "SELECT (SELECT value FROM annotations WHERE job = ?1 AND name = ?2) \
     FROM jobs WHERE id = ?1"
        .to_owned()
});

/// Every annotation of a job by name, in at least one row if the job
/// exists.
static LIST: Sql = Sql::new(|d| {
    format!(
        "SELECT a.name, a.value FROM jobs AS j LEFT JOIN annotations AS a ON a.job = j.id \
         WHERE j.id = ?1 ORDER BY a.name{}",
        d.binary_order
    )
});

#[async_trait]
impl<B: SqlBackend> AnnotationStore for B {
    #[instrument(level = "debug", skip_all)]
    async fn annotation_set(&self, p: AnnotationSetParams) -> Result<()> {
        let value = p.value.to_string();
        let mut conn = self.writes();
        let args = [
            Arg::Id(p.job.0),
            Arg::Text(&p.name),
            Arg::Json(&value),
            Arg::Int(ms(p.now)),
        ];
        match conn.execute(SET.text(conn.dialect()), &args).await {
            Ok(0) => Err(no_job(p.job)),
            Ok(_) => Ok(()),
            Err(Error::Database(sqlx::Error::Database(e))) if e.is_foreign_key_violation() => {
                Err(no_job(p.job))
            }
            Err(e) => Err(e),
        }
    }

    #[instrument(level = "debug", skip_all)]
    async fn annotation_get(&self, job: JobId, name: &str) -> Result<Option<Value>> {
        let mut conn = self.reads();
        let args = [Arg::Id(job.0), Arg::Text(name)];
        let row = conn
            .fetch_optional("annotations", GET.text(conn.dialect()), &args)
            .await?
            .ok_or_else(|| no_job(job))?;
        row.opt_json(0)
    }

    #[instrument(level = "debug", skip_all)]
    async fn annotation_list(&self, job: JobId) -> Result<Vec<(String, Value)>> {
        let mut conn = self.reads();
        let rows = conn
            .fetch_all("annotations", LIST.text(conn.dialect()), &[Arg::Id(job.0)])
            .await?;
        if rows.is_empty() {
            return Err(no_job(job));
        }
        let mut annotations = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(name) = row.opt_text(0)? {
                annotations.push((name, row.json(1)?));
            }
        }
        Ok(annotations)
    }
}
