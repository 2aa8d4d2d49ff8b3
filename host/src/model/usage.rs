//! Resource accounting: the limits each run of a job ran under and what it
//! consumed, kept per run and summed per queue.

use serde::{Deserialize, Serialize};

use super::{DispatcherId, JobId, Timestamp};

/// The limits one run ran under: every one set (a run is never
/// unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunLimits {
    /// Its fuel budget.
    pub fuel: u64,
    /// Its memory limit in bytes (linear memories and tables together).
    pub memory_bytes: u64,
    /// Its wall-clock limit in milliseconds.
    pub timeout_ms: u64,
}

/// What one run consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunUsage {
    /// Fuel used (roughly, wasm instructions executed).
    pub fuel: u64,
    /// The most linear memory and table bytes it held at once.
    pub peak_memory_bytes: u64,
    /// Wall-clock time of the run in milliseconds, waiting for a free
    /// instance slot included.
    pub wall_ms: u64,
    /// Bytes it wrote to stdout and stderr (all of them, also the ones not
    /// kept) plus the bytes of its result.
    pub output_bytes: u64,
}

/// One run of a job as recorded: which start of the job it was, where it
/// ran, under which limits, and what it consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunRecord {
    /// The job.
    pub job: JobId,
    /// Which start of the job it was (1-based; the job's `attempts` then).
    pub attempt: u32,
    /// The job's queue.
    pub queue: String,
    /// The dispatcher that ran it.
    pub dispatcher: DispatcherId,
    /// The limits it ran under.
    pub limits: RunLimits,
    /// What it consumed.
    pub usage: RunUsage,
    /// When it ended.
    #[schema(value_type = String, format = DateTime)]
    pub ended_at: Timestamp,
}

/// Runs summed: a queue's (of its jobs still stored) or a dispatcher's
/// over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageTotals {
    /// How many runs.
    pub runs: u64,
    /// Fuel used in all.
    pub fuel: u64,
    /// The largest peak memory of one run.
    pub peak_memory_bytes: u64,
    /// Wall-clock milliseconds in all.
    pub wall_ms: u64,
    /// Output bytes in all.
    pub output_bytes: u64,
}
