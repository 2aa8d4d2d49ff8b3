//! The process's metrics, for Prometheus: every metric named once here,
//! with its help text, and the recording calls the parts make where each
//! event happens once (the service's put path, the dispatcher's claimer,
//! runner and pinger, the runtime's caches and instantiation).
//!
//! The counters and histograms are facts of this process (a server or a
//! worker counts what it did), so they live in one process-wide registry,
//! as a global logger does: recording needs no handle threaded through
//! every constructor. The jobs by queue and status are a fact of the
//! database, read at scrape time with one grouped count
//! ([`JobCountStore`](crate::store::JobCountStore)) by whoever serves the
//! API; a worker leaves them out (every worker would report the same
//! numbers). `docs/metrics.md` lists every metric.
//!
//! Rendered in the OpenMetrics text format ([`CONTENT_TYPE`]), which
//! Prometheus reads; counters carry the `_total` suffix there.

use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use crate::model::FailureKind;
use crate::service::DEFAULT_QUEUE_ALIAS;
use crate::store::JobCount;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A queue.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: String,
}

/// A queue and a status of its jobs.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    queue: String,
    status: String,
}

/// A queue and how its jobs ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    queue: String,
    outcome: String,
}

/// A queue and a kind of failure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    queue: String,
    kind: String,
}

/// A tier of the compiled-component cache.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabel {
    tier: String,
}

/// A store operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Waits and runs: 1 ms to about 9 hours.
fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 19))
}

/// Database statements: 100 µs to about 26 s.
fn statement_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

/// Claim batch sizes: 1 to 512 jobs.
fn batch_buckets() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

/// Every metric of the process.
struct Metrics {
    registry: Registry,
    jobs: Family<StatusLabels, Gauge>,
    put: Family<QueueLabel, Counter>,
    started: Family<QueueLabel, Counter>,
    completed: Family<OutcomeLabels, Counter>,
    failures: Family<KindLabels, Counter>,
    wait: Histograms<QueueLabel>,
    run: Histograms<QueueLabel>,
    fuel: Family<QueueLabel, Counter>,
    claim_batch: Histograms<QueueLabel>,
    statements: Histograms<OperationLabel>,
    instantiations: Counter,
    cache_hits: Family<TierLabel, Counter>,
    cache_misses: Counter,
    dispatcher_up: Gauge,
    ping_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    last_ping: Mutex<Option<Instant>>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::default();
        Metrics {
            jobs: register(
                &mut r,
                "wasync_jobs",
                "Jobs by queue and status, read from the database at scrape time",
                Family::default(),
            ),
            put: register(
                &mut r,
                "wasync_jobs_put",
                "Jobs put, by queue",
                Family::default(),
            ),
            started: register(
                &mut r,
                "wasync_jobs_started",
                "Jobs started by this process's dispatcher, by queue (a retry starts again)",
                Family::default(),
            ),
            completed: register(
                &mut r,
                "wasync_jobs_completed",
                "Runs of this process whose outcome completed their job, by queue and outcome \
                 (succeeded, failed)",
                Family::default(),
            ),
            failures: register(
                &mut r,
                "wasync_job_failures",
                "Failed runs of this process, by queue and failure kind (retried or final)",
                Family::default(),
            ),
            wait: register(
                &mut r,
                "wasync_job_wait_seconds",
                "From when a job became due (its put, or its begin_after) to its start, by queue",
                histograms(seconds_buckets),
            ),
            run: register(
                &mut r,
                "wasync_job_run_seconds",
                "How long guest runs took in the sandbox, by queue",
                histograms(seconds_buckets),
            ),
            fuel: register(
                &mut r,
                "wasync_job_fuel",
                "Fuel (WebAssembly instructions, roughly) guest runs consumed, by queue",
                Family::default(),
            ),
            claim_batch: register(
                &mut r,
                "wasync_claim_batch_size",
                "Jobs taken by one claim that took any, by queue",
                histograms(batch_buckets),
            ),
            statements: register(
                &mut r,
                "wasync_store_operation_seconds",
                "Latency of the dispatcher's and the put path's database operations \
                 (put, claim, start, finish, count), by operation",
                histograms(statement_buckets),
            ),
            instantiations: register(
                &mut r,
                "wasync_guest_instantiations",
                "Guest components instantiated to run a job",
                Counter::default(),
            ),
            cache_hits: register(
                &mut r,
                "wasync_component_cache_hits",
                "Compiled components found in a cache, by tier (memory, disk)",
                Family::default(),
            ),
            cache_misses: register(
                &mut r,
                "wasync_component_cache_misses",
                "Components compiled because no cache had them",
                Counter::default(),
            ),
            dispatcher_up: register(
                &mut r,
                "wasync_dispatcher_up",
                "1 while this process runs a dispatcher, else 0",
                Gauge::default(),
            ),
            ping_age: register(
                &mut r,
                "wasync_dispatcher_last_ping_age_seconds",
                "Seconds since this process's dispatcher last recorded its ping \
                 (0 in a process without one: see wasync_dispatcher_up)",
                Gauge::default(),
            ),
            last_ping: Mutex::new(None),
            registry: r,
        }
    }
}

/// A family of histograms with `buckets`.
fn histograms<L: Clone + std::hash::Hash + Eq>(buckets: fn() -> Histogram) -> Histograms<L> {
    Family::new_with_constructor(buckets)
}

/// Registers `metric` as `name` with its `help`; returns it (a handle on
/// the same values).
fn register<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// The label value of a queue: the default queue (`""`) is `default`, as
/// everywhere else in the API (an empty label is no label to Prometheus).
fn queue(name: &str) -> QueueLabel {
    QueueLabel {
        queue: queue_name(name),
    }
}

fn queue_name(name: &str) -> String {
    if name.is_empty() {
        DEFAULT_QUEUE_ALIAS.to_owned()
    } else {
        name.to_owned()
    }
}

/// A job was put into `queue_name`.
pub fn job_put(queue_name: &str) {
    METRICS.put.get_or_create(&queue(queue_name)).inc();
}

/// A job of `queue_name` started, `waited` after it became due.
pub fn job_started(queue_name: &str, waited: Duration) {
    let label = queue(queue_name);
    METRICS.started.get_or_create(&label).inc();
    METRICS
        .wait
        .get_or_create(&label)
        .observe(waited.as_secs_f64());
}

/// A claim took `jobs` (at least one) from `queue_name`.
pub fn claimed(queue_name: &str, jobs: usize) {
    METRICS
        .claim_batch
        .get_or_create(&queue(queue_name))
        .observe(jobs as f64);
}

/// A guest run of a job of `queue_name` took `elapsed` and `fuel`.
pub fn guest_ran(queue_name: &str, elapsed: Duration, fuel: u64) {
    let label = queue(queue_name);
    METRICS
        .run
        .get_or_create(&label)
        .observe(elapsed.as_secs_f64());
    METRICS.fuel.get_or_create(&label).inc_by(fuel);
}

/// How a run of a job of `queue` ended, once its outcome is written:
/// `failure` is its failure's kind, if it failed, and `completed` whether
/// the job completed (a failure its retry policy retries does not).
pub fn run_ended(queue: &str, failure: Option<FailureKind>, completed: bool) {
    let queue = queue_name(queue);
    if let Some(kind) = failure {
        let labels = KindLabels {
            queue: queue.clone(),
            kind: kind.as_str().to_owned(),
        };
        METRICS.failures.get_or_create(&labels).inc();
    }
    if completed {
        let outcome = if failure.is_some() {
            "failed"
        } else {
            "succeeded"
        };
        let labels = OutcomeLabels {
            queue,
            outcome: outcome.to_owned(),
        };
        METRICS.completed.get_or_create(&labels).inc();
    }
}

/// A guest was instantiated.
pub fn instantiated() {
    METRICS.instantiations.inc();
}

/// A compiled component was found in the in-memory cache.
pub fn cache_hit_memory() {
    cache_hit("memory");
}

/// A compiled component was loaded from the disk cache.
pub fn cache_hit_disk() {
    cache_hit("disk");
}

fn cache_hit(tier: &str) {
    let label = TierLabel {
        tier: tier.to_owned(),
    };
    METRICS.cache_hits.get_or_create(&label).inc();
}

/// A component was compiled: no cache had it.
pub fn cache_miss() {
    METRICS.cache_misses.inc();
}

/// Whether this process's dispatcher runs.
pub fn dispatcher_up(up: bool) {
    METRICS.dispatcher_up.set(i64::from(up));
}

/// The dispatcher recorded its ping.
pub fn pinged() {
    *METRICS.last_ping.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
}

/// Runs the store operation `what` and records how long it took.
pub async fn timed<T>(operation: &str, what: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = what.await;
    let label = OperationLabel {
        operation: operation.to_owned(),
    };
    METRICS
        .statements
        .get_or_create(&label)
        .observe(started.elapsed().as_secs_f64());
    result
}

/// The metrics as OpenMetrics text. `jobs`: the counts by queue and status
/// just read from the store (`None`: left out, as a worker does).
pub fn render(jobs: Option<&[JobCount]>) -> String {
    let metrics = &*METRICS;
    metrics.jobs.clear();
    for count in jobs.unwrap_or_default() {
        let labels = StatusLabels {
            queue: queue_name(&count.queue),
            status: count.status.clone(),
        };
        let value = i64::try_from(count.count).unwrap_or(i64::MAX);
        metrics.jobs.get_or_create(&labels).set(value);
    }
    let last_ping = *metrics.last_ping.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(at) = last_ping {
        metrics.ping_age.set(at.elapsed().as_secs_f64());
    }
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &metrics.registry);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `line` is a line of the OpenMetrics text format: a
    /// `# HELP`/`# TYPE`/`# UNIT` comment, `# EOF`, or a sample
    /// `name{label="value",…} number`.
    fn well_formed(line: &str) -> bool {
        if line == "# EOF" {
            return true;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let keyword = words.next().unwrap_or_default();
            let name = words.next().unwrap_or_default();
            return ["HELP", "TYPE", "UNIT"].contains(&keyword) && is_name(name);
        }
        let (series, value) = match line.rsplit_once(' ') {
            Some(split) => split,
            None => return false,
        };
        let value_ok = value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value);
        let series_ok = match series.split_once('{') {
            None => is_name(series),
            Some((name, labels)) => {
                is_name(name)
                    && labels.strip_suffix('}').is_some_and(|labels| {
                        labels.split(',').all(|pair| {
                            pair.split_once('=').is_some_and(|(k, v)| {
                                is_name(k) && v.len() >= 2 && v.starts_with('"') && v.ends_with('"')
                            })
                        })
                    })
            }
        };
        value_ok && series_ok
    }

    fn is_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    #[test]
    fn the_text_is_well_formed_exposition() {
        job_put("");
        job_put("emails");
        job_started("emails", Duration::from_millis(30));
        claimed("emails", 3);
        guest_ran("emails", Duration::from_millis(5), 1234);
        run_ended("emails", Some(FailureKind::GuestError), true);
        run_ended("emails", None, true);
        instantiated();
        cache_hit_memory();
        cache_miss();
        pinged();
        let counts = [JobCount {
            queue: String::new(),
            status: "pending".into(),
            count: 4,
        }];
        let text = render(Some(&counts));
        for line in text.lines() {
            assert!(well_formed(line), "not exposition format: {line:?}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains("wasync_jobs{queue=\"default\",status=\"pending\"} 4"),
            "{text}"
        );
        assert!(text.contains("wasync_jobs_put_total{queue=\"emails\"}"));
        assert!(text.contains("wasync_job_failures_total{queue=\"emails\",kind=\"guest-error\"}"));
        assert!(text.contains("wasync_job_wait_seconds_count{queue=\"emails\"}"));
        assert!(text.contains("wasync_dispatcher_last_ping_age_seconds "));
        // A worker leaves the database's counts out.
        assert!(!render(None).contains("wasync_jobs{"));
    }

    #[test]
    fn the_checker_refuses_what_is_not_exposition() {
        assert!(!well_formed("wasync_jobs{queue=default} 1"));
        assert!(!well_formed("wasync jobs 1"));
        assert!(!well_formed("wasync_jobs one"));
        assert!(!well_formed("# NOTE wasync_jobs"));
    }
}
