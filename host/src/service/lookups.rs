//! A short-lived cache of what every put looks up: does the queue exist,
//! which module does a name or digest mean, and which quotas does the
//! queue define.
//!
//! Without it, each put costs two reads before its (batched) insert, and
//! the reads, not the insert, bound how many puts a second one process
//! takes. Entries live [`LOOKUP_TTL_DEFAULT`]: a module name moved or a
//! queue created by *another* process is seen within that time; this
//! process's own uploads, deletes and queue changes clear the cache at
//! once. A stale entry never puts a job where it cannot go: the insert
//! itself checks that the queue and the module exist. Only known quota
//! names are trusted from the cache: a name it lacks is looked up again
//! before a put is refused, and a quota removed meanwhile only makes the
//! name ignored, as if it had been removed just after the put.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::model::{ModuleInfo, QueueInfo};

/// How long a looked-up queue or module is trusted.
pub const LOOKUP_TTL_DEFAULT: Duration = Duration::from_secs(1);

/// Queues and modules recently looked up.
#[derive(Debug)]
pub struct Lookups {
    ttl: Duration,
    queues: Mutex<HashMap<String, (QueueInfo, Instant)>>,
    modules: Mutex<HashMap<String, (ModuleInfo, Instant)>>,
    quotas: Mutex<HashMap<String, (Vec<String>, Instant)>>,
}

impl Lookups {
    /// A cache whose entries live `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> Self {
        Lookups {
            ttl,
            queues: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
            quotas: Mutex::new(HashMap::new()),
        }
    }

    fn fresh<T: Clone>(&self, map: &Mutex<HashMap<String, (T, Instant)>>, key: &str) -> Option<T> {
        let map = map.lock().unwrap();
        map.get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(value, _)| value.clone())
    }

    fn remember<T>(&self, map: &Mutex<HashMap<String, (T, Instant)>>, key: &str, value: T) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = map.lock().unwrap();
        // Bounded: a burst of distinct names never grows it without limit.
        if map.len() >= 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        map.insert(key.to_owned(), (value, Instant::now()));
    }

    /// A queue looked up less than the TTL ago.
    pub fn queue(&self, name: &str) -> Option<QueueInfo> {
        self.fresh(&self.queues, name)
    }

    /// Remembers a queue.
    pub fn remember_queue(&self, queue: &QueueInfo) {
        self.remember(&self.queues, &queue.name, queue.clone());
    }

    /// A module looked up by `reference` (digest or name) less than the TTL ago.
    pub fn module(&self, reference: &str) -> Option<ModuleInfo> {
        self.fresh(&self.modules, reference)
    }

    /// Remembers what `reference` meant.
    pub fn remember_module(&self, reference: &str, module: &ModuleInfo) {
        self.remember(&self.modules, reference, module.clone());
    }

    /// Forgets every module (one was uploaded, renamed or deleted here).
    pub fn forget_modules(&self) {
        self.modules.lock().unwrap().clear();
    }

    /// Forgets every queue (one was created or deleted here).
    pub fn forget_queues(&self) {
        self.queues.lock().unwrap().clear();
        self.quotas.lock().unwrap().clear();
    }

    /// The quota names of a queue, looked up less than the TTL ago.
    pub fn quotas(&self, queue: &str) -> Option<Vec<String>> {
        self.fresh(&self.quotas, queue)
    }

    /// Remembers a queue's quota names.
    pub fn remember_quotas(&self, queue: &str, names: Vec<String>) {
        self.remember(&self.quotas, queue, names);
    }

    /// Forgets a queue's quota names (one was created or removed here).
    pub fn forget_quotas(&self, queue: &str) {
        self.quotas.lock().unwrap().remove(queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_millis;

    fn queue(name: &str) -> QueueInfo {
        QueueInfo {
            name: name.into(),
            length: 0,
            created_at: from_millis(0),
            put_cap: None,
            pending_cap: None,
            rate: None,
            rate_stored: None,
        }
    }

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let lookups = Lookups::new(Duration::from_secs(60));
        lookups.remember_queue(&queue("video"));
        assert!(lookups.queue("video").is_some());
        assert!(lookups.queue("audio").is_none());
        lookups.forget_queues();
        assert!(lookups.queue("video").is_none());

        let uncached = Lookups::new(Duration::ZERO);
        uncached.remember_queue(&queue("video"));
        assert!(uncached.queue("video").is_none());
    }
}
