//! Activity on the wire: `GET /v1/activity`.

use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::input::DurationInput;
pub use crate::service::{Activity, Bucket, QueueActivity};

/// Query of `GET /v1/activity`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// The window, ending now: a duration (`1h`, `30m`, milliseconds);
    /// default one hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub window: Option<DurationInput>,
    /// How many buckets the window is cut into; default 12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u32>,
}
