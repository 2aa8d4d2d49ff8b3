//! The queue's operations, as the API, the CLI and running jobs see them:
//! validation of every input, group commit of puts, and in-process
//! wake-ups. Everything above the store goes through a [`Service`].

mod activity;
mod annotations;
mod batch;
mod broadcast;
mod callbacks;
mod cancel;
mod error;
pub mod events;
mod failures;
pub mod health;
mod job_checks;
mod job_names;
mod job_reads;
mod jobs;
mod lookups;
mod modules;
mod monitor;
mod names;
mod patch;
mod pauses;
mod put_batcher;
pub mod put_claims;
mod queues;
mod quotas;
mod retention;
mod schedules;
mod timing;
mod tokens;
mod usage;
mod workers;

use std::sync::Arc;
use std::time::Duration;

pub use activity::{ACTIVITY_BUCKETS_MAX, ACTIVITY_WINDOW_MAX, Activity, Bucket, QueueActivity};
pub use batch::{BatchError, PUT_MANY_MAX, too_many_in_batch};
pub use callbacks::CompositeRequest;
pub use error::{Error, Result};
pub use events::Events;
pub use health::{Degraded, PROBE_INTERVAL, StoreHealth};
pub use job_reads::JobPage;
pub use jobs::{Put, Putter};
pub use lookups::LOOKUP_TTL_DEFAULT;
pub use monitor::{ACTIVE_IDS_MAX, DispatcherStatsView, DispatcherStatusView, JobInfo};
pub use names::{
    DEFAULT_QUEUE_ALIAS, validate_module_name, validate_queue_name, validate_schedule_name,
};
pub use patch::JobPatch;
pub(crate) use patch::expire as expire_jobs;
pub use pauses::{PausedDispatcher, PausedQueue, ProcessingView};
pub use put_batcher::PUT_BATCH_MAX_DEFAULT;
pub use put_claims::{ClaimOffer, PutClaims, PutClaimsSlot};
pub use retention::{
    REMOVE_DEFAULT, RETENTION_BATCH, RETENTION_INTERVAL_DEFAULT, Retention, RetentionConfig,
};
pub use schedules::{DELAY_MIN, OccurrencePut, RUNS_LIMIT_MAX, SchedulePatch, ScheduleRequest};
pub use timing::BEGIN_BY_MAX_MS;
pub use tokens::{CreatedToken, SECRET_PREFIX, secret_hash};
pub use workers::DispatcherView;

use crate::clock::Clock;
use crate::runtime::Runtime;
use crate::store::Store;
use put_batcher::PutBatcher;

/// How long `wait` sleeps between reads of a job's status when the job may
/// complete in another process (in this process a completion wakes it at
/// once).
pub const WAIT_POLL_DEFAULT: Duration = Duration::from_millis(100);

/// Settings of a [`Service`].
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The most jobs one put transaction takes. Default:
    /// [`PUT_BATCH_MAX_DEFAULT`].
    pub put_batch_max: usize,
    /// See [`WAIT_POLL_DEFAULT`].
    pub wait_poll: Duration,
    /// How long a looked-up queue or module is trusted; see
    /// [`LOOKUP_TTL_DEFAULT`]. Zero looks up on every put.
    pub lookup_ttl: Duration,
    /// A dispatcher whose last ping is older than this is not live: a
    /// broadcast put gives it no copy. The dispatchers' own death
    /// interval; default [`DEATH_INTERVAL_DEFAULT`](crate::dispatch::DEATH_INTERVAL_DEFAULT).
    pub death_interval: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            put_batch_max: PUT_BATCH_MAX_DEFAULT,
            wait_poll: WAIT_POLL_DEFAULT,
            lookup_ttl: LOOKUP_TTL_DEFAULT,
            death_interval: crate::dispatch::DEATH_INTERVAL_DEFAULT,
        }
    }
}

/// The queue's operations. Cheap to clone: all clones share one state.
#[derive(Debug, Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    runtime: Runtime,
    clock: Arc<dyn Clock>,
    events: Arc<Events>,
    health: Arc<StoreHealth>,
    puts: PutBatcher,
    put_claims: Arc<PutClaimsSlot>,
    lookups: lookups::Lookups,
    config: ServiceConfig,
    relay: tokio::task::AbortHandle,
    probe: tokio::task::AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.relay.abort();
        self.probe.abort();
    }
}

impl Service {
    /// A service over `store`, validating uploads with `runtime`, waking
    /// this process's waiters through `events` and following the store's
    /// faults in `health` (the dispatcher and the scheduler share those:
    /// the composition root, `crate::app`, builds them). Starts the put
    /// batcher, so it must be called inside a tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Runtime,
        clock: Arc<dyn Clock>,
        events: Arc<Events>,
        health: Arc<StoreHealth>,
        config: ServiceConfig,
    ) -> Self {
        let put_claims = Arc::new(PutClaimsSlot::default());
        let puts = PutBatcher::start(
            store.clone(),
            health.clone(),
            config.put_batch_max,
            put_claims.clone(),
        );
        let probe = tokio::spawn(health::probe_while_degraded(store.clone(), health.clone()))
            .abort_handle();
        let relay =
            tokio::spawn(events::relay_store_events(store.clone(), events.clone())).abort_handle();
        Service {
            inner: Arc::new(Inner {
                store,
                runtime,
                clock,
                events,
                health,
                puts,
                put_claims,
                lookups: lookups::Lookups::new(config.lookup_ttl),
                config,
                relay,
                probe,
            }),
        }
    }

    /// Where this process's dispatcher offers claims to the puts' commits
    /// (see [`put_claims`]); the composition root hands it to the
    /// dispatcher.
    pub fn put_claims(&self) -> Arc<PutClaimsSlot> {
        self.inner.put_claims.clone()
    }

    /// The store beneath: the service's own (the dispatcher and the
    /// scheduler are handed theirs by the composition root).
    fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The sandbox runtime, which validates uploads.
    fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The clock every operation reads.
    fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// This process's wake-ups.
    fn events(&self) -> &Arc<Events> {
        &self.inner.events
    }

    /// The store's backend (`sqlite` or `postgres`), as readiness reports
    /// it.
    pub fn backend(&self) -> &'static str {
        self.inner.store.backend()
    }

    /// Whether the store takes writes, as this process sees it.
    pub fn health(&self) -> &Arc<StoreHealth> {
        &self.inner.health
    }
}
