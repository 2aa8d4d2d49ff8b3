//! The server's own state on the wire: `GET /v1/health`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ErrorDetail;
use crate::model::Timestamp;

/// Reply of `GET /v1/health`: `ok` (200) while the store takes writes;
/// `degraded` (503) with the cause while it does not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "ok", "version": "0.1.0", "backend": "sqlite"}))]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// When degraded: the cause (`storage_full`, `database_unavailable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    /// When degraded: the database's own words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When degraded: since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<Timestamp>,
    /// When degraded: how many operations failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_operations: Option<u64>,
}
