//! The agents of this process's dispatcher: their settings and how many
//! jobs each is running now.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::model::{AgentSpec, JobLimits};
use crate::runtime::Limits;

/// One agent: its settings and its busy slots.
#[derive(Debug)]
pub struct AgentSlots {
    /// Its settings.
    pub spec: AgentSpec,
    running: Arc<AtomicU32>,
}

impl AgentSlots {
    /// How many more jobs it may take now.
    pub fn free(&self) -> u32 {
        self.spec
            .size
            .saturating_sub(self.running.load(Ordering::Acquire))
    }

    /// Marks `n` slots busy.
    pub fn acquire(&self, n: u32) {
        self.running.fetch_add(n, Ordering::AcqRel);
    }

    /// Marks one slot free again.
    pub fn release(&self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
    }

    /// How many jobs it is running.
    pub fn running(&self) -> u32 {
        self.running.load(Ordering::Acquire)
    }

    /// The limits a job gets under this agent: what the job asks for,
    /// never more than the agent's caps.
    pub fn limits_for(&self, job: &JobLimits) -> Limits {
        Limits {
            fuel: min_some(job.fuel, self.spec.fuel_cap),
            memory_bytes: min_some(job.memory_bytes, self.spec.memory_cap),
            timeout: min_some(job.timeout_ms, self.spec.time_cap_ms).map(Duration::from_millis),
        }
    }
}

fn min_some(asked: Option<u64>, cap: Option<u64>) -> Option<u64> {
    match (asked, cap) {
        (Some(asked), Some(cap)) => Some(asked.min(cap)),
        (asked, cap) => asked.or(cap),
    }
}

/// The current agent set. Replacing it keeps the busy counts of agents
/// that stay (same queue and name), so running jobs are still counted.
#[derive(Debug, Default)]
pub struct AgentSet {
    agents: Vec<Arc<AgentSlots>>,
}

impl AgentSet {
    /// The agents, by queue and name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<AgentSlots>> {
        self.agents.iter()
    }

    /// The set after a reload from the store.
    pub fn replaced(&self, mut specs: Vec<AgentSpec>) -> AgentSet {
        specs.sort_by(|a, b| (&a.queue, &a.name).cmp(&(&b.queue, &b.name)));
        let old: HashMap<(&str, &str), &Arc<AgentSlots>> = self
            .agents
            .iter()
            .map(|a| ((a.spec.queue.as_str(), a.spec.name.as_str()), a))
            .collect();
        let agents = specs
            .into_iter()
            .map(|spec| {
                let running = old
                    .get(&(spec.queue.as_str(), spec.name.as_str()))
                    .map(|a| a.running.clone())
                    .unwrap_or_default();
                Arc::new(AgentSlots { spec, running })
            })
            .collect();
        AgentSet { agents }
    }

    /// True when there is no agent.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_never_gets_more_than_its_agent_allows() {
        let mut spec = AgentSpec::new("", "main");
        spec.fuel_cap = Some(1_000);
        spec.time_cap_ms = Some(100);
        let set = AgentSet::default().replaced(vec![spec]);
        let agent = set.iter().next().unwrap();
        let asked = JobLimits {
            fuel: Some(5_000),
            memory_bytes: Some(1 << 20),
            timeout_ms: Some(250),
        };
        let limits = agent.limits_for(&asked);
        assert_eq!(limits.fuel, Some(1_000));
        assert_eq!(limits.memory_bytes, Some(1 << 20));
        assert_eq!(limits.timeout, Some(Duration::from_millis(100)));
        let unasked = agent.limits_for(&JobLimits::default());
        assert_eq!(unasked.fuel, Some(1_000));
        assert_eq!(unasked.timeout, Some(Duration::from_millis(100)));
        // Without a cap the runtime's default applies (Limits's `None`).
        assert_eq!(unasked.memory_bytes, None);
    }

    #[test]
    fn reloading_keeps_the_busy_count_of_agents_that_stay() {
        let set = AgentSet::default().replaced(vec![AgentSpec::new("", "main")]);
        set.iter().next().unwrap().acquire(2);
        let mut bigger = AgentSpec::new("", "main");
        bigger.size = 5;
        let set = set.replaced(vec![bigger, AgentSpec::new("video", "main")]);
        let main = set.iter().find(|a| a.spec.queue.is_empty()).unwrap();
        assert_eq!(main.running(), 2);
        assert_eq!(main.free(), 3);
        let video = set.iter().find(|a| a.spec.queue == "video").unwrap();
        assert_eq!(video.free(), 3);
    }
}
