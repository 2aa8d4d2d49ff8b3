//! Modules, queues and dispatchers as stored.

use serde::{Deserialize, Serialize};

use super::{DispatcherId, ModuleDigest, Rate, RateStatus, Timestamp};

/// The name of the default queue, which always exists.
pub const DEFAULT_QUEUE: &str = "";

/// A stored module (its bytes are fetched separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModuleInfo {
    /// Its content digest.
    pub digest: ModuleDigest,
    /// Its unique name, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size of the component in bytes.
    pub size: u64,
    /// The component's exports as `name: type` lines (the job entry point),
    /// and the job functions it declares, if it declares them.
    pub exports: Vec<String>,
    /// When it was first uploaded.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// How a job function the module declares is listed in
/// [`ModuleInfo::exports`]: this prefix, then its name.
pub const FUNCTION_EXPORT_PREFIX: &str = "function ";

/// How the number of arguments a job function takes is listed in
/// [`ModuleInfo::exports`]: this prefix, then [`Arity::export_line`]'s
/// `NAME: RANGE`.
pub const ARGUMENTS_EXPORT_PREFIX: &str = "arguments ";

/// How many positional arguments (the length of a JSON array of `args`) a
/// job function takes, as its module declares (the `wasync-signatures`
/// section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arity {
    /// The fewest.
    pub min: u32,
    /// The most; `None`: any number.
    #[serde(default)]
    pub max: Option<u32>,
}

impl Arity {
    /// Whether `count` positional arguments fit.
    pub fn accepts(&self, count: usize) -> bool {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        count >= self.min && self.max.is_none_or(|max| count <= max)
    }

    /// The line of [`ModuleInfo::exports`] declaring it for `function`:
    /// `arguments add: 2`, `arguments increase: 1 to 3`, `arguments f: 1
    /// or more`.
    pub fn export_line(&self, function: &str) -> String {
        format!("{ARGUMENTS_EXPORT_PREFIX}{function}: {self}")
    }

    /// Reads an [`Arity::export_line`] back: the function and its arity.
    fn parse_export_line(line: &str) -> Option<(&str, Arity)> {
        let (function, range) = line
            .strip_prefix(ARGUMENTS_EXPORT_PREFIX)?
            .rsplit_once(": ")?;
        let arity = if let Some(min) = range.strip_suffix(" or more") {
            Arity {
                min: min.parse().ok()?,
                max: None,
            }
        } else if let Some((min, max)) = range.split_once(" to ") {
            Arity {
                min: min.parse().ok()?,
                max: Some(max.parse().ok()?),
            }
        } else {
            let exactly = range.parse().ok()?;
            Arity {
                min: exactly,
                max: Some(exactly),
            }
        };
        Some((function, arity))
    }
}

impl std::fmt::Display for Arity {
    /// `2`, `1 to 3`, `1 or more`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max {
            Some(max) if max == self.min => write!(f, "{max}"),
            Some(max) => write!(f, "{} to {max}", self.min),
            None => write!(f, "{} or more", self.min),
        }
    }
}

impl ModuleInfo {
    /// The job functions it declares (none when it does not declare
    /// them).
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.exports
            .iter()
            .filter_map(|line| line.strip_prefix(FUNCTION_EXPORT_PREFIX))
    }

    /// How many positional arguments `function` takes, if the module
    /// declares it.
    pub fn arity(&self, function: &str) -> Option<Arity> {
        self.exports
            .iter()
            .filter_map(|line| Arity::parse_export_line(line))
            .find_map(|(name, arity)| (name == function).then_some(arity))
    }
}

/// A queue and how many jobs wait in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueInfo {
    /// Its name; `""` is the default queue.
    pub name: String,
    /// Jobs in it with status `pending`.
    pub length: u64,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The most jobs one run of a job in this queue may put (its fan-out
    /// cap); `None`: the server's `job_put_cap`.
    #[serde(default)]
    pub put_cap: Option<u64>,
    /// The most pending jobs the queue takes: a put past it is refused,
    /// naming the cap; `None`: no cap.
    #[serde(default)]
    pub pending_cap: Option<u64>,
    /// Its rate and the current window (set by [`QueueInfo::at`]); `None`:
    /// no rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateStatus>,
    /// The rate as stored, with its window's end (ms) and the starts
    /// counted in it.
    #[serde(skip)]
    #[schema(ignore)]
    pub rate_stored: Option<(Rate, i64, i64)>,
}

impl QueueInfo {
    /// This queue with its rate window as of `now`; the jobs waiting on a
    /// used-up window are its pending jobs.
    pub fn at(mut self, now: Timestamp) -> Self {
        self.rate = self
            .rate_stored
            .map(|(rate, until, starts)| rate.status(now, until, starts, self.length));
        self
    }
}

/// A process, as a dispatcher's row and a data directory's lock name it:
/// the machine it runs on and its process id there. Two processes are the
/// same only if both are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Process {
    /// The host it runs on.
    pub hostname: String,
    /// Its process id on that host.
    pub pid: u32,
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on host {}", self.pid, self.hostname)
    }
}

/// A dispatcher as stored: one per `wasync` process that does work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispatcherInfo {
    /// Its id.
    pub id: DispatcherId,
    /// The host it runs on.
    pub hostname: String,
    /// Its process id.
    pub pid: u32,
    /// How often it polls its queues when nothing wakes it, in ms.
    pub poll_interval_ms: u64,
    /// When it was (last) activated.
    #[schema(value_type = String, format = DateTime)]
    pub activated_at: Timestamp,
    /// When it last reported it is alive.
    #[schema(value_type = String, format = DateTime)]
    pub last_ping_at: Timestamp,
    /// When it stopped, if it stopped; `None` while active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deactivated_at: Option<Timestamp>,
}

impl DispatcherInfo {
    /// The process that holds (or last held) this dispatcher id.
    pub fn process(&self) -> Process {
        Process {
            hostname: self.hostname.clone(),
            pid: self.pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arities_are_listed_in_exports_and_read_back() {
        let module = |exports: &[String]| ModuleInfo {
            digest: ModuleDigest::of(b"m"),
            name: None,
            size: 1,
            exports: exports.to_vec(),
            created_at: Timestamp::UNIX_EPOCH,
        };
        let cases = [
            (
                "add",
                Arity {
                    min: 2,
                    max: Some(2),
                },
                "arguments add: 2",
            ),
            (
                "increase",
                Arity {
                    min: 1,
                    max: Some(3),
                },
                "arguments increase: 1 to 3",
            ),
            (
                "many",
                Arity { min: 1, max: None },
                "arguments many: 1 or more",
            ),
        ];
        let mut exports = vec!["function add".to_owned()];
        for (function, arity, line) in cases {
            assert_eq!(arity.export_line(function), line);
            exports.push(line.to_owned());
        }
        let module = module(&exports);
        for (function, arity, _) in cases {
            assert_eq!(module.arity(function), Some(arity), "{function}");
        }
        assert_eq!(module.arity("other"), None);
        assert_eq!(module.functions().collect::<Vec<_>>(), ["add"]);

        let increase = Arity {
            min: 1,
            max: Some(3),
        };
        assert!(!increase.accepts(0) && increase.accepts(1) && increase.accepts(3));
        assert!(!increase.accepts(4));
        assert!(Arity { min: 0, max: None }.accepts(usize::MAX));
    }
}
