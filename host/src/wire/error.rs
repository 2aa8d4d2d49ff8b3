//! The error body every failed request gets.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error": {"code", "message"}}`: what every 4xx and 5xx answer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"error": {"code": "not_found", "message": "no job 0190c1d2-8e2a-7b3c-9d4e-5f6a7b8c9d0e"}}))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The code and message of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `bad_request`, `unauthorized`,
    /// `forbidden`, `not_found`, `method_not_allowed`, `conflict`,
    /// `payload_too_large`, `invalid_component`, `queue_full`,
    /// `quota_mismatch`, `unknown_function`, `bad_arguments`, `unavailable`, `storage_full`, `database_unavailable`, `internal`.
    pub code: String,
    /// For a person: names the problem.
    pub message: String,
    /// With `unknown_function` (422): the functions the module declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<Vec<String>>,
    /// With `conflict` (409) refusing a change of a job's arguments: the
    /// job holding the uniqueness key the new arguments derive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub holder: Option<crate::model::JobId>,
}

impl ErrorBody {
    /// The body of an error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                functions: None,
                holder: None,
            },
        }
    }
}
