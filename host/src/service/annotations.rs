//! A job's annotations: named JSON values set from outside or by the job
//! itself while it runs, each committed at once.

use serde_json::Value;

use super::names::validate_annotation_name;
use super::{Error, Result, Service};
use crate::model::JobId;
use crate::store::AnnotationSetParams;

/// The largest annotation value, in bytes of JSON.
pub const ANNOTATION_VALUE_MAX_BYTES: usize = 64 << 10;

impl Service {
    /// All annotations of a job, by name.
    pub async fn annotation_list(&self, job: JobId) -> Result<Vec<(String, Value)>> {
        Ok(self.store().annotation_list(job).await?)
    }

    /// One annotation of a job; `None` if it has none by that name.
    pub async fn annotation_get(&self, job: JobId, name: &str) -> Result<Option<Value>> {
        Ok(self.store().annotation_get(job, name).await?)
    }

    /// Sets an annotation of a job, committed at once, visible to every
    /// reader and to the job itself while it runs.
    pub async fn annotation_set(&self, job: JobId, name: &str, value: Value) -> Result<()> {
        validate_annotation_name(name)?;
        let size = serde_json::to_vec(&value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > ANNOTATION_VALUE_MAX_BYTES {
            return Err(Error::Invalid(format!(
                "annotation value is {size} bytes of JSON; the limit is {ANNOTATION_VALUE_MAX_BYTES}"
            )));
        }
        Ok(self
            .store()
            .annotation_set(AnnotationSetParams {
                job,
                name: name.to_owned(),
                value,
                now: self.clock().now(),
            })
            .await?)
    }
}
