//! Agents: how a dispatcher takes work from a queue.

use serde::{Deserialize, Serialize};

use super::DispatcherId;

/// The size an agent gets when none is given.
pub const AGENT_SIZE_DEFAULT: u32 = 3;

/// The name of the agent every dispatcher gets in the default queue when
/// it has none there.
pub const MAIN_AGENT_NAME: &str = "main";

/// Which jobs an agent may take. Empty lists mean "any".
///
/// Patterns are globs: `*` matches any run of characters, `?` one
/// character; everything else matches itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentFilter {
    /// Module names or digests (globs). A job put by digest has no name
    /// and matches only digest patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    /// Job function names (globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
}

impl AgentFilter {
    /// True when the filter takes every job.
    pub fn is_any(&self) -> bool {
        self.modules.is_empty() && self.functions.is_empty()
    }

    /// Whether an agent with this filter may take a job of module
    /// `digest` (put by `module_name`, if by name) running `function`: the
    /// claim statements' test, for a broadcast put that picks the
    /// dispatchers able to run its copies.
    pub fn takes(&self, module_name: Option<&str>, digest: &str, function: &str) -> bool {
        let module = |p: &String| {
            super::glob_matches(p, digest) || module_name.is_some_and(|n| super::glob_matches(p, n))
        };
        (self.modules.is_empty() || self.modules.iter().any(module))
            && (self.functions.is_empty()
                || self
                    .functions
                    .iter()
                    .any(|p| super::glob_matches(p, function)))
    }
}

/// An agent's settings, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentSpec {
    /// Its name, unique per dispatcher and queue.
    pub name: String,
    /// The queue it takes jobs from.
    pub queue: String,
    /// The most jobs it runs at once.
    pub size: u32,
    /// Which jobs it takes; `None` takes any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<AgentFilter>,
    /// Which jobs it takes first: each
    /// claim takes the due jobs its filter allows that also match this, in
    /// queue order, then fills its remaining free slots with any job its
    /// filter allows. `None`: plain queue order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefer: Option<AgentFilter>,
    /// The most fuel any job it runs gets; `None`: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_cap: Option<u64>,
    /// The most memory (bytes) any job it runs gets; `None`: the runtime's
    /// default limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_cap: Option<u64>,
    /// The longest (milliseconds) any job it runs may take; `None`: the
    /// server's default time limit for jobs that ask for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_cap_ms: Option<u64>,
}

impl AgentSpec {
    /// An agent with the defaults: size 3, no filter, no
    /// preference, no caps.
    pub fn new(queue: impl Into<String>, name: impl Into<String>) -> Self {
        AgentSpec {
            name: name.into(),
            queue: queue.into(),
            size: AGENT_SIZE_DEFAULT,
            filter: None,
            prefer: None,
            fuel_cap: None,
            memory_cap: None,
            time_cap_ms: None,
        }
    }
}

/// An agent as stored: its spec and its dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agent {
    /// The dispatcher it belongs to.
    pub dispatcher: DispatcherId,
    /// Its settings.
    #[serde(flatten)]
    pub spec: AgentSpec,
}
