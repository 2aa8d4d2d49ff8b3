//! Dispatchers on the wire: `/v1/dispatchers/...`: the list, one
//! dispatcher, its agents, statistics, status and recent polls.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::input::TimeInput;
pub use crate::model::Agent;
use crate::model::{AGENT_SIZE_DEFAULT, AgentFilter, AgentSpec, PollRecord};
pub use crate::service::{DispatcherStatsView, DispatcherStatusView, DispatcherView};

/// Reply of `GET /v1/dispatchers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DispatcherList {
    /// Every dispatcher, with its agents.
    pub dispatchers: Vec<DispatcherView>,
}

/// Reply of `GET /v1/dispatchers/{id}/agents`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    /// Its agents.
    pub agents: Vec<AgentSpec>,
}

/// Body of `PUT /v1/dispatchers/{id}/agents/{queue}/{name}` (optional;
/// the path names the agent): every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"size": 4, "filter": {"functions": ["resize*"]}, "fuel_cap": 1000000000}))]
pub struct AgentBody {
    /// The most jobs it runs at once (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Which jobs it takes; absent or empty: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<AgentFilter>,
    /// Which jobs it takes first (same shape as `filter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefer: Option<AgentFilter>,
    /// The most fuel any job it runs gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_cap: Option<u64>,
    /// The most memory (bytes) any job it runs gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_cap: Option<u64>,
    /// The longest (milliseconds) any job it runs may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_cap_ms: Option<u64>,
}

impl AgentBody {
    /// The agent this body describes, named by the path: the defaults
    /// filled in, and an empty filter taken as none.
    pub fn into_spec(self, queue: String, name: String) -> AgentSpec {
        AgentSpec {
            name,
            queue,
            size: self.size.unwrap_or(AGENT_SIZE_DEFAULT),
            filter: self.filter.filter(|f| !f.is_any()),
            prefer: self.prefer.filter(|f| !f.is_any()),
            fuel_cap: self.fuel_cap,
            memory_cap: self.memory_cap,
            time_cap_ms: self.time_cap_ms,
        }
    }
}

/// Query of `GET /v1/dispatchers/{id}/stats`: the window, both ends
/// optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Its start (inclusive); absent: since the beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub since: Option<TimeInput>,
    /// Its end (exclusive); absent: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub before: Option<TimeInput>,
}

/// Query of `GET /v1/dispatchers/{id}/polls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PollsQuery {
    /// How many of the latest polls (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// Reply of `GET /v1/dispatchers/{id}/polls`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PollList {
    /// Its latest polls that claimed something.
    pub polls: Vec<PollRecord>,
}
